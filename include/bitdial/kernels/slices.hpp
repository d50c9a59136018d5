// bitdial/kernels/slices.hpp — serving residual slice stacks: the first n slices, or a per-token
// count n(t) chosen by a router (MoBiQuant), and BitStack sign × low-rank slices.
//
//   y(t) = Σ_{j < n(t)} Ŵ_j · x(t)      slice outputs summed in float, in slice order, bias first
//
// Front doors as for plane views: int8 activations (token_batch), float activations quantized per
// token inside the call (const_matrix), and one float token (gemv_slices).
//
// Each slice is a full-width plane view, so every ISA returns the same per-slice floats
// (kernels/epilogue.hpp) and the sums are identical too. With per-token counts, slice j is run
// only on the tokens that need it (gathered into one batch), so time falls with the average count.
// When every token takes the same count and the AVX-512 kernel serves every slice, the slices run
// fused: one table build per token for all slices (x86::rebind_plane_gemm_avx512) and one
// parallel region, each thread summing its rows' slice outputs in slice order — the same
// operations per output as the slice-by-slice loop, so the same floats.
//
// BitStack: y = Σ_{j<n} Σ_k u_jk ⊙ (S_j · (v_jk ⊙ x)). The float activations v_jk ⊙ x are
// quantized per token to int8 (BitNet's rule) for the plane kernel; against the float reference
// (bitstack_matrix::apply) the difference is that activation rounding, bounded per output by
// Σ_j Σ_k |u_jk(r)|·Σ_c |(v_jk ⊙ x)_c − x̂_c| ≤ Σ_j Σ_k |u_jk(r)|·K·max_c|v_jk x|_c/254.
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include "bitdial/select/slice_view.hpp"
#include "bitdial/kernels/gemm.hpp"

namespace bitdial {

namespace detail {

/// Whether gemm_slices can run the slices of `v` fused on the AVX-512 kernel.
inline bool fused_slices_ok(const slice_view& v, const run_options& o) {
  if (v.n < 2 || !(o.isa == kernel_isa::automatic || o.isa == kernel_isa::avx512)) return false;
  for (std::size_t j = 0; j < v.n; ++j) {
    const plane_view s = v.slice(j);
    if (!isa_serves<plane_gemm_kernels>(kernel_isa::avx512, s) ||
        s.stack->groups_per_row() != v.slice(0).stack->groups_per_row())
      return false;
  }
  return true;
}

/// The fused path (header comment): all tokens take v.n slices.
inline void gemm_slices_fused(const slice_view& v, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                              const run_options& o) {
  const std::size_t M = v.rows(), T = x.tokens, n = v.n;
  std::vector<x86::plane_gemm_plan> plans;
  plans.reserve(n);
  plans.push_back(x86::prepare_plane_gemm_avx512(v.slice(0), x));
  for (std::size_t j = 1; j < n; ++j) plans.push_back(x86::rebind_plane_gemm_avx512(plans[0], v.slice(j)));
  std::vector<float> part((n - 1) * T * M);
  const std::size_t r1 = std::min(p.row_end, M);
  detail::for_row_blocks(0, p.row_begin, r1, tile32x16::rows_per_block, o, [&](std::size_t a, std::size_t b) {
    x86::run_plane_gemm_avx512(plans[0], y, p.bias, a, b);
    for (std::size_t j = 1; j < n; ++j) {
      const matrix_view<float> pj(part.data() + (j - 1) * T * M, T, M);
      x86::run_plane_gemm_avx512(plans[j], pj, nullptr, a, b);
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t r = a; r < b; ++r) y(t, r) = y(t, r) + pj(t, r);
    }
  });
}

}  // namespace detail

/// Y (tokens × rows) from the first n(t) slices for each token t. `counts` empty: every token uses
/// v.n slices; otherwise counts[t] ∈ 1..v.n.
inline void gemm_slices(const slice_view& v, const token_batch& x, matrix_view<float> y,
                        std::span<const int> counts = {}, const gemm_params& p = {}, const run_options& o = {}) {
  constexpr const char* where = "gemm_slices";
  BITDIAL_REQUIRE(v.stack != nullptr && v.n >= 1, where, ": slices: empty view");
  BITDIAL_REQUIRE(v.n <= v.stack->slices(), where, ": slices.n = ", v.n, ": the stack holds ", v.stack->slices());
  BITDIAL_REQUIRE(counts.empty() || counts.size() == x.tokens, where, ": counts.size() = ", counts.size(),
                  ": expected one per token (", x.tokens, ")");
  for (std::size_t t = 0; t < counts.size(); ++t)
    BITDIAL_REQUIRE(counts[t] >= 1 && std::size_t(counts[t]) <= v.n, where, ": counts[", t, "] = ", counts[t],
                    ": must be in 1..", v.n);
  detail::check_gemm_args(v.slice(0), x, y, p, where);
  const std::size_t M = v.rows();
  bool uniform = true;
  for (std::size_t t = 0; t < counts.size(); ++t) uniform = uniform && std::size_t(counts[t]) == v.n;
  if (uniform && detail::fused_slices_ok(v, o)) {
    detail::gemm_slices_fused(v, x, y, p, o);
    return;
  }
  std::vector<float> part;
  std::vector<std::int8_t> codes;
  std::vector<float> scales;
  std::vector<std::size_t> which;
  for (std::size_t j = 0; j < v.n; ++j) {
    which.clear();
    for (std::size_t t = 0; t < x.tokens; ++t)
      if (counts.empty() || std::size_t(counts[t]) > j) which.push_back(t);
    if (which.empty()) break;
    token_batch xb = x;
    if (which.size() != x.tokens) {  // gather the tokens that still need slices
      codes.resize(which.size() * x.cols);
      scales.resize(which.size());
      for (std::size_t i = 0; i < which.size(); ++i) {
        std::copy_n(x.token(which[i]), x.cols, codes.data() + i * x.cols);
        scales[i] = x.scales[which[i]];
      }
      xb = token_batch{codes.data(), scales.data(), which.size(), x.cols, x.cols};
    }
    part.resize(which.size() * M);
    gemm(v.slice(j), xb, matrix_view<float>(part.data(), which.size(), M),
         gemm_params{j == 0 ? p.bias : nullptr, p.row_begin, p.row_end}, o);
    const std::size_t r1 = std::min(p.row_end, M);
    for (std::size_t i = 0; i < which.size(); ++i)
      for (std::size_t r = p.row_begin; r < r1; ++r)
        y(which[i], r) = j == 0 ? part[i * M + r] : y(which[i], r) + part[i * M + r];
  }
}

/// Float activations, quantized per token with BitNet's int8 rule inside the call (as gemm).
inline void gemm_slices(const slice_view& v, const_matrix x, matrix_view<float> y, std::span<const int> counts = {},
                        const gemm_params& p = {}, const run_options& o = {}) {
  BITDIAL_REQUIRE(v.stack != nullptr && v.n >= 1, "gemm_slices: slices: empty view");
  BITDIAL_REQUIRE(x.cols == v.cols(), "gemm_slices: activations.cols = ", x.cols,
                  ": must equal the weight K = ", v.cols());
  const auto q = per_token_quantizer<8>().quantize(x);
  gemm_slices(v, as_tokens(q), y, counts, p, o);
}

/// y = Σ_{j<v.n} Ŵ_j · x for one float token.
inline void gemv_slices(const slice_view& v, std::span<const float> x, std::span<float> y, const gemm_params& p = {},
                        const run_options& o = {}) {
  BITDIAL_REQUIRE(v.stack != nullptr && v.n >= 1, "gemv_slices: slices: empty view");
  BITDIAL_REQUIRE(y.size() == v.rows(), "gemv_slices: y.size() = ", y.size(),
                  ": expected the weight rows = ", v.rows());
  gemm_slices(v, const_matrix(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()), {}, p, o);
}

/// y = Σ_{j<n} Σ_k u_jk ⊙ (S_j · (v_jk ⊙ x)) for one float token.
inline void gemv_bitstack(const bitstack_planes& w, std::size_t n, std::span<const float> x, std::span<float> y,
                          const run_options& o = {}) {
  constexpr const char* where = "gemv_bitstack";
  BITDIAL_REQUIRE(n >= 1 && n <= w.slices(), where, ": n = ", n, ": must be in 1..", w.slices());
  BITDIAL_REQUIRE(x.size() == w.cols(), where, ": x.size() = ", x.size(), ": expected K = ", w.cols());
  BITDIAL_REQUIRE(y.size() == w.rows(), where, ": y.size() = ", y.size(), ": expected rows = ", w.rows());
  detail::check_finite(x, where, "x");
  std::vector<float> z(x.size()), part(y.size());
  std::vector<std::int8_t> zq(x.size());
  const per_token_quantizer<8> quant;
  std::fill(y.begin(), y.end(), 0.0f);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t k = 0; k < w.rank(); ++k) {
      const auto vk = w.v(j, k);
      for (std::size_t c = 0; c < x.size(); ++c) z[c] = vk[c] * x[c];
      const token_params tp = quant.quantize_token_unchecked(z.data(), z.size(), zq.data());
      const float scale = tp.scale;
      gemm(w.component(j, k), token_batch{zq.data(), &scale, 1, x.size(), x.size()},
           matrix_view<float>(part.data(), 1, part.size()), {}, o);
      for (std::size_t r = 0; r < y.size(); ++r) y[r] += part[r];
    }
}

}  // namespace bitdial
