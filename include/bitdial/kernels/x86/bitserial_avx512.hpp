// bitdial/kernels/x86/bitserial_avx512.hpp — AVX-512 VPOPCNTDQ bit-serial kernel parts: the
// tile32x16 → rows32x32 transform (vpternlogd nibble merge + vpermt2b), per-row code sums, and the
// AND/XOR + vpopcntd window loop. Integers equal reference::bitserial_accumulators exactly.
//
// Layouts, algebra and overflow bounds: kernels/bitserial_operands.hpp. One zmm of the block
// operand is 16 rows × 32 K of one term (dword lane = one row), so a broadcast activation dword
// (32 K of one plane of one token) ANDed (or XORed) with it and counted by vpopcntd gives 16 row
// counts in one instruction, every bit of the register useful:
//   per (pair, token, 32-K step, 32 rows): 2 × (vpandd/vpxord, vpopcntd, vpaddd)
// Pair popcounts of up to max_window_steps steps sum in int32 lanes (≤ 32·256 = 8192), then are
// folded with vpmulld by the pair weight into the int32 window partials (bound in the operands
// header). Up to 8 tokens share each loaded weight register.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitdial/core/cpu.hpp"
#include "bitdial/kernels/bitserial_operands.hpp"
#include "bitdial/kernels/x86/target.hpp"

#if BITDIAL_X86_SIMD
#ifndef BITDIAL_TARGET_AVX512_POPCNT
#define BITDIAL_TARGET_AVX512_POPCNT \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,avx512vbmi")))
#endif
#else
#define BITDIAL_TARGET_AVX512_POPCNT
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace bitdial::x86 {

/// Whether this CPU runs the AVX-512 bit-serial kernel (F/BW/VL/DQ + VPOPCNTDQ + VBMI).
inline bool bitserial_avx512_available() noexcept {
  const cpu_features& f = cpu();
  return BITDIAL_X86_SIMD && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vpopcntdq && f.avx512vbmi;
}

namespace detail::bitserial512 {

inline constexpr std::size_t max_tokens = 8;

#if BITDIAL_X86_SIMD

struct alignas(64) permutes {
  std::uint8_t rows_lo[64];  // dword d ← [R0.b0, R0.b2, R1.b0, R1.b2] of dword d
  std::uint8_t rows_hi[64];  // dword d ← [R0.b1, R0.b3, R1.b1, R1.b3]
};
inline constexpr permutes make_permutes() {
  permutes p{};
  for (int d = 0; d < 16; ++d) {
    const int b = 4 * d;
    p.rows_lo[b + 0] = static_cast<std::uint8_t>(b + 0);
    p.rows_lo[b + 1] = static_cast<std::uint8_t>(b + 2);
    p.rows_lo[b + 2] = static_cast<std::uint8_t>(64 + b + 0);
    p.rows_lo[b + 3] = static_cast<std::uint8_t>(64 + b + 2);
    p.rows_hi[b + 0] = static_cast<std::uint8_t>(b + 1);
    p.rows_hi[b + 1] = static_cast<std::uint8_t>(b + 3);
    p.rows_hi[b + 2] = static_cast<std::uint8_t>(64 + b + 1);
    p.rows_hi[b + 3] = static_cast<std::uint8_t>(64 + b + 3);
  }
  return p;
}
inline constexpr permutes k_permutes = make_permutes();

/// detail::merge_nibbles on 16 dwords: two bit-selects (vpternlogd 0xCA: a ? b : c).
BITDIAL_TARGET_AVX512_POPCNT inline __m512i merge_nibbles(__m512i v, __m512i keep, __m512i up) noexcept {
  const __m512i t = _mm512_ternarylogic_epi32(keep, v, _mm512_srli_epi32(v, 4), 0xCA);
  return _mm512_ternarylogic_epi32(up, _mm512_slli_epi32(v, 4), t, 0xCA);
}

BITDIAL_TARGET_AVX512_POPCNT inline __m512i load_tile(const bitdial::detail::bitserial_job& j, const std::byte* top,
                                                      int term, std::size_t tile) noexcept {
  if (tile >= j.k_tiles) return _mm512_setzero_si512();
  return _mm512_load_si512(top + static_cast<std::size_t>(term) * j.plane_bytes + 64 * tile);
}

/// Round plane of one tile (bitserial_operands.hpp: R = P_b ∧ ¬H [∧ (P_{b−1} ∨ L)]).
BITDIAL_TARGET_AVX512_POPCNT inline __m512i round_tile(const bitdial::detail::bitserial_job& j, const std::byte* top,
                                                       std::size_t tile) noexcept {
  if (tile >= j.k_tiles) return _mm512_setzero_si512();
  const int b = j.served_bits;
  const __m512i p0 = load_tile(j, top, 0, tile);
  __m512i h = _mm512_ternarylogic_epi32(p0, p0, p0, 0x0F);  // ¬P_0
  for (int t = 1; t < b; ++t) h = _mm512_and_si512(h, load_tile(j, top, t, tile));
  __m512i r = _mm512_andnot_si512(h, load_tile(j, top, b, tile));
  if (j.kind == 2) {
    __m512i low = load_tile(j, top, b - 1, tile);
    for (int l = 0; l < j.low_planes; ++l) low = _mm512_or_si512(low, load_tile(j, top, b + 1 + l, tile));
    r = _mm512_and_si512(r, low);
  }
  return r;
}

BITDIAL_TARGET_AVX512_POPCNT inline void emit_step(__m512i v0, __m512i v1, std::uint32_t* out) noexcept {
  const __m512i keep = _mm512_set1_epi32(static_cast<int>(0xF00FF00Fu));
  const __m512i up = _mm512_set1_epi32(0x0F000F00);
  const __m512i r0 = merge_nibbles(v0, keep, up), r1 = merge_nibbles(v1, keep, up);
  _mm512_store_si512(out, _mm512_permutex2var_epi8(r0, _mm512_load_si512(k_permutes.rows_lo), r1));
  _mm512_store_si512(out + 16, _mm512_permutex2var_epi8(r0, _mm512_load_si512(k_permutes.rows_hi), r1));
}

/// rows32x32 operand of one row block; equals detail::transform_block_portable.
BITDIAL_TARGET_AVX512_POPCNT inline void transform_block(const bitdial::detail::bitserial_job& j, const std::byte* top,
                                                         std::uint32_t* out) noexcept {
  const std::size_t terms = static_cast<std::size_t>(j.terms);
  for (std::size_t s = 0; s < j.steps; ++s) {
    std::uint32_t* o = out + s * terms * 32;
    for (int t = 0; t < j.served_bits; ++t)
      emit_step(load_tile(j, top, t, 2 * s), load_tile(j, top, t, 2 * s + 1), o + 32 * static_cast<std::size_t>(t));
    if (j.kind != 0)
      emit_step(round_tile(j, top, 2 * s), round_tile(j, top, 2 * s + 1),
                o + 32 * static_cast<std::size_t>(j.served_bits));
  }
}

/// Per-row Σ_c q_b(c) of each group (detail::code_sums_portable, with vpopcntd).
BITDIAL_TARGET_AVX512_POPCNT inline void code_sums(const bitdial::detail::bitserial_job& j, const std::uint32_t* block,
                                                   std::int64_t* out) noexcept {
  const std::size_t terms = static_cast<std::size_t>(j.terms);
  alignas(64) std::int32_t ones[32];
  for (std::size_t g = 0; g < j.groups; ++g) {
    std::int64_t sum[32] = {};
    for (std::size_t t = 0; t < terms; ++t) {
      __m512i a0 = _mm512_setzero_si512(), a1 = a0;
      for (std::size_t st = g * j.steps_per_group; st < (g + 1) * j.steps_per_group; ++st) {
        const std::uint32_t* p = block + (st * terms + t) * 32;
        a0 = _mm512_add_epi32(a0, _mm512_popcnt_epi32(_mm512_load_si512(p)));
        a1 = _mm512_add_epi32(a1, _mm512_popcnt_epi32(_mm512_load_si512(p + 16)));
      }
      _mm512_store_si512(ones, a0);
      _mm512_store_si512(ones + 16, a1);
      for (std::size_t r = 0; r < 32; ++r) sum[r] += std::int64_t{ones[r]} * j.term_weight[t];
    }
    for (std::size_t r = 0; r < 32; ++r) out[g * 32 + r] = sum[r];
  }
}

/// acc += v per int32 lane, in place. GCC 12 otherwise computes every accumulator update into a
/// fresh register and copies it back (one vmovdqa64 per update); the asm form keeps it in one.
BITDIAL_TARGET_AVX512_POPCNT inline void add_into(__m512i& acc, __m512i v) noexcept {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("vpaddd %1, %0, %0" : "+v"(acc) : "v"(v));
#else
  acc = _mm512_add_epi32(acc, v);
#endif
}

/// detail::bitserial_window_fn for exactly T tokens.
template <bool Xor, int T>
BITDIAL_TARGET_AVX512_POPCNT void window(const bitdial::detail::bitserial_job& j, const std::uint32_t* w,
                                         const std::uint32_t* const* x, std::size_t plane_stride, std::size_t,
                                         std::size_t steps, std::int32_t* tot) noexcept {
  const std::size_t ss = static_cast<std::size_t>(j.terms) * 32;
  for (int q = 0; q < j.npairs; ++q) {
    const bitdial::detail::bitserial_pair& p = j.pairs[static_cast<std::size_t>(q)];
    const std::uint32_t* wp = w + 32 * std::size_t{p.term};
    const std::uint32_t* xp[T];
    BITDIAL_UNROLL
    for (int t = 0; t < T; ++t) xp[t] = x[t] + std::size_t{p.plane} * plane_stride;
    __m512i acc[T][2];
    BITDIAL_UNROLL
    for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_si512();
    for (std::size_t s = 0; s < steps; ++s) {
      const __m512i w0 = _mm512_load_si512(wp + s * ss), w1 = _mm512_load_si512(wp + s * ss + 16);
      BITDIAL_UNROLL
      for (int t = 0; t < T; ++t) {
        const __m512i xv = _mm512_set1_epi32(static_cast<int>(xp[t][s]));
        const __m512i m0 = Xor ? _mm512_xor_si512(w0, xv) : _mm512_and_si512(w0, xv);
        const __m512i m1 = Xor ? _mm512_xor_si512(w1, xv) : _mm512_and_si512(w1, xv);
        add_into(acc[t][0], _mm512_popcnt_epi32(m0));
        add_into(acc[t][1], _mm512_popcnt_epi32(m1));
      }
    }
    const __m512i wt = _mm512_set1_epi32(p.weight);
    BITDIAL_UNROLL
    for (int t = 0; t < T; ++t) BITDIAL_UNROLL
    for (int h = 0; h < 2; ++h) {
      std::int32_t* o = tot + 32 * t + 16 * h;
      _mm512_storeu_si512(o, _mm512_add_epi32(_mm512_loadu_si512(o), _mm512_mullo_epi32(acc[t][h], wt)));
    }
  }
}

template <bool Xor>
inline bitdial::detail::bitserial_window_fn pick_window(std::size_t T) noexcept {
  switch (T) {
    case 1:
      return &window<Xor, 1>;
    case 2:
      return &window<Xor, 2>;
    case 3:
      return &window<Xor, 3>;
    case 4:
      return &window<Xor, 4>;
    case 5:
      return &window<Xor, 5>;
    case 6:
      return &window<Xor, 6>;
    case 7:
      return &window<Xor, 7>;
    default:
      return &window<Xor, 8>;
  }
}

inline bitdial::detail::bitserial_window_fn pick(bool xnor, std::size_t T) noexcept {
  return xnor ? pick_window<true>(T) : pick_window<false>(T);
}

#endif  // BITDIAL_X86_SIMD

}  // namespace detail::bitserial512
}  // namespace bitdial::x86

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
