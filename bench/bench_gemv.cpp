// GEMV / GEMM throughput of the AVX-512 plane kernels at every width, against the plain int8 VNNI
// dot product, Eigen fp32 and a streaming read of exactly the bytes each width reads (PERF.md).
//
// Names: <op>/<method>/bits:<b>/m:<M>/k:<K>/n:<N>/threads:<t>/cold:<0|1>
//   op ∈ {gemv, gemm, read, switch}; method ∈ {truncation, truncation_fitted, double_rounding,
//   double_rounding_fitted, int8_dot, eigen_f32, stream, slices, truncation_front}
// truncation / double_rounding serve the literal rules, *_fitted the fitted per-width maps of the
// same stack (select/fit.hpp; same kernel, per-row factor and offset in the epilogue).
// slices: n one-bit residual slices through gemm_slices (bits = n), against truncation_front, the
// plane view of the same total bits through the same front door (gemm, same thread pool).
// cold:1 rotates over distinct copies of the weights until ≥ 128 MiB of the bytes read differ
// between consecutive reuses (DRAM-resident); cold:0 reuses one copy (L3 when it fits).
// Counters: weights_per_second = M·K·N per second, bytes_per_second = weight bytes read per second.
// Every row uses real time (the kernels run on worker threads). Example:
//   bitdial_bench --benchmark_filter='gemv/truncation.*cold:0' --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <bitdial/core/parallel.hpp>
#include <bitdial/kernels/gemm.hpp>
#include <bitdial/kernels/slices.hpp>
#include <bitdial/kernels/x86/int8_vnni.hpp>
#include <bitdial/kernels/x86/plane_avx512.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace bitdial;

namespace {

constexpr std::size_t M = 4096, K = 14336;
constexpr std::size_t cold_bytes = std::size_t{128} << 20;

std::uint64_t lcg(std::uint64_t& s) {
  s = s * 6364136223846793005ull + 1442695040888963407ull;
  return s >> 33;
}

/// One packed 8-bit master and as many byte-identical copies as a cold run needs.
struct weights {
  std::vector<std::unique_ptr<bit_plane_stack>> stacks;
  std::vector<std::unique_ptr<x86::int8_matrix>> int8;
  std::vector<std::int8_t> codes;  // row-major master, for int8 / Eigen

  static weights& get() {
    static weights w = [] {
      weights w;
      quantized_matrix<std::int8_t> m;
      m.rows = M;
      m.cols = K;
      m.bits = 8;
      m.gran = granularity::per_row();
      std::uint64_t s = 42;
      m.codes.resize(M * K);
      for (auto& c : m.codes) c = static_cast<std::int8_t>(lcg(s) & 0xFF);
      m.scales.assign(M, 0.01f);
      auto st = bit_plane_stack::pack(m);
      // Fitted maps for every rule and width (values irrelevant to the cost; copies inherit them).
      for (int rule = 0; rule < 3; ++rule)
        for (int b = 1; b < 8; ++b) {
          std::vector<float> alpha(M, 0.9f * float(1 << (8 - b)));
          std::vector<std::int16_t> beta(M, 37);
          st.set_fit(rule, b, alpha, beta);
        }
      w.stacks.push_back(std::make_unique<bit_plane_stack>(std::move(st)));
      w.codes = std::move(m.codes);
      return w;
    }();
    return w;
  }
  const bit_plane_stack& stack(std::size_t i) {
    while (stacks.size() <= i) stacks.push_back(std::make_unique<bit_plane_stack>(*stacks[0]));
    return *stacks[i];
  }
  const x86::int8_matrix& int8_copy(std::size_t i) {
    if (int8.empty()) {
      std::vector<float> sc(M, 0.01f);
      int8.push_back(std::make_unique<x86::int8_matrix>(x86::int8_matrix::pack(codes.data(), M, K, K, sc.data())));
    }
    while (int8.size() <= i) int8.push_back(std::make_unique<x86::int8_matrix>(*int8[0]));
    return *int8[i];
  }
};

std::size_t copies_for(std::size_t bytes_read, bool cold) {
  return cold ? (cold_bytes + bytes_read - 1) / bytes_read + 1 : 1;
}

struct tokens {
  std::vector<std::int8_t> codes;
  std::vector<float> scales;
  token_batch batch;
  explicit tokens(std::size_t n) : codes(n * K), scales(n, 0.02f) {
    std::uint64_t s = 7;
    for (auto& c : codes) c = static_cast<std::int8_t>(lcg(s) & 0xFF);
    batch = token_batch{codes.data(), scales.data(), n, K, K};
  }
};

thread_pool& pool2() {
  static thread_pool p(2);
  return p;
}

/// Runs fn(i0, i1) over [0, blocks) on `threads` threads (persistent workers).
template <class F>
void split(std::size_t blocks, int threads, F&& fn) {
  if (threads == 1) {
    fn(std::size_t{0}, blocks);
    return;
  }
  pool2().run(
      2, [&](std::size_t i) { fn(blocks * i / 2, blocks * (i + 1) / 2); }, 2);
}

void set_rates(benchmark::State& st, double weights_per_iter, double bytes_per_iter) {
  const double it = static_cast<double>(st.iterations());
  st.counters["weights_per_second"] = benchmark::Counter(weights_per_iter * it, benchmark::Counter::kIsRate);
  st.counters["bytes_per_second"] = benchmark::Counter(bytes_per_iter * it, benchmark::Counter::kIsRate);
}

void plane_op(benchmark::State& st, int bits, rounding rule, std::size_t n, int threads, bool cold,
              reconstruction recon = reconstruction::midpoint) {
  weights& w = weights::get();
  const plane_view v0 = view(w.stack(0), bits, rule, recon);
  const std::size_t copies = copies_for(v0.bytes_read(), cold);
  std::vector<plane_view> views;
  for (std::size_t i = 0; i < copies; ++i) views.push_back(view(w.stack(i), bits, rule, recon));
  tokens x(n);
  std::vector<float> y(n * M);
  const matrix_view<float> Y(y.data(), n, M);
  std::size_t i = 0;
  for (auto _ : st) {
    const plane_view& v = views[i];
    i = (i + 1) % copies;
    x86::plane_gemm_avx512_parallel(v, x.batch, Y, nullptr, 0, M,
                                    [&](std::size_t blocks, auto&& fn) { split(blocks, threads, fn); });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rates(st, double(M) * K * n, double(v0.bytes_read()));
}

void int8_op(benchmark::State& st, std::size_t n, int threads, bool cold) {
  weights& w = weights::get();
  const std::size_t copies = copies_for(M * K, cold);
  std::vector<const x86::int8_matrix*> mats;
  for (std::size_t i = 0; i < copies; ++i) mats.push_back(&w.int8_copy(i));
  tokens x(n);
  std::vector<float> y(n * M);
  const matrix_view<float> Y(y.data(), n, M);
  std::size_t i = 0;
  for (auto _ : st) {
    const auto plan = x86::prepare_int8_gemm(*mats[i], x.batch);
    i = (i + 1) % copies;
    split(M / 32, threads, [&](std::size_t b0, std::size_t b1) {
      if (b0 < b1) x86::run_int8_gemm(plan, Y, b0 * 32, b1 * 32);
    });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rates(st, double(M) * K * n, double(mats[0]->bytes()));
}

void eigen_op(benchmark::State& st, std::size_t n, int threads) {
  using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  static RowMat W = [] {
    weights& w = weights::get();
    RowMat W(M, K);
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t c = 0; c < K; ++c) W(long(r), long(c)) = 0.01f * w.codes[r * K + c];
    return W;
  }();
  Eigen::setNbThreads(1);  // rows are split over our own two workers instead
  Eigen::MatrixXf X = Eigen::MatrixXf::Random(long(K), long(n));
  Eigen::MatrixXf Y(static_cast<long>(M), static_cast<long>(n));
  for (auto _ : st) {
    split(M / 32, threads, [&](std::size_t b0, std::size_t b1) {
      const long r0 = long(b0 * 32), rows = long((b1 - b0) * 32);
      if (rows > 0) Y.middleRows(r0, rows).noalias() = W.middleRows(r0, rows) * X;
    });
    benchmark::DoNotOptimize(Y.data());
    benchmark::ClobberMemory();
  }
  set_rates(st, double(M) * K * n, double(M) * K * 4);
}

#if BITDIAL_X86_SIMD
/// XOR of every 64-byte line of the top `planes` planes of blocks [b0, b1): exactly the GEMV's reads.
BITDIAL_TARGET_AVX512 std::uint64_t stream_planes(const bit_plane_stack& s, int planes, std::size_t b0,
                                                  std::size_t b1) {
  const std::size_t bytes = static_cast<std::size_t>(planes) * s.layout().plane_bytes();
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (std::size_t blk = b0; blk < b1; ++blk) {
    const std::byte* p = s.plane(blk, s.master_bits() - 1);
    for (std::size_t o = 0; o < bytes; o += 256) {
      a0 = _mm512_xor_si512(a0, _mm512_load_si512(p + o));
      a1 = _mm512_xor_si512(a1, _mm512_load_si512(p + o + 64));
      a2 = _mm512_xor_si512(a2, _mm512_load_si512(p + o + 128));
      a3 = _mm512_xor_si512(a3, _mm512_load_si512(p + o + 192));
    }
  }
  alignas(64) std::uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)));
  std::uint64_t r = 0;
  for (std::uint64_t l : lanes) r ^= l;
  return r;
}
#endif

void stream_op(benchmark::State& st, int bits, int threads, bool cold) {
#if BITDIAL_X86_SIMD
  weights& w = weights::get();
  const plane_view v0 = view(w.stack(0), bits);
  const std::size_t copies = copies_for(v0.bytes_read(), cold);
  for (std::size_t i = 0; i < copies; ++i) w.stack(i);
  std::size_t i = 0;
  std::uint64_t sink[2] = {0, 0};
  for (auto _ : st) {
    const bit_plane_stack& s = w.stack(i);
    i = (i + 1) % copies;
    split(M / 32, threads,
          [&](std::size_t b0, std::size_t b1) { sink[b0 == 0 ? 0 : 1] ^= stream_planes(s, bits, b0, b1); });
    benchmark::DoNotOptimize(sink);
  }
  set_rates(st, double(M) * K, double(v0.bytes_read()));
#else
  st.SkipWithError("x86 SIMD compiled out");
  (void)bits, (void)threads, (void)cold;
#endif
}

void switch_op(benchmark::State& st, int bits) {
  const bit_plane_stack& s = weights::get().stack(0);
  int b = bits;
  for (auto _ : st) {
    plane_view v = view(s, b, rounding::floor);
    benchmark::DoNotOptimize(v);
    b = b == bits ? 1 + bits % 8 : bits;  // alternate between two widths
  }
}

/// n one-bit residual slices (residual binarization of a Student-t-like matrix) through the
/// gemm_slices front door, or (slices = false) the plane view of n bits through gemm.
void front_op(benchmark::State& st, int n, int threads, bool slices) {
  static const plane_slice_stack sl = [] {
    std::vector<float> f(M * K);
    std::uint64_t s = 9;
    for (auto& v : f) v = 0.01f * (float(lcg(s) & 0xFFFF) - 32768.0f) / 32768.0f;
    return plane_slice_stack::pack(
        residual_binarizer(8, {.gran = granularity::per_row()}).quantize(const_matrix(f.data(), M, K)));
  }();
  const bit_plane_stack& stack = weights::get().stack(0);
  tokens x(1);
  std::vector<float> y(M);
  const matrix_view<float> Y(y.data(), 1, M);
  const run_options o{kernel_isa::automatic, nullptr, std::size_t(threads)};
  const slice_view sv = sl.view_slices(std::size_t(n));
  const plane_view pv = view(stack, n);
  for (auto _ : st) {
    if (slices)
      gemm_slices(sv, x.batch, Y, {}, {}, o);
    else
      gemm(pv, x.batch, Y, {}, o);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rates(st, double(M) * K, double(slices ? sv.bytes_read() : pv.bytes_read()));
}

std::string name(const char* op, const char* method, int bits, std::size_t n, int threads, int cold) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s/%s/bits:%d/m:%zu/k:%zu/n:%zu/threads:%d/cold:%d", op, method, bits, M, K, n,
                threads, cold);
  return buf;
}

template <class F>
void reg(const std::string& n, F&& f) {
  benchmark::RegisterBenchmark(n.c_str(), std::forward<F>(f))->UseRealTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!x86::plane_avx512_available()) std::fprintf(stderr, "bitdial_bench: no AVX-512 VNNI/VBMI: plane rows fail\n");
  for (int threads : {1, 2})
    for (int cold : {0, 1}) {
      for (int b = 1; b <= 8; ++b) {
        reg(name("gemv", "truncation", b, 1, threads, cold),
            [=](benchmark::State& s) { plane_op(s, b, rounding::floor, 1, threads, cold != 0); });
        reg(name("read", "stream", b, 1, threads, cold),
            [=](benchmark::State& s) { stream_op(s, b, threads, cold != 0); });
      }
      for (int b = 1; b <= 7; ++b) {
        reg(name("gemv", "truncation_fitted", b, 1, threads, cold), [=](benchmark::State& s) {
          plane_op(s, b, rounding::floor, 1, threads, cold != 0, reconstruction::fitted);
        });
        reg(name("gemv", "double_rounding", b, 1, threads, cold),
            [=](benchmark::State& s) { plane_op(s, b, rounding::half_up, 1, threads, cold != 0); });
        reg(name("gemv", "double_rounding_fitted", b, 1, threads, cold), [=](benchmark::State& s) {
          plane_op(s, b, rounding::half_up, 1, threads, cold != 0, reconstruction::fitted);
        });
      }
      reg(name("gemv", "int8_dot", 8, 1, threads, cold),
          [=](benchmark::State& s) { int8_op(s, 1, threads, cold != 0); });
    }
  for (int threads : {1, 2}) {
    reg(name("gemv", "eigen_f32", 32, 1, threads, 1), [=](benchmark::State& s) { eigen_op(s, 1, threads); });
    for (int b : {1, 2, 3, 4, 8})
      reg(name("gemm", "truncation", b, 512, threads, 0),
          [=](benchmark::State& s) { plane_op(s, b, rounding::floor, 512, threads, false); });
    reg(name("gemm", "int8_dot", 8, 512, threads, 0), [=](benchmark::State& s) { int8_op(s, 512, threads, false); });
    reg(name("gemm", "eigen_f32", 32, 512, threads, 1), [=](benchmark::State& s) { eigen_op(s, 512, threads); });
  }
  for (int b : {1, 4, 8}) reg(name("switch", "truncation", b, 1, 1, 0), [=](benchmark::State& s) { switch_op(s, b); });
  for (int threads : {1, 2})
    for (int n = 1; n <= 8; ++n) {
      reg(name("gemv", "slices", n, 1, threads, 0), [=](benchmark::State& s) { front_op(s, n, threads, true); });
      reg(name("gemv", "truncation_front", n, 1, threads, 0),
          [=](benchmark::State& s) { front_op(s, n, threads, false); });
    }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
