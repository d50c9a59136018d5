// Bit-serial W×A throughput (kernels/bitserial.hpp): weights served at b bits from one stored 8-bit
// plane stack, activations at a bits, per-call activation planes included in the timing (the codes
// are quantized once outside the loop, as the int8_dot rows of bench_gemv.cpp pre-quantize theirs).
//
// Names: <op>/bitserial_a<a>/bits:<b>/m:<M>/k:<K>/n:<N>/threads:<t>/cold:0,  op ∈ {gemv, gemm}
// Counters: weights_per_second = M·K·N per second, bytes_per_second = weight plane bytes read per
// second (b/8 bytes per weight, once per call). Real time (the kernel runs on pool workers).
// Compare with gemm/int8_dot/bits:8/.../n:512 and gemv/int8_dot in the same run, e.g.
//   bitdial_bench --benchmark_filter='(bitserial|int8_dot).*n:512/threads:2' --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <bitdial/core/parallel.hpp>
#include <bitdial/kernels/bitserial.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

using namespace bitdial;

namespace {

constexpr std::size_t M = 4096, K = 14336;

std::uint64_t next(std::uint64_t& s) {
  s = s * 6364136223846793005ull + 1442695040888963407ull;
  return s >> 33;
}

const bit_plane_stack& stack() {
  static const bit_plane_stack s = [] {
    quantized_matrix<std::int8_t> m;
    m.rows = M, m.cols = K, m.bits = 8, m.gran = granularity::per_row();
    std::uint64_t st = 42;
    m.codes.resize(M * K);
    for (auto& c : m.codes) c = static_cast<std::int8_t>(next(st) & 0xFF);
    m.scales.assign(M, 0.01f);
    return bit_plane_stack::pack(m);
  }();
  return s;
}

/// Per-token a-bit two's-complement codes of n tokens (random, in range).
quantized_activations codes(std::size_t n, int a) {
  quantized_activations q;
  q.rows = n, q.cols = K, q.bits = a, q.mode = activation_mode::symmetric;
  std::uint64_t st = 7 + static_cast<std::uint64_t>(a);
  q.codes.resize(n * K);
  for (auto& c : q.codes) c = static_cast<std::int8_t>(signed_min(a) + static_cast<int>(next(st) % (1u << a)));
  q.scales.assign(n, 0.02f);
  q.zero_points.assign(n, 0);
  q.code_sums.assign(n, 0);
  return q;
}

thread_pool& pool2() {
  static thread_pool p(2);
  return p;
}

void bitserial_op(benchmark::State& st, int bits, int a, std::size_t n, int threads) {
  const plane_view v = view(stack(), bits);
  const quantized_activations q = codes(n, a);
  std::vector<float> y(n * M);
  const matrix_view<float> Y(y.data(), n, M);
  const run_options o{kernel_isa::automatic, &pool2(), static_cast<std::size_t>(threads)};
  for (auto _ : st) {
    const bitserial_activations x = bitserial_activations::from(q);
    bitserial_gemm(v, x, Y, {}, o);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double it = static_cast<double>(st.iterations());
  st.counters["weights_per_second"] = benchmark::Counter(double(M) * K * double(n) * it, benchmark::Counter::kIsRate);
  st.counters["bytes_per_second"] = benchmark::Counter(double(v.bytes_read()) * it, benchmark::Counter::kIsRate);
}

std::string row(const char* op, int a, int b, std::size_t n, int threads) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s/bitserial_a%d/bits:%d/m:%zu/k:%zu/n:%zu/threads:%d/cold:0", op, a, b, M, K, n,
                threads);
  return buf;
}

const bool registered = [] {
  for (int threads : {1, 2})
    for (auto [a, b] : {std::pair{1, 1}, std::pair{2, 2}, std::pair{4, 4}}) {
      benchmark::RegisterBenchmark(row("gemv", a, b, 1, threads).c_str(),
                                   [=](benchmark::State& s) { bitserial_op(s, b, a, 1, threads); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(row("gemm", a, b, 512, threads).c_str(),
                                   [=](benchmark::State& s) { bitserial_op(s, b, a, 512, threads); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  return true;
}();

}  // namespace
