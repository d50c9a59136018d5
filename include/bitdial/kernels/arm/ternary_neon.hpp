// bitdial/kernels/arm/ternary_neon.hpp — aarch64 inner loops for ternary weights × int8 activations
// over the ternary_tiles16x16 layout (kernels/ternary.hpp): Σ u·x per row and slice range, u = q + 1
// ∈ {0, 1, 2}; the front door subtracts Σx per scale group and runs the shared ternary epilogue.
//
// A slice is 16 rows × 16 K in 64 bytes, byte p = 4·r + j carrying u of row r at K = 16·s + 4·f + j
// in bits 2f..2f+1. So 16 bytes (one Q register) are 4 rows × 4 bytes, and (v >> 2f) & 3 gives,
// per row, the 4 codes u at K = 16·s + 4f + 0..3 — exactly one SDOT operand against lane f of the
// slice's 16 activations (FEAT_DotProd). Without it (plain NEON): the SMULL form of SDOT
// (kernels/arm/dot4_smull.hpp).
//
// Exactness: |u·x| ≤ 2·128 = 256; an SDOT lane gains ≤ 1024 per call, a row ≤ 4096 per slice, and
// int32 segments cover at most max_slices = 65 536 slices (2^28 < 2^31) before the front door
// flushes them to int64 (it also flushes at every scale-group end). An SADALP pair gains ≤ 512 per
// slice, 2^25 over max_slices.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitdial/kernels/arm/dot4_smull.hpp"
#include "bitdial/kernels/arm/target.hpp"

namespace bitdial::arm::detail {

inline constexpr std::size_t ternary_max_slices = 65536;
inline constexpr std::size_t ternary_max_tokens = 4;

#if BITDIAL_ARM_SIMD

#if BITDIAL_ARM_DOTPROD

/// out[t·16 + r] = Σ_{s ∈ [s0, s0 + ns)} Σ u(r, ·)·x_t(·) for one row group (base) and T tokens (xs[t]
/// zero-padded to whole slices), with SDOT.
template <int T>
BITDIAL_TARGET_DOTPROD void ternary_sdot(const std::uint8_t* base, const std::int8_t* const* xs, std::size_t s0,
                                         std::size_t ns, std::int32_t* out) noexcept {
  const uint8x16_t three = vdupq_n_u8(3);
  int32x4_t acc[T][4];
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 4; ++q) acc[t][q] = vdupq_n_s32(0);
  for (std::size_t s = s0; s < s0 + ns; ++s) {
    const std::uint8_t* b = base + 64 * s;
    const uint8x16_t v[4] = {vld1q_u8(b), vld1q_u8(b + 16), vld1q_u8(b + 32), vld1q_u8(b + 48)};
    int8x16_t x[T];
    for (int t = 0; t < T; ++t) x[t] = vld1q_s8(xs[t] + 16 * s);
#define BITDIAL_ARM_TERNARY_FIELD(F)                                                     \
  for (int q = 0; q < 4; ++q) {                                                          \
    const int8x16_t u = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v[q], 2 * (F)), three)); \
    for (int t = 0; t < T; ++t) acc[t][q] = vdotq_laneq_s32(acc[t][q], u, x[t], F);      \
  }
    for (int q = 0; q < 4; ++q) {  // field 0 needs no shift
      const int8x16_t u = vreinterpretq_s8_u8(vandq_u8(v[q], three));
      for (int t = 0; t < T; ++t) acc[t][q] = vdotq_laneq_s32(acc[t][q], u, x[t], 0);
    }
    BITDIAL_ARM_TERNARY_FIELD(1)
    BITDIAL_ARM_TERNARY_FIELD(2)
    BITDIAL_ARM_TERNARY_FIELD(3)
#undef BITDIAL_ARM_TERNARY_FIELD
  }
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 4; ++q) vst1q_s32(out + 16 * t + 4 * q, acc[t][q]);
}

#endif  // BITDIAL_ARM_DOTPROD

/// As ternary_sdot with SMULL + SADALP (any AArch64 CPU); one token.
inline void ternary_smull(const std::uint8_t* base, const std::int8_t* x, std::size_t s0, std::size_t ns,
                          std::int32_t* out) noexcept {
  const uint8x16_t three = vdupq_n_u8(3);
  uint8x16_t rep[4];
  for (int f = 0; f < 4; ++f) rep[f] = lane_repeat_index(f);
  dot4_pairs acc[4];  // rows 4q .. 4q + 3
  for (std::size_t s = s0; s < s0 + ns; ++s) {
    const std::uint8_t* b = base + 64 * s;
    const uint8x16_t v[4] = {vld1q_u8(b), vld1q_u8(b + 16), vld1q_u8(b + 32), vld1q_u8(b + 48)};
    const int8x16_t x16 = vld1q_s8(x + 16 * s);
    for (int f = 0; f < 4; ++f) {
      const int8x16_t xf = vqtbl1q_s8(x16, rep[f]);
      for (int q = 0; q < 4; ++q) {
        const uint8x16_t shifted = f == 0   ? v[q]
                                   : f == 1 ? vshrq_n_u8(v[q], 2)
                                   : f == 2 ? vshrq_n_u8(v[q], 4)
                                            : vshrq_n_u8(v[q], 6);
        dot4_smull(acc[q], vreinterpretq_s8_u8(vandq_u8(shifted, three)), xf);
      }
    }
  }
  for (int q = 0; q < 4; ++q) vst1q_s32(out + 4 * q, dot4_rows(acc[q]));
}

#if BITDIAL_ARM_DOTPROD
using ternary_sdot_fn = void (*)(const std::uint8_t*, const std::int8_t* const*, std::size_t, std::size_t,
                                 std::int32_t*) noexcept;
inline ternary_sdot_fn pick_ternary_sdot(std::size_t tokens) noexcept {
  switch (tokens) {
    case 1:
      return &ternary_sdot<1>;
    case 2:
      return &ternary_sdot<2>;
    case 3:
      return &ternary_sdot<3>;
    default:
      return &ternary_sdot<4>;
  }
}
#endif  // BITDIAL_ARM_DOTPROD

#endif  // BITDIAL_ARM_SIMD

}  // namespace bitdial::arm::detail
