// bitdial/kernels/reference/bitserial.hpp — THE SPEC for the bit-serial kernels: served weight
// codes (plane_view::code) times integer activation values (bitserial_activations::value), a plain
// triple loop in int64, then the shared epilogue. Never optimised.
//
//   acc(n, r, g)  = Σ_{c ∈ g} q_b(r, c) · xint(n, c)
//   sumx(n, g)    = Σ_{c ∈ g} xint(n, c)
//   Y(n, r)       = detail::finish_row(view, r, acc(n, r, ·), sumx(n, ·), scale(n), bias)
// so Y = Σ_c x̂_b(r, c)·x̂(n, c) with x̂_b the view's exact b-bit dequantized weight and
// x̂ = scale·xint the activation (kernels/bitserial_operands.hpp), up to the epilogue's float steps.
#pragma once

#include <algorithm>
#include <vector>

#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/bitserial_operands.hpp"
#include "bitdial/kernels/epilogue.hpp"

namespace bitdial::reference {

/// acc[(n·rows + r)·groups + g] for every token, row and scale group of the view.
inline std::vector<std::int64_t> bitserial_accumulators(const plane_view& w, const bitserial_activations& x) {
  const std::size_t groups = w.stack->groups_per_row();
  const std::size_t glen = w.cols() / groups;
  std::vector<std::int64_t> acc(x.tokens() * w.rows() * groups, 0);
  std::vector<std::int32_t> xv(w.cols());
  for (std::size_t n = 0; n < x.tokens(); ++n) {
    for (std::size_t c = 0; c < w.cols(); ++c) xv[c] = x.value(n, c);
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c)
        acc[(n * w.rows() + r) * groups + c / glen] += std::int64_t{w.code(r, c)} * xv[c];
  }
  return acc;
}

/// Σ xint per token and scale group: sums[n·groups + g].
inline std::vector<std::int64_t> bitserial_sums(const plane_view& w, const bitserial_activations& x) {
  const std::size_t groups = w.stack->groups_per_row();
  const std::size_t glen = w.cols() / groups;
  std::vector<std::int64_t> s(x.tokens() * groups, 0);
  for (std::size_t n = 0; n < x.tokens(); ++n)
    for (std::size_t c = 0; c < w.cols(); ++c) s[n * groups + c / glen] += x.value(n, c);
  return s;
}

/// Y = X̂ · Ŵ_bᵀ for output rows [p.row_begin, min(p.row_end, rows)); y is tokens × rows.
inline void bitserial_gemm(const plane_view& w, const bitserial_activations& x, matrix_view<float> y,
                           const gemm_params& p = {}) {
  const std::size_t groups = w.stack->groups_per_row();
  const auto acc = bitserial_accumulators(w, x);
  const auto sums = bitserial_sums(w, x);
  const std::size_t r1 = std::min(p.row_end, w.rows());
  for (std::size_t n = 0; n < x.tokens(); ++n)
    for (std::size_t r = p.row_begin; r < r1; ++r)
      y(n, r) = detail::finish_row(w, r, &acc[(n * w.rows() + r) * groups], &sums[n * groups], x.scale(n), p.bias);
}

}  // namespace bitdial::reference
