// bitdial/kernels/x86/ternary_avx512.hpp — AVX-512 VNNI inner loop of the dedicated ternary GEMV/GEMM
// over the `ternary_tiles16x16` layout (kernels/ternary.hpp draws it).
//
// A 64-byte slice holds 16 rows × 16 K of biased ternary codes u = q + 1 ∈ {0, 1, 2}: byte 4·r + j
// carries, in its bit pairs 2f..2f+1 (f = 0..3), the code of row r at K = 16·s + 4·f + j. So
//   slice & 0x03, & 0x0C, & 0x30, & 0xC0  =  u·1, u·4, u·16, u·64 of the 4 K-groups f,
// each a valid u8 operand (≤ 128) whose dword r holds 4 consecutive K of row r. One vpdpbusd per
// field against the broadcast dword x[16s + 4f .. 16s + 4f + 3] accumulates 4^f · Σ u·x of row r in
// lane r; the four field accumulators are kept apart and combined exactly at the end of a segment:
//   Σ u·x = a_0 + (a_1 >> 2) + (a_2 >> 4) + (a_3 >> 6)   (each a_f is a multiple of 4^f).
// Per 256 weights: 1 load, 4 vpandq, 4 vpdpbusd — no shuffles, no tables. The caller subtracts Σx of
// the group (Σ q·x = Σ u·x − Σ x). For many tokens (GEMM) the fields are shifted down instead, so one
// accumulator per row group and token suffices and 2 row groups × 8 tokens share each extraction.
//
// Overflow (int32 lanes): one vpdpbusd adds at most 4 · 128 · 128 = 2^16 to a_3 (field 3 bytes are
// ≤ 128, |x| ≤ 128), so a segment of at most 4096 slices keeps |a_f| ≤ 2^28; the combined sum is at
// most 4096 · 16 · 2 · 128 = 2^24.
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

inline constexpr std::size_t ternary_max_slices = 4096;  // per segment; see the overflow bound

#if BITDIAL_X86_SIMD

/// Slices [s0, s0 + n) of R row groups (bases `groups[r]`) against T zero-padded tokens `xs[j]`:
/// out[(j·R + r)·16 + lane] = Σ u·x of row `lane` of group r (int32, exact).
template <int R, int T>
BITDIAL_TARGET_AVX512 void ternary_segment(const std::uint8_t* const* groups, const std::int8_t* const* xs,
                                           std::size_t s0, std::size_t n, std::int32_t* out) noexcept {
  const __m512i m0 = _mm512_set1_epi8(0x03), m1 = _mm512_set1_epi8(0x0C), m2 = _mm512_set1_epi8(0x30),
                m3 = _mm512_set1_epi8(static_cast<char>(0xC0));
  __m512i acc[R][T][4];
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int j = 0; j < T; ++j) BITDIAL_UNROLL
  for (int f = 0; f < 4; ++f) acc[r][j][f] = _mm512_setzero_si512();
  for (std::size_t s = s0; s < s0 + n; ++s) {
    __m512i xb[T][4];
    BITDIAL_UNROLL
    for (int j = 0; j < T; ++j) BITDIAL_UNROLL
    for (int f = 0; f < 4; ++f) {
      std::int32_t v;
      std::memcpy(&v, xs[j] + 16 * s + 4 * static_cast<std::size_t>(f), 4);
      xb[j][f] = _mm512_set1_epi32(v);
    }
    BITDIAL_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512i v = _mm512_load_si512(groups[r] + 64 * s);
      const __m512i u0 = _mm512_and_si512(v, m0), u1 = _mm512_and_si512(v, m1), u2 = _mm512_and_si512(v, m2),
                    u3 = _mm512_and_si512(v, m3);
      BITDIAL_UNROLL
      for (int j = 0; j < T; ++j) {
        acc[r][j][0] = dpbusd(acc[r][j][0], u0, xb[j][0]);
        acc[r][j][1] = dpbusd(acc[r][j][1], u1, xb[j][1]);
        acc[r][j][2] = dpbusd(acc[r][j][2], u2, xb[j][2]);
        acc[r][j][3] = dpbusd(acc[r][j][3], u3, xb[j][3]);
      }
    }
  }
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int j = 0; j < T; ++j) {
    const __m512i a =
        _mm512_add_epi32(_mm512_add_epi32(acc[r][j][0], _mm512_srai_epi32(acc[r][j][1], 2)),
                         _mm512_add_epi32(_mm512_srai_epi32(acc[r][j][2], 4), _mm512_srai_epi32(acc[r][j][3], 6)));
    _mm512_storeu_si512(out + (j * R + r) * 16, a);
  }
}

/// The GEMM form: the fields are shifted down (u = (slice >> 2f) & 3), so every field of a row adds
/// into one accumulator and the extraction is shared by T tokens. Same output as ternary_segment.
/// Overflow: a lane gains at most 4 · 4 · 2 · 128 = 4096 per slice; ≤ 4096 slices keep it ≤ 2^24.
template <int R, int T>
BITDIAL_TARGET_AVX512 void ternary_segment_tokens(const std::uint8_t* const* groups, const std::int8_t* const* xs,
                                                  std::size_t s0, std::size_t n, std::int32_t* out) noexcept {
  const __m512i m3 = _mm512_set1_epi8(0x03);
  __m512i acc[R][T];
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int j = 0; j < T; ++j) acc[r][j] = _mm512_setzero_si512();
  for (std::size_t s = s0; s < s0 + n; ++s) {
    __m512i u[R][4];
    BITDIAL_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512i v = _mm512_load_si512(groups[r] + 64 * s);
      u[r][0] = _mm512_and_si512(v, m3);
      u[r][1] = _mm512_and_si512(_mm512_srli_epi16(v, 2), m3);
      u[r][2] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
      u[r][3] = _mm512_and_si512(_mm512_srli_epi16(v, 6), m3);
    }
    BITDIAL_UNROLL
    for (int j = 0; j < T; ++j) BITDIAL_UNROLL
    for (int f = 0; f < 4; ++f) {
      std::int32_t xv;
      std::memcpy(&xv, xs[j] + 16 * s + 4 * static_cast<std::size_t>(f), 4);
      const __m512i xb = _mm512_set1_epi32(xv);
      BITDIAL_UNROLL
      for (int r = 0; r < R; ++r) acc[r][j] = dpbusd(acc[r][j], u[r][f], xb);
    }
  }
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int j = 0; j < T; ++j) _mm512_storeu_si512(out + (j * R + r) * 16, acc[r][j]);
}

using ternary_fn = void (*)(const std::uint8_t* const*, const std::int8_t* const*, std::size_t, std::size_t,
                            std::int32_t*) noexcept;

inline constexpr int ternary_gemm_rows = 2, ternary_gemm_tokens = 8;  // GEMM tile: 2 row groups × 8 tokens

template <int R>
inline ternary_fn pick_ternary_tokens(int T) noexcept {
  switch (T) {
    case 1:
      return &ternary_segment_tokens<R, 1>;
    case 2:
      return &ternary_segment_tokens<R, 2>;
    case 3:
      return &ternary_segment_tokens<R, 3>;
    case 4:
      return &ternary_segment_tokens<R, 4>;
    case 5:
      return &ternary_segment_tokens<R, 5>;
    case 6:
      return &ternary_segment_tokens<R, 6>;
    case 7:
      return &ternary_segment_tokens<R, 7>;
    default:
      return &ternary_segment_tokens<R, 8>;
  }
}

/// GEMV (T = 1): R ∈ 1..4 row groups, in-place field masks. GEMM (T > 1): R ∈ 1..2 row groups ×
/// T ∈ 2..8 tokens, shifted fields.
inline ternary_fn pick_ternary(int R, int T) noexcept {
  if (T <= 1) {
    switch (R) {
      case 1:
        return &ternary_segment<1, 1>;
      case 2:
        return &ternary_segment<2, 1>;
      case 3:
        return &ternary_segment<3, 1>;
      default:
        return &ternary_segment<4, 1>;
    }
  }
  return R >= 2 ? pick_ternary_tokens<2>(T) : pick_ternary_tokens<1>(T);
}

#endif  // BITDIAL_X86_SIMD

}  // namespace bitdial::x86::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
