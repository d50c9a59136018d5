// Elastic weights: O(1) views and switches, concurrent readers during width switches, width maps,
// budget allocation, the per-token router and the cross-width divergence report.
#include <bitdial/quant/uniform.hpp>
#include <bitdial/analysis/cross_width.hpp>
#include <bitdial/select/elastic_weight.hpp>
#include <bitdial/select/policy.hpp>
#include <bitdial/select/router.hpp>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "test_support.hpp"

using namespace bitdial;

namespace {

bit_plane_stack master_from_normal(std::size_t rows, std::size_t cols, std::uint64_t salt) {
  const auto w = test::normal(rows * cols, salt);
  return bit_plane_stack::pack(uniform_symmetric<8>().quantize(const_matrix(w.data(), rows, cols)));
}

}  // namespace

TEST_CASE("views are O(1) snapshots of one stack; switching is one store", "[elastic]") {
  elastic_weight w(master_from_normal(40, 64, 1), rounding::half_up);
  CHECK(w.bits() == 8);
  const auto v8 = w.view();
  w.set_bits(3);
  const auto v3 = w.view();
  CHECK(v8.bits == 8);  // taken before the switch: still 8 bits
  CHECK(v3.bits == 3);
  CHECK(v3.stack == &w.stack());
  CHECK(v8.stack == v3.stack);
  CHECK_THROWS_WITH(w.set_bits(0), Catch::Contains("bits = 0"));
  CHECK(w.bits() == 3);  // a rejected switch changes nothing
  quantized_matrix<std::uint8_t> u{1, 4, 8, granularity::per_row(), {1, 2, 3, 4}, {1.0f}, {0}};
  CHECK_THROWS_WITH(elastic_weight(bit_plane_stack::pack(u), rounding::half_even), Catch::Contains("signed master"));
}

TEST_CASE("readers under width switches always see exactly one valid width", "[elastic][concurrency]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 64, K = 256;
  elastic_weight w(master_from_normal(M, K, 2), rounding::half_even);
  const auto x = test::normal(K, 3);
  std::vector<std::vector<float>> expected(9, std::vector<float>(M));
  for (int b = 1; b <= 8; ++b) gemv(w.view(b), x, expected[b], {}, run_options{kernel_isa::automatic, nullptr, 1});
  for (int b = 1; b < 8; ++b) REQUIRE(expected[b] != expected[b + 1]);  // widths are distinguishable

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, runs{0};
  std::vector<std::thread> readers;
  std::vector<std::set<int>> seen(3);
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&, t] {
      std::vector<float> y(M);
      while (!stop.load()) {
        const plane_view v = w.view();
        gemv(v, x, y, {}, run_options{kernel_isa::automatic, nullptr, 1});
        if (y != expected[v.bits]) ++bad;
        seen[t].insert(v.bits);
        ++runs;
      }
    });
  // The writer keeps switching until the readers have run many GEMVs across many switches.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int switches = 0;
  while ((switches < 5000 || runs.load() < 1000) && std::chrono::steady_clock::now() < deadline) {
    w.set_bits(1 + switches++ % 8);
    if (switches % 4 == 0) std::this_thread::yield();
  }
  stop = true;
  for (auto& r : readers) r.join();
  CHECK(bad.load() == 0);
  std::set<int> all;
  for (auto& s : seen) all.insert(s.begin(), s.end());
  INFO(switches << " switches, " << runs.load() << " reader GEMVs");
  CHECK(runs.load() >= 1000);
  CHECK(all.size() >= 2);  // readers really ran across switches
}

TEST_CASE("width maps switch entries independently and average by size", "[elastic][policy]") {
  layer_widths layers(3, 8);
  layers.set(1, 2);
  const std::size_t sizes[] = {100, 300, 600};
  CHECK(layers.average_bits(sizes) == Approx((8 * 100 + 2 * 300 + 8 * 600) / 1000.0));
  CHECK_THROWS_WITH(layers.set(3, 4), Catch::Contains("index = 3"));
  CHECK_THROWS_WITH(layers.set(0, 9), Catch::Contains("bits = 9"));
  const int widths[] = {4, 4, 2};
  layers.assign(widths);
  CHECK(layers.get(2) == 2);
  expert_widths experts(8, 4);
  CHECK(experts.get(7) == 4);
}

TEST_CASE("allocate_widths meets the budget and favours sensitive entries", "[policy]") {
  // Entry 0 is 10x more sensitive than entry 1 at every width; errors fall 4x per bit.
  std::vector<std::array<double, 8>> err(2);
  for (int b = 0; b < 8; ++b) {
    err[0][b] = 10.0 * std::pow(0.25, b);
    err[1][b] = std::pow(0.25, b);
  }
  const std::size_t sizes[] = {1000, 1000};
  const auto bits = allocate_widths(err, sizes, 4.0);
  CHECK(bits[0] + bits[1] <= 8);
  CHECK(bits[0] + bits[1] >= 7);
  CHECK(bits[0] >= bits[1]);
  const auto all8 = allocate_widths(err, sizes, 8.0);
  CHECK(all8 == std::vector<int>{8, 8});
  CHECK_THROWS_WITH(allocate_widths(err, sizes, 0.5), Catch::Contains("target_average_bits = 0.5"));
}

TEST_CASE("statistic router calibrates to a target average slice count", "[router]") {
  BITDIAL_LOG_SEED();
  const std::size_t N = 2000, K = 128;
  auto x = test::normal(N * K, 11);
  std::mt19937_64 rng(test::seed() + 12);
  for (std::size_t t = 0; t < N; ++t)  // a spread of outlier strengths
    x[t * K + rng() % K] *= 1.0f + 15.0f * float(t % 97) / 97.0f;
  const const_matrix toks(x.data(), N, K);
  for (double target : {1.0, 1.5, 2.25, 3.0, 3.7, 4.0}) {
    const auto r = statistic_router::calibrate(toks, 1, 4, target);
    const auto n = r.route_all(toks);
    double avg = 0;
    for (int c : n) {
      REQUIRE(c >= 1);
      REQUIRE(c <= 4);
      avg += c;
    }
    avg /= double(N);
    INFO("target " << target << " achieved " << avg);
    CHECK(std::fabs(avg - target) < 0.02);
  }
  // Outlier-heavy tokens get at least as many slices as flat ones.
  const auto r = statistic_router::calibrate(toks, 1, 4, 2.5);
  std::vector<float> flat(K, 1.0f), spiky(K, 0.01f);
  spiky[3] = 10.0f;
  CHECK(r.route(spiky) >= r.route(flat));
  CHECK(r.route(spiky) == 4);
  CHECK_THROWS_WITH(statistic_router::calibrate(toks, 1, 4, 5.0), Catch::Contains("target_average = 5"));
  CHECK_THROWS_WITH(statistic_router(2, 1, {}), Catch::Contains("counts = [2, 1]"));
}

TEST_CASE("cross-width report: drift shrinks with width and matches the noise model", "[report]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 128, K = 512, N = 16;
  const auto xs = test::normal(N * K, 21);
  elastic_weight mid(master_from_normal(M, K, 20), rounding::floor, reconstruction::midpoint);
  const auto rep = cross_width_report(mid, const_matrix(xs.data(), N, K));
  REQUIRE(rep.size() == 8);
  CHECK(rep[0].bits == 8);
  CHECK(rep[0].rel_rms == 0.0);
  for (std::size_t i = 1; i < rep.size(); ++i) {
    INFO("b = " << rep[i].bits << " rel " << rep[i].rel_rms << " expected " << rep[i].expected_rel_rms);
    CHECK(rep[i].rel_rms > rep[i - 1].rel_rms);
    CHECK(rep[i].bytes_read < rep[i - 1].bytes_read);
    if (rep[i].bits >= 2) {
      CHECK(rep[i].rel_rms < 1.5 * rep[i].expected_rel_rms);
      CHECK(rep[i].rel_rms > 0.5 * rep[i].expected_rel_rms);
      CHECK_FALSE(rep[i].flagged);
    }
  }
  // Floor reconstruction is biased: the report must flag it at low widths.
  elastic_weight floor(master_from_normal(M, K, 20), rounding::floor, reconstruction::floor);
  const auto rf = cross_width_report(floor, const_matrix(xs.data(), N, K), 1.5);
  bool any = false;
  for (const auto& d : rf) any = any || d.flagged;
  CHECK(any);
}
