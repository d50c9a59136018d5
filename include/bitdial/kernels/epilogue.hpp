// bitdial/kernels/epilogue.hpp — the one float epilogue every plane kernel shares.
//
// Kernels differ only in how they compute the exact integer accumulators
//     acc(n, r, g)  = Σ_{c ∈ g} q_b(r, c) · xq(n, c)          (q_b: served code, xq: int8 activation)
//     sumx(n, g)    = Σ_{c ∈ g} xq(n, c)
// and then all call finish_row, so the float outputs of every kernel, ISA and thread count are
// identical, operation for operation:
//     y(n, r) = bias_r + sx(n) · Σ_g s_g · (float(2^(k+1)·acc + offset2_g·sumx) · 0.5)
// with groups summed in ascending order. offset2 = 2·m_k − 2·z folds the truncation midpoint and
// the zero point (plane_view::offset2). The integer inside float() is exact in int64; converting
// it to float is the only rounding before the scale products.
//
// Every product is rounded before it is added (BITDIAL_ROUNDED): a compiler allowed to contract
// a·b + c into one fused multiply-add (GCC's default where FMA exists) would otherwise give a
// different float in a kernel compiled with FMA enabled than in the reference compiled without.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitdial/select/plane_view.hpp"

/// Makes the compiler materialise x: no multiply-add contraction can reach across it.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define BITDIAL_ROUNDED(x) __asm__("" : "+x"(x))
#else
#define BITDIAL_ROUNDED(x) ((void)0)
#endif

namespace bitdial::detail {

/// Output of row r (view-relative) for one token, from that row's per-group accumulators.
inline float finish_row(const plane_view& v, std::size_t r, const std::int64_t* acc, const std::int64_t* sumx,
                        float token_scale, const float* bias) noexcept {
  const bit_plane_stack& s = *v.stack;
  const std::size_t row = v.row_begin + r;
  const std::size_t groups = s.groups_per_row();
  const std::size_t glen = v.cols() / groups;
  const int k1 = v.shift() + 1;
  float sum = 0.0f;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t gi = s.gran().index(row, g * glen, v.cols());
    const std::int64_t twice = acc[g] * (std::int64_t{1} << k1) + v.offset2(gi) * sumx[g];
    float term = v.scale(gi) * (static_cast<float>(twice) * 0.5f);
    BITDIAL_ROUNDED(term);
    sum += term;
  }
  float y = token_scale * sum;
  BITDIAL_ROUNDED(y);
  return bias ? bias[row] + y : y;
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
