// bitdial/kernels/x86/plane_avx2.hpp — AVX2 subset-sum lookup kernel for Y = X · Ŵ_bᵀ over a
// tile32x16 bit-plane stack at any width and rule; integers equal reference::gemm exactly.
//
// Served code as weighted planes (signed master, B bits, view width b, k = B − b; P_j = plane
// B−1−j, so P_0..P_{b−1} are the top b planes and P_b = plane k−1):
//
//   truncate         q_b = −2^(b−1)·P_0 + Σ_{j=1}^{b−1} 2^(b−1−j)·P_j       (= q >> k)
//   unsigned master  q_b =  Σ_{j=0}^{b−1} 2^(b−1−j)·P_j                     (truncate only)
//   round_half_up    q_b = truncate + R,  R = P_b ∧ ¬H,  H = ¬P_0 ∧ P_1 ∧ … ∧ P_{b−1}
//   round_half_even  q_b = truncate + R,  R = P_b ∧ ¬H ∧ (P_{b−1} ∨ L),  L = P_{b+1} ∨ … ∨ P_{B−1}
//
// This is plane_terms.hpp's list (carry +1, clamp −1, tie −1) folded into one 0/1 plane: clamp
// (H ∧ P_b: the floor is already the maximum 0 1…1) and tie (P_b ∧ ¬L ∧ ¬P_{b−1}: exact half with
// an even floor) are both subsets of the carry P_b, and clamp ∧ tie is excluded from the clamp
// term, so carry − clamp' − tie = P_b ∧ ¬H ∧ ¬tie = R. At b = 1, ¬H = P_0 = P_{b−1} and R = P_1 ∧ P_0
// for both rules. At b = B every rule is the identity (truncate, k = 0).
//
// Lookup (T-MAC's subset sums, as in the AVX-512 kernel, re-shaped for 16-entry vpshufb): for every
// K-group of 4 activations the 16 subset sums s(m) = Σ_t bit_t(m)·x_t, s ∈ [−512, 508], are stored
// as int16 split into a low-byte and a high-byte table. Per 16-K chunk: 128 bytes
//   [TL01][TH01][TL23][TH23]   (32 bytes each; lane 0 = K-group 0 (2), lane 1 = K-group 1 (3))
// vpshufb looks up 16 entries per 128-bit lane, so a lane must hold bytes of ONE K-group. A plane
// tile stores byte p = 4·slot + g (slot = row mod 16, g = K-group), so each tile is regrouped once:
//   vpshufb (in-lane 4×4 byte transpose) → vpermd [0,4,2,6,1,5,3,7] → vpunpck{l,h}qdq
//   A = [g0: slots 0..15 | g1: slots 0..15],  B = [g2 | g3]
// (6 shuffles per 512 plane bits, shared by both nibbles and both table bytes). Then per nibble
// (low = rows 0–15, high = rows 16–31): 4 vpshufb give the low and high bytes of the subset sums,
// vpunpck{l,h}bw rebuilds the int16 sums exactly, and A's and B's are added per row.
//
// Loop order per 32-row block and token: windows of ≤ 32 chunks; inside, term by term (plane-
// major), the UNWEIGHTED int16 row sums of the term over the window, then once per window and
// term: acc32 += w_j · sums via vpmaddwd against (w_j, 0) and (0, w_j) (even and odd rows).
//
// Exactness (every bound is over one int16 / int32 lane):
//   int16 window sum: a word holds one row and two K-groups, s_A + s_B ∈ [−1024, 1016] per chunk;
//     32 chunks give [−32768, 32512] ⊂ int16. vpmaddwd multiplies it by |w_j| ≤ 128 < 2^15: exact.
//   int32: per chunk a lane gains at most Σ_j |w_j| · 1024 ≤ 255 · 1024 = 261 120 (Σ|w_j| = 255 for
//     an 8-bit view, ≤ 128 for every rounded view); segments are flushed to int64 at every scale-
//     group end and at least every 4096 chunks (65 536 K): 4096 · 261 120 = 1 069 547 520 < 2^31.
//     Deep K = 32 767 is 2 048 chunks, one segment.
// Scale groups must be multiples of 16 (one chunk); others are declined (plane_avx2_supports), and
// the front door runs the portable kernel. Floats: detail::finish_row on the same int64
// accumulators as the reference. Threading: prepare once (tables, Σx), then run(row range) on any
// number of threads with disjoint ranges.
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
#include "bitdial/core/parallel.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/epilogue.hpp"
#include "bitdial/kernels/x86/plane_checks.hpp"
#include "bitdial/kernels/x86/target.hpp"
#include "bitdial/select/plane_view.hpp"

#ifndef BITDIAL_TARGET_AVX2
#define BITDIAL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi2,popcnt")))
#endif

namespace bitdial::x86 {

/// Whether this CPU runs the AVX2 plane kernel (and this build compiled it).
inline bool plane_avx2_available() noexcept { return BITDIAL_X86_SIMD && cpu().avx2_kernels(); }

/// Whether the kernel serves this view: scale groups must be whole 16-K chunks. The public query
/// for every ISA is isa_serves<plane_gemm_kernels>(isa, view) (kernels/gemm.hpp); this one stays for
/// code that calls the x86 kernels directly.
inline bool plane_avx2_supports(const plane_view& w) noexcept {
  return plane_avx2_available() && detail::plane_groups_served(w);
}

namespace detail::avx2 {

inline constexpr std::size_t window_chunks = 32;           // int16 bound, see the header comment
inline constexpr std::size_t max_chunks_per_flush = 4096;  // int32 bound, see the header comment
inline constexpr std::size_t table_bytes_per_chunk = 128;

/// What the inner loop needs to know about a view, fixed at prepare time.
struct job {
  std::size_t plane_bytes = 0;
  std::size_t k_tiles = 0;
  int served_bits = 8;                   // b: top planes
  int kind = 0;                          // 0 truncate (or b = B), 1 round_half_up, 2 round_half_even
  int low_planes = 0;                    // RNE: B − b − 1 planes below the half bit
  std::array<std::int32_t, 9> weight{};  // term j < b: plane P_j; term b: the rounding plane R
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
  for (int p = 0; p < b; ++p) {
    const std::int32_t c = std::int32_t{1} << (b - 1 - p);
    j.weight[static_cast<std::size_t>(p)] = (p == 0 && s.is_signed()) ? -c : c;
  }
  if (j.kind != 0) j.weight[static_cast<std::size_t>(b)] = 1;
  return j;
}

#if BITDIAL_X86_SIMD

/// Subset-sum tables of one token (layout in the header comment). Entry m of K-group g is
/// vpmaddubsw(bits of m (u8), x pair (s8)) summed over the pairs (x_{4g}, x_{4g+1}) and
/// (x_{4g+2}, x_{4g+3}); |products| ≤ 2·128, far from int16 saturation.
BITDIAL_TARGET_AVX2 inline void build_tables(const std::int8_t* x, std::size_t cols, std::size_t k_tiles,
                                             std::uint8_t* out) noexcept {
  // Word i of each lane is entry m = i (X) or m = 8 + i (Y); bytes are bit pairs of m.
  const __m256i bits_x01 = _mm256_setr_epi8(0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1,  //
                                            0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1);
  const __m256i bits_x23 = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0,  //
                                            0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0);
  const __m256i bits_y23 = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                            0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1);
  // x pairs: lane 0 from K-group 0 (2), lane 1 from K-group 1 (3).
  const __m256i pair_lo01 = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,  //
                                             4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5);
  const __m256i pair_hi01 = _mm256_add_epi8(pair_lo01, _mm256_set1_epi8(2));
  const __m256i pair_lo23 = _mm256_add_epi8(pair_lo01, _mm256_set1_epi8(8));
  const __m256i pair_hi23 = _mm256_add_epi8(pair_lo01, _mm256_set1_epi8(10));
  const __m256i low8 = _mm256_set1_epi16(0xFF);
  alignas(16) std::int8_t tail[16];
  for (std::size_t t = 0; t < k_tiles; ++t) {
    __m128i x16;
    if (16 * t + 16 <= cols) {
      x16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16 * t));
    } else {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, x + 16 * t, cols - 16 * t);
      x16 = _mm_load_si128(reinterpret_cast<const __m128i*>(tail));
    }
    const __m256i xb = _mm256_broadcastsi128_si256(x16);
    const __m256i pairs[2][2] = {{_mm256_shuffle_epi8(xb, pair_lo01), _mm256_shuffle_epi8(xb, pair_hi01)},
                                 {_mm256_shuffle_epi8(xb, pair_lo23), _mm256_shuffle_epi8(xb, pair_hi23)}};
    for (int h = 0; h < 2; ++h) {
      // Entries 8..15 have bit 3 set: Y's low pair is X's, its high pair adds x_{4g+3}.
      const __m256i lo = _mm256_maddubs_epi16(bits_x01, pairs[h][0]);
      const __m256i xs = _mm256_add_epi16(lo, _mm256_maddubs_epi16(bits_x23, pairs[h][1]));
      const __m256i ys = _mm256_add_epi16(lo, _mm256_maddubs_epi16(bits_y23, pairs[h][1]));
      const __m256i tl = _mm256_packus_epi16(_mm256_and_si256(xs, low8), _mm256_and_si256(ys, low8));
      const __m256i th = _mm256_packus_epi16(_mm256_srli_epi16(xs, 8), _mm256_srli_epi16(ys, 8));
      std::uint8_t* o = out + table_bytes_per_chunk * t + 64 * static_cast<std::size_t>(h);
      _mm256_store_si256(reinterpret_cast<__m256i*>(o), tl);
      _mm256_store_si256(reinterpret_cast<__m256i*>(o + 32), th);
    }
  }
}

/// Adds one term tile (bytes v0 = tile bytes 0..31, v1 = 32..63) looked up in chunk tables tb to
/// the int16 row sums a16 (a16[q], lane h, word i = row 8q + i, K-groups h and h + 2).
BITDIAL_TARGET_AVX2 __attribute__((always_inline)) inline void lookup_tile(__m256i v0, __m256i v1,
                                                                           const std::uint8_t* tb,
                                                                           __m256i (&a16)[4]) noexcept {
  const __m256i transpose4 = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,  //
                                              0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m256i dword_order = _mm256_setr_epi32(0, 4, 2, 6, 1, 5, 3, 7);
  const __m256i m0f = _mm256_set1_epi8(0x0F);
  const __m256i p0 = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v0, transpose4), dword_order);
  const __m256i p1 = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v1, transpose4), dword_order);
  const __m256i a = _mm256_unpacklo_epi64(p0, p1);  // [g0 | g1], slot order 0..15
  const __m256i b = _mm256_unpackhi_epi64(p0, p1);  // [g2 | g3]
  const __m256i tl01 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tb));
  const __m256i th01 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tb + 32));
  const __m256i tl23 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tb + 64));
  const __m256i th23 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tb + 96));
  const __m256i idx[2][2] = {
      {_mm256_and_si256(a, m0f), _mm256_and_si256(b, m0f)},
      {_mm256_and_si256(_mm256_srli_epi16(a, 4), m0f), _mm256_and_si256(_mm256_srli_epi16(b, 4), m0f)}};
  for (int nib = 0; nib < 2; ++nib) {
    const __m256i la = _mm256_shuffle_epi8(tl01, idx[nib][0]), ha = _mm256_shuffle_epi8(th01, idx[nib][0]);
    const __m256i lb = _mm256_shuffle_epi8(tl23, idx[nib][1]), hb = _mm256_shuffle_epi8(th23, idx[nib][1]);
    a16[2 * nib] =
        _mm256_add_epi16(a16[2 * nib], _mm256_add_epi16(_mm256_unpacklo_epi8(la, ha), _mm256_unpacklo_epi8(lb, hb)));
    a16[2 * nib + 1] = _mm256_add_epi16(a16[2 * nib + 1],
                                        _mm256_add_epi16(_mm256_unpackhi_epi8(la, ha), _mm256_unpackhi_epi8(lb, hb)));
  }
}

/// acc32[q][e] += w · (word 2d + e of a16[q]) per dword d: exact (|a16| ≤ 32768, |w| ≤ 128).
BITDIAL_TARGET_AVX2 __attribute__((always_inline)) inline void weigh(const __m256i (&a16)[4], std::int32_t w,
                                                                     __m256i (&acc)[4][2]) noexcept {
  const std::uint32_t wu = static_cast<std::uint32_t>(w) & 0xFFFFu;
  const __m256i even = _mm256_set1_epi32(static_cast<std::int32_t>(wu));
  const __m256i odd = _mm256_set1_epi32(static_cast<std::int32_t>(wu << 16));
  for (int q = 0; q < 4; ++q) {
    acc[q][0] = _mm256_add_epi32(acc[q][0], _mm256_madd_epi16(a16[q], even));
    acc[q][1] = _mm256_add_epi32(acc[q][1], _mm256_madd_epi16(a16[q], odd));
  }
}

/// 32 bytes of plane P_j at p (p points into P_0).
BITDIAL_TARGET_AVX2 __attribute__((always_inline)) inline __m256i half_tile(const std::byte* p, std::size_t pb,
                                                                            int j) noexcept {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(p + static_cast<std::size_t>(j) * pb));
}

/// Chunks [c0, c0 + n) of one 32-row block (base = its top plane) against one token's tables:
/// out[row] += Σ_terms w_j · (term_j · x) over those chunks (exact; see the header comment).
template <int Bits, int Kind>
BITDIAL_TARGET_AVX2 void lut_segment(const job& jb, const std::byte* base, const std::uint8_t* tables, std::size_t c0,
                                     std::size_t n, std::int64_t* out) noexcept {
  const std::size_t pb = jb.plane_bytes;
  const __m256i ones = _mm256_set1_epi32(-1);
  __m256i acc[4][2];
  for (int q = 0; q < 4; ++q) acc[q][0] = acc[q][1] = _mm256_setzero_si256();
  for (std::size_t w0 = c0; w0 < c0 + n; w0 += window_chunks) {
    const std::size_t w1 = std::min(c0 + n, w0 + window_chunks);
    for (int j = 0; j < Bits; ++j) {
      const std::byte* p = base + static_cast<std::size_t>(j) * pb;
      __m256i a16[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
      for (std::size_t t = w0; t < w1; ++t) {
        const auto* v = reinterpret_cast<const __m256i*>(p + 64 * t);
        lookup_tile(_mm256_load_si256(v), _mm256_load_si256(v + 1), tables + table_bytes_per_chunk * t, a16);
      }
      weigh(a16, jb.weight[static_cast<std::size_t>(j)], acc);
    }
    if constexpr (Kind != 0) {
      __m256i a16[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
      for (std::size_t t = w0; t < w1; ++t) {
        __m256i r[2];
        for (int h = 0; h < 2; ++h) {
          const std::byte* p = base + 64 * t + 32 * static_cast<std::size_t>(h);
          __m256i top = _mm256_andnot_si256(half_tile(p, pb, 0), ones);  // H = ¬P_0 ∧ P_1 ∧ … ∧ P_{b−1}
          __m256i last = half_tile(p, pb, 0);
          for (int j = 1; j < Bits; ++j) {
            last = half_tile(p, pb, j);
            top = _mm256_and_si256(top, last);
          }
          __m256i round = _mm256_andnot_si256(top, half_tile(p, pb, Bits));  // P_b ∧ ¬H
          if constexpr (Kind == 2) {
            __m256i odd_or_above = last;  // P_{b−1} ∨ L
            for (int l = 0; l < jb.low_planes; ++l)
              odd_or_above = _mm256_or_si256(odd_or_above, half_tile(p, pb, Bits + 1 + l));
            round = _mm256_and_si256(round, odd_or_above);
          }
          r[h] = round;
        }
        lookup_tile(r[0], r[1], tables + table_bytes_per_chunk * t, a16);
      }
      weigh(a16, jb.weight[static_cast<std::size_t>(Bits)], acc);
    }
  }
  alignas(32) std::int32_t lanes[8];
  for (int q = 0; q < 4; ++q)
    for (int e = 0; e < 2; ++e) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc[q][e]);
      for (int d = 0; d < 4; ++d) out[8 * q + 2 * d + e] += std::int64_t{lanes[d]} + lanes[4 + d];
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

#endif  // BITDIAL_X86_SIMD

}  // namespace detail::avx2

class plane_avx2_plan;
plane_avx2_plan prepare_plane_gemm_avx2(const plane_view& w, const token_batch& x);
void run_plane_gemm_avx2(const plane_avx2_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                         std::size_t row_end);

/// What one call prepares once and every thread then reads: the view, the activations, per token
/// the lookup tables and Σx per scale group. Immutable after prepare_plane_gemm_avx2.
class plane_avx2_plan {
 public:
  const plane_view& view() const noexcept { return w_; }
  const token_batch& tokens() const noexcept { return x_; }

 private:
  friend plane_avx2_plan prepare_plane_gemm_avx2(const plane_view&, const token_batch&);
  friend void run_plane_gemm_avx2(const plane_avx2_plan&, matrix_view<float>, const float*, std::size_t, std::size_t);
  plane_view w_;
  token_batch x_;
  detail::avx2::job job_;
  aligned_buffer tables_;           // tokens × k_tiles × 128
  std::vector<std::int64_t> sumx_;  // tokens × groups
};

/// Validates and prepares one call. Throws bitdial::error when the CPU lacks AVX2, the shapes
/// disagree, or the scale groups are not multiples of 16.
inline plane_avx2_plan prepare_plane_gemm_avx2(const plane_view& w, const token_batch& x) {
  constexpr const char* where = "x86::prepare_plane_gemm_avx2";
  BITDIAL_REQUIRE(plane_avx2_available(), where, ": cpu = ", "no AVX2/FMA/F16C/BMI2/POPCNT",
                  ": this kernel cannot run here");
  detail::check_plane_operands(w, x, where);
  const bit_plane_stack& s = *w.stack;

  plane_avx2_plan p;
  p.w_ = w;
  p.x_ = x;
  p.job_ = detail::avx2::make_job(w);
  const std::size_t groups = s.groups_per_row();
  p.sumx_.resize(x.tokens * groups);
  for (std::size_t n = 0; n < x.tokens; ++n)
    bitdial::detail::group_sums(x.token(n), x.cols, groups, &p.sumx_[n * groups]);
#if BITDIAL_X86_SIMD
  const std::size_t kt = s.layout().k_tiles();
  const std::size_t per_token = bitdial::detail::checked_mul(kt, detail::avx2::table_bytes_per_chunk, where, "tables");
  p.tables_ = aligned_buffer(bitdial::detail::checked_mul(x.tokens, per_token, where, "tables"));
  auto* t = reinterpret_cast<std::uint8_t*>(p.tables_.data());
  for (std::size_t n = 0; n < x.tokens; ++n) detail::avx2::build_tables(x.token(n), x.cols, kt, t + n * per_token);
#endif
  return p;
}

/// Computes y(n, r) for every token and view-relative rows [row_begin, row_end) from a prepared
/// call. Touches only those rows of y; safe to run concurrently on disjoint row ranges.
inline void run_plane_gemm_avx2(const plane_avx2_plan& p, matrix_view<float> y, const float* bias,
                                std::size_t row_begin, std::size_t row_end) {
  constexpr const char* where = "x86::run_plane_gemm_avx2";
  const plane_view& w = p.w_;
  bitdial::detail::check_run_rows(w, p.x_.tokens, y, row_begin, row_end, where);
#if BITDIAL_X86_SIMD
  constexpr std::size_t RB = tile32x16::rows_per_block;
  const bit_plane_stack& s = *w.stack;
  const std::size_t a0 = w.row_begin + row_begin, a1 = w.row_begin + row_end;  // stack rows
  const std::size_t groups = s.groups_per_row(), kt = p.job_.k_tiles, chunks_per_group = kt / groups;
  const detail::avx2::lut_fn fn = detail::avx2::pick_lut(p.job_);
  const auto* tables = reinterpret_cast<const std::uint8_t*>(p.tables_.data());
  std::vector<std::int64_t> acc(groups * RB), row_acc(groups);
  for (std::size_t blk = a0 / RB; blk * RB < a1; ++blk) {
    const std::byte* base = s.plane(blk, s.master_bits() - 1);
    for (std::size_t n = 0; n < p.x_.tokens; ++n) {
      std::fill(acc.begin(), acc.end(), 0);
      const std::uint8_t* tab = tables + n * kt * detail::avx2::table_bytes_per_chunk;
      for (std::size_t g = 0; g < groups; ++g)
        for (std::size_t c = g * chunks_per_group; c < (g + 1) * chunks_per_group;
             c += detail::avx2::max_chunks_per_flush)
          fn(p.job_, base, tab, c, std::min(detail::avx2::max_chunks_per_flush, (g + 1) * chunks_per_group - c),
             &acc[g * RB]);
      const std::size_t r_lo = std::max(a0, blk * RB), r_hi = std::min(a1, (blk + 1) * RB);
      for (std::size_t r = r_lo; r < r_hi; ++r) {
        for (std::size_t g = 0; g < groups; ++g) row_acc[g] = acc[g * RB + (r - blk * RB)];
        y(n, r - w.row_begin) =
            bitdial::detail::finish_row(w, r - w.row_begin, row_acc.data(), &p.sumx_[n * groups], p.x_.scales[n], bias);
      }
    }
  }
#else
  (void)bias;
  BITDIAL_REQUIRE(false, where, ": x86 kernels are compiled out in this build");
#endif
}

/// y(n, r) = reference::gemm's result for view-relative rows [row_begin, row_end), one thread.
inline void plane_gemm_avx2(const plane_view& w, const token_batch& x, matrix_view<float> y, const float* bias,
                            std::size_t row_begin, std::size_t row_end) {
  const plane_avx2_plan p = prepare_plane_gemm_avx2(w, x);
  run_plane_gemm_avx2(p, y, bias, row_begin, row_end);
}

/// Prepares once, then hands `parallel(blocks, fn)` the number of 32-row blocks overlapping
/// [row_begin, row_end); fn(i0, i1) runs blocks [i0, i1) of them on any thread.
template <class Parallel>
void plane_gemm_avx2_parallel(const plane_view& w, const token_batch& x, matrix_view<float> y, const float* bias,
                              std::size_t row_begin, std::size_t row_end, Parallel&& parallel) {
  const plane_avx2_plan p = prepare_plane_gemm_avx2(w, x);
  split_row_blocks(w.row_begin, row_begin, row_end, tile32x16::rows_per_block, parallel,
                   [&](std::size_t a, std::size_t b) { run_plane_gemm_avx2(p, y, bias, a, b); });
}

}  // namespace bitdial::x86
