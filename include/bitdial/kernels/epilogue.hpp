// bitdial/kernels/epilogue.hpp — the one float epilogue every plane kernel shares.
//
// Kernels differ only in how they compute the exact integer accumulators
//     acc(n, r, g)  = Σ_{c ∈ g} q_b(r, c) · xq(n, c)          (q_b: served code, xq: int8 activation)
//     sumx(n, g)    = Σ_{c ∈ g} xq(n, c)
// and then all call finish_row, so the float outputs of every kernel, ISA and thread count are
// identical, operation for operation:
//     y(n, r) = bias_r + sx(n) · Σ_g [ float(s_g·α_r) · (float(256·acc + off_r,g·sumx) · 2^−8)
//                                      (+ μ_g · float(sumx), for a master with float offsets) ]
// with groups summed in ascending order (r view-relative for the bias: a shard passes its own rows'
// bias). α_r and off_r,g are the view's row factor and offset (plane_view::multiplier, offset256):
// 2^k and the folded truncation midpoint / zero point for the literal rules, the fitted α_r and
// β_r for fitted views (SEMANTICS §3b). The integer inside float() is exact in int64; converting
// it to float is the only rounding before the scale products.
//
// Every product is rounded before it is added (BITDIAL_ROUNDED): a compiler allowed to contract
// a·b + c into one fused multiply-add (GCC's default where FMA exists) would otherwise give a
// different float in a kernel compiled with FMA enabled than in the reference compiled without.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitdial/select/plane_view.hpp"

// BITDIAL_ROUNDED (select/plane_view.hpp) makes the compiler materialise a value: no multiply-add
// contraction can reach across it.

namespace bitdial::detail {

/// Output of row r (view-relative) for one token, from that row's per-group accumulators.
inline float finish_row(const plane_view& v, std::size_t r, const std::int64_t* acc, const std::int64_t* sumx,
                        float token_scale, const float* bias) noexcept {
  const bit_plane_stack& s = *v.stack;
  const std::size_t row = v.row_begin + r;
  const std::size_t groups = s.groups_per_row();
  const std::size_t glen = v.cols() / groups;
  const float mult = v.multiplier(row);
  const float* mu = s.has_offsets() ? s.offsets().data() : nullptr;
  float sum = 0.0f;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t gi = s.gran().index(row, g * glen, v.cols());
    const std::int64_t t = acc[g] * 256 + v.offset256(gi, row) * sumx[g];
    float sc = v.scale(gi) * mult;
    BITDIAL_ROUNDED(sc);
    float term = sc * (static_cast<float>(t) * 0x1p-8f);
    BITDIAL_ROUNDED(term);
    if (mu != nullptr) {  // μ_g·Σx: the product rounded, then added to the group's term
      float m = mu[gi] * static_cast<float>(sumx[g]);
      BITDIAL_ROUNDED(m);
      term += m;
      BITDIAL_ROUNDED(term);
    }
    sum += term;
  }
  float y = token_scale * sum;
  BITDIAL_ROUNDED(y);
  return bias ? bias[r] + y : y;  // the bias belongs to the view's rows (a shard's own bias)
}

/// Σ xq over each scale group of one token.
inline void group_sums(const std::int8_t* x, std::size_t cols, std::size_t groups, std::int64_t* out) noexcept {
  const std::size_t glen = cols / groups;
  for (std::size_t g = 0; g < groups; ++g) {
    std::int64_t s = 0;
    for (std::size_t c = g * glen; c < (g + 1) * glen; ++c) s += x[c];
    out[g] = s;
  }
}

}  // namespace bitdial::detail
