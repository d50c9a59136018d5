// bitdial/kernels/x86/minifloat_avx512.hpp — AVX-512 (VBMI + VNNI) inner kernel of the FP4 × int8
// GEMV/GEMM over the `fp4_tiles16x8` layout (kernels/minifloat_gemm.hpp draws it and defines the
// epilogue; kernels/reference/minifloat_gemm.hpp is the spec).
//
// Per 64-byte slice (16 rows × 8 K, two 4-bit codes per byte):
//   lo  = vpermb(slice, T)             low nibbles  → ℓ + 128 (u8) of K 8s + 0..3, dword r = row r
//   hi  = vpermb(slice >> 4, T)        high nibbles → ℓ + 128 of K 8s + 4..7
//   A  += vpdpbusd(lo, bcast x[8s..8s+3]),   B += vpdpbusd(hi, bcast x[8s+4..8s+7])
// T is a 64-entry table: vpermb reads index bits 0–5, and the bits 4–5 next to a nibble are other
// data, so for MXFP4/NVFP4 the 16 levels are replicated four times and no AND is needed. BitMoD uses
// the same bits for its per-(row, group) menu choice m ∈ 0..3: index = nibble | m << 4 (one vpternlog),
// T[16m + c] = ℓ_m(c) + 128, so each row of a zmm reads its own group's extra value.
// Block end: dot = A + B − 128·Σx_block (the u8 bias; Σx per token and block is precomputed), then
//   S += fl(σ_b · fl(dot))    MX: vscalefps(fl(dot), e_b) = dot·2^e_b; NVFP4: σ rebuilt from the packed
//                             E4M3 byte; BitMoD: float scales — explicit round-to-nearest multiply.
// Same operations in the same order as the reference, so the floats are identical.
//
// Overflow (int32 lanes): a vpdpbusd adds at most 4·255·128 = 130 560; the biased block sum
// Σ(ℓ + 128)·x of a block of G ≤ 65 536 K stays below 65 536·255·128 = 2 139 095 040 < 2^31, and the
// final dot |Σ ℓ·x| ≤ G·127·128. Blocks longer than 65 536 K are served by the portable kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bitdial/kernels/x86/plane_avx512.hpp"
#include "bitdial/kernels/x86/target.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace bitdial::x86::detail {

/// What the FP4 kernel reads, fixed per call.
struct fp4_job {
  const std::uint8_t* codes = nullptr;        // row group rg at codes + rg·group_stride
  std::size_t group_stride = 0;               // slices · 64
  const std::uint8_t* scale_bytes = nullptr;  // MX: int8 e = code − 127; NVFP4: packed E4M3 byte; [rg][b][16]
  const float* scale_floats = nullptr;        // BitMoD: [rg][b][16]
  const std::uint8_t* menu = nullptr;         // BitMoD: m << 4 per [rg][b][16]
  std::size_t blocks = 0;                     // scale blocks per row
  std::size_t slices_per_block = 0;
  const std::uint8_t* table = nullptr;    // 64 bytes, 64-byte aligned
  const std::uint8_t* table16 = nullptr;  // AVX2 (MX/NVFP4): 32 bytes, ℓ + 12 twice, 32-byte aligned
};

inline constexpr int fp4_mx = 0, fp4_nv = 1, fp4_bitmod = 2;
inline constexpr std::uint32_t e4m3_packed_bias = 117u << 23;  // float bits = (byte << 20) + bias

#if BITDIAL_X86_SIMD

/// R row groups from rg × T tokens, the whole K: out[(j·R + r)·16 + lane] = S (ordered block sum).
template <int F, int R, int T>
BITDIAL_TARGET_AVX512 void fp4_rows(const fp4_job& job, std::size_t rg, const std::int8_t* const* xs,
                                    const std::int32_t* const* corr, float* out) noexcept {
  const __m512i table = _mm512_load_si512(job.table);
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  const __m512i rep = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0x00000000);
  const std::size_t spb = F == fp4_mx ? 4 : (F == fp4_nv ? 2 : job.slices_per_block);
  const std::uint8_t* codes[R];
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) codes[r] = job.codes + (rg + static_cast<std::size_t>(r)) * job.group_stride;
  __m512 S[R][T];
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int j = 0; j < T; ++j) S[r][j] = _mm512_setzero_ps();
  for (std::size_t b = 0; b < job.blocks; ++b) {
    __m512i M[R];
    if constexpr (F == fp4_bitmod) {
      BITDIAL_UNROLL
      for (int r = 0; r < R; ++r) {
        const std::size_t at = ((rg + static_cast<std::size_t>(r)) * job.blocks + b) * 16;
        M[r] = _mm512_shuffle_epi8(
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(job.menu + at))), rep);
      }
    }
    __m512i A[R][T], B[R][T];
    BITDIAL_UNROLL
    for (int r = 0; r < R; ++r) BITDIAL_UNROLL
    for (int j = 0; j < T; ++j) A[r][j] = B[r][j] = _mm512_setzero_si512();
    BITDIAL_UNROLL
    for (std::size_t s = b * spb; s < (b + 1) * spb; ++s) {
      __m512i xlo[T], xhi[T];
      BITDIAL_UNROLL
      for (int j = 0; j < T; ++j) {
        std::int32_t a, c;
        std::memcpy(&a, xs[j] + 8 * s, 4);
        std::memcpy(&c, xs[j] + 8 * s + 4, 4);
        xlo[j] = _mm512_set1_epi32(a);
        xhi[j] = _mm512_set1_epi32(c);
      }
      BITDIAL_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512i v = _mm512_load_si512(codes[r] + 64 * s);
        const __m512i sh = _mm512_srli_epi16(v, 4);
        __m512i ilo = v, ihi = sh;
        if constexpr (F == fp4_bitmod) {
          ilo = _mm512_ternarylogic_epi32(v, m0f, M[r], 0xEA);  // (v & 0x0F) | M
          ihi = _mm512_ternarylogic_epi32(sh, m0f, M[r], 0xEA);
        }
        const __m512i lo = _mm512_permutexvar_epi8(ilo, table);
        const __m512i hi = _mm512_permutexvar_epi8(ihi, table);
        BITDIAL_UNROLL
        for (int j = 0; j < T; ++j) {
          A[r][j] = dpbusd(A[r][j], lo, xlo[j]);
          B[r][j] = dpbusd(B[r][j], hi, xhi[j]);
        }
      }
    }
    BITDIAL_UNROLL
    for (int r = 0; r < R; ++r) {
      const std::size_t at = ((rg + static_cast<std::size_t>(r)) * job.blocks + b) * 16;
      __m512 sig;
      if constexpr (F == fp4_mx) {
        sig = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(job.scale_bytes + at))));
      } else if constexpr (F == fp4_nv) {
        const __m512i u = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(job.scale_bytes + at)));
        sig = _mm512_castsi512_ps(
            _mm512_add_epi32(_mm512_slli_epi32(u, 20), _mm512_set1_epi32(static_cast<int>(e4m3_packed_bias))));
      } else {
        sig = _mm512_loadu_ps(job.scale_floats + at);
      }
      BITDIAL_UNROLL
      for (int j = 0; j < T; ++j) {
        const __m512i dot = _mm512_sub_epi32(_mm512_add_epi32(A[r][j], B[r][j]), _mm512_set1_epi32(corr[j][b]));
        const __m512 f = _mm512_cvtepi32_ps(dot);
        __m512 p;
        if constexpr (F == fp4_mx)
          p = _mm512_scalef_ps(f, sig);  // f · 2^e, correctly rounded (exact unless it overflows)
        else
          p = _mm512_mul_round_ps(sig, f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        S[r][j] = _mm512_add_ps(S[r][j], p);
      }
    }
  }
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int j = 0; j < T; ++j) _mm512_storeu_ps(out + (j * R + r) * 16, S[r][j]);
}

/// out[i] = Σ x[4i .. 4i+3] for i < n4 (vpdpbusd against ones; exact).
BITDIAL_TARGET_AVX512 inline void quad_sums(const std::int8_t* x, std::size_t n4, std::int32_t* out) noexcept {
  const __m512i ones = _mm512_set1_epi8(1);
  std::size_t i = 0;
  for (; i + 16 <= n4; i += 16)
    _mm512_storeu_si512(out + i, _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, _mm512_loadu_si512(x + 4 * i)));
  if (i < n4) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n4 - i)) - 1u);
    const __m512i v = _mm512_maskz_loadu_epi32(m, x + 4 * i);
    _mm512_mask_storeu_epi32(out + i, m, _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, v));
  }
}

using fp4_fn = void (*)(const fp4_job&, std::size_t, const std::int8_t* const*, const std::int32_t* const*,
                        float*) noexcept;

template <int F>
inline fp4_fn pick_fp4_for(int R, int T) noexcept {
  if (T <= 1) {
    switch (R) {
      case 1:
        return &fp4_rows<F, 1, 1>;
      case 2:
        return &fp4_rows<F, 2, 1>;
      case 3:
        return &fp4_rows<F, 3, 1>;
      default:
        return &fp4_rows<F, 4, 1>;
    }
  }
  switch (T) {
    case 2:
      return &fp4_rows<F, 1, 2>;
    case 3:
      return &fp4_rows<F, 1, 3>;
    default:
      return &fp4_rows<F, 1, 4>;
  }
}

/// Kernel for format F: R ∈ 1..4 row groups with T = 1 (GEMV), or R = 1 with T ∈ 1..4 tokens (GEMM).
inline fp4_fn pick_fp4(int F, int R, int T) noexcept {
  switch (F) {
    case fp4_mx:
      return pick_fp4_for<fp4_mx>(R, T);
    case fp4_nv:
      return pick_fp4_for<fp4_nv>(R, T);
    default:
      return pick_fp4_for<fp4_bitmod>(R, T);
  }
}

#endif  // BITDIAL_X86_SIMD

}  // namespace bitdial::x86::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
