// bitdial/kernels/reference/ternary_gemm.hpp — THE SPEC for the ternary (BitNet b1.58) GEMM kernels:
// codes read one by one from the quantized matrix, a plain triple loop, int64 group accumulators, and
// the float epilogue every ternary kernel shares.
//
// For a ternary matrix q ∈ {−1, 0, +1} with one scale per group (per tensor / row / group of G) and
// symmetric int8 activations xq with token scale sx:
//   acc(n, r, g) = Σ_{c ∈ g} q(r, c) · xq(n, c)                         exact integer
//   y(n, r)      = bias_r + sx(n) · Σ_g s_g · float(acc(n, r, g))        groups ascending, float
// The float sequence is exactly the plane epilogue's (kernels/epilogue.hpp) at k = 0 with no offset
// (float(2·acc)·0.5 = float(acc)), so a ternary matrix served through bit_plane_stack at b = 2 gives the
// same floats bit for bit (tested). Every ternary kernel finishes its rows through this one
// (non-target) function, so a build that lets the compiler contract s·acc + sum into an FMA changes
// all paths alike.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"  // BITDIAL_ROUNDED
#include "bitdial/kernels/activations.hpp"

namespace bitdial {

namespace detail {

/// The shared epilogue: y = bias_r + sx · Σ_g s_g · float(acc_g).
inline float ternary_finish_row(const granularity& gran, const float* scales, std::size_t row, std::size_t cols,
                                const std::int64_t* acc, float token_scale, const float* bias) noexcept {
  const std::size_t groups = gran.groups_per_row(cols), glen = cols / groups;
  float sum = 0.0f;
  for (std::size_t g = 0; g < groups; ++g) {
    float term = scales[gran.index(row, g * glen, cols)] * static_cast<float>(acc[g]);
    BITDIAL_ROUNDED(term);  // no a·b + c contraction (aarch64 contracts by default): same floats everywhere
    sum += term;
  }
  float y = token_scale * sum;
  BITDIAL_ROUNDED(y);
  return bias ? bias[row] + y : y;
}

}  // namespace detail

namespace reference {

/// Y (tokens × rows) = X · Ŵᵀ for rows [p.row_begin, min(p.row_end, rows)) of a ternary matrix.
/// Codes are taken as they are (any int8 value works; the ternary kernels accept only −1, 0, +1).
inline void ternary_gemm(const quantized_matrix<std::int8_t>& w, const token_batch& x, matrix_view<float> y,
                         const gemm_params& p = {}) {
  const std::size_t groups = w.gran.groups_per_row(w.cols), glen = w.cols / groups;
  std::vector<std::int64_t> acc(groups);
  const std::size_t r1 = std::min(p.row_end, w.rows);
  for (std::size_t n = 0; n < x.tokens; ++n)
    for (std::size_t r = p.row_begin; r < r1; ++r) {
      std::fill(acc.begin(), acc.end(), 0);
      for (std::size_t c = 0; c < w.cols; ++c) acc[c / glen] += std::int64_t{w.code(r, c)} * x.token(n)[c];
      y(n, r) = detail::ternary_finish_row(w.gran, w.scales.data(), r, w.cols, acc.data(), x.scales[n], p.bias);
    }
}

}  // namespace reference
}  // namespace bitdial
