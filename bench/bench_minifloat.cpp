// FP4 × int8 GEMV/GEMM (kernels/minifloat_gemm.hpp): MXFP4, NVFP4 and BitMoD-FP4 (G = 128) on the
// AVX-512 kernel, random codes and scales (the kernel's cost does not depend on the values).
//
// Names: <op>/<format>/bits:4/m:<M>/k:<K>/n:<N>/threads:<t>/cold:0, format ∈ {mxfp4, nvfp4, bitmod}.
// Counters: weights_per_second = M·K·N per second, bytes_per_second = packed codes + scales read per
// second. Registered at static-initialisation time; bench_gemv.cpp's main runs them. Example:
//   bitdial_bench --benchmark_filter='gemv/(mxfp4|nvfp4|bitmod)' --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <bitdial/core/parallel.hpp>
#include <bitdial/kernels/minifloat_gemm.hpp>

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

packed_codes random_codes(std::uint64_t seed) {
  packed_codes c(4, M * K);
  for (auto& b : c.bytes) b = static_cast<std::uint8_t>(lcg(seed) & 0xFF);
  return c;
}

const fp4_matrix& matrix(fp4_format f) {
  static const fp4_matrix mx = [] {
    mx_matrix m;
    m.format = mxfp4, m.rows = M, m.cols = K, m.codes = random_codes(1);
    std::uint64_t s = 2;
    for (std::size_t i = 0; i < M * K / mx_block_size; ++i)
      m.scales.push_back(static_cast<std::uint8_t>(120 + lcg(s) % 8));
    return fp4_matrix::pack(m);
  }();
  static const fp4_matrix nv = [] {
    nvfp4_matrix m;
    m.rows = M, m.cols = K, m.codes = random_codes(3), m.tensor_scale = 1e-3f;
    std::uint64_t s = 4;
    for (std::size_t i = 0; i < M * K / nvfp4_block_size; ++i)
      m.scales.push_back(static_cast<std::uint8_t>(0x30 + lcg(s) % 16));
    return fp4_matrix::pack(m);
  }();
  static const fp4_matrix bm = [] {
    bitmod_matrix m;
    m.rows = M, m.cols = K, m.group = 128, m.codes = random_codes(5), m.menu = {5.0f, -5.0f, 8.0f, -8.0f};
    std::uint64_t s = 6;
    for (std::size_t i = 0; i < M * K / 128; ++i) {
      m.scales.push_back(0.01f);
      m.extra_index.push_back(static_cast<std::uint8_t>(lcg(s) % 4));
    }
    return fp4_matrix::pack(m);
  }();
  switch (f) {
    case fp4_format::mxfp4:
      return mx;
    case fp4_format::nvfp4:
      return nv;
    case fp4_format::bitmod:
      return bm;
  }
  return mx;
}

thread_pool& pool() {
  static thread_pool p(2);
  return p;
}

void run(benchmark::State& st, fp4_format f, std::size_t n, int threads) {
  const fp4_matrix& w = matrix(f);
  std::vector<std::int8_t> codes(n * K);
  std::vector<float> scales(n, 0.02f);
  std::uint64_t s = 7;
  for (auto& c : codes) c = static_cast<std::int8_t>(lcg(s) & 0xFF);
  const token_batch x{codes.data(), scales.data(), n, K, K};
  std::vector<float> y(n * M);
  const run_options o{kernel_isa::avx512, &pool(), static_cast<std::size_t>(threads)};
  for (auto _ : st) {
    gemm(w, x, matrix_view<float>(y.data(), n, M), {}, o);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double it = static_cast<double>(st.iterations());
  st.counters["weights_per_second"] = benchmark::Counter(double(M) * K * n * it, benchmark::Counter::kIsRate);
  st.counters["bytes_per_second"] = benchmark::Counter(double(w.bytes()) * it, benchmark::Counter::kIsRate);
}

const bool registered = [] {
  if (!fp4_isa_available(kernel_isa::avx512)) return false;
  for (std::size_t n : {std::size_t{1}, std::size_t{512}})
    for (fp4_format f : {fp4_format::mxfp4, fp4_format::nvfp4, fp4_format::bitmod})
      for (int t : {1, 2}) {
        char name[160];
        std::snprintf(name, sizeof name, "%s/%s/bits:4/m:%zu/k:%zu/n:%zu/threads:%d/cold:0", n == 1 ? "gemv" : "gemm",
                      to_string(f), M, K, n, t);
        benchmark::RegisterBenchmark(name, [=](benchmark::State& s) { run(s, f, n, t); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
  return true;
}();

}  // namespace
