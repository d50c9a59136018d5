// bitdial/kernels/int8_gemm.hpp — the front door of the plain int8 × int8 baseline (x86::int8_matrix,
// kernels/x86/int8_vnni.hpp): dense int8 weights with one scale per row, the yardstick an 8-bit
// plane view must match.
//
//   y(n, r) = sx(n) · (s_r · float(Σ_c w(r, c) · xq(n, c)))   (+ bias_r)
//
// Kernels (the rows of int8_kernels, kernels/dispatch.hpp; all return the same floats):
//   reference   int8_matrix::code element by element, exact int64 sums
//   avx512      vpdpbusd on the packed blocks (AVX-512 VNNI)
// There is no portable or AVX2 kernel: `automatic` runs the reference where AVX-512 is missing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "bitdial/kernels/dispatch.hpp"
#include "bitdial/kernels/gemm.hpp"
#include "bitdial/kernels/x86/int8_vnni.hpp"
#include "bitdial/quant/activation.hpp"

namespace bitdial {

namespace detail {

inline void int8_run_reference(const x86::int8_matrix& w, const token_batch& x, matrix_view<float> y,
                               const gemm_params& p, const run_options&) {
  for (std::size_t n = 0; n < x.tokens; ++n)
    for (std::size_t r = p.row_begin; r < p.row_end; ++r) {
      std::int64_t acc = 0;
      for (std::size_t c = 0; c < w.cols(); ++c) acc += std::int64_t{w.code(r, c)} * x.token(n)[c];
      const float v = x86::int8_matrix::finish(acc, w.scales()[r], x.scales[n]);
      y(n, r) = p.bias ? p.bias[r] + v : v;
    }
}

inline void int8_run_avx512(const x86::int8_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                            const run_options& o) {
  const x86::int8_gemm_plan plan = x86::prepare_int8_gemm(w, x);
  for_row_blocks(0, p.row_begin, p.row_end, x86::int8_matrix::rows_per_block, o,
                 [&](std::size_t a, std::size_t b) { x86::run_int8_gemm(plan, y, a, b, p.bias); });
}

}  // namespace detail

/// The int8 × int8 kernels (kernels/dispatch.hpp).
struct int8_kernels {
  using weights = x86::int8_matrix;
  using activations = token_batch;
  static constexpr const char* name = "int8 weights";
  static std::span<const kernel_row<x86::int8_matrix, token_batch>> rows() noexcept;
};

namespace detail {
// Worst first; resolve_kernel takes the last that runs here.
inline constexpr kernel_row<x86::int8_matrix, token_batch> int8_rows_table[] = {
    {kernel_isa::reference, &isa_always, &always_serves, &no_rule, &int8_run_reference},
    {kernel_isa::avx512, &x86::plane_avx512_available, &always_serves, &no_rule, &int8_run_avx512},
    // ARM rows go here (kernels/arm/).
};
}  // namespace detail

inline std::span<const kernel_row<x86::int8_matrix, token_batch>> int8_kernels::rows() noexcept {
  return detail::int8_rows_table;
}

/// Y (tokens × rows) = X · Wᵀ for a packed int8 matrix and pre-quantized int8 activations.
inline void gemm(const x86::int8_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  constexpr const char* where = "gemm(int8)";
  BITDIAL_REQUIRE(w.rows() > 0, where, ": weights: empty matrix");
  detail::check_token_args(x, w.cols(), y, w.rows(), p, where);
  const auto& k = resolve_kernel<int8_kernels>(w, o.isa, where);
  k.run(w, x, y, gemm_params{p.bias, p.row_begin, std::min(p.row_end, w.rows())}, o);
}

/// Float activations, quantized per token with BitNet's int8 rule inside the call.
inline void gemm(const x86::int8_matrix& w, const_matrix x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  const auto q = per_token_quantizer<8>().quantize(x);
  gemm(w, as_tokens(q), y, p, o);
}

/// y = W · x for one float token.
inline void gemv(const x86::int8_matrix& w, std::span<const float> x, std::span<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  BITDIAL_REQUIRE(y.size() == w.rows(), "gemv(int8): y.size() = ", y.size(), ": expected the weight rows = ", w.rows());
  gemm(w, const_matrix(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()), p, o);
}

}  // namespace bitdial
