// bitdial/kernels/slices.hpp — serving residual slice stacks: the first n slices, or a per-token
// count n(t) chosen by a router (MoBiQuant), and BitStack sign × low-rank slices.
//
//   y(t) = Σ_{j < n(t)} Ŵ_j · x(t)      slice outputs summed in float, in slice order, bias first
//
// Each slice is a full-width plane view, so every ISA returns the same per-slice floats
// (kernels/epilogue.hpp) and the sums are identical too. With per-token counts, slice j is run
// only on the tokens that need it (gathered into one batch), so time falls with the average count.
//
// BitStack: y = Σ_{j<n} Σ_k u_jk ⊙ (S_j · (v_jk ⊙ x)). The float activations v_jk ⊙ x are
// quantized per token to int8 (BitNet's rule) for the plane kernel; against the float reference
// (bitstack_matrix::apply) the difference is that activation rounding, bounded per output by
// Σ_j Σ_k |u_jk(r)|·Σ_c |(v_jk ⊙ x)_c − x̂_c| ≤ Σ_j Σ_k |u_jk(r)|·K·max_c|v_jk x|_c/254.
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include "bitdial/format/slice_stack.hpp"
#include "bitdial/kernels/gemm.hpp"

namespace bitdial {

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
