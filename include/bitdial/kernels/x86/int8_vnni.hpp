// bitdial/kernels/x86/int8_vnni.hpp — the plain int8 × int8 VNNI GEMV/GEMM baseline ("int8_dot") over
// the int8_matrix layout (kernels/int8_matrix.hpp: biased u8 weights, so vpdpbusd multiplies them
// by the s8 activations directly and the sum is corrected by −128 · Σ_c xq(n, c)). Padded
// activations are zero.
// Exactness: int32 lanes, flushed to int64 at least every 4096 chunks (4096 · 4 · 4 · 255 · 128
// < 2^31, see plane_avx512.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bitdial/core/aligned_buffer.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/int8_matrix.hpp"
#include "bitdial/kernels/x86/plane_avx512.hpp"

namespace bitdial::x86 {

/// The layout lives in kernels/int8_matrix.hpp (shared with the aarch64 kernels); this name stays.
using int8_matrix = bitdial::int8_matrix;

/// Zero-padded activations and Σx per token, built once per call and shared by threads.
struct int8_gemm_plan {
  const int8_matrix* w = nullptr;
  token_batch x;
  aligned_buffer xpad;             // tokens × k_tiles·16
  std::vector<std::int64_t> sumx;  // tokens
};

inline int8_gemm_plan prepare_int8_gemm(const int8_matrix& w, const token_batch& x) {
  constexpr const char* where = "x86::prepare_int8_gemm";
  BITDIAL_REQUIRE(plane_avx512_available(), where, ": cpu = no AVX-512 VNNI: this kernel cannot run here");
  BITDIAL_REQUIRE(x.tokens > 0 && x.codes && x.scales, where, ": activations: empty or null");
  BITDIAL_REQUIRE(x.cols == w.cols(), where, ": activations.cols = ", x.cols, ": must equal K = ", w.cols());
  BITDIAL_REQUIRE(x.stride >= x.cols, where, ": activations.stride = ", x.stride, ": less than cols = ", x.cols);
  int8_gemm_plan p;
  p.w = &w;
  p.x = x;
  const std::size_t kp = w.k_tiles() * 16;
  p.xpad = aligned_buffer(bitdial::detail::checked_mul(x.tokens, kp, where, "padded activations"));
  p.sumx.resize(x.tokens);
  for (std::size_t n = 0; n < x.tokens; ++n) {
    std::memcpy(p.xpad.data() + n * kp, x.token(n), x.cols);
#if BITDIAL_X86_SIMD
    p.sumx[n] = detail::sum_int8(x.token(n), x.cols);
#endif
  }
  return p;
}

/// y(n, r) for rows [row_begin, row_end) (disjoint ranges may run on different threads).
inline void run_int8_gemm(const int8_gemm_plan& p, matrix_view<float> y, std::size_t row_begin, std::size_t row_end,
                          const float* bias = nullptr) {
  constexpr const char* where = "x86::run_int8_gemm";
  const int8_matrix& w = *p.w;
  BITDIAL_REQUIRE(row_begin < row_end && row_end <= w.rows(), where, ": rows = [", row_begin, ", ", row_end,
                  "): must be a non-empty range inside [0, ", w.rows(), ")");
  BITDIAL_REQUIRE(y.data && y.rows == p.x.tokens && y.cols == w.rows(), where, ": output shape = ", y.rows, "x", y.cols,
                  ": expected ", p.x.tokens, "x", w.rows());
#if BITDIAL_X86_SIMD
  constexpr std::size_t RB = int8_matrix::rows_per_block, TM = detail::vnni_max_tokens;
  const std::size_t kt = w.k_tiles(), kp = kt * 16;
  std::int64_t acc[TM * RB];
  std::int32_t seg[TM * RB];
  for (std::size_t blk = row_begin / RB; blk <= (row_end - 1) / RB; ++blk) {
    for (std::size_t n0 = 0; n0 < p.x.tokens; n0 += TM) {
      const std::size_t T = std::min(TM, p.x.tokens - n0);
      const std::int8_t* xs[TM];
      for (std::size_t j = 0; j < T; ++j) xs[j] = reinterpret_cast<const std::int8_t*>(p.xpad.data()) + (n0 + j) * kp;
      const detail::vnni_fn fn = detail::pick_vnni(T);
      std::fill(acc, acc + T * RB, 0);
      for (std::size_t c = 0; c < kt; c += detail::max_chunks_per_flush) {
        const std::size_t nc = std::min(detail::max_chunks_per_flush, kt - c);
        fn(w.block(blk), c, nc, xs, seg);
        for (std::size_t i = 0; i < T * RB; ++i) acc[i] += seg[i];
      }
      const std::size_t r_lo = std::max(row_begin, blk * RB), r_hi = std::min(row_end, (blk + 1) * RB);
      for (std::size_t j = 0; j < T; ++j)
        for (std::size_t r = r_lo; r < r_hi; ++r) {
          const std::int64_t a = acc[j * RB + (r - blk * RB)] - 128 * p.sumx[n0 + j];
          y(n0 + j, r) = int8_matrix::output(a, w.scales()[r], p.x.scales[n0 + j], bias, r);
        }
    }
  }
#else
  (void)bias;
  BITDIAL_REQUIRE(false, where, ": x86 kernels are compiled out in this build");
#endif
}

/// One-thread convenience: prepare + run.
inline void int8_gemm(const int8_matrix& w, const token_batch& x, matrix_view<float> y, std::size_t row_begin,
                      std::size_t row_end, const float* bias = nullptr) {
  run_int8_gemm(prepare_int8_gemm(w, x), y, row_begin, row_end, bias);
}

}  // namespace bitdial::x86
