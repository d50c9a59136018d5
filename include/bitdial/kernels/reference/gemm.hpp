// bitdial/kernels/reference/gemm.hpp — THE SPEC for every plane kernel: served codes read one by
// one through plane_view::code, a plain triple loop, int64 accumulators, the shared epilogue.
// Never optimised; every other kernel must return the same integers and therefore the same floats.
//
//   Y(n, r) = epilogue( Σ_c q_b(r, c) · xq(n, c) per scale group )      (kernels/epilogue.hpp)
#pragma once

#include <algorithm>
#include <vector>

#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/epilogue.hpp"

namespace bitdial::reference {

/// Integer accumulators acc[(n·rows + r)·groups + g] for every token, row and group of the view.
inline std::vector<std::int64_t> accumulators(const plane_view& w, const token_batch& x) {
  const std::size_t groups = w.stack->groups_per_row();
  const std::size_t glen = w.cols() / groups;
  std::vector<std::int64_t> acc(x.tokens * w.rows() * groups, 0);
  for (std::size_t n = 0; n < x.tokens; ++n)
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c)
        acc[(n * w.rows() + r) * groups + c / glen] += std::int64_t{w.code(r, c)} * x.token(n)[c];
  return acc;
}

/// Y = X · Ŵ_bᵀ for output rows [p.row_begin, min(p.row_end, rows)); y is tokens × rows.
inline void gemm(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {}) {
  const std::size_t groups = w.stack->groups_per_row();
  const auto acc = accumulators(w, x);
  std::vector<std::int64_t> sumx(groups);
  const std::size_t r1 = std::min(p.row_end, w.rows());
  for (std::size_t n = 0; n < x.tokens; ++n) {
    detail::group_sums(x.token(n), x.cols, groups, sumx.data());
    for (std::size_t r = p.row_begin; r < r1; ++r)
      y(n, r) = detail::finish_row(w, r, &acc[(n * w.rows() + r) * groups], sumx.data(), x.scales[n], p.bias);
  }
}

}  // namespace bitdial::reference
