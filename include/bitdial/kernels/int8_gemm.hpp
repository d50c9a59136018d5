// bitdial/kernels/int8_gemm.hpp — the front door of the plain int8 × int8 baseline (int8_matrix,
// kernels/int8_matrix.hpp): dense int8 weights with one scale per row, the yardstick an 8-bit plane
// view must match.
//
//   y(n, r) = sx(n) · fl(s_r · float(Σ_c w(r, c) · xq(n, c)))   (+ bias_r)
//
// Kernels (the rows of int8_kernels, kernels/dispatch.hpp; all return the same floats through
// int8_matrix::output):
//   reference   int8_matrix::code element by element, exact int64 sums
//   avx512      vpdpbusd on the packed blocks (AVX-512 VNNI, kernels/x86/int8_vnni.hpp)
//   neon        SMULL + SADALP (any AArch64 CPU, kernels/arm/int8_neon.hpp)
//   dotprod     SDOT (FEAT_DotProd), 2 tokens per pass
// There is no portable or AVX2 kernel: `automatic` runs the reference where neither is present.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "bitdial/core/aligned_buffer.hpp"
#include "bitdial/kernels/arm/int8_neon.hpp"
#include "bitdial/kernels/dispatch.hpp"
#include "bitdial/kernels/gemm.hpp"
#include "bitdial/kernels/int8_matrix.hpp"
#include "bitdial/kernels/x86/int8_vnni.hpp"
#include "bitdial/quant/activation.hpp"

namespace bitdial {

namespace detail {

inline void int8_run_reference(const int8_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                               const run_options&) {
  for (std::size_t n = 0; n < x.tokens; ++n)
    for (std::size_t r = p.row_begin; r < p.row_end; ++r) {
      std::int64_t acc = 0;
      for (std::size_t c = 0; c < w.cols(); ++c) acc += std::int64_t{w.code(r, c)} * x.token(n)[c];
      y(n, r) = int8_matrix::output(acc, w.scales()[r], x.scales[n], p.bias, r);
    }
}

inline void int8_run_avx512(const int8_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                            const run_options& o) {
  const x86::int8_gemm_plan plan = x86::prepare_int8_gemm(w, x);
  for_row_blocks(0, p.row_begin, p.row_end, int8_matrix::rows_per_block, o,
                 [&](std::size_t a, std::size_t b) { x86::run_int8_gemm(plan, y, a, b, p.bias); });
}

/// The aarch64 kernels: activations zero-padded to whole chunks once per call, then per 32-row block
/// int32 chunk sums (SDOT over token pairs with Dot, SMULL one token at a time) flushed to int64.
template <bool Dot>
void int8_run_arm(const int8_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                  const run_options& o) {
#if BITDIAL_ARM_SIMD
  constexpr std::size_t RB = int8_matrix::rows_per_block, TM = arm::detail::int8_max_tokens;
  const std::size_t kt = w.k_tiles(), kp = kt * int8_matrix::k_per_chunk;
  aligned_buffer xpad(checked_mul(x.tokens, kp, "gemm(int8)", "padded activations"));
  for (std::size_t n = 0; n < x.tokens; ++n) std::memcpy(xpad.data() + n * kp, x.token(n), x.cols);
  const auto token = [&](std::size_t n) { return reinterpret_cast<const std::int8_t*>(xpad.data()) + n * kp; };
  for_row_blocks(0, p.row_begin, p.row_end, RB, o, [&](std::size_t row_begin, std::size_t row_end) {
    std::int64_t acc[TM * RB];
    std::int32_t seg[TM * RB];
    for (std::size_t blk = row_begin / RB; blk <= (row_end - 1) / RB; ++blk) {
      const std::size_t r_lo = std::max(row_begin, blk * RB), r_hi = std::min(row_end, (blk + 1) * RB);
      for (std::size_t n0 = 0; n0 < x.tokens;) {
        const std::size_t T = Dot ? std::min(TM, x.tokens - n0) : 1;
        std::fill(acc, acc + T * RB, 0);
        for (std::size_t c = 0; c < kt; c += arm::detail::int8_max_chunks) {
          const std::size_t nc = std::min(arm::detail::int8_max_chunks, kt - c);
          if constexpr (Dot) {
#if BITDIAL_ARM_DOTPROD
            const std::int8_t* xs[TM] = {token(n0), token(std::min(n0 + 1, x.tokens - 1))};
            arm::detail::pick_int8_sdot(T)(w.block(blk), xs, c, nc, seg);
#endif
          } else {
            arm::detail::int8_smull(w.block(blk), token(n0), c, nc, seg);
          }
          for (std::size_t i = 0; i < T * RB; ++i) acc[i] += seg[i];
        }
        for (std::size_t j = 0; j < T; ++j)
          for (std::size_t r = r_lo; r < r_hi; ++r)
            y(n0 + j, r) =
                int8_matrix::output(acc[j * RB + (r - blk * RB)], w.scales()[r], x.scales[n0 + j], p.bias, r);
        n0 += T;
      }
    }
  });
#else
  (void)w, (void)x, (void)y, (void)p, (void)o;
#endif
}

}  // namespace detail

/// The int8 × int8 kernels (kernels/dispatch.hpp).
struct int8_kernels {
  using weights = int8_matrix;
  using activations = token_batch;
  static constexpr const char* name = "int8 weights";
  static std::span<const kernel_row<int8_matrix, token_batch>> rows() noexcept;
};

namespace detail {
// Worst first; resolve_kernel takes the last that runs here.
inline constexpr kernel_row<int8_matrix, token_batch> int8_rows_table[] = {
    {kernel_isa::reference, &isa_always, &always_serves, &no_rule, &int8_run_reference},
    {kernel_isa::avx512, &x86::plane_avx512_available, &always_serves, &no_rule, &int8_run_avx512},
    {kernel_isa::neon, &isa_always, &always_serves, &no_rule, &int8_run_arm<false>},
    {kernel_isa::dotprod, &isa_always, &always_serves, &no_rule, &int8_run_arm<true>},
};
}  // namespace detail

inline std::span<const kernel_row<int8_matrix, token_batch>> int8_kernels::rows() noexcept {
  return detail::int8_rows_table;
}

/// Y (tokens × rows) = X · Wᵀ for a packed int8 matrix and pre-quantized int8 activations.
inline void gemm(const int8_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  constexpr const char* where = "gemm(int8)";
  BITDIAL_REQUIRE(w.rows() > 0, where, ": weights: empty matrix");
  detail::check_token_args(x, w.cols(), y, w.rows(), p, where);
  const auto& k = resolve_kernel<int8_kernels>(w, o.isa, where);
  k.run(w, x, y, gemm_params{p.bias, p.row_begin, std::min(p.row_end, w.rows())}, o);
}

/// Float activations, quantized per token with BitNet's int8 rule inside the call.
inline void gemm(const int8_matrix& w, const_matrix x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  const auto q = per_token_quantizer<8>().quantize(x);
  gemm(w, as_tokens(q), y, p, o);
}

/// y = W · x for one float token.
inline void gemv(const int8_matrix& w, std::span<const float> x, std::span<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  BITDIAL_REQUIRE(y.size() == w.rows(), "gemv(int8): y.size() = ", y.size(), ": expected the weight rows = ", w.rows());
  gemm(w, const_matrix(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()), p, o);
}

}  // namespace bitdial
