// bitdial/kernels/arm/minifloat_neon.hpp — aarch64 inner loops for FP4 block formats (MXFP4, NVFP4,
// BitMoD-FP4) × int8 activations over the fp4_tiles16x8 layout (kernels/minifloat_gemm.hpp): per row
// group of 16 rows and up to 4 tokens, the ordered block sums S = Σ_b fl(σ_b · fl(dot_b)) the shared
// epilogue (mf_finish) turns into outputs.
//
// A slice is 16 rows × 8 K in 64 bytes, byte p = 4·r + j holding row r's codes at K = 8s + j (low
// nibble) and 8s + 4 + j (high nibble). So one Q register (16 bytes) is 4 rows × 4 bytes, and after
// a 16-entry TBL from codes to signed integer levels ℓ its low nibbles are one SDOT operand against
// lane 0 of the slice's 8 activations and its high nibbles one against lane 1 (FEAT_DotProd).
// BitMoD's menu entry m (≤ 4 per matrix) selects the level of code 0b1000 per row and block: the
// 64-entry table holds the 4 level sets (entry 16·m + c) and the index is c | m << 4, the row's menu
// byte replicated over its 4 bytes by one TBL per block. Without dotprod (plain NEON): the SMULL form
// of SDOT (kernels/arm/dot4_smull.hpp), the pairs summed per row at each block end.
//
// Floats: σ of 16 rows is built in a vector from the stored bytes exactly as fp4_matrix::sigma reads
// it (MX: 2^e, e = −127 a subnormal; NVFP4: bits (u << 20) + (117 << 23); BitMoD: the float), the
// int32 block dot is converted (round to nearest, as static_cast<float>), multiplied, the product is
// kept rounded (BITDIAL_ROUNDED: no FMLA contraction), then added to S in block order — the same
// operations, in the same order, as reference::minifloat_gemm.
//
// Exactness: |ℓ| ≤ 16 (BitMoD's menu level L·v_g with |v_g| ≤ 8, L = 2), |x| ≤ 128, so a block dot is
// at most 16 · 128 · 65 536 = 2^27 in magnitude (blocks ≤ fp4_matrix::max_simd_block), in SDOT
// lanes and SADALP pairs alike.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitdial/core/rounding.hpp"
#include "bitdial/kernels/arm/dot4_smull.hpp"
#include "bitdial/kernels/arm/target.hpp"

namespace bitdial::arm::detail {

inline constexpr int fp4_neon_mx = 0, fp4_neon_nv = 1, fp4_neon_bitmod = 2;  // fp4_format's order
inline constexpr std::size_t fp4_max_tokens = 4;

/// What the FP4 inner loops read of one row group (pointers into an fp4_matrix).
struct fp4_group {
  const std::uint8_t* codes = nullptr;        // the row group's slices, 64 bytes each
  const std::uint8_t* scale_bytes = nullptr;  // [block][16 rows]: MX int8 e, NVFP4 packed E4M3 byte
  const float* scale_floats = nullptr;        // [block][16 rows]: BitMoD
  const std::uint8_t* menu = nullptr;         // [block][16 rows]: BitMoD m << 4
  std::size_t blocks = 0, slices_per_block = 0;
  const std::uint8_t* table = nullptr;  // 64 bytes, entry 16·m + c = ℓ_m(c) + 128 (fp4_matrix's table)
};

#if BITDIAL_ARM_SIMD

/// σ of the 16 rows of block b, as 4 vectors of 4 rows.
template <int F>
__attribute__((always_inline)) inline void fp4_sigma(const fp4_group& g, std::size_t b, float32x4_t (&s)[4]) noexcept {
  if constexpr (F == fp4_neon_bitmod) {
    for (int q = 0; q < 4; ++q) s[q] = vld1q_f32(g.scale_floats + 16 * b + 4 * q);
  } else {
    const uint8x16_t u = vld1q_u8(g.scale_bytes + 16 * b);
    const uint16x8_t h[2] = {vmovl_u8(vget_low_u8(u)), vmovl_high_u8(u)};
    for (int q = 0; q < 4; ++q) {
      const uint32x4_t v = (q & 1) ? vmovl_high_u16(h[q / 2]) : vmovl_u16(vget_low_u16(h[q / 2]));
      if constexpr (F == fp4_neon_nv) {
        s[q] = vreinterpretq_f32_u32(vaddq_u32(vshlq_n_u32(v, 20), vdupq_n_u32(117u << 23)));
      } else {  // int8 e in the byte: 2^e has bits (e + 127) << 23, and e = −127 is the subnormal 2^−127
        const int32x4_t es = vshrq_n_s32(vshlq_n_s32(vreinterpretq_s32_u32(v), 24), 24);  // sign-extended e
        const uint32x4_t normal = vshlq_n_u32(vreinterpretq_u32_s32(vaddq_s32(es, vdupq_n_s32(127))), 23);
        const uint32x4_t tiny = vceqq_s32(es, vdupq_n_s32(-127));
        s[q] = vreinterpretq_f32_u32(vbslq_u32(tiny, vdupq_n_u32(0x00400000u), normal));
      }
    }
  }
}

/// S[q] += fl(σ · fl(dot)) for 4 vectors of 4 rows.
__attribute__((always_inline)) inline void fp4_accumulate(const int32x4_t (&dot)[4], const float32x4_t (&sigma)[4],
                                                          float32x4_t (&S)[4]) noexcept {
  for (int q = 0; q < 4; ++q) {
    float32x4_t p = vmulq_f32(sigma[q], vcvtq_f32_s32(dot[q]));
    BITDIAL_ROUNDED(p);
    S[q] = vaddq_f32(S[q], p);
  }
}

/// The 16-entry (MX/NVFP4) or 64-entry (BitMoD) level table as registers.
struct fp4_tables {
  int8x16x4_t t4;
  int8x16_t t1;
};

/// ℓ + 128 as u8, XOR 0x80, is ℓ as int8.
__attribute__((always_inline)) inline fp4_tables fp4_load_tables(const std::uint8_t* table) noexcept {
  fp4_tables t;
  const uint8x16_t bias = vdupq_n_u8(0x80);
  for (int i = 0; i < 4; ++i) t.t4.val[i] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(table + 16 * i), bias));
  t.t1 = t.t4.val[0];
  return t;
}

/// Levels of one Q register's nibbles: lv[0] low (K 8s..8s+3), lv[1] high (K 8s+4..8s+7).
template <int F>
__attribute__((always_inline)) inline void fp4_levels(const fp4_tables& t, uint8x16_t v, uint8x16_t menu_rep,
                                                      int8x16_t (&lv)[2]) noexcept {
  const uint8x16_t lo = vandq_u8(v, vdupq_n_u8(0x0F)), hi = vshrq_n_u8(v, 4);
  if constexpr (F == fp4_neon_bitmod) {
    lv[0] = vqtbl4q_s8(t.t4, vorrq_u8(lo, menu_rep));
    lv[1] = vqtbl4q_s8(t.t4, vorrq_u8(hi, menu_rep));
  } else {
    (void)menu_rep;
    lv[0] = vqtbl1q_s8(t.t1, lo);
    lv[1] = vqtbl1q_s8(t.t1, hi);
  }
}

/// The menu bytes of rows 4q..4q+3 of block b, each replicated over its row's 4 bytes.
template <int F>
__attribute__((always_inline)) inline void fp4_menu(const fp4_group& g, std::size_t b, uint8x16_t (&rep)[4]) noexcept {
  if constexpr (F == fp4_neon_bitmod) {
    static constexpr std::uint8_t spread[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
    const uint8x16_t m = vld1q_u8(g.menu + 16 * b), idx = vld1q_u8(spread);
    for (int q = 0; q < 4; ++q) rep[q] = vqtbl1q_u8(m, vaddq_u8(idx, vdupq_n_u8(static_cast<std::uint8_t>(4 * q))));
  } else {
    for (int q = 0; q < 4; ++q) rep[q] = vdupq_n_u8(0);
  }
}

#if BITDIAL_ARM_DOTPROD

/// S[t·16 + r] = Σ_b fl(σ_b(r) · fl(dot_b(r, x_t))) for one row group and T tokens (xs[t] zero-padded to
/// whole slices), with SDOT.
template <int F, int T>
BITDIAL_TARGET_DOTPROD void fp4_sdot(const fp4_group& g, const std::int8_t* const* xs, float* out) noexcept {
  const fp4_tables tb = fp4_load_tables(g.table);
  float32x4_t S[T][4];
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 4; ++q) S[t][q] = vdupq_n_f32(0.0f);
  std::size_t s = 0;
  for (std::size_t b = 0; b < g.blocks; ++b) {
    uint8x16_t rep[4];
    fp4_menu<F>(g, b, rep);
    int32x4_t acc[T][4];
    for (int t = 0; t < T; ++t)
      for (int q = 0; q < 4; ++q) acc[t][q] = vdupq_n_s32(0);
    for (const std::size_t s1 = s + g.slices_per_block; s < s1; ++s) {
      const std::uint8_t* p = g.codes + 64 * s;
      int8x8_t x[T];
      for (int t = 0; t < T; ++t) x[t] = vld1_s8(xs[t] + 8 * s);
      for (int q = 0; q < 4; ++q) {
        int8x16_t lv[2];
        fp4_levels<F>(tb, vld1q_u8(p + 16 * q), rep[q], lv);
        for (int t = 0; t < T; ++t) {
          acc[t][q] = vdotq_lane_s32(acc[t][q], lv[0], x[t], 0);
          acc[t][q] = vdotq_lane_s32(acc[t][q], lv[1], x[t], 1);
        }
      }
    }
    float32x4_t sigma[4];
    fp4_sigma<F>(g, b, sigma);
    for (int t = 0; t < T; ++t) fp4_accumulate(acc[t], sigma, S[t]);
  }
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 4; ++q) vst1q_f32(out + 16 * t + 4 * q, S[t][q]);
}

#endif  // BITDIAL_ARM_DOTPROD

/// As fp4_sdot with SMULL + SADALP (any AArch64 CPU); one token.
template <int F>
void fp4_smull(const fp4_group& g, const std::int8_t* x, float* out) noexcept {
  const fp4_tables tb = fp4_load_tables(g.table);
  const uint8x16_t pick[2] = {lane_repeat_index(0), lane_repeat_index(1)};
  float32x4_t S[4];
  for (int q = 0; q < 4; ++q) S[q] = vdupq_n_f32(0.0f);
  std::size_t s = 0;
  for (std::size_t b = 0; b < g.blocks; ++b) {
    uint8x16_t rep[4];
    fp4_menu<F>(g, b, rep);
    dot4_pairs pairs[4];  // rows 4q .. 4q + 3
    for (const std::size_t s1 = s + g.slices_per_block; s < s1; ++s) {
      const std::uint8_t* p = g.codes + 64 * s;
      const int8x16_t x8 = vcombine_s8(vld1_s8(x + 8 * s), vdup_n_s8(0));
      const int8x16_t xr[2] = {vqtbl1q_s8(x8, pick[0]), vqtbl1q_s8(x8, pick[1])};
      for (int q = 0; q < 4; ++q) {
        int8x16_t lv[2];
        fp4_levels<F>(tb, vld1q_u8(p + 16 * q), rep[q], lv);
        dot4_smull(pairs[q], lv[0], xr[0]);
        dot4_smull(pairs[q], lv[1], xr[1]);
      }
    }
    int32x4_t dot[4];
    for (int q = 0; q < 4; ++q) dot[q] = dot4_rows(pairs[q]);
    float32x4_t sigma[4];
    fp4_sigma<F>(g, b, sigma);
    fp4_accumulate(dot, sigma, S);
  }
  for (int q = 0; q < 4; ++q) vst1q_f32(out + 4 * q, S[q]);
}

using fp4_smull_fn = void (*)(const fp4_group&, const std::int8_t*, float*) noexcept;
inline fp4_smull_fn pick_fp4_smull(int format) noexcept {
  return format == fp4_neon_mx   ? &fp4_smull<fp4_neon_mx>
         : format == fp4_neon_nv ? &fp4_smull<fp4_neon_nv>
                                 : &fp4_smull<fp4_neon_bitmod>;
}

#if BITDIAL_ARM_DOTPROD
using fp4_sdot_fn = void (*)(const fp4_group&, const std::int8_t* const*, float*) noexcept;

template <int F>
fp4_sdot_fn pick_fp4_sdot_tokens(std::size_t tokens) noexcept {
  switch (tokens) {
    case 1:
      return &fp4_sdot<F, 1>;
    case 2:
      return &fp4_sdot<F, 2>;
    case 3:
      return &fp4_sdot<F, 3>;
    default:
      return &fp4_sdot<F, 4>;
  }
}

inline fp4_sdot_fn pick_fp4_sdot(int format, std::size_t tokens) noexcept {
  return format == fp4_neon_mx   ? pick_fp4_sdot_tokens<fp4_neon_mx>(tokens)
         : format == fp4_neon_nv ? pick_fp4_sdot_tokens<fp4_neon_nv>(tokens)
                                 : pick_fp4_sdot_tokens<fp4_neon_bitmod>(tokens);
}
#endif  // BITDIAL_ARM_DOTPROD

#endif  // BITDIAL_ARM_SIMD

}  // namespace bitdial::arm::detail
