// bitdial/kernels/x86/ternary_avx2.hpp — AVX2 inner loop of the dedicated ternary GEMV/GEMM over the
// `ternary_tiles16x16` layout (kernels/ternary.hpp), for CPUs without AVX-512 VNNI.
//
// A 64-byte slice is two 32-byte halves (rows 0–7 and 8–15). Per half and field f the biased codes
// u = (slice >> 2f) & 3 ∈ {0, 1, 2} go through vpmaddubsw against the broadcast activations of K-group
// f (u8 × s8 pairs into int16: |2·2·128| = 512, no saturation), the four fields are added in int16
// (≤ 2048), and one vpmaddwd against ones widens the row's sums to int32 lanes (dword r = row r).
// Per 128 weights: 1 load, 3 shifts, 4 ANDs, 4 vpmaddubsw, 3 vpaddw, 1 vpmaddwd, 1 vpaddd.
// Overflow: a lane gains at most 4096 per slice, so a segment of ≤ 4096 slices stays ≤ 2^24.
// The caller subtracts Σx of the group, exactly as for the AVX-512 kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bitdial/kernels/x86/plane_avx2.hpp"
#include "bitdial/kernels/x86/target.hpp"

namespace bitdial::x86::detail {

#if BITDIAL_X86_SIMD

/// Slices [s0, s0 + n) of R row groups against one zero-padded token: out[r·16 + lane] = Σ u·x.
template <int R>
BITDIAL_TARGET_AVX2 void ternary_segment_avx2(const std::uint8_t* const* groups, const std::int8_t* x, std::size_t s0,
                                              std::size_t n, std::int32_t* out) noexcept {
  const __m256i m3 = _mm256_set1_epi8(0x03), ones = _mm256_set1_epi16(1);
  __m256i acc[R][2];
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (std::size_t s = s0; s < s0 + n; ++s) {
    __m256i xb[4];
    BITDIAL_UNROLL
    for (int f = 0; f < 4; ++f) {
      std::int32_t v;
      std::memcpy(&v, x + 16 * s + 4 * static_cast<std::size_t>(f), 4);
      xb[f] = _mm256_set1_epi32(v);
    }
    BITDIAL_UNROLL
    for (int r = 0; r < R; ++r) BITDIAL_UNROLL
    for (int h = 0; h < 2; ++h) {
      const __m256i v =
          _mm256_load_si256(reinterpret_cast<const __m256i*>(groups[r] + 64 * s + 32 * static_cast<std::size_t>(h)));
      const __m256i u0 = _mm256_and_si256(v, m3);
      const __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
      const __m256i u2 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
      const __m256i u3 = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
      const __m256i s16 =
          _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(u0, xb[0]), _mm256_maddubs_epi16(u1, xb[1])),
                           _mm256_add_epi16(_mm256_maddubs_epi16(u2, xb[2]), _mm256_maddubs_epi16(u3, xb[3])));
      acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(s16, ones));
    }
  }
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int h = 0; h < 2; ++h) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 * r + 8 * h), acc[r][h]);
}

using ternary_avx2_fn = void (*)(const std::uint8_t* const*, const std::int8_t*, std::size_t, std::size_t,
                                 std::int32_t*) noexcept;

inline ternary_avx2_fn pick_ternary_avx2(int R) noexcept {
  return R >= 2 ? &ternary_segment_avx2<2> : &ternary_segment_avx2<1>;
}

#endif  // BITDIAL_X86_SIMD

}  // namespace bitdial::x86::detail
