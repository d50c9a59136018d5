// Fuzz target: the stack file reader, bitdial::deserialize.
//
// Each input is tried twice: as it is (magic, version and checksum gates), and with its trailing
// FNV-1a checksum recomputed so mutations reach the field checks behind the gate. Either bytes are
// rejected with bitdial::error, or the stack they describe is consistent:
//   - serialize(deserialize(f)) == f byte for byte (one encoding per stack: a reader that accepts
//     two spellings of one stack would let corrupted files through as "valid"),
//   - every element's code from the planes lies in the master range, plane counts match codes,
//   - for small stacks, one token through every ISA of the front door equals reference::gemm.
#include <bitdial/format/serialize.hpp>
#include <bitdial/kernels/gemm.hpp>

#include <cstring>
#include <vector>

#include "fuzz_input.hpp"

using namespace bitdial;

namespace {

void exercise(const bit_plane_stack& s, const std::vector<std::uint8_t>& file) {
  FUZZ_CHECK(serialize(s) == file);
  const std::int32_t lo = s.is_signed() ? signed_min(s.master_bits()) : 0;
  const std::int32_t hi = s.is_signed() ? signed_max(s.master_bits()) : unsigned_max(s.master_bits());
  const std::size_t glen = s.cols() / s.groups_per_row();
  for (std::size_t r = 0; r < s.rows(); ++r)
    for (std::size_t g = 0; g < s.groups_per_row(); ++g) {
      std::int64_t sum = 0;
      for (std::size_t c = g * glen; c < (g + 1) * glen; ++c) {
        const std::int32_t q = s.code(r, c);
        FUZZ_CHECK(q >= lo && q <= hi);
        sum += q;
      }
      FUZZ_CHECK(sum == s.group_code_sum(r, g));
    }
  if (s.rows() * s.cols() > 4096) return;
  std::vector<std::int8_t> x(s.cols());
  for (std::size_t c = 0; c < x.size(); ++c) x[c] = static_cast<std::int8_t>(file[c % file.size()]);
  const float xs = 0.5f;
  const token_batch t{x.data(), &xs, 1, x.size(), x.size()};
  std::vector<float> want(s.rows()), got(s.rows());
  for (int b = 1; b <= s.master_bits(); ++b)
    for (rounding rule : {rounding::floor, rounding::half_up, rounding::half_even}) {
      if (rule != rounding::floor && !s.is_signed()) continue;
      const plane_view v = view(s, b, rule);
      reference::gemm(v, t, matrix_view<float>(want.data(), 1, want.size()));
      for (kernel_isa isa : available_isas()) {
        try {
          gemm(v, t, matrix_view<float>(got.data(), 1, got.size()), {}, run_options{isa, nullptr, 1});
        } catch (const error&) {
          continue;  // this ISA declines the view's group size
        }
        FUZZ_CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
      }
    }
}

void try_bytes(const std::vector<std::uint8_t>& file) {
  try {
    const bit_plane_stack s = deserialize(file.data(), file.size());
    exercise(s, file);
  } catch (const error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> file(data, data + size);
  try_bytes(file);
  if (size >= 16) {
    const std::uint64_t sum = detail::fnv1a64(file.data(), size - 8);
    std::memcpy(file.data() + size - 8, &sum, 8);
    try_bytes(file);
  }
  return 0;
}
