// Fuzz target: pack / unpack round trip of the bit-plane stack and the served-code formulas.
//
// Bytes → shape (1..40 × 1..50: two row blocks, four K tiles), master bits 1..8, signedness, granularity, codes (from
// the input or from a seeded generator, masked into the master range), scales and zero points →
//   - bit_plane_stack::pack(m).unpack() == m (codes, scales, zero points, shape, bits, granularity),
//   - code(r, c) from the planes == the packed code; group_code_sum == Σ codes of the group,
//   - padding (rows to 32, K to 16) holds no set bit: from_parts accepts the packed bytes,
//   - plane_view::code at every width and rule == the shift formula of SEMANTICS.md §2–3:
//       truncate q >> k;  RHU / RNE clamp(shift_round(q, k, rule), −2^(b−1), 2^(b−1) − 1),
//   - serialize → deserialize gives the same bytes again.
#include <bitdial/format/serialize.hpp>
#include <bitdial/select/plane_view.hpp>

#include <vector>

#include "fuzz_input.hpp"

using namespace bitdial;

namespace {

template <class Code>
quantized_matrix<Code> make_master(fuzz::input& in) {
  constexpr bool sgn = std::is_signed_v<Code>;
  quantized_matrix<Code> m;
  m.rows = in.range(1, 40);
  m.cols = in.range(1, 50);
  m.bits = static_cast<int>(in.range(1, 8));
  switch (in.byte() % 3) {
    case 0:
      m.gran = granularity::per_tensor();
      break;
    case 1:
      m.gran = granularity::per_row();
      break;
    default: {
      std::size_t g = in.range(1, m.cols);
      while (m.cols % g) --g;  // the largest divisor of cols not above the drawn size
      m.gran = granularity::per_group(g);
    }
  }
  const std::int32_t lo = sgn ? signed_min(m.bits) : 0, hi = sgn ? signed_max(m.bits) : unsigned_max(m.bits);
  const std::int32_t span = hi - lo + 1;
  const int pattern = in.byte() % 4;
  fuzz::rng gen{in.u64()};
  m.codes.resize(m.rows * m.cols);
  for (std::size_t i = 0; i < m.codes.size(); ++i) {
    std::int32_t v;
    switch (pattern) {
      case 0:
        v = in.remaining() ? in.byte() : static_cast<std::int32_t>(gen.next() & 0xFF);
        break;  // input bytes
      case 1:
        v = static_cast<std::int32_t>(gen.next() & 0xFF);
        break;  // random
      case 2:
        v = (gen.next() & 1) ? hi - lo : 0;
        break;  // extremes
      default:
        v = static_cast<std::int32_t>(i % static_cast<std::size_t>(span));
        break;  // every code
    }
    m.codes[i] = static_cast<Code>(lo + v % span);
  }
  const std::size_t ns = m.gran.count(m.rows, m.cols);
  for (std::size_t g = 0; g < ns; ++g) m.scales.push_back(static_cast<float>(gen.next() % 1000) / 64.0f);
  if (!sgn && in.flag())
    for (std::size_t g = 0; g < ns; ++g)
      m.zero_points.push_back(static_cast<std::int32_t>(gen.next() % std::uint64_t(span)));
  return m;
}

template <class Code>
void run(fuzz::input& in) {
  const quantized_matrix<Code> m = make_master<Code>(in);
  const bit_plane_stack s = [&] {
    if constexpr (std::is_signed_v<Code>)
      return bit_plane_stack::pack(m);
    else
      return bit_plane_stack::pack(m, 0);
  }();
  const auto u = s.template unpack<Code>();
  FUZZ_CHECK(u.rows == m.rows && u.cols == m.cols && u.bits == m.bits && u.gran == m.gran);
  FUZZ_CHECK(u.codes == m.codes && u.scales == m.scales && u.zero_points == m.zero_points);

  const std::size_t glen = m.gran.group_len(m.cols);
  for (std::size_t r = 0; r < m.rows; ++r)
    for (std::size_t g = 0; g < s.groups_per_row(); ++g) {
      std::int64_t sum = 0;
      for (std::size_t c = g * glen; c < (g + 1) * glen; ++c) sum += m.code(r, c);
      FUZZ_CHECK(sum == s.group_code_sum(r, g));
    }

  const int B = m.bits;
  for (int b = 1; b <= B; ++b)
    for (rounding rule : {rounding::floor, rounding::half_up, rounding::half_even}) {
      if (rule != rounding::floor && !std::is_signed_v<Code>) continue;
      const plane_view v = view(s, b, rule);
      const int k = B - b;
      for (std::size_t r = 0; r < m.rows; ++r)
        for (std::size_t c = 0; c < m.cols; ++c) {
          const std::int32_t q = m.code(r, c);
          std::int32_t want = q >> k;
          if (rule != rounding::floor)
            want = clamp_i32(shift_round(q, k, rule == rounding::half_up ? rounding::half_up : rounding::half_even),
                             signed_min(b), signed_max(b));
          FUZZ_CHECK(v.code(r, c) == want);
        }
    }

  const auto file = serialize(s);
  const bit_plane_stack again = deserialize(file.data(), file.size());
  FUZZ_CHECK(serialize(again) == file);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  if (in.flag())
    run<std::int8_t>(in);
  else
    run<std::uint8_t>(in);
  return 0;
}
