// Deep K: the accumulator bounds of every kernel, at the deepest K the test budget allows, with the
// worst-case magnitudes. CI also builds this file with -fsanitize=signed-integer-overflow (trapping)
// so any scalar int32/int64 overflow in the kernels, the epilogue or packing stops the run.
//
// The bounds (one int32 lane = one output row's partial sum; |x| ≤ 128, |served code| ≤ 128):
//   reference   int64 accumulators: |acc| ≤ 2^14·K; the epilogue forms 2^(k+1)·acc + offset2·Σx
//               with 2^(k+1) ≤ 2^8, so everything stays below 2^63 for K < 2^40.
//   portable    int16 subset sums |T| ≤ 512; unweighted int32 row sums over windows of 64 chunks
//               (1024 K): ≤ 64·4·512 = 2^17; weighted into int64 once per window.
//   avx2        int16 window sums over 32 chunks ⊂ [−32768, 32512]; int32 lanes gain ≤ 261 120 per
//               chunk and are flushed to int64 every 4096 chunks (65 536 K): 4096·261 120 < 2^31.
//   avx512      int32 lanes gain ≤ 522 240 per chunk (unpack; lookup ≤ 260 100): without a flush a
//               lane would overflow after (2^31 − 1)/522 240 = 4112 chunks, i.e. K = 65 792 is the
//               deepest K that int32 lanes alone allow. The kernels flush to int64 every 4096 chunks
//               (65 536 K): 4096·522 240 = 2 139 095 040 < 2^31 − 1, so K itself is unbounded.
//   front door  float activations are quantized per token only up to K = 2^24 (Σq inside int32 in
//               quant/activation.hpp); pre-quantized token_batch input has no K limit but int64.
// Here K = 3·65 536 + 48 = 196 656 crosses the flush boundary three times, with codes −128 against
// activations −128 (+16 384 per element, 3.2·10^9 in total: far past int32), 127 against −128,
// alternating extremes (every rounding term set) and random codes; 33 rows (a partial second row
// block), 1 token (lookup kernels) and 2 tokens (unpack kernels). SIMD lanes wrap silently in
// hardware, so overflow there shows as a wrong result: every ISA is compared with int64 sums fed
// through the shared epilogue (what reference::gemm computes, without its per-element plane reads).
#include <bitdial/kernels/gemm.hpp>

#include <random>

#include "test_support.hpp"

using namespace bitdial;

namespace {

constexpr std::size_t deep_k = 3 * 65536 + 48;

/// reference::gemm's outputs, from int64 dot products of codes the shift formula serves.
std::vector<float> expected(const plane_view& v, const std::vector<std::int8_t>& master, const token_batch& x) {
  const std::size_t M = v.rows(), K = v.cols();
  const int k = v.shift();
  std::vector<std::int32_t> served(256);
  for (int q = -128; q < 128; ++q) {
    std::int32_t s = q >> k;
    if (v.rule != rounding::floor)
      s = clamp_i32(shift_round(q, k, v.rule == rounding::half_up ? rounding::half_up : rounding::half_even),
                    signed_min(v.bits), signed_max(v.bits));
    served[static_cast<std::size_t>(q + 128)] = s;
  }
  std::vector<float> y(x.tokens * M);
  for (std::size_t n = 0; n < x.tokens; ++n) {
    std::int64_t sumx = 0;
    for (std::size_t c = 0; c < K; ++c) sumx += x.token(n)[c];
    for (std::size_t r = 0; r < M; ++r) {
      std::int64_t acc = 0;
      for (std::size_t c = 0; c < K; ++c)
        acc += std::int64_t{served[static_cast<std::size_t>(master[r * K + c] + 128)]} * x.token(n)[c];
      y[n * M + r] = detail::finish_row(v, r, &acc, &sumx, x.scales[n], nullptr);
    }
  }
  return y;
}

}  // namespace

TEST_CASE("deep K = 196 656: worst-case magnitudes on every ISA, width and rule", "[kernels][deep]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 33, K = deep_k;
  std::mt19937_64 rng(test::seed() + 41);
  std::uniform_int_distribution<int> any(-128, 127);
  for (int pattern = 0; pattern < 4; ++pattern) {
    quantized_matrix<std::int8_t> m{
        M, K, 8, granularity::per_row(), std::vector<std::int8_t>(M * K), std::vector<float>(M, 1.0f), {}};
    for (std::size_t i = 0; i < M * K; ++i) {
      const int q = pattern == 0 ? -128 : pattern == 1 ? 127 : pattern == 2 ? (i % 2 ? -128 : 127) : any(rng);
      m.codes[i] = static_cast<std::int8_t>(q);
    }
    const bit_plane_stack s = bit_plane_stack::pack(m);
    for (std::size_t tokens : {std::size_t{1}, std::size_t{2}}) {
      std::vector<std::int8_t> x(tokens * K);
      for (std::size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<std::int8_t>(pattern == 3 && i % 3 ? any(rng) : -128);
      const std::vector<float> xs(tokens, 1.0f);
      const token_batch t{x.data(), xs.data(), tokens, K, K};
      for (int b : {1, 2, 4, 7, 8})
        for (rounding rule : {rounding::floor, rounding::half_up, rounding::half_even}) {
          const plane_view v = view(s, b, rule, reconstruction::floor);
          const auto want = expected(v, m.codes, t);
          for (kernel_isa isa : available_isas()) {
            if (isa == kernel_isa::reference) continue;  // covered by expected(): same integers, same epilogue
            std::vector<float> got(want.size(), -1.0f);
            gemm(v, t, matrix_view<float>(got.data(), tokens, M), {}, run_options{isa, nullptr, 1});
            INFO("pattern = " << pattern << ", tokens = " << tokens << ", b = " << b << ", rule = " << to_string(rule)
                              << ", isa = " << to_string(isa));
            REQUIRE(got == want);
          }
        }
    }
  }
}

TEST_CASE("deep K: the expected sums really leave int32 (the test can fail)", "[kernels][deep]") {
  // Codes −128 against activations −128 over deep_k: the true accumulator exceeds 2^31, so a kernel
  // that kept it in one int32 lane would be caught by the comparison above.
  CHECK(std::int64_t{128} * 128 * std::int64_t(deep_k) > std::int64_t{INT32_MAX});
  CHECK(deep_k > 3 * 65536);  // crosses the 4096-chunk flush three times
}

TEST_CASE("deep K with per-group scales: groups of 3 856 and of one chunk", "[kernels][deep]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 33, K = deep_k;  // 196 656 = 16 · 3 · 17 · 241
  for (std::size_t group : {std::size_t{16 * 241}, std::size_t{16}}) {
    const granularity g = granularity::per_group(group);
    quantized_matrix<std::int8_t> m{
        M, K, 8, g, std::vector<std::int8_t>(M * K, std::int8_t{-128}), std::vector<float>(g.count(M, K), 1.0f), {}};
    const bit_plane_stack s = bit_plane_stack::pack(m);
    std::vector<std::int8_t> x(K, -128);
    const float one = 1.0f;
    const token_batch t{x.data(), &one, 1, K, K};
    for (int b : {1, 8}) {
      const plane_view v = view(s, b, rounding::half_up, reconstruction::floor);
      std::vector<float> want(M), got(M);
      reference::gemm(shard(v, 0, 2), t, matrix_view<float>(want.data(), 1, 2));  // two rows: affordable
      for (kernel_isa isa : available_isas()) {
        if (isa == kernel_isa::reference) continue;
        gemm(v, t, matrix_view<float>(got.data(), 1, M), {}, run_options{isa, nullptr, 1});
        INFO("group = " << group << ", b = " << b << ", isa = " << to_string(isa));
        for (std::size_t r = 0; r < M; ++r) REQUIRE(got[r] == want[r % 2]);  // every row is the same
      }
    }
  }
}
