// bitdial/kernels/arm/int8_neon.hpp — aarch64 inner loops of the plain int8 × int8 baseline over the
// int8_matrix layout (kernels/int8_matrix.hpp): Σ_c w(r, c) · xq(n, c) for one 32-row block.
//
// A chunk is 16 K × 32 rows in 512 bytes: [half h][K-group g][16 rows × 4 bytes], each weight stored
// as w + 128 (u8). One Q register is 4 rows × 4 K of a (h, g) pair; EOR 0x80 turns the stored byte
// back into w as int8, and SDOT by lane g of the chunk's 16 activations adds the 4 rows' dot products
// (FEAT_DotProd). Without it (plain NEON): the SMULL form of SDOT (kernels/arm/dot4_smull.hpp).
//
// Exactness: |w · x| ≤ 128 · 128 = 16 384, so a row gains at most 2^18 per chunk; int32 sums cover
// int8_max_chunks = 4096 chunks (2^30 < 2^31) before the caller flushes them to int64. SMULL products
// fit int16 and an SADALP pair gains at most 2^15 per chunk, 2^27 over int8_max_chunks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitdial/kernels/arm/dot4_smull.hpp"
#include "bitdial/kernels/arm/target.hpp"

namespace bitdial::arm::detail {

inline constexpr std::size_t int8_max_chunks = 4096;
inline constexpr std::size_t int8_max_tokens = 2;

#if BITDIAL_ARM_SIMD

#if BITDIAL_ARM_DOTPROD

/// out[t·32 + r] = Σ_{chunks [c0, c0 + nc)} w(r, ·) · x_t(·) for one 32-row block (base) and T tokens
/// (xs[t] zero-padded to whole chunks), with SDOT.
template <int T>
BITDIAL_TARGET_DOTPROD void int8_sdot(const std::uint8_t* base, const std::int8_t* const* xs, std::size_t c0,
                                      std::size_t nc, std::int32_t* out) noexcept {
  const uint8x16_t flip = vdupq_n_u8(0x80);
  int32x4_t acc[T][8];  // acc[t][4h + q]: rows 16h + 4q .. 16h + 4q + 3
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 8; ++i) acc[t][i] = vdupq_n_s32(0);
  for (std::size_t c = c0; c < c0 + nc; ++c) {
    const std::uint8_t* b = base + 512 * c;
    int8x16_t x[T];
    for (int t = 0; t < T; ++t) x[t] = vld1q_s8(xs[t] + 16 * c);
    for (int h = 0; h < 2; ++h) {
#define BITDIAL_ARM_INT8_GROUP(G)                                                                       \
  for (int q = 0; q < 4; ++q) {                                                                         \
    const int8x16_t w = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(b + 256 * h + 64 * (G) + 16 * q), flip)); \
    for (int t = 0; t < T; ++t) acc[t][4 * h + q] = vdotq_laneq_s32(acc[t][4 * h + q], w, x[t], G);     \
  }
      BITDIAL_ARM_INT8_GROUP(0)
      BITDIAL_ARM_INT8_GROUP(1)
      BITDIAL_ARM_INT8_GROUP(2)
      BITDIAL_ARM_INT8_GROUP(3)
#undef BITDIAL_ARM_INT8_GROUP
    }
  }
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 8; ++i) vst1q_s32(out + 32 * t + 4 * i, acc[t][i]);
}

using int8_sdot_fn = void (*)(const std::uint8_t*, const std::int8_t* const*, std::size_t, std::size_t,
                              std::int32_t*) noexcept;
inline int8_sdot_fn pick_int8_sdot(std::size_t tokens) noexcept { return tokens >= 2 ? &int8_sdot<2> : &int8_sdot<1>; }

#endif  // BITDIAL_ARM_DOTPROD

/// As int8_sdot with SMULL + SADALP (any AArch64 CPU, kernels/arm/dot4_smull.hpp); one token.
inline void int8_smull(const std::uint8_t* base, const std::int8_t* x, std::size_t c0, std::size_t nc,
                       std::int32_t* out) noexcept {
  const uint8x16_t flip = vdupq_n_u8(0x80);
  uint8x16_t rep[4];
  for (int g = 0; g < 4; ++g) rep[g] = lane_repeat_index(g);
  dot4_pairs acc[8];  // acc[4h + q]: rows 16h + 4q .. 16h + 4q + 3
  for (std::size_t c = c0; c < c0 + nc; ++c) {
    const std::uint8_t* b = base + 512 * c;
    const int8x16_t x16 = vld1q_s8(x + 16 * c);
    for (int g = 0; g < 4; ++g) {
      const int8x16_t xg = vqtbl1q_s8(x16, rep[g]);
      for (int i = 0; i < 8; ++i) {
        const int h = i / 4, q = i % 4;
        dot4_smull(acc[i], vreinterpretq_s8_u8(veorq_u8(vld1q_u8(b + 256 * h + 64 * g + 16 * q), flip)), xg);
      }
    }
  }
  for (int i = 0; i < 8; ++i) vst1q_s32(out + 4 * i, dot4_rows(acc[i]));
}

#endif  // BITDIAL_ARM_SIMD

}  // namespace bitdial::arm::detail
