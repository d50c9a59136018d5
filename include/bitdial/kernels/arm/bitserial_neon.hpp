// bitdial/kernels/arm/bitserial_neon.hpp — the aarch64 (NEON) bit-serial window loop: AND/XOR of
// weight-term and activation-plane words with CNT popcounts. Integers equal
// reference::bitserial_accumulators exactly; the transform to rows32x32 and the code sums are the
// portable ones (kernels/bitserial_operands.hpp), amortised over every token of a row block.
//
// A step's term record is 32 u32 words, one per row: 8 Q registers. Per (pair, token, step): 8
// AND (EOR for XNOR) with the broadcast activation word, 8 CNT (byte popcounts ≤ 8), 8 byte adds.
// Byte counts of up to 31 steps sum in bytes (≤ 248), then UADDLP (u8 → u16) and UADALP
// (u16 pairs → the u32 lane of the row) fold them: a lane gains ≤ 32 per step, ≤ 8192 over the
// window of max_window_steps = 256 steps. Pair weights fold with MLA into int32 partials exactly as
// the portable loop does (bound in bitserial_operands.hpp: ≤ 1 069 547 520 per window).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "bitdial/kernels/arm/target.hpp"
#include "bitdial/kernels/bitserial_operands.hpp"

namespace bitdial::arm::detail {

inline constexpr std::size_t bitserial_byte_steps = 31;  // 31·8 = 248 fits a byte

#if BITDIAL_ARM_SIMD

template <bool Xor>
void bitserial_window(const bitdial::detail::bitserial_job& j, const std::uint32_t* w, const std::uint32_t* const* x,
                      std::size_t plane_stride, std::size_t T, std::size_t steps, std::int32_t* tot) noexcept {
  const std::size_t ss = static_cast<std::size_t>(j.terms) * 32;
  for (int q = 0; q < j.npairs; ++q) {
    const bitdial::detail::bitserial_pair& p = j.pairs[static_cast<std::size_t>(q)];
    const std::uint32_t* wp = w + 32 * std::size_t{p.term};
    for (std::size_t t = 0; t < T; ++t) {
      const std::uint32_t* xp = x[t] + std::size_t{p.plane} * plane_stride;
      uint32x4_t acc[8];
      for (auto& a : acc) a = vdupq_n_u32(0);
      for (std::size_t s0 = 0; s0 < steps; s0 += bitserial_byte_steps) {
        const std::size_t s1 = std::min(steps, s0 + bitserial_byte_steps);
        uint8x16_t bytes[8];
        for (auto& b : bytes) b = vdupq_n_u8(0);
        for (std::size_t s = s0; s < s1; ++s) {
          const uint8x16_t xv = vreinterpretq_u8_u32(vdupq_n_u32(xp[s]));
          const std::uint32_t* row = wp + s * ss;
          for (int i = 0; i < 8; ++i) {
            const uint8x16_t v = vld1q_u8(reinterpret_cast<const std::uint8_t*>(row + 4 * i));
            bytes[i] = vaddq_u8(bytes[i], vcntq_u8(Xor ? veorq_u8(v, xv) : vandq_u8(v, xv)));
          }
        }
        for (int i = 0; i < 8; ++i) acc[i] = vpadalq_u16(acc[i], vpaddlq_u8(bytes[i]));
      }
      const int32x4_t wt = vdupq_n_s32(p.weight);
      for (int i = 0; i < 8; ++i) {
        int32x4_t o = vld1q_s32(tot + t * 32 + 4 * static_cast<std::size_t>(i));
        o = vmlaq_s32(o, vreinterpretq_s32_u32(acc[i]), wt);
        vst1q_s32(tot + t * 32 + 4 * static_cast<std::size_t>(i), o);
      }
    }
  }
}

inline constexpr std::size_t bitserial_max_tokens = 8;

inline bitdial::detail::bitserial_window_fn bitserial_pick(bool xnor, std::size_t) noexcept {
  return xnor ? &bitserial_window<true> : &bitserial_window<false>;
}

#endif  // BITDIAL_ARM_SIMD

}  // namespace bitdial::arm::detail
