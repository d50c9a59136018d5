// Determinism: the same inputs give the same bits whatever the ISA path (every kernel this CPU and
// build run), the thread count (pools of 1, 2 and 3 threads; all or some of their workers), and the
// order of calls (widths, rules, slice counts and ISAs interleaved in a seeded shuffle after a
// straight pass). SEMANTICS.md §8: integers are exact and every path runs one epilogue, so outputs
// are compared bit for bit (memcmp), not within a tolerance.
#include <bitdial/kernels/slices.hpp>
#include <bitdial/quant/residual.hpp>
#include <bitdial/quant/truncation.hpp>
#include <bitdial/quant/uniform.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <tuple>

#include "test_support.hpp"

using namespace bitdial;

namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct job {
  int bits;
  rounding rule;
  std::size_t threads;  // pool size
  kernel_isa isa;
};

}  // namespace

TEST_CASE("gemm: identical bits for every ISA, pool size, thread count and call order", "[determinism]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 100, K = 192, N = 5;  // 4 row blocks (the last partial): 1..3 threads split them
  const auto wf = test::heavy_tailed(M * K, 21);
  const auto xf = test::normal(N * K, 22);
  const const_matrix X(xf.data(), N, K);
  thread_pool p1(1), p2(2), p3(3);
  thread_pool* pools[] = {nullptr, &p1, &p2, &p3};

  for (granularity g : {granularity::per_row(), granularity::per_group(64), granularity::per_group(12)}) {
    const bit_plane_stack s =
        bit_plane_stack::pack(uniform_symmetric<8>({.gran = g}).quantize(const_matrix(wf.data(), M, K)));
    std::map<std::pair<int, rounding>, std::vector<float>> first;
    std::vector<job> jobs;
    for (int b = 1; b <= 8; ++b)
      for (rounding rule : {rounding::floor, rounding::half_up, rounding::half_even}) {
        // The straight pass: reference kernel, one thread.
        std::vector<float> y(N * M);
        gemm(view(s, b, rule), X, matrix_view<float>(y.data(), N, M), {}, {kernel_isa::reference, &p1, 1});
        first[{b, rule}] = y;
        for (std::size_t t = 1; t <= 3; ++t)
          for (kernel_isa isa : available_isas()) jobs.push_back({b, rule, t, isa});
      }
    std::mt19937_64 rng(test::seed() + 23);
    std::shuffle(jobs.begin(), jobs.end(), rng);
    std::size_t ran = 0;
    for (const job& j : jobs) {
      std::vector<float> y(N * M, -1.0f);
      const std::size_t used = j.threads == 3 && (ran % 2) ? 2 : 0;  // sometimes only some of the workers
      try {
        gemm(view(s, j.bits, j.rule), X, matrix_view<float>(y.data(), N, M), {}, {j.isa, pools[j.threads], used});
      } catch (const error& e) {
        CHECK_THAT(e.what(), Catch::Contains("isa = "));  // this ISA declines the group size
        continue;
      }
      INFO("group = " << g.group << ", b = " << j.bits << ", rule = " << to_string(j.rule)
                      << ", isa = " << to_string(j.isa) << ", pool = " << j.threads << ", used = " << used);
      REQUIRE(same_bits(y, first[{j.bits, j.rule}]));
      ++ran;
    }
    CHECK(ran >= jobs.size() / 2);
  }
}

TEST_CASE("gemv and pre-quantized gemm agree with the float front door, in any order", "[determinism]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 70, K = 128;
  const auto wf = test::normal(M * K, 24);
  const auto xf = test::normal(K, 25);
  const bit_plane_stack s = bit_plane_stack::pack(uniform_symmetric<8>().quantize(const_matrix(wf.data(), M, K)));
  const auto q = per_token_quantizer<8>().quantize(const_matrix(xf.data(), 1, K));
  thread_pool p3(3);
  std::vector<float> a(M), b(M), c(M);
  for (int round = 0; round < 3; ++round)
    for (int bits : {8, 3, 1, 5, 2, 7, 4, 6}) {
      const plane_view v = view(s, bits, rounding::half_up);
      gemv(v, xf, a, {}, {kernel_isa::automatic, &p3, 0});
      gemm(v, as_tokens(q), matrix_view<float>(b.data(), 1, M), {}, {kernel_isa::automatic, nullptr, 1});
      gemm(v, const_matrix(xf.data(), 1, K), matrix_view<float>(c.data(), 1, M), {}, {kernel_isa::portable, &p3, 2});
      INFO("bits = " << bits << ", round = " << round);
      REQUIRE(same_bits(a, b));
      REQUIRE(same_bits(a, c));
    }
}

TEST_CASE("gemm_slices: identical bits for every ISA, pool and interleaved slice count", "[determinism]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 65, K = 96, N = 6;
  const auto wf = test::normal(M * K, 26);
  const auto xf = test::normal(N * K, 27);
  const auto ps = plane_slice_stack::pack(uniform_residual({2, 2, 2, 2}).quantize(const_matrix(wf.data(), M, K)));
  const auto q = per_token_quantizer<8>().quantize(const_matrix(xf.data(), N, K));
  const std::vector<int> counts = {4, 1, 3, 2, 4, 1};
  thread_pool p1(1), p2(2), p3(3);
  thread_pool* pools[] = {&p1, &p2, &p3};
  std::vector<std::vector<float>> first(5);
  for (std::size_t n = 1; n <= 4; ++n) {
    first[n].resize(N * M);
    gemm_slices(ps.view_slices(n), as_tokens(q), matrix_view<float>(first[n].data(), N, M), {}, {},
                {kernel_isa::reference});
  }
  std::vector<float> routed_first(N * M);
  gemm_slices(ps.view_slices(4), as_tokens(q), matrix_view<float>(routed_first.data(), N, M), counts, {},
              {kernel_isa::reference});
  std::mt19937_64 rng(test::seed() + 28);
  std::vector<std::tuple<std::size_t, kernel_isa, int>> order;
  for (std::size_t n = 0; n <= 4; ++n)  // n = 0: the routed call with per-token counts
    for (kernel_isa isa : available_isas())
      for (int p = 0; p < 3; ++p) order.emplace_back(n, isa, p);
  std::shuffle(order.begin(), order.end(), rng);
  for (const auto& [n, isa, p] : order) {
    std::vector<float> y(N * M, -1.0f);
    if (n == 0)
      gemm_slices(ps.view_slices(4), as_tokens(q), matrix_view<float>(y.data(), N, M), counts, {}, {isa, pools[p], 0});
    else
      gemm_slices(ps.view_slices(n), as_tokens(q), matrix_view<float>(y.data(), N, M), {}, {}, {isa, pools[p], 0});
    INFO("n = " << n << ", isa = " << to_string(isa) << ", pool = " << p + 1);
    REQUIRE(same_bits(y, n == 0 ? routed_first : first[n]));
  }
  // Routing: token t's output is exactly the n = counts[t] output's row t.
  for (std::size_t t = 0; t < N; ++t)
    for (std::size_t r = 0; r < M; ++r) REQUIRE(routed_first[t * M + r] == first[std::size_t(counts[t])][t * M + r]);
}

TEST_CASE("truncation_ready's parallel scale search does not depend on the pool size", "[determinism]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 20, K = 64;
  const auto wf = test::heavy_tailed(M * K, 29);
  const truncation_ready<8> tr({.coarse_steps = 8, .refine_steps = 4});
  const auto one = tr.quantize(const_matrix(wf.data(), M, K));
  for (std::size_t threads : {1, 2, 3}) {
    thread_pool p(threads);
    const auto again = tr.quantize(const_matrix(wf.data(), M, K), &p);
    INFO("threads = " << threads);
    REQUIRE(again.codes == one.codes);
    REQUIRE(same_bits(again.scales, one.scales));
  }
}
