// bitdial/kernels/arm/plane_neon.hpp — aarch64 kernels for Y = X · Ŵ_bᵀ over a tile32x16 bit-plane
// stack at any width and rule; integers equal reference::gemm exactly, floats go through
// detail::finish_row like every other kernel.
//
// Served code as weighted 0/1 planes (P_j = plane B−1−j; the same folding as kernels/x86/plane_avx2.hpp,
// whose header derives it from kernels/plane_terms.hpp):
//   truncate         q_b = ±2^(b−1)·P_0 + Σ_{j=1}^{b−1} 2^(b−1−j)·P_j   (− for signed masters)
//   round_half_up    + R,  R = P_b ∧ ¬H,  H = ¬P_0 ∧ P_1 ∧ … ∧ P_{b−1}
//   round_half_even  + R,  R = P_b ∧ ¬H ∧ (P_{b−1} ∨ P_{b+1} ∨ … ∨ P_{B−1})
//
// Regrouping. A tile byte p = 4·slot + g holds row `slot` (low nibble) and row 16 + slot (high
// nibble) of K-group g. One LD4 (vld4q_u8) of a 64-byte tile de-interleaves it into four vectors,
// vector g = the bytes of K-group g in slot order, so no shuffle is needed before a lookup.
//
// Lookup kernel (NEON, any AArch64 CPU; T-MAC's subset sums with 16-entry TBL lookups). For every
// K-group of 4 activations the 16 subset sums s(m) = Σ_t bit_t(m)·x_t, s ∈ [−512, 508], are stored
// as int16 split into a low-byte and a high-byte table: per 16-K chunk 128 bytes
//   [TL g0][TL g1][TL g2][TL g3][TH g0][TH g1][TH g2][TH g3]   (16 bytes each)
// Per tile and nibble: for each g, TBL(TL_g, idx) and TBL(TH_g, idx) give the two bytes of the
// subset sums of 16 rows, ZIP1/ZIP2 rebuild them as exact int16, and the 4 groups are added per row.
// Loop order per 32-row block and token: windows of ≤ 16 chunks; inside, term by term, the
// UNWEIGHTED int16 row sums over the window, then acc32 += w_j · sums (SMLAL by a scalar).
//
// Unpack kernel (FEAT_DotProd, many tokens). Per 32-row block and window of ≤ 16 chunks the served
// codes are rebuilt once as int8 bytes — per plane: TBL replicates each slot byte 4 times, CMTST
// against {1,2,4,8} (low nibble) or {16,32,64,128} (high nibble) gives 0/−1 bytes, and Horner's rule
// q ← 2q − mask accumulates the planes (q starts at the top plane's mask, −P_0) — laid out
// [chunk][K-group g][row quad 0..7][4 rows × 4 K], so SDOT by lane g of the chunk's 16 activations
// adds one row quad's dot products. An unsigned 8-bit view (codes up to 255) is stored as q − 128
// and 128·Σx is added back; every other view's codes fit int8 as they are.
//
// Exactness (per lane):
//   lookup, int16 window sum: one row gains Σ_g s_g ∈ [−2048, 2032] per chunk; 16 chunks give
//     [−32768, 32512] ⊂ int16. SMLAL multiplies it by |w_j| ≤ 128 into int32: exact.
//   lookup, int32: per chunk a row gains at most Σ_j |w_j| · 2048 ≤ 255 · 2048 = 522 240; segments
//     are flushed to int64 at every scale-group end and at least every 2048 chunks:
//     2048 · 522 240 = 1 069 547 520 < 2^31.
//   unpack: one SDOT lane adds at most 4 · 128 · 128 = 65 536; per chunk a row gains ≤ 262 144; the
//     int32 sums are flushed to int64 after every window of 16 chunks.
// Scale groups must be multiples of 16 (one chunk); others are declined (plane_neon_supports) and
// the front door runs the portable kernel. Threading: prepare once (tables or padded activations,
// Σx), then run(row range) on any number of threads with disjoint ranges.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bitdial/core/aligned_buffer.hpp"
#include "bitdial/core/cpu.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/arm/target.hpp"
#include "bitdial/kernels/epilogue.hpp"
#include "bitdial/kernels/plane_checks.hpp"
#include "bitdial/select/plane_view.hpp"

namespace bitdial::arm {

/// Whether this CPU runs the NEON lookup kernel (and this build compiled it).
inline bool plane_neon_available() noexcept { return BITDIAL_ARM_SIMD && cpu().asimd; }
/// Whether this CPU runs the SDOT unpack kernel (FEAT_DotProd).
inline bool plane_dotprod_available() noexcept {
  return BITDIAL_ARM_DOTPROD && plane_neon_available() && cpu().dotprod;
}

/// Whether the ARM plane kernels serve this view: scale groups must be whole 16-K chunks.
inline bool plane_arm_groups_ok(const plane_view& w) noexcept { return bitdial::detail::plane_groups_served(w); }

/// How the ARM plane kernel multiplies: subset-sum lookup (NEON) or unpack + SDOT (dotprod).
enum class arm_plane_method : std::uint8_t { lookup, unpack };

/// Token count up to which the dotprod row runs the lookup kernel under `automatic` (gemm.hpp): per plane
/// tile the unpack costs about twice one token's lookups (bench/results/arm-cost-2026-12-06.md).
inline constexpr std::size_t lookup_max_tokens = 2;

namespace detail {

inline constexpr std::size_t window_chunks = 16;           // int16 bound (lookup), see the header comment
inline constexpr std::size_t max_chunks_per_flush = 2048;  // int32 bound (lookup)
inline constexpr std::size_t table_bytes_per_chunk = 128;
inline constexpr std::size_t unpack_bytes_per_chunk = 512;  // 4 K-groups × 8 row quads × 16 bytes

/// What the inner loops need to know about a view, fixed at prepare time.
struct job {
  std::size_t plane_bytes = 0;
  std::size_t k_tiles = 0;
  int served_bits = 8;                   // b: top planes
  int kind = 0;                          // 0 truncate (or b = B), 1 round_half_up, 2 round_half_even
  int low_planes = 0;                    // RNE: B − b − 1 planes below the half bit
  bool is_signed = true;                 // master signedness
  int code_bias = 0;                     // unpack: 128 for an unsigned 8-bit view (codes stored − 128)
  std::array<std::int32_t, 9> weight{};  // term j < b: plane P_j; term b: the rounding plane R
  int terms() const noexcept { return served_bits + (kind != 0 ? 1 : 0); }
};

inline job make_job(const plane_view& w) noexcept {
  job j;
  const bit_plane_stack& s = *w.stack;
  j.plane_bytes = s.layout().plane_bytes();
  j.k_tiles = s.layout().k_tiles();
  const int b = w.bits, B = s.master_bits();
  j.served_bits = b;
  j.kind = (b == B || w.rule == rounding::floor) ? 0 : (w.rule == rounding::half_up ? 1 : 2);
  j.low_planes = j.kind == 2 ? B - b - 1 : 0;
  j.is_signed = s.is_signed();
  j.code_bias = (!j.is_signed && b == 8) ? 128 : 0;
  for (int p = 0; p < b; ++p) {
    const std::int32_t c = std::int32_t{1} << (b - 1 - p);
    j.weight[static_cast<std::size_t>(p)] = (p == 0 && j.is_signed) ? -c : c;
  }
  if (j.kind != 0) j.weight[static_cast<std::size_t>(b)] = 1;
  return j;
}

/// Subset-sum tables of one token (layout in the header comment), K zero-padded to k_tiles · 16.
inline void build_tables(const std::int8_t* x, std::size_t cols, std::size_t k_tiles, std::uint8_t* out) noexcept {
  for (std::size_t t = 0; t < k_tiles; ++t) {
    std::uint8_t* o = out + table_bytes_per_chunk * t;
    for (std::size_t g = 0; g < 4; ++g) {
      int v[4];
      for (std::size_t e = 0; e < 4; ++e) {
        const std::size_t c = 16 * t + 4 * g + e;
        v[e] = c < cols ? x[c] : 0;
      }
      for (unsigned m = 0; m < 16; ++m) {
        const int s = ((m & 1u) ? v[0] : 0) + ((m & 2u) ? v[1] : 0) + ((m & 4u) ? v[2] : 0) + ((m & 8u) ? v[3] : 0);
        const auto u = static_cast<std::uint16_t>(static_cast<std::int16_t>(s));
        o[16 * g + m] = static_cast<std::uint8_t>(u & 0xFFu);
        o[64 + 16 * g + m] = static_cast<std::uint8_t>(u >> 8);
      }
    }
  }
}

#if BITDIAL_ARM_SIMD

/// Plane P_j of chunk t, de-interleaved by K-group (p points at P_0 of the row block).
__attribute__((always_inline)) inline uint8x16x4_t plane_chunk(const std::byte* p, std::size_t pb, int j,
                                                               std::size_t t) noexcept {
  return vld4q_u8(reinterpret_cast<const std::uint8_t*>(p + static_cast<std::size_t>(j) * pb + 64 * t));
}

/// The rounding plane R of chunk t (header comment), de-interleaved like plane_chunk.
template <int Bits, int Kind>
__attribute__((always_inline)) inline uint8x16x4_t round_chunk(const job& jb, const std::byte* p, std::size_t pb,
                                                               std::size_t t) noexcept {
  const uint8x16x4_t p0 = plane_chunk(p, pb, 0, t);
  uint8x16x4_t h, last = p0, r;
  for (int g = 0; g < 4; ++g) h.val[g] = vmvnq_u8(p0.val[g]);  // H = ¬P_0 ∧ P_1 ∧ … ∧ P_{b−1}
  for (int j = 1; j < Bits; ++j) {
    last = plane_chunk(p, pb, j, t);
    for (int g = 0; g < 4; ++g) h.val[g] = vandq_u8(h.val[g], last.val[g]);
  }
  const uint8x16x4_t half = plane_chunk(p, pb, Bits, t);
  for (int g = 0; g < 4; ++g) r.val[g] = vbicq_u8(half.val[g], h.val[g]);  // P_b ∧ ¬H
  if constexpr (Kind == 2) {
    uint8x16x4_t odd_or_above = last;  // P_{b−1} ∨ L
    for (int l = 0; l < jb.low_planes; ++l) {
      const uint8x16x4_t lo = plane_chunk(p, pb, Bits + 1 + l, t);
      for (int g = 0; g < 4; ++g) odd_or_above.val[g] = vorrq_u8(odd_or_above.val[g], lo.val[g]);
    }
    for (int g = 0; g < 4; ++g) r.val[g] = vandq_u8(r.val[g], odd_or_above.val[g]);
  }
  return r;
}

/// Adds one de-interleaved term chunk looked up in chunk tables tb to the int16 row sums
/// (a16[0] rows 0–7, a16[1] rows 8–15, a16[2] rows 16–23, a16[3] rows 24–31).
__attribute__((always_inline)) inline void lookup_chunk(const uint8x16x4_t& v, const std::uint8_t* tb,
                                                        int16x8_t (&a16)[4]) noexcept {
  const uint8x16_t m0f = vdupq_n_u8(0x0F);
  for (int g = 0; g < 4; ++g) {
    const uint8x16_t tl = vld1q_u8(tb + 16 * g), th = vld1q_u8(tb + 64 + 16 * g);
    const uint8x16_t idx[2] = {vandq_u8(v.val[g], m0f), vshrq_n_u8(v.val[g], 4)};
    for (int nib = 0; nib < 2; ++nib) {
      const uint8x16_t lo = vqtbl1q_u8(tl, idx[nib]), hi = vqtbl1q_u8(th, idx[nib]);
      a16[2 * nib] = vaddq_s16(a16[2 * nib], vreinterpretq_s16_u8(vzip1q_u8(lo, hi)));
      a16[2 * nib + 1] = vaddq_s16(a16[2 * nib + 1], vreinterpretq_s16_u8(vzip2q_u8(lo, hi)));
    }
  }
}

/// acc32[2q + e] += w · (rows 8q + 4e .. 8q + 4e + 3 of a16): exact (|a16| ≤ 32768, |w| ≤ 128).
__attribute__((always_inline)) inline void weigh(const int16x8_t (&a16)[4], std::int32_t w,
                                                 int32x4_t (&acc)[8]) noexcept {
  const auto w16 = static_cast<std::int16_t>(w);
  for (int q = 0; q < 4; ++q) {
    acc[2 * q] = vmlal_n_s16(acc[2 * q], vget_low_s16(a16[q]), w16);
    acc[2 * q + 1] = vmlal_high_n_s16(acc[2 * q + 1], a16[q], w16);
  }
}

/// Chunks [c0, c0 + n) of one 32-row block (base = its top plane) against one token's tables:
/// out[row] += Σ_terms w_j · (term_j · x) over those chunks (exact; see the header comment).
template <int Bits, int Kind>
void lut_segment(const job& jb, const std::byte* base, const std::uint8_t* tables, std::size_t c0, std::size_t n,
                 std::int64_t* out) noexcept {
  const std::size_t pb = jb.plane_bytes;
  int32x4_t acc[8];
  for (auto& a : acc) a = vdupq_n_s32(0);
  for (std::size_t w0 = c0; w0 < c0 + n; w0 += window_chunks) {
    const std::size_t w1 = std::min(c0 + n, w0 + window_chunks);
    for (int j = 0; j < Bits; ++j) {
      int16x8_t a16[4] = {vdupq_n_s16(0), vdupq_n_s16(0), vdupq_n_s16(0), vdupq_n_s16(0)};
      for (std::size_t t = w0; t < w1; ++t)
        lookup_chunk(plane_chunk(base, pb, j, t), tables + table_bytes_per_chunk * t, a16);
      weigh(a16, jb.weight[static_cast<std::size_t>(j)], acc);
    }
    if constexpr (Kind != 0) {
      int16x8_t a16[4] = {vdupq_n_s16(0), vdupq_n_s16(0), vdupq_n_s16(0), vdupq_n_s16(0)};
      for (std::size_t t = w0; t < w1; ++t)
        lookup_chunk(round_chunk<Bits, Kind>(jb, base, pb, t), tables + table_bytes_per_chunk * t, a16);
      weigh(a16, jb.weight[static_cast<std::size_t>(Bits)], acc);
    }
  }
  alignas(16) std::int32_t lanes[4];
  for (int i = 0; i < 8; ++i) {
    vst1q_s32(lanes, acc[i]);
    for (int d = 0; d < 4; ++d) out[4 * i + d] += lanes[d];
  }
}

using lut_fn = void (*)(const job&, const std::byte*, const std::uint8_t*, std::size_t, std::size_t,
                        std::int64_t*) noexcept;

template <int Bits>
inline lut_fn pick_kind(int kind) noexcept {
  if constexpr (Bits == 8) {
    return &lut_segment<8, 0>;
  } else {
    switch (kind) {
      case 1:
        return &lut_segment<Bits, 1>;
      case 2:
        return &lut_segment<Bits, 2>;
      default:
        return &lut_segment<Bits, 0>;
    }
  }
}

inline lut_fn pick_lut(const job& j) noexcept {
  switch (j.served_bits) {
    case 1:
      return pick_kind<1>(j.kind);
    case 2:
      return pick_kind<2>(j.kind);
    case 3:
      return pick_kind<3>(j.kind);
    case 4:
      return pick_kind<4>(j.kind);
    case 5:
      return pick_kind<5>(j.kind);
    case 6:
      return pick_kind<6>(j.kind);
    case 7:
      return pick_kind<7>(j.kind);
    default:
      return pick_kind<8>(j.kind);
  }
}

/// Rebuilds the served codes of chunks [c0, c0 + n) of one row block as int8 (− code_bias) into
/// out (unpack_bytes_per_chunk per chunk, layout in the header comment). RowPairs (the SMMLA
/// kernel, plane_i8mm.hpp): the vectors of K-groups 2h and 2h + 1 are stored ZIP1/ZIP2-ed by 32-bit
/// lanes, i.e. as two row pairs × 8 K each.
template <bool RowPairs = false>
void unpack_chunks(const job& jb, const std::byte* base, std::size_t c0, std::size_t n, std::int8_t* out) noexcept {
  const std::size_t pb = jb.plane_bytes;
  const int b = jb.served_bits, terms = jb.terms();
  // TBL indices replicating slot bytes 4k..4k+3 four times each, and the nibble bit masks.
  static constexpr std::uint8_t rep_bytes[4][16] = {{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
                                                    {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
                                                    {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
                                                    {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15}};
  static constexpr std::uint8_t bit_bytes[2][16] = {
      {1, 2, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8},
      {16, 32, 64, 128, 16, 32, 64, 128, 16, 32, 64, 128, 16, 32, 64, 128}};
  uint8x16_t rep[4];
  for (int k = 0; k < 4; ++k) rep[k] = vld1q_u8(rep_bytes[k]);
  const uint8x16_t bits_lo = vld1q_u8(bit_bytes[0]), bits_hi = vld1q_u8(bit_bytes[1]);
  uint8x16x4_t terms_of_chunk[9];
  for (std::size_t t = c0; t < c0 + n; ++t) {
    for (int j = 0; j < b; ++j) terms_of_chunk[j] = plane_chunk(base, pb, j, t);
    if (jb.kind != 0) {
      // R from the planes already loaded (same formula as round_chunk).
      uint8x16x4_t r;
      for (int g = 0; g < 4; ++g) {
        uint8x16_t h = vmvnq_u8(terms_of_chunk[0].val[g]);
        for (int j = 1; j < b; ++j) h = vandq_u8(h, terms_of_chunk[j].val[g]);
        r.val[g] = vbicq_u8(plane_chunk(base, pb, b, t).val[g], h);
        if (jb.kind == 2) {
          uint8x16_t odd_or_above = terms_of_chunk[b - 1].val[g];
          for (int l = 0; l < jb.low_planes; ++l)
            odd_or_above = vorrq_u8(odd_or_above, plane_chunk(base, pb, b + 1 + l, t).val[g]);
          r.val[g] = vandq_u8(r.val[g], odd_or_above);
        }
      }
      terms_of_chunk[b] = r;
    }
    std::int8_t* o = out + unpack_bytes_per_chunk * (t - c0);
    [[maybe_unused]] int8x16_t even[8];  // RowPairs: K-group 2h, waiting for 2h + 1
    if constexpr (RowPairs)
      for (auto& e : even) e = vdupq_n_s8(0);
    for (int g = 0; g < 4; ++g) {
      int8x16_t q[8];
      for (auto& v : q) v = vdupq_n_s8(0);
      for (int j = 0; j < terms; ++j) {
        const uint8x16_t v = terms_of_chunk[j].val[g];
        for (int k = 0; k < 4; ++k) {
          const uint8x16_t r4 = vqtbl1q_u8(v, rep[k]);
          const int8x16_t m_lo = vreinterpretq_s8_u8(vtstq_u8(r4, bits_lo));  // rows 4k..4k+3
          const int8x16_t m_hi = vreinterpretq_s8_u8(vtstq_u8(r4, bits_hi));  // rows 16 + 4k..
          if (j == 0) {
            // Signed: q = −P_0 (the mask itself); unsigned: q = +P_0.
            q[k] = jb.is_signed ? m_lo : vnegq_s8(m_lo);
            q[4 + k] = jb.is_signed ? m_hi : vnegq_s8(m_hi);
          } else if (j < b) {
            q[k] = vsubq_s8(vaddq_s8(q[k], q[k]), m_lo);  // q ← 2q + P_j
            q[4 + k] = vsubq_s8(vaddq_s8(q[4 + k], q[4 + k]), m_hi);
          } else {
            q[k] = vsubq_s8(q[k], m_lo);  // + R
            q[4 + k] = vsubq_s8(q[4 + k], m_hi);
          }
        }
      }
      for (int k = 0; k < 8; ++k) {
        // Unsigned 8-bit: q − 128 ≡ q XOR 0x80 (mod 256), in [−128, 127].
        const int8x16_t v = jb.code_bias != 0 ? veorq_s8(q[k], vdupq_n_s8(-128)) : q[k];
        if constexpr (!RowPairs) {
          vst1q_s8(o + 128 * g + 16 * k, v);
        } else if (g % 2 == 0) {
          even[k] = v;
        } else {
          const int32x4_t lo = vreinterpretq_s32_s8(even[k]), hi = vreinterpretq_s32_s8(v);
          vst1q_s8(o + 128 * (g - 1) + 16 * k, vreinterpretq_s8_s32(vzip1q_s32(lo, hi)));  // quad rows +0, +1
          vst1q_s8(o + 128 * g + 16 * k, vreinterpretq_s8_s32(vzip2q_s32(lo, hi)));        // quad rows +2, +3
        }
      }
    }
  }
}

#if BITDIAL_ARM_DOTPROD

/// out[tok·32 + row] = Σ over n unpacked chunks of code · x, for T tokens (xs[i] at the window's
/// first chunk, zero-padded to whole chunks).
template <int T>
BITDIAL_TARGET_DOTPROD void sdot_window(const std::int8_t* codes, std::size_t n, const std::int8_t* const* xs,
                                        std::int32_t* out) noexcept {
  int32x4_t acc[T][8];
  for (int i = 0; i < T; ++i)
    for (int k = 0; k < 8; ++k) acc[i][k] = vdupq_n_s32(0);
  for (std::size_t t = 0; t < n; ++t) {
    int8x16_t x[T];
    for (int i = 0; i < T; ++i) x[i] = vld1q_s8(xs[i] + 16 * t);
    const std::int8_t* c = codes + unpack_bytes_per_chunk * t;
#define BITDIAL_ARM_SDOT_GROUP(G)                                                    \
  for (int k = 0; k < 8; ++k) {                                                      \
    const int8x16_t wv = vld1q_s8(c + 128 * (G) + 16 * k);                           \
    for (int i = 0; i < T; ++i) acc[i][k] = vdotq_laneq_s32(acc[i][k], wv, x[i], G); \
  }
    BITDIAL_ARM_SDOT_GROUP(0)
    BITDIAL_ARM_SDOT_GROUP(1)
    BITDIAL_ARM_SDOT_GROUP(2)
    BITDIAL_ARM_SDOT_GROUP(3)
#undef BITDIAL_ARM_SDOT_GROUP
  }
  for (int i = 0; i < T; ++i)
    for (int k = 0; k < 8; ++k) vst1q_s32(out + 32 * i + 4 * k, acc[i][k]);
}

inline constexpr std::size_t sdot_max_tokens = 2;
using sdot_fn = void (*)(const std::int8_t*, std::size_t, const std::int8_t* const*, std::int32_t*) noexcept;
inline sdot_fn pick_sdot(std::size_t tokens) noexcept { return tokens >= 2 ? &sdot_window<2> : &sdot_window<1>; }

#endif  // BITDIAL_ARM_DOTPROD

#endif  // BITDIAL_ARM_SIMD

}  // namespace detail

class plane_arm_plan;
plane_arm_plan prepare_plane_gemm_arm(const plane_view& w, const token_batch& x, arm_plane_method method);
void run_plane_gemm_arm(const plane_arm_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                        std::size_t row_end);

/// What one call prepares once and every thread then reads: the view, the activations, per token
/// the lookup tables (lookup) or zero-padded codes (unpack), and Σx per scale group.
class plane_arm_plan {
 public:
  const plane_view& view() const noexcept { return w_; }
  const token_batch& tokens() const noexcept { return x_; }
  arm_plane_method method() const noexcept { return method_; }

 private:
  friend plane_arm_plan prepare_plane_gemm_arm(const plane_view&, const token_batch&, arm_plane_method);
  friend void run_plane_gemm_arm(const plane_arm_plan&, matrix_view<float>, const float*, std::size_t, std::size_t);
  plane_view w_;
  token_batch x_;
  arm_plane_method method_ = arm_plane_method::lookup;
  detail::job job_;
  aligned_buffer data_;             // lookup: tokens × k_tiles × 128; unpack: tokens × k_tiles × 16
  std::vector<std::int64_t> sumx_;  // tokens × groups
};

/// Validates and prepares one call. Throws bitdial::error when the CPU lacks the method's
/// instructions, the shapes disagree, or the scale groups are not multiples of 16.
inline plane_arm_plan prepare_plane_gemm_arm(const plane_view& w, const token_batch& x, arm_plane_method method) {
  constexpr const char* where = "arm::prepare_plane_gemm_arm";
  BITDIAL_REQUIRE(method == arm_plane_method::lookup ? plane_neon_available() : plane_dotprod_available(), where,
                  ": method = ", method == arm_plane_method::lookup ? "lookup (NEON)" : "unpack (dotprod)",
                  ": this CPU or build cannot run it");
  bitdial::detail::check_plane_operands(w, x, where);
  const bit_plane_stack& s = *w.stack;

  plane_arm_plan p;
  p.w_ = w;
  p.x_ = x;
  p.method_ = method;
  p.job_ = detail::make_job(w);
  const std::size_t groups = s.groups_per_row(), kt = s.layout().k_tiles();
  p.sumx_.resize(x.tokens * groups);
  for (std::size_t n = 0; n < x.tokens; ++n)
    bitdial::detail::group_sums(x.token(n), x.cols, groups, &p.sumx_[n * groups]);
  if (method == arm_plane_method::lookup) {
    const std::size_t per_token = bitdial::detail::checked_mul(kt, detail::table_bytes_per_chunk, where, "tables");
    p.data_ = aligned_buffer(bitdial::detail::checked_mul(x.tokens, per_token, where, "tables"));
    auto* t = reinterpret_cast<std::uint8_t*>(p.data_.data());
    for (std::size_t n = 0; n < x.tokens; ++n) detail::build_tables(x.token(n), x.cols, kt, t + n * per_token);
  } else {
    const std::size_t kp = bitdial::detail::checked_mul(kt, tile32x16::k_per_tile, where, "padded activations");
    p.data_ = aligned_buffer(bitdial::detail::checked_mul(x.tokens, kp, where, "padded activations"));
    std::memset(p.data_.data(), 0, p.data_.size());
    for (std::size_t n = 0; n < x.tokens; ++n) std::memcpy(p.data_.data() + n * kp, x.token(n), x.cols);
  }
  return p;
}

/// Computes y(n, r) for every token and view-relative rows [row_begin, row_end) from a prepared
/// call. Touches only those rows of y; safe to run concurrently on disjoint row ranges.
inline void run_plane_gemm_arm(const plane_arm_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                               std::size_t row_end) {
  constexpr const char* where = "arm::run_plane_gemm_arm";
  const plane_view& w = p.w_;
  bitdial::detail::check_run_rows(w, p.x_.tokens, y, row_begin, row_end, where);
#if BITDIAL_ARM_SIMD
  constexpr std::size_t RB = tile32x16::rows_per_block;
  const bit_plane_stack& s = *w.stack;
  const std::size_t a0 = w.row_begin + row_begin, a1 = w.row_begin + row_end;  // stack rows
  const std::size_t groups = s.groups_per_row(), kt = p.job_.k_tiles, chunks_per_group = kt / groups;
  const std::size_t tokens = p.x_.tokens;
  std::vector<std::int64_t> acc(tokens * groups * RB), row_acc(groups);
  if (p.method_ == arm_plane_method::lookup) {
    const detail::lut_fn fn = detail::pick_lut(p.job_);
    const auto* tables = reinterpret_cast<const std::uint8_t*>(p.data_.data());
    for (std::size_t blk = a0 / RB; blk * RB < a1; ++blk) {
      const std::byte* base = s.plane(blk, s.master_bits() - 1);
      std::fill(acc.begin(), acc.end(), 0);
      for (std::size_t n = 0; n < tokens; ++n) {
        const std::uint8_t* tab = tables + n * kt * detail::table_bytes_per_chunk;
        for (std::size_t g = 0; g < groups; ++g)
          for (std::size_t c = g * chunks_per_group; c < (g + 1) * chunks_per_group; c += detail::max_chunks_per_flush)
            fn(p.job_, base, tab, c, std::min(detail::max_chunks_per_flush, (g + 1) * chunks_per_group - c),
               &acc[(n * groups + g) * RB]);
      }
      const std::size_t r_lo = std::max(a0, blk * RB), r_hi = std::min(a1, (blk + 1) * RB);
      for (std::size_t n = 0; n < tokens; ++n)
        for (std::size_t r = r_lo; r < r_hi; ++r) {
          for (std::size_t g = 0; g < groups; ++g) row_acc[g] = acc[(n * groups + g) * RB + (r - blk * RB)];
          y(n, r - w.row_begin) = bitdial::detail::finish_row(w, r - w.row_begin, row_acc.data(), &p.sumx_[n * groups],
                                                              p.x_.scales[n], bias);
        }
    }
    return;
  }
#if BITDIAL_ARM_DOTPROD
  // Unpack + SDOT: codes of a window rebuilt once, then every token.
  const std::size_t kp = kt * tile32x16::k_per_tile;
  const auto* xpad = reinterpret_cast<const std::int8_t*>(p.data_.data());
  aligned_buffer codes(detail::window_chunks * detail::unpack_bytes_per_chunk);
  auto* cbuf = reinterpret_cast<std::int8_t*>(codes.data());
  std::int32_t seg[detail::sdot_max_tokens * RB];
  for (std::size_t blk = a0 / RB; blk * RB < a1; ++blk) {
    const std::byte* base = s.plane(blk, s.master_bits() - 1);
    std::fill(acc.begin(), acc.end(), 0);
    for (std::size_t g = 0; g < groups; ++g)
      for (std::size_t c = g * chunks_per_group; c < (g + 1) * chunks_per_group; c += detail::window_chunks) {
        const std::size_t nc = std::min(detail::window_chunks, (g + 1) * chunks_per_group - c);
        detail::unpack_chunks(p.job_, base, c, nc, cbuf);
        for (std::size_t n0 = 0; n0 < tokens; n0 += detail::sdot_max_tokens) {
          const std::size_t T = std::min(detail::sdot_max_tokens, tokens - n0);
          const std::int8_t* xs[detail::sdot_max_tokens];
          for (std::size_t i = 0; i < T; ++i) xs[i] = xpad + (n0 + i) * kp + tile32x16::k_per_tile * c;
          detail::pick_sdot(T)(cbuf, nc, xs, seg);
          for (std::size_t i = 0; i < T; ++i)
            for (std::size_t r = 0; r < RB; ++r) acc[((n0 + i) * groups + g) * RB + r] += seg[i * RB + r];
        }
      }
    const std::size_t r_lo = std::max(a0, blk * RB), r_hi = std::min(a1, (blk + 1) * RB);
    for (std::size_t n = 0; n < tokens; ++n)
      for (std::size_t r = r_lo; r < r_hi; ++r) {
        for (std::size_t g = 0; g < groups; ++g)
          row_acc[g] = acc[(n * groups + g) * RB + (r - blk * RB)] + p.job_.code_bias * p.sumx_[n * groups + g];
        y(n, r - w.row_begin) =
            bitdial::detail::finish_row(w, r - w.row_begin, row_acc.data(), &p.sumx_[n * groups], p.x_.scales[n], bias);
      }
  }
#endif  // BITDIAL_ARM_DOTPROD (prepare refuses the unpack method where it is not compiled)
#else
  (void)bias;
  (void)p;
  BITDIAL_REQUIRE(false, where, ": aarch64 kernels are compiled out in this build");
#endif
}

}  // namespace bitdial::arm
