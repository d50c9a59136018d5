// Concurrency stress: reader threads run GEMVs, GEMMs (float and int8 front doors, one thread or
// the shared pool) and gemm_slices while a writer switches the elastic weight's width and the
// served slice count thousands of times. Every output must equal, bit for bit, the output of one
// valid width (or slice count) computed beforehand — never a mix — and the width a reader's
// snapshot names. Bounded in time: the writer stops after its switch budget or a deadline,
// whichever comes first. Run under ThreadSanitizer in CI (.ci/run).
#include <bitdial/kernels/slices.hpp>
#include <bitdial/quant/residual.hpp>
#include <bitdial/quant/uniform.hpp>
#include <bitdial/select/elastic_weight.hpp>
#include <bitdial/select/policy.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "test_support.hpp"

using namespace bitdial;

namespace {

constexpr std::size_t M = 48, K = 128, N = 3;

/// Index of the first entry of `table` equal to y, or -1.
int which(const std::vector<std::vector<float>>& table, const std::vector<float>& y) {
  for (std::size_t i = 0; i < table.size(); ++i)
    if (!table[i].empty() && table[i] == y) return static_cast<int>(i);
  return -1;
}

}  // namespace

TEST_CASE("readers see one valid width or slice count while a writer switches thousands of times", "[concurrency]") {
  BITDIAL_LOG_SEED();
  const auto wf = test::normal(M * K, 11);
  const const_matrix W(wf.data(), M, K);
  elastic_weight ew(bit_plane_stack::pack(uniform_symmetric<8>({.gran = granularity::per_group(32)}).quantize(W)),
                    rounding::half_even);
  const plane_slice_stack slices = plane_slice_stack::pack(uniform_residual({2, 2, 2, 2}).quantize(W));
  width_map layer_widths(2, 8);  // entry 0 drives the GEMM readers, entry 1 is switched but unread

  const auto xf = test::normal(N * K, 12);
  const const_matrix X(xf.data(), N, K);
  const auto xq = per_token_quantizer<8>().quantize(X);
  const token_batch xt = as_tokens(xq);
  const std::span<const float> x1(xf.data(), K);

  // Expected outputs of every width / slice count, computed single-threaded up front.
  const run_options one{kernel_isa::automatic, nullptr, 1};
  std::vector<std::vector<float>> gemv_at(9), gemm_at(9), slices_at(5);
  for (int b = 1; b <= 8; ++b) {
    gemv_at[b].resize(M);
    gemv(ew.view(b), x1, gemv_at[b], {}, one);
    gemm_at[b].resize(N * M);
    gemm(ew.view(b), X, matrix_view<float>(gemm_at[b].data(), N, M), {}, one);
  }
  for (std::size_t n = 1; n <= 4; ++n) {
    slices_at[n].resize(N * M);
    gemm_slices(slices.view_slices(n), xt, matrix_view<float>(slices_at[n].data(), N, M), {}, {}, one);
  }
  for (int b = 1; b < 8; ++b) REQUIRE(gemv_at[b] != gemv_at[b + 1]);  // widths are distinguishable
  for (std::size_t n = 1; n < 4; ++n) REQUIRE(slices_at[n] != slices_at[n + 1]);

  std::atomic<std::size_t> slice_count{4};
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, mixed{0}, runs{0};
  constexpr int readers = 3;
  std::vector<std::thread> pool;
  for (int t = 0; t < readers; ++t)
    pool.emplace_back([&, t] {
      std::vector<float> y(M), Y(N * M);
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        // Reader t uses the shared global pool on every other call (concurrent pool callers).
        const run_options o{kernel_isa::automatic, nullptr, (i + t) % 2 ? std::size_t{1} : std::size_t{0}};
        switch ((i + t) % 3) {
          case 0: {  // GEMV at the elastic weight's current width
            const plane_view v = ew.view();
            gemv(v, x1, y, {}, o);
            const int got = which(gemv_at, y);
            if (got < 0)
              ++mixed;
            else if (got != v.bits)
              ++wrong;
            break;
          }
          case 1: {  // float GEMM at the width a width_map entry names
            const int b = layer_widths.get(0);
            gemm(ew.view(b), X, matrix_view<float>(Y.data(), N, M), {}, o);
            const int got = which(gemm_at, Y);
            if (got < 0)
              ++mixed;
            else if (got != b)
              ++wrong;
            break;
          }
          default: {  // residual slices at the current slice count
            const std::size_t n = slice_count.load(std::memory_order_acquire);
            gemm_slices(slices.view_slices(n), xt, matrix_view<float>(Y.data(), N, M), {}, {}, o);
            const int got = which(slices_at, Y);
            if (got < 0)
              ++mixed;
            else if (std::size_t(got) != n)
              ++wrong;
          }
        }
        runs.fetch_add(1, std::memory_order_relaxed);
      }
    });

  // The writer: at least 5000 switches of each kind and 300 reader calls, within 30 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int switches = 0;
  while ((switches < 5000 || runs.load() < 300) && std::chrono::steady_clock::now() < deadline) {
    ew.set_bits(1 + (switches * 5) % 8);
    layer_widths.set(0, 1 + (switches * 3) % 8);
    layer_widths.set(1, 8 - switches % 8);
    slice_count.store(1 + std::size_t(switches) % 4, std::memory_order_release);
    if (++switches % 8 == 0) std::this_thread::yield();
  }
  stop = true;
  for (auto& th : pool) th.join();
  INFO(switches << " switches, " << runs.load() << " reader calls");
  CHECK(mixed.load() == 0);  // an output that is no width's output: a torn view
  CHECK(wrong.load() == 0);  // a valid output, but not the width the snapshot named
  CHECK(switches >= 1000);
  CHECK(runs.load() >= 30);
}

TEST_CASE("one thread_pool shared by concurrent callers gives each its own exact result", "[concurrency]") {
  BITDIAL_LOG_SEED();
  const auto wf = test::normal(96 * K, 13);
  const bit_plane_stack s = bit_plane_stack::pack(uniform_symmetric<8>().quantize(const_matrix(wf.data(), 96, K)));
  const auto xf = test::normal(N * K, 14);
  const const_matrix X(xf.data(), N, K);
  thread_pool shared(3);
  std::vector<std::vector<float>> want(9, std::vector<float>(N * 96));
  for (int b = 1; b <= 8; ++b)
    gemm(view(s, b), X, matrix_view<float>(want[b].data(), N, 96), {}, {kernel_isa::automatic, nullptr, 1});
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&, t] {
      std::vector<float> y(N * 96);
      for (int i = 0; i < 60; ++i) {
        const int b = 1 + (i * 3 + t) % 8;
        gemm(view(s, b), X, matrix_view<float>(y.data(), N, 96), {}, {kernel_isa::automatic, &shared, 0});
        if (y != want[b]) ++bad;
      }
    });
  for (auto& c : callers) c.join();
  CHECK(bad.load() == 0);
}
