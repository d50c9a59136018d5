// bitdial/kernels/arm/dot4_smull.hpp — SDOT by lane for CPUs without FEAT_DotProd, shared by the
// NEON ternary, FP4 and int8 kernels.
//
// An SDOT-by-lane operand is one Q register of 4 rows × 4 int8 (row i in bytes 4i..4i+3) against the
// 4 activations of one 32-bit lane. Without SDOT: a TBL repeats the lane's 4 activations over the 4
// rows (lane_repeat_index), SMULL/SMULL2 multiply into int16 (exact: |w·x| ≤ 128·128 = 16 384) and
// SADALP adds adjacent products into int32 pairs — lo: row 0 K 0–1, row 0 K 2–3, row 1 K 0–1, row 1
// K 2–3; hi: rows 2 and 3 — and dot4_rows adds each row's two pairs (ADDP) at the end. A pair gains at
// most 2 · 16 384 = 2^15 per call.
#pragma once

#include <cstdint>

#include "bitdial/kernels/arm/target.hpp"

namespace bitdial::arm::detail {

#if BITDIAL_ARM_SIMD

/// TBL indices that repeat bytes 4f..4f+3 of a register four times (f = 0..3); load once per kernel.
inline uint8x16_t lane_repeat_index(int f) noexcept {
  static constexpr std::uint8_t idx[4][16] = {{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3},
                                              {4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7},
                                              {8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11},
                                              {12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15}};
  return vld1q_u8(idx[f]);
}

/// Int32 pair sums of 4 rows (see the header comment).
struct dot4_pairs {
  int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
};

/// pairs += w (4 rows × 4 int8) · xr (4 activations repeated per row).
__attribute__((always_inline)) inline void dot4_smull(dot4_pairs& a, int8x16_t w, int8x16_t xr) noexcept {
  a.lo = vpadalq_s16(a.lo, vmull_s8(vget_low_s8(w), vget_low_s8(xr)));
  a.hi = vpadalq_s16(a.hi, vmull_high_s8(w, xr));
}

/// The 4 row sums of the pairs.
__attribute__((always_inline)) inline int32x4_t dot4_rows(const dot4_pairs& a) noexcept {
  return vpaddq_s32(a.lo, a.hi);
}

#endif  // BITDIAL_ARM_SIMD

}  // namespace bitdial::arm::detail
