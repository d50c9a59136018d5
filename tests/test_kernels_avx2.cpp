// AVX2 plane kernel: the edges of its own arithmetic (int16 window sums at exactly −32768 and
// 32512, int32 segments across the 4096-chunk flush, deep K with the extreme codes −128 against
// activations −128), one-chunk scale groups, declined group sizes, and the prepare/run API. The
// general exactness matrix runs in test_kernels.cpp, which forces every available ISA.
// Cases that run the kernel are tagged [requires_avx2] (tests/isa_gate.hpp): CTest runs them as
// test_kernels_avx2, reported "Skipped" where the CPU or build lacks AVX2, and the registration /
// declined-ISA case as test_kernels_avx2_any_cpu.
#include <bitdial/kernels/gemm.hpp>

#include <algorithm>
#include <random>
#include <string>

#include "isa_gate.hpp"
#include "test_support.hpp"

using namespace bitdial;

namespace {

struct problem {
  bit_plane_stack stack;
  std::vector<std::int8_t> xq;
  std::vector<float> xs;
  std::size_t tokens = 0, cols = 0;
  token_batch batch() const { return token_batch{xq.data(), xs.data(), tokens, cols, cols}; }
};

/// codes(r, c) and x(n, c) from callables; scales 1 (exact float results for moderate sums).
template <class CodeFn, class XFn>
problem make(std::size_t rows, std::size_t cols, std::size_t tokens, granularity g, CodeFn code, XFn xv) {
  problem pr;
  pr.tokens = tokens;
  pr.cols = cols;
  quantized_matrix<std::int8_t> m;
  m.rows = rows, m.cols = cols, m.bits = 8, m.gran = g;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) m.codes.push_back(static_cast<std::int8_t>(code(r, c)));
  m.scales.assign(g.count(rows, cols), 1.0f);
  pr.stack = bit_plane_stack::pack(m);
  for (std::size_t n = 0; n < tokens; ++n)
    for (std::size_t c = 0; c < cols; ++c) pr.xq.push_back(static_cast<std::int8_t>(xv(n, c)));
  pr.xs.assign(tokens, 1.0f);
  return pr;
}

std::vector<float> run(const plane_view& v, const problem& pr, kernel_isa isa) {
  std::vector<float> y(pr.tokens * v.rows(), -7.0f);
  gemm(v, pr.batch(), matrix_view<float>(y.data(), pr.tokens, v.rows()), {}, run_options{isa, nullptr, 1});
  return y;
}

std::vector<float> reference_of(const plane_view& v, const problem& pr) {
  std::vector<float> y(pr.tokens * v.rows());
  reference::gemm(v, pr.batch(), matrix_view<float>(y.data(), pr.tokens, v.rows()));
  return y;
}

constexpr rounding all_rules[] = {rounding::floor, rounding::half_up, rounding::half_even};

}  // namespace

TEST_CASE("avx2: registered when the CPU has it", "[avx2]") {
  const auto isas = available_isas();
  const bool listed = std::find(isas.begin(), isas.end(), kernel_isa::avx2) != isas.end();
  CHECK(listed == x86::plane_avx2_available());
  CHECK(std::string(to_string(kernel_isa::avx2)) == "avx2");
  if (!x86::plane_avx2_available()) {
    WARN("AVX2 kernel not available on this CPU/build: its tests only check that it is declined");
    const auto pr = make(
        4, 16, 1, granularity::per_row(), [](auto, auto) { return 1; }, [](auto, auto) { return 1; });
    std::vector<float> y(4);
    CHECK_THROWS_WITH(
        gemm(view(pr.stack, 4), pr.batch(), matrix_view<float>(y.data(), 1, 4), {}, run_options{kernel_isa::avx2}),
        Catch::Contains("isa = avx2"));
  }
}

TEST_CASE("avx2: int16 window sums at both ends of their range", "[avx2][requires_avx2]") {
  BITDIAL_REQUIRE_ISA("avx2");
  // Code −1 sets every plane, so each K-group's subset sum is the extreme 4·x: −512 for x = −128
  // (a window of 32 chunks reaches exactly −32768) and 508 for x = 127 (32512). K = 1040 is two
  // full windows and a partial one; 33 rows leave a partial row block.
  for (int xv : {-128, 127}) {
    const auto pr = make(
        33, 1040, 2, granularity::per_row(), [](auto, auto) { return -1; },
        [xv](std::size_t n, std::size_t) { return n == 0 ? xv : -xv - (xv < 0); });
    for (int b = 1; b <= 8; ++b)
      for (rounding rule : all_rules) {
        const auto v = view(pr.stack, b, rule, reconstruction::floor);
        INFO("x = " << xv << ", b = " << b << ", rule = " << to_string(rule));
        const auto got = run(v, pr, kernel_isa::avx2);
        REQUIRE(got == reference_of(v, pr));
        if (b == 8) REQUIRE(got[0] == static_cast<float>(-1 * xv * 1040));  // hand-computed: q = −1 everywhere
      }
  }
}

TEST_CASE("avx2: deep K with codes -128 and 127 against activations -128", "[avx2][requires_avx2]") {
  BITDIAL_REQUIRE_ISA("avx2");
  // Row 0 all −128, row 1 all 127, x all −128, K = 32767 (one int32 segment of 2048 chunks).
  const auto pr = make(
      2, 32767, 1, granularity::per_row(), [](std::size_t r, auto) { return r == 0 ? -128 : 127; },
      [](auto, auto) { return -128; });
  for (int b = 1; b <= 8; ++b)
    for (rounding rule : all_rules) {
      const auto v = view(pr.stack, b, rule, reconstruction::floor);
      INFO("b = " << b << ", rule = " << to_string(rule));
      const auto got = run(v, pr, kernel_isa::avx2);
      REQUIRE(got == reference_of(v, pr));
      if (b == 8) {
        // 128·128·32767 = 2^14·32767 and −127·128·32767: both exact in float.
        CHECK(got[0] == 536854528.0f);
        CHECK(got[1] == -532660352.0f);
      }
    }
}

TEST_CASE("avx2: int32 segments flush across 4096 chunks", "[avx2][requires_avx2]") {
  BITDIAL_REQUIRE_ISA("avx2");
  const std::size_t K = 4099 * 16 + 5;  // 4100 chunks, the last one partial
  const auto pr = make(
      3, K, 1, granularity::per_row(),
      [](std::size_t r, std::size_t c) { return r == 2 ? static_cast<int>(c % 256) - 128 : (r ? 127 : -128); },
      [](auto, std::size_t c) { return c % 3 == 0 ? 127 : -128; });
  for (int b : {1, 4, 8})
    for (rounding rule : {rounding::floor, rounding::half_even}) {
      const auto v = view(pr.stack, b, rule);
      INFO("b = " << b << ", rule = " << to_string(rule));
      REQUIRE(run(v, pr, kernel_isa::avx2) == reference_of(v, pr));
    }
}

TEST_CASE("avx2: scale groups of one chunk and of odd chunk counts; other sizes declined", "[avx2][requires_avx2]") {
  BITDIAL_REQUIRE_ISA("avx2");
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 17);
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int> codes(70 * 240), xs(3 * 240);
  for (auto& c : codes) c = d(rng);
  for (auto& c : xs) c = d(rng);
  for (std::size_t g : {std::size_t{16}, std::size_t{48}, std::size_t{240}}) {
    const auto pr = make(
        70, 240, 3, granularity::per_group(g), [&](std::size_t r, std::size_t c) { return codes[r * 240 + c]; },
        [&](std::size_t n, std::size_t c) { return xs[n * 240 + c]; });
    for (int b = 1; b <= 8; ++b)
      for (rounding rule : all_rules) {
        const auto v = view(pr.stack, b, rule);
        INFO("group = " << g << ", b = " << b << ", rule = " << to_string(rule));
        REQUIRE(run(v, pr, kernel_isa::avx2) == reference_of(v, pr));
      }
  }
  const auto g8 = make(
      4, 32, 1, granularity::per_group(8), [](auto, auto) { return 3; }, [](auto, auto) { return 5; });
  CHECK_FALSE(x86::plane_avx2_supports(view(g8.stack, 4)));
  std::vector<float> y(4);
  CHECK_THROWS_WITH(
      gemm(view(g8.stack, 4), g8.batch(), matrix_view<float>(y.data(), 1, 4), {}, run_options{kernel_isa::avx2}),
      Catch::Contains("isa = avx2"));
  CHECK_THROWS_WITH(x86::prepare_plane_gemm_avx2(view(g8.stack, 4), g8.batch()), Catch::Contains("group = 8"));
  // The front door still serves it (portable).
  gemm(view(g8.stack, 4), g8.batch(), matrix_view<float>(y.data(), 1, 4));
  CHECK(y == reference_of(view(g8.stack, 4), g8));
}

TEST_CASE("avx2: one prepared call run on disjoint row ranges, shards, bias", "[avx2][requires_avx2]") {
  BITDIAL_REQUIRE_ISA("avx2");
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 29);
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int> codes(100 * 80), xs(5 * 80);
  for (auto& c : codes) c = d(rng);
  for (auto& c : xs) c = d(rng);
  const auto pr = make(
      100, 80, 5, granularity::per_row(), [&](std::size_t r, std::size_t c) { return codes[r * 80 + c]; },
      [&](std::size_t n, std::size_t c) { return xs[n * 80 + c]; });
  const auto v = shard(view(pr.stack, 3, rounding::half_even), 7, 95);  // starts mid-block
  std::vector<float> bias(100);
  for (std::size_t r = 0; r < 100; ++r) bias[r] = 0.25f * static_cast<float>(r % 7) - 1.0f;
  std::vector<float> want(5 * v.rows()), got(5 * v.rows(), 9.0f);
  reference::gemm(v, pr.batch(), matrix_view<float>(want.data(), 5, v.rows()), gemm_params{bias.data()});
  const auto plan = x86::prepare_plane_gemm_avx2(v, pr.batch());
  const matrix_view<float> y(got.data(), 5, v.rows());
  x86::run_plane_gemm_avx2(plan, y, bias.data(), 30, 57);
  for (std::size_t n = 0; n < 5; ++n)
    for (std::size_t r = 0; r < v.rows(); ++r) {
      INFO("n = " << n << ", r = " << r);
      REQUIRE(got[n * v.rows() + r] == (r >= 30 && r < 57 ? want[n * v.rows() + r] : 9.0f));
    }
  x86::run_plane_gemm_avx2(plan, y, bias.data(), 0, 30);
  x86::run_plane_gemm_avx2(plan, y, bias.data(), 57, v.rows());
  CHECK(got == want);
  CHECK_THROWS_WITH(x86::run_plane_gemm_avx2(plan, y, nullptr, 10, 10), Catch::Contains("rows = [10, 10)"));
  std::vector<float> small(5);
  CHECK_THROWS_WITH(x86::run_plane_gemm_avx2(plan, matrix_view<float>(small.data(), 5, 1), nullptr, 0, 1),
                    Catch::Contains("output shape = 5x1"));
}
