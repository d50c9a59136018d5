// bitdial/kernels/x86/minifloat_avx2.hpp — AVX2 inner kernel of the MXFP4 / NVFP4 × int8 GEMV/GEMM
// over the `fp4_tiles16x8` layout (kernels/minifloat_gemm.hpp), for CPUs without AVX-512 VBMI/VNNI.
//
// A 64-byte slice is two 32-byte halves (rows 0–7, 8–15). Per half: lo = vpshufb(T, v & 0x0F),
// hi = vpshufb(T, (v >> 4) & 0x0F) with T[c] = ℓ(c) + 12 ∈ [0, 24] (ℓ = 2·E2M1 ∈ [−12, 12]), then
// vpmaddubsw against the broadcast activations (|24·128·2| = 6144 per int16 pair, the two nibble
// halves add to ≤ 12 288: no saturation), and vpmaddwd against ones widens to int32 lanes (dword r =
// row r). Block end: dot = acc − 12·Σx_block, then S += fl(σ_b · fl(dot)) with σ_b rebuilt from the
// packed scale byte (MX: 2^e as float bits, 2^-127 as the subnormal 0x00400000; NVFP4: (u << 20) +
// (117 << 23)). The product is pinned before the addition (an empty asm), so no FMA can merge it —
// the same floats as the reference and the AVX-512 kernel. BitMoD's per-row extra levels do not fit
// a 16-entry vpshufb table; it runs on the AVX-512 or the portable kernel.
// Overflow: |acc| ≤ block·24·128 ≤ 2^31 for blocks ≤ 65 536 (MX 32, NVFP4 16).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bitdial/kernels/x86/minifloat_avx512.hpp"
#include "bitdial/kernels/x86/plane_avx2.hpp"
#include "bitdial/kernels/x86/target.hpp"

namespace bitdial::x86::detail {

inline constexpr std::int32_t fp4_avx2_bias = 12;  // table entries ℓ + 12

#if BITDIAL_X86_SIMD

/// R row groups from rg, one token, the whole K: out[r·16 + lane] = S (ordered block sum).
template <int F, int R>
BITDIAL_TARGET_AVX2 void fp4_rows_avx2(const fp4_job& job, std::size_t rg, const std::int8_t* x,
                                       const std::int32_t* corr12, float* out) noexcept {
  const __m256i table = _mm256_load_si256(reinterpret_cast<const __m256i*>(job.table16));
  const __m256i m0f = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  constexpr std::size_t spb = F == fp4_mx ? 4 : 2;
  const std::uint8_t* codes[R];
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) codes[r] = job.codes + (rg + static_cast<std::size_t>(r)) * job.group_stride;
  __m256 S[R][2];
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) S[r][0] = S[r][1] = _mm256_setzero_ps();
  for (std::size_t b = 0; b < job.blocks; ++b) {
    __m256i acc[R][2];
    BITDIAL_UNROLL
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    BITDIAL_UNROLL
    for (std::size_t s = b * spb; s < (b + 1) * spb; ++s) {
      std::int32_t a, c;
      std::memcpy(&a, x + 8 * s, 4);
      std::memcpy(&c, x + 8 * s + 4, 4);
      const __m256i xlo = _mm256_set1_epi32(a), xhi = _mm256_set1_epi32(c);
      BITDIAL_UNROLL
      for (int r = 0; r < R; ++r) BITDIAL_UNROLL
      for (int h = 0; h < 2; ++h) {
        const __m256i v =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(codes[r] + 64 * s + 32 * static_cast<std::size_t>(h)));
        const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, m0f));
        const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f));
        const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi));
        acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(s16, ones));
      }
    }
    const __m256i cb = _mm256_set1_epi32(corr12[b]);
    BITDIAL_UNROLL
    for (int r = 0; r < R; ++r) BITDIAL_UNROLL
    for (int h = 0; h < 2; ++h) {
      const std::size_t at =
          ((rg + static_cast<std::size_t>(r)) * job.blocks + b) * 16 + 8 * static_cast<std::size_t>(h);
      const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(job.scale_bytes + at));
      __m256 sig;
      if constexpr (F == fp4_mx) {
        const __m256i e = _mm256_cvtepi8_epi32(bytes);
        const __m256i normal = _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23);
        const __m256i is_min = _mm256_cmpeq_epi32(e, _mm256_set1_epi32(-127));
        sig = _mm256_castsi256_ps(_mm256_blendv_epi8(normal, _mm256_set1_epi32(0x00400000), is_min));
      } else {
        const __m256i u = _mm256_cvtepu8_epi32(bytes);
        sig = _mm256_castsi256_ps(
            _mm256_add_epi32(_mm256_slli_epi32(u, 20), _mm256_set1_epi32(static_cast<int>(e4m3_packed_bias))));
      }
      const __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][h], cb));
      __m256 p = _mm256_mul_ps(sig, f);
      __asm__("" : "+x"(p));  // keep the rounded product: no fused multiply-add
      S[r][h] = _mm256_add_ps(S[r][h], p);
    }
  }
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int h = 0; h < 2; ++h) _mm256_storeu_ps(out + 16 * r + 8 * h, S[r][h]);
}

using fp4_avx2_fn = void (*)(const fp4_job&, std::size_t, const std::int8_t*, const std::int32_t*, float*) noexcept;

/// Kernel for format F (fp4_mx or fp4_nv) and R ∈ {1, 2} row groups.
inline fp4_avx2_fn pick_fp4_avx2(int F, int R) noexcept {
  if (F == fp4_mx) return R >= 2 ? &fp4_rows_avx2<fp4_mx, 2> : &fp4_rows_avx2<fp4_mx, 1>;
  return R >= 2 ? &fp4_rows_avx2<fp4_nv, 2> : &fp4_rows_avx2<fp4_nv, 1>;
}

#endif  // BITDIAL_X86_SIMD

}  // namespace bitdial::x86::detail
