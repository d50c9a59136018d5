// Fuzz target: every kernel behind the front door against reference::gemm, bit for bit.
//
// Bytes → a small problem: M 1..70 rows, K 1..160 (1 in 32: M ≤ 8 and K up to 2100, several
// AVX2/portable windows), 1..5 tokens, master bits 1..8, signed or unsigned (with zero points), rule and
// reconstruction, granularity (tensor, row, any group size dividing K), code and activation
// patterns (seeded random, extremes −2^(B−1) / 2^(B−1)−1 against −128, every code in turn), scales
// (including 0), bias, a shard of the rows, an output row range and 1..3 threads (more than one in 1 of 8 inputs) →
// gemm(view, x, y) on every ISA this CPU and build run == reference::gemm (memcmp of the floats:
// SEMANTICS.md §8, every path computes the same integers and the same epilogue). An ISA may
// decline a view only with a bitdial::error naming the ISA.
#include <bitdial/kernels/gemm.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "fuzz_input.hpp"

using namespace bitdial;

namespace {

thread_pool& pool3() {
  static thread_pool p(3);
  return p;
}

template <class Code>
bit_plane_stack make_stack(fuzz::input& in, fuzz::rng& gen, std::size_t M, std::size_t K, int B, granularity g) {
  constexpr bool sgn = std::is_signed_v<Code>;
  quantized_matrix<Code> m;
  m.rows = M, m.cols = K, m.bits = B, m.gran = g;
  const std::int32_t lo = sgn ? signed_min(B) : 0, hi = sgn ? signed_max(B) : unsigned_max(B);
  const std::int32_t span = hi - lo + 1;
  const int pattern = in.byte() % 4;
  m.codes.resize(M * K);
  for (std::size_t i = 0; i < m.codes.size(); ++i) {
    std::int32_t v;
    switch (pattern) {
      case 0:
        v = static_cast<std::int32_t>(gen.next() % std::uint64_t(span));
        break;
      case 1:
        v = (gen.next() & 1) ? span - 1 : 0;
        break;
      case 2:
        v = 0;
        break;  // every code at the minimum (−2^(B−1) for signed masters)
      default:
        v = static_cast<std::int32_t>(i % std::size_t(span));
        break;
    }
    m.codes[i] = static_cast<Code>(lo + v);
  }
  const std::size_t ns = g.count(M, K);
  const bool zero_scales = in.byte() % 8 == 0;
  for (std::size_t i = 0; i < ns; ++i)
    m.scales.push_back(zero_scales && (gen.next() & 1) ? 0.0f : static_cast<float>(1 + gen.next() % 4096) / 256.0f);
  if constexpr (sgn) {
    return bit_plane_stack::pack(m);
  } else {
    if (in.flag())
      for (std::size_t i = 0; i < ns; ++i)
        m.zero_points.push_back(static_cast<std::int32_t>(gen.next() % std::uint64_t(span)));
    const std::int32_t offset2 = in.flag() ? -(span - 1) : 0;  // mid-rise grids
    return bit_plane_stack::pack(m, offset2);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  fuzz::rng gen{in.u64()};
  const bool deep = in.byte() < 8;  // 1 in 32: K up to 2100 (several kernel windows), few rows
  const std::size_t M = deep ? in.range(1, 8) : in.range(1, 70);
  const std::size_t K = deep ? in.range(1, 2100) : in.range(1, 160);
  const std::size_t N = in.range(1, 5);
  const int B = static_cast<int>(in.range(1, 8));
  const bool sgn = in.flag();
  granularity g;
  switch (in.byte() % 3) {
    case 0:
      g = granularity::per_tensor();
      break;
    case 1:
      g = granularity::per_row();
      break;
    default: {
      std::size_t gs = in.byte() % 2 ? 16 * in.range(1, 16) : in.range(1, K);
      gs = std::min(gs, K);
      while (K % gs) --gs;
      g = granularity::per_group(gs);
    }
  }
  const bit_plane_stack s =
      sgn ? make_stack<std::int8_t>(in, gen, M, K, B, g) : make_stack<std::uint8_t>(in, gen, M, K, B, g);

  const int b = static_cast<int>(in.range(1, static_cast<std::size_t>(B)));
  constexpr rounding view_rules[] = {rounding::floor, rounding::half_up, rounding::half_even};
  const rounding rule = sgn ? view_rules[in.byte() % 3] : rounding::floor;
  const reconstruction recon = in.flag() ? reconstruction::floor : reconstruction::midpoint;
  plane_view v = view(s, b, rule, recon);
  if (in.flag()) {  // a shard
    const std::size_t a = in.range(0, M - 1);
    v = shard(v, a, in.range(a + 1, M));
  }
  const std::size_t rows = v.rows();

  std::vector<std::int8_t> xq(N * K);
  const int xpattern = in.byte() % 4;
  for (std::size_t i = 0; i < xq.size(); ++i)
    xq[i] = static_cast<std::int8_t>(xpattern == 0   ? -128
                                     : xpattern == 1 ? ((gen.next() & 1) ? 127 : -128)
                                                     : static_cast<int>(gen.next() & 0xFF) - 128);
  std::vector<float> xs(N);
  for (auto& x : xs) x = in.byte() % 16 == 0 ? 0.0f : static_cast<float>(1 + gen.next() % 1024) / 512.0f;
  std::vector<float> bias;
  if (in.flag())
    for (std::size_t r = 0; r < s.rows(); ++r)
      bias.push_back(static_cast<float>(static_cast<int>(gen.next() % 2001) - 1000) / 8.0f);
  gemm_params p;
  p.bias = bias.empty() ? nullptr : bias.data();
  if (in.flag()) {
    p.row_begin = in.range(0, rows - 1);
    p.row_end = in.range(p.row_begin + 1, rows + 2);  // past the end means "to the end"
  }
  const std::size_t threads = in.byte() % 8 == 0 ? in.range(2, 3) : 1;  // pools are slow under ASan
  const token_batch t{xq.data(), xs.data(), N, K, K};

  // Rows outside the range must stay untouched: fill with a sentinel first.
  std::vector<float> want(N * rows, -7.0f), got(N * rows);
  reference::gemm(v, t, matrix_view<float>(want.data(), N, rows), p);
  for (kernel_isa isa : available_isas()) {
    std::fill(got.begin(), got.end(), -7.0f);
    try {
      gemm(v, t, matrix_view<float>(got.data(), N, rows), p, run_options{isa, &pool3(), threads});
    } catch (const error& e) {
      FUZZ_CHECK(std::string(e.what()).find("isa = ") != std::string::npos);
      continue;
    }
    FUZZ_CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
  }
  return 0;
}
