// bitdial/kernels/x86/bitserial_avx2.hpp — AVX2 bit-serial kernel parts: the tile32x16 →
// rows32x32 transform (shift/mask nibble merge, vpshufb + vpblendw byte regrouping) and the
// AND/XOR window loop with popcounts from a vpshufb nibble table. Integers equal
// reference::bitserial_accumulators exactly.
//
// Layouts, algebra and bounds: kernels/bitserial_operands.hpp. A ymm of the block operand is
// 8 rows × 32 K of one term; the 128-byte term record of a step is read as 4 ymm (rows 0–7, 8–15,
// 16–23, 24–31). Popcount (the "vpshufb" method of Muła, Kurz and Lemire, "Faster Population
// Counts Using AVX2 Instructions"): bytes of v ∧ x split into nibbles, each looked up in a 16-entry
// table of bit counts, the two counts added: a byte count ≤ 8. Byte counts of up to 31 steps sum
// in bytes (≤ 248), then vpmaddubsw + vpmaddwd with ones fold the 4 bytes of each dword — one row —
// into its int32 lane (≤ 32·256 per window). Pair weights fold with vpmulld as in the AVX-512 path.
// The transform itself per 32-byte half tile: 2 shifts + 5 logic ops, then per step and half
// 2 vpshufb, 2 shifts, 2 vpblendw.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "bitdial/core/cpu.hpp"
#include "bitdial/kernels/bitserial_operands.hpp"
#include "bitdial/kernels/x86/plane_avx2.hpp"
#include "bitdial/kernels/x86/target.hpp"

namespace bitdial::x86 {

/// Whether this CPU runs the AVX2 bit-serial kernel: the same requirement as the AVX2 plane kernel
/// (AVX2, FMA and the extras BITDIAL_TARGET_AVX2 lets the compiler emit).
inline bool bitserial_avx2_available() noexcept { return plane_avx2_available(); }

namespace detail::bitserial256 {

inline constexpr std::size_t max_tokens = 4;
inline constexpr std::size_t byte_steps = 31;  // 31·8 = 248 fits a byte

#if BITDIAL_X86_SIMD

BITDIAL_TARGET_AVX2 inline __m256i merge_nibbles(__m256i v) noexcept {
  const __m256i keep = _mm256_set1_epi32(static_cast<int>(0xF00FF00Fu));
  const __m256i down = _mm256_set1_epi32(0x00F000F0), up = _mm256_set1_epi32(0x0F000F00);
  return _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(v, keep), _mm256_and_si256(_mm256_srli_epi32(v, 4), down)),
                         _mm256_and_si256(_mm256_slli_epi32(v, 4), up));
}

/// Half h (bytes 32h..32h+31) of tile `tile` of term `term` (zero past the last tile).
BITDIAL_TARGET_AVX2 inline __m256i load_half(const bitdial::detail::bitserial_job& j, const std::byte* top, int term,
                                             std::size_t tile, int h) noexcept {
  if (tile >= j.k_tiles) return _mm256_setzero_si256();
  return _mm256_load_si256(
      reinterpret_cast<const __m256i*>(top + static_cast<std::size_t>(term) * j.plane_bytes + 64 * tile + 32 * h));
}

BITDIAL_TARGET_AVX2 inline __m256i round_half(const bitdial::detail::bitserial_job& j, const std::byte* top,
                                              std::size_t tile, int hh) noexcept {
  if (tile >= j.k_tiles) return _mm256_setzero_si256();
  const int b = j.served_bits;
  __m256i h = _mm256_xor_si256(load_half(j, top, 0, tile, hh), _mm256_set1_epi32(-1));  // ¬P_0
  for (int t = 1; t < b; ++t) h = _mm256_and_si256(h, load_half(j, top, t, tile, hh));
  __m256i r = _mm256_andnot_si256(h, load_half(j, top, b, tile, hh));
  if (j.kind == 2) {
    __m256i low = load_half(j, top, b - 1, tile, hh);
    for (int l = 0; l < j.low_planes; ++l) low = _mm256_or_si256(low, load_half(j, top, b + 1 + l, tile, hh));
    r = _mm256_and_si256(r, low);
  }
  return r;
}

/// Half hh of a step: rows 8hh..8hh+7 → out[8hh..], rows 16+8hh.. → out[16+8hh..].
BITDIAL_TARGET_AVX2 inline void emit_half(__m256i v0, __m256i v1, int hh, std::uint32_t* out) noexcept {
  const __m256i order = _mm256_setr_epi8(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15,  //
                                         0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const __m256i r0 = _mm256_shuffle_epi8(merge_nibbles(v0), order);  // dword = [row d | row d+16] words
  const __m256i r1 = _mm256_shuffle_epi8(merge_nibbles(v1), order);
  const __m256i lo = _mm256_blend_epi16(r0, _mm256_slli_epi32(r1, 16), 0xAA);
  const __m256i hi = _mm256_blend_epi16(_mm256_srli_epi32(r0, 16), r1, 0xAA);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out + 8 * hh), lo);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out + 16 + 8 * hh), hi);
}

/// rows32x32 operand of one row block; equals detail::transform_block_portable.
BITDIAL_TARGET_AVX2 inline void transform_block(const bitdial::detail::bitserial_job& j, const std::byte* top,
                                                std::uint32_t* out) noexcept {
  const std::size_t terms = static_cast<std::size_t>(j.terms);
  for (std::size_t s = 0; s < j.steps; ++s) {
    std::uint32_t* o = out + s * terms * 32;
    for (int hh = 0; hh < 2; ++hh) {
      for (int t = 0; t < j.served_bits; ++t)
        emit_half(load_half(j, top, t, 2 * s, hh), load_half(j, top, t, 2 * s + 1, hh), hh,
                  o + 32 * static_cast<std::size_t>(t));
      if (j.kind != 0)
        emit_half(round_half(j, top, 2 * s, hh), round_half(j, top, 2 * s + 1, hh), hh,
                  o + 32 * static_cast<std::size_t>(j.served_bits));
    }
  }
}

BITDIAL_TARGET_AVX2 inline __m256i popcount_bytes(__m256i v, __m256i table, __m256i low4) noexcept {
  const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  return _mm256_add_epi8(_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi));
}

/// detail::bitserial_window_fn (any T: tokens run one after another).
template <bool Xor>
BITDIAL_TARGET_AVX2 void window(const bitdial::detail::bitserial_job& j, const std::uint32_t* w,
                                const std::uint32_t* const* x, std::size_t plane_stride, std::size_t T,
                                std::size_t steps, std::int32_t* tot) noexcept {
  const std::size_t ss = static_cast<std::size_t>(j.terms) * 32;
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8(0x0F), ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int q = 0; q < j.npairs; ++q) {
    const bitdial::detail::bitserial_pair& p = j.pairs[static_cast<std::size_t>(q)];
    const std::uint32_t* wp = w + 32 * std::size_t{p.term};
    const __m256i wt = _mm256_set1_epi32(p.weight);
    for (std::size_t t = 0; t < T; ++t) {
      const std::uint32_t* xp = x[t] + std::size_t{p.plane} * plane_stride;
      __m256i acc[4];
      BITDIAL_UNROLL
      for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_si256();
      for (std::size_t s0 = 0; s0 < steps; s0 += byte_steps) {
        const std::size_t s1 = std::min(steps, s0 + byte_steps);
        __m256i cnt[4];
        BITDIAL_UNROLL
        for (int r = 0; r < 4; ++r) cnt[r] = _mm256_setzero_si256();
        for (std::size_t s = s0; s < s1; ++s) {
          const __m256i xv = _mm256_set1_epi32(static_cast<int>(xp[s]));
          BITDIAL_UNROLL
          for (int r = 0; r < 4; ++r) {
            const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + s * ss + 8 * r));
            const __m256i m = Xor ? _mm256_xor_si256(wv, xv) : _mm256_and_si256(wv, xv);
            cnt[r] = _mm256_add_epi8(cnt[r], popcount_bytes(m, table, low4));
          }
        }
        BITDIAL_UNROLL
        for (int r = 0; r < 4; ++r)
          acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_maddubs_epi16(cnt[r], ones8), ones16));
      }
      BITDIAL_UNROLL
      for (int r = 0; r < 4; ++r) {
        auto* o = reinterpret_cast<__m256i*>(tot + 32 * t + 8 * r);
        _mm256_storeu_si256(o, _mm256_add_epi32(_mm256_loadu_si256(o), _mm256_mullo_epi32(acc[r], wt)));
      }
    }
  }
}

inline bitdial::detail::bitserial_window_fn pick(bool xnor, std::size_t) noexcept {
  return xnor ? &window<true> : &window<false>;
}

#endif  // BITDIAL_X86_SIMD

}  // namespace detail::bitserial256
}  // namespace bitdial::x86
