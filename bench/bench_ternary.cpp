// Ternary (BitNet b1.58) GEMV/GEMM: the dedicated 2-bit kernel (kernels/ternary.hpp) against the same
// codes served as a 2-plane bit_plane_stack at b = 2 (the plane lookup kernel).
//
// Names: <op>/<method>/bits:2/m:<M>/k:<K>/n:<N>/threads:<t>/cold:0, method ∈ {ternary, ternary_planes}.
// Registered at static-initialisation time; bench_gemv.cpp's main runs them. Example:
//   bitdial_bench --benchmark_filter='ternary' --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <bitdial/core/parallel.hpp>
#include <bitdial/kernels/ternary.hpp>
#include <bitdial/kernels/x86/plane_avx512.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

using namespace bitdial;

namespace {

constexpr std::size_t M = 4096, K = 14336;

std::uint64_t lcg(std::uint64_t& s) {
  s = s * 6364136223846793005ull + 1442695040888963407ull;
  return s >> 33;
}

struct ternary_weights {
  quantized_matrix<std::int8_t> q;
  ternary_matrix packed;
  bit_plane_stack planes;
  static ternary_weights& get() {
    static ternary_weights w = [] {
      ternary_weights w;
      w.q.rows = M, w.q.cols = K, w.q.bits = 2, w.q.gran = granularity::per_tensor();
      std::uint64_t s = 11;
      w.q.codes.resize(M * K);
      for (auto& c : w.q.codes) c = static_cast<std::int8_t>(static_cast<int>(lcg(s) % 3) - 1);
      w.q.scales = {0.01f};
      w.packed = ternary_matrix::pack(w.q);
      w.planes = pack_ternary_planes(w.q);
      return w;
    }();
    return w;
  }
};

struct token_data {
  std::vector<std::int8_t> codes;
  std::vector<float> scales;
  token_batch batch;
  explicit token_data(std::size_t n) : codes(n * K), scales(n, 0.02f) {
    std::uint64_t s = 7;
    for (auto& c : codes) c = static_cast<std::int8_t>(lcg(s) & 0xFF);
    batch = token_batch{codes.data(), scales.data(), n, K, K};
  }
};

thread_pool& pool() {
  static thread_pool p(2);
  return p;
}

void set_rates(benchmark::State& st, double weights, double bytes) {
  const double it = static_cast<double>(st.iterations());
  st.counters["weights_per_second"] = benchmark::Counter(weights * it, benchmark::Counter::kIsRate);
  st.counters["bytes_per_second"] = benchmark::Counter(bytes * it, benchmark::Counter::kIsRate);
}

void dedicated(benchmark::State& st, std::size_t n, int threads) {
  const ternary_weights& w = ternary_weights::get();
  token_data x(n);
  std::vector<float> y(n * M);
  const run_options o{kernel_isa::avx512, &pool(), static_cast<std::size_t>(threads)};
  for (auto _ : st) {
    gemm(w.packed, x.batch, matrix_view<float>(y.data(), n, M), {}, o);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rates(st, double(M) * K * n, double(w.packed.bytes()));
}

void planes(benchmark::State& st, std::size_t n, int threads) {
  const ternary_weights& w = ternary_weights::get();
  const plane_view v = view(w.planes, 2);
  token_data x(n);
  std::vector<float> y(n * M);
  for (auto _ : st) {
    x86::plane_gemm_avx512_parallel(v, x.batch, matrix_view<float>(y.data(), n, M), nullptr, 0, M,
                                    [&](std::size_t blocks, auto&& fn) {
                                      if (threads == 1)
                                        fn(std::size_t{0}, blocks);
                                      else
                                        pool().run(
                                            2, [&](std::size_t i) { fn(blocks * i / 2, blocks * (i + 1) / 2); }, 2);
                                    });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rates(st, double(M) * K * n, double(v.bytes_read()));
}

std::string name(const char* op, const char* method, std::size_t n, int threads) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s/%s/bits:2/m:%zu/k:%zu/n:%zu/threads:%d/cold:0", op, method, M, K, n, threads);
  return buf;
}

const bool registered = [] {
  if (!x86::plane_avx512_available()) return false;
  for (int t : {1, 2}) {
    benchmark::RegisterBenchmark(name("gemv", "ternary", 1, t).c_str(),
                                 [=](benchmark::State& s) { dedicated(s, 1, t); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(name("gemv", "ternary_planes", 1, t).c_str(),
                                 [=](benchmark::State& s) { planes(s, 1, t); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (int t : {1, 2}) {
    benchmark::RegisterBenchmark(name("gemm", "ternary", 512, t).c_str(),
                                 [=](benchmark::State& s) { dedicated(s, 512, t); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(name("gemm", "ternary_planes", 512, t).c_str(),
                                 [=](benchmark::State& s) { planes(s, 512, t); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace
