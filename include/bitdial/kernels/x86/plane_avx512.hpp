// bitdial/kernels/x86/plane_avx512.hpp — AVX-512 (VBMI + VNNI) kernels for Y = X · Ŵ_bᵀ over a
// tile32x16 bit-plane stack served at any width and rule; integers equal reference::gemm exactly.
//
// Served code as weighted planes (signed master, B bits, view width b, k = B − b; P_0 = plane B−1,
// P_j = plane B−1−j, so P_0..P_{b−1} are the top b planes and P_b = plane k−1):
//
//   truncate         q_b = −2^(b−1)·P_0 + Σ_{j=1}^{b−1} 2^(b−1−j)·P_j          (= q >> k)
//   unsigned master  q_b =  Σ_{j=0}^{b−1} 2^(b−1−j)·P_j                        (truncate only)
//   round_half_up    q_b = truncate + R,  R = P_b ∧ ¬H,
//                    H = ¬P_0 ∧ P_1 ∧ … ∧ P_{b−1}   (floor already at the maximum 2^(b−1)−1)
//   round_half_even  q_b = truncate + R,  R = P_b ∧ ¬H ∧ (P_{b−1} ∨ L),
//                    L = P_{b+1} ∨ … ∨ P_{B−1}      (any set bit below the half: not a tie)
//
// Why one +1 plane serves both rules: (q >> k) + bit_{k−1} − clamp − tie with clamp and tie both
// subsets of bit_{k−1}, so bit_{k−1} − clamp − tie is itself a 0/1 plane. The clamp fires when the
// floor is the maximum 0 1…1 and the half bit is set (H ∧ P_b). The RNE tie term fires on an exact
// half (P_b set, L = 0) with an even floor (P_{b−1} = 0); at b = 1 the floor bit P_{b−1} is the
// sign P_0, and ¬H = P_0 makes (P_{b−1} ∨ L) redundant, so R = P_b ∧ P_0 for both rules — the
// maximum 0 is even and a tie at +½ rounds to 0 without a clamp, −½ rounds to 0 as well. At b = B
// every rule is the identity (truncate with k = 0). Exhaustive over every master code, width and
// rule in tests/test_kernels_x86.cpp.
//
// Lookup kernel (T-MAC's subset-sum tables, layout and sizes from PERF.md). For each token and each
// K-group of 4 activations x_0..x_3 the 16 subset sums s(n) = Σ_t bit_t(n)·x_t (|s| ≤ 512) are stored
// biased, s + 512 ∈ [0, 1020], as a low byte and a high byte: per 16-K chunk one 64-byte low table
// and one 64-byte high table, entry 16·g + n for K-group g. A plane tile byte p carries row p/4 of
// K-group p%4 in its low nibble (row 16 + p/4 in the high nibble), so
//   idx = nibble | 16·(p % 4),   vpermb(idx, table)  → the subset sum bytes of that row and group,
// and vpdpbusd(acc, bytes (u8), plane weight (s8)) sums the 4 groups of one row into its int32
// lane. Four accumulators per 32-row block: {rows 0–15, rows 16–31} × {low byte, high byte}; then
//   acc(row) = lo + 256·hi − 512·4·chunks·Σ_j c_j.
// The tables are built once per call (prepare) and shared read-only by every thread.
//
// Unpack kernel (GEMM, many tokens): per 32-row block the served codes are rebuilt once as bytes
// q_b + 128 (u8; an unsigned master's codes as they are) with vpermb + vptestmb + masked vpaddb per
// plane, then vpdpbusd against each token's int8 activations: acc = Σ (q + 128)·x − 128·Σx.
//
// Overflow (exact int32 lanes): one vpdpbusd adds at most 4·255·128 = 130 560 in magnitude. Lookup
// kernel: per chunk one lane receives Σ_j |c_j|·4·255 ≤ 255·1020 = 260 100 (Σ|c_j| ≤ 255 for every
// view: 128 + 64 + … + 1). Unpack kernel: per chunk 4 vpdpbusd, ≤ 522 240. Both are flushed to
// int64 at every scale-group end and at least every 4096 chunks (65 536 K):
// 4096 · 522 240 = 2 139 095 040 < 2^31 − 1. The high-byte accumulator stays below 4096·4·4·255.
// Scale groups must be multiples of 16 (one chunk); others are rejected in prepare (the front door
// then runs the portable kernel).
//
// Floats: every path calls detail::finish_row with the same int64 accumulators as the reference.
// Threading: prepare once (tables, padded activations, Σx), then run(row range) on any number of
// threads; rows are written only inside the range, so ranges split at any row are safe as long
// as they do not overlap.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
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

// GCC 12 warns about the deliberately undefined pass-through operand inside the AVX-512 intrinsics
// when they are inlined into target-attributed functions; the operand is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace bitdial::x86 {

/// How the AVX-512 plane kernel multiplies: subset-sum lookup per token, or unpack codes once per
/// row block and run int8 VNNI against every token. `automatic` picks by token count.
enum class plane_method : std::uint8_t { automatic, lookup, unpack };

inline const char* to_string(plane_method m) noexcept {
  switch (m) {
    case plane_method::automatic:
      return "automatic";
    case plane_method::lookup:
      return "lookup";
    case plane_method::unpack:
      return "unpack";
  }
  return "?";
}

/// Token count up to which `automatic` uses the lookup kernel (measured on Zen 4: the unpack
/// kernel's per-block code rebuild pays off from two tokens at every width).
inline constexpr std::size_t lookup_max_tokens = 1;

/// Whether this CPU runs the AVX-512 plane kernels (and this build compiled them).
inline bool plane_avx512_available() noexcept { return BITDIAL_X86_SIMD && cpu().avx512_kernels(); }

/// Whether the kernels serve this view: scale groups must be whole 16-K chunks. The public query
/// for every ISA is isa_serves<plane_gemm_kernels>(isa, view) (kernels/gemm.hpp); this one stays for
/// code that calls the x86 kernels directly.
inline bool plane_avx512_supports(const plane_view& w) noexcept {
  return plane_avx512_available() && detail::plane_groups_served(w);
}

namespace detail {

inline constexpr std::size_t max_chunks_per_flush = 4096;     // 65 536 K; see the overflow bound above
inline constexpr std::size_t table_bytes_per_chunk = 128;     // low table + high table
inline constexpr std::size_t unpacked_bytes_per_chunk = 512;  // 32 rows x 16 K biased codes

/// What the inner loops need to know about a view, fixed at prepare time.
struct plane_job {
  std::size_t plane_bytes = 0;  // distance between consecutive planes of a block
  std::size_t k_tiles = 0;
  int served_bits = 8;  // b: top planes
  int kind = 0;         // 0 truncate (or b = B), 1 round_half_up, 2 round_half_even
  int low_planes = 0;   // RNE: planes below the half bit, B − b − 1
  bool is_signed = true;
  bool top_twice = false;               // unsigned 8-bit view: top weight 128 applied as 64 twice
  std::array<std::int8_t, 9> weight{};  // per top plane j (j = 0: plane B−1); weight[b] = +1 (round)
  std::int64_t weight_sum = 0;          // Σ of applied weights (lookup bias correction)
};

inline plane_job make_job(const plane_view& w) {
  plane_job j;
  const bit_plane_stack& s = *w.stack;
  j.plane_bytes = s.layout().plane_bytes();
  j.k_tiles = s.layout().k_tiles();
  j.served_bits = w.bits;
  j.is_signed = s.is_signed();
  const int b = w.bits, B = s.master_bits();
  j.kind = (b == B || w.rule == rounding::floor) ? 0 : (w.rule == rounding::half_up ? 1 : 2);
  j.low_planes = j.kind == 2 ? B - b - 1 : 0;
  for (int p = 0; p < b; ++p) {
    std::int32_t c = std::int32_t{1} << (b - 1 - p);
    if (p == 0 && j.is_signed) c = -c;
    if (c == 128) {
      j.top_twice = true;
      c = 64;
      j.weight_sum += 64;
    }
    j.weight[static_cast<std::size_t>(p)] = static_cast<std::int8_t>(c);
    j.weight_sum += c;
  }
  if (j.kind != 0) {
    j.weight[static_cast<std::size_t>(b)] = 1;
    j.weight_sum += 1;
  }
  return j;
}

#if BITDIAL_X86_SIMD

// ---- constants -----------------------------------------------------------------------------

struct alignas(64) table_patterns {
  std::uint8_t pattern[4][64];  // register R, dword d, byte t: bit t of subset n = 4R + d % 4
  std::uint32_t group_of_dword[16];
};
inline constexpr table_patterns make_table_patterns() {
  table_patterns p{};
  for (int R = 0; R < 4; ++R)
    for (int d = 0; d < 16; ++d)
      for (int t = 0; t < 4; ++t) p.pattern[R][4 * d + t] = static_cast<std::uint8_t>(((4 * R + d % 4) >> t) & 1);
  for (int d = 0; d < 16; ++d) p.group_of_dword[d] = static_cast<std::uint32_t>(d / 4);
  return p;
}
inline constexpr table_patterns k_table_patterns = make_table_patterns();

struct alignas(64) unpack_patterns {
  std::uint8_t gather[4][64];  // group g: byte 4r + t <- plane byte 4r + g
  std::uint8_t bit_lo[64];     // byte 4r + t: 1 << t        (rows 0–15, low nibble)
  std::uint8_t bit_hi[64];     // byte 4r + t: 1 << (4 + t)  (rows 16–31, high nibble)
};
inline constexpr unpack_patterns make_unpack_patterns() {
  unpack_patterns p{};
  BITDIAL_UNROLL
  for (int g = 0; g < 4; ++g)
    for (int r = 0; r < 16; ++r)
      for (int t = 0; t < 4; ++t) p.gather[g][4 * r + t] = static_cast<std::uint8_t>(4 * r + g);
  for (int r = 0; r < 16; ++r)
    for (int t = 0; t < 4; ++t) {
      p.bit_lo[4 * r + t] = static_cast<std::uint8_t>(1u << t);
      p.bit_hi[4 * r + t] = static_cast<std::uint8_t>(1u << (4 + t));
    }
  return p;
}
inline constexpr unpack_patterns k_unpack_patterns = make_unpack_patterns();

// ---- per-token preparation -------------------------------------------------------------------

/// Subset-sum tables of one token: k_tiles × [64 low bytes][64 high bytes] (see header comment).
/// Entry (g, n) of register R's dword d is computed by vpdpbusd(512, bits of n, x[4g..4g+3]); the
/// two pack steps then place dword d of register R at byte 16·(d/4) + 4R + d%4 = 16·g + n.
BITDIAL_TARGET_AVX512 inline void build_tables(const std::int8_t* x, std::size_t cols, std::size_t k_tiles,
                                               std::uint8_t* out) noexcept {
  const __m512i pat0 = _mm512_load_si512(k_table_patterns.pattern[0]);
  const __m512i pat1 = _mm512_load_si512(k_table_patterns.pattern[1]);
  const __m512i pat2 = _mm512_load_si512(k_table_patterns.pattern[2]);
  const __m512i pat3 = _mm512_load_si512(k_table_patterns.pattern[3]);
  const __m512i gidx = _mm512_load_si512(k_table_patterns.group_of_dword);
  const __m512i bias = _mm512_set1_epi32(512);
  const __m512i low8 = _mm512_set1_epi16(0xFF);
  for (std::size_t t = 0; t < k_tiles; ++t) {
    const std::size_t rem = cols - 16 * t;
    const __m128i xm = rem >= 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16 * t))
                                 : _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << rem) - 1u), x + 16 * t);
    const __m512i xg = _mm512_permutexvar_epi32(gidx, _mm512_zextsi128_si512(xm));
    const __m512i e0 = _mm512_dpbusd_epi32(bias, pat0, xg);
    const __m512i e1 = _mm512_dpbusd_epi32(bias, pat1, xg);
    const __m512i e2 = _mm512_dpbusd_epi32(bias, pat2, xg);
    const __m512i e3 = _mm512_dpbusd_epi32(bias, pat3, xg);
    const __m512i c = _mm512_packus_epi32(e0, e1);
    const __m512i d = _mm512_packus_epi32(e2, e3);
    const __m512i lo = _mm512_packus_epi16(_mm512_and_si512(c, low8), _mm512_and_si512(d, low8));
    const __m512i hi = _mm512_packus_epi16(_mm512_srli_epi16(c, 8), _mm512_srli_epi16(d, 8));
    _mm512_store_si512(out + table_bytes_per_chunk * t, lo);
    _mm512_store_si512(out + table_bytes_per_chunk * t + 64, hi);
  }
}

/// Σ x[0..n) exactly (vpdpbusd with a ones vector; a lane gains at most 512 per 64 bytes).
BITDIAL_TARGET_AVX512 inline std::int64_t sum_int8(const std::int8_t* x, std::size_t n) noexcept {
  const __m512i ones = _mm512_set1_epi8(1);
  std::int64_t total = 0;
  while (n > 0) {
    const std::size_t part = std::min<std::size_t>(n, std::size_t{1} << 20);  // lane ≤ 2^23 per part
    __m512i acc = _mm512_setzero_si512();
    std::size_t i = 0;
    for (; i + 64 <= part; i += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(x + i));
    if (i < part) {
      const __mmask64 m = (~std::uint64_t{0}) >> (64 - (part - i));
      acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(m, x + i));
    }
    total += _mm512_reduce_add_epi32(acc);
    x += part;
    n -= part;
  }
  return total;
}

// ---- lookup kernel -------------------------------------------------------------------------

/// acc += Σ_4 u8(a) · s8(b) per int32 lane, updated in place. GCC 12 copies every accumulator
/// twice per loop trip around the intrinsic's tied operand; the asm form keeps it in one register.
BITDIAL_TARGET_AVX512 inline __m512i dpbusd(__m512i acc, __m512i a_u8, __m512i b_s8) noexcept {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a_u8), "v"(b_s8));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, a_u8, b_s8);
#endif
}

/// One plane's contribution: 2 index builds, 4 lookups, 4 vpdpbusd (see header comment).
#define BITDIAL_LUT_PLANE(acc, v, w)                                                            \
  do {                                                                                          \
    const __m512i ilo_ = _mm512_ternarylogic_epi32((v), m0f, sel, 0xEA); /* (v & 0x0F) | sel */ \
    const __m512i ihi_ = _mm512_ternarylogic_epi32(_mm512_srli_epi16((v), 4), m0f, sel, 0xEA);  \
    (acc)[0] = dpbusd((acc)[0], _mm512_permutexvar_epi8(ilo_, tlo), (w));                       \
    (acc)[1] = dpbusd((acc)[1], _mm512_permutexvar_epi8(ilo_, thi), (w));                       \
    (acc)[2] = dpbusd((acc)[2], _mm512_permutexvar_epi8(ihi_, tlo), (w));                       \
    (acc)[3] = dpbusd((acc)[3], _mm512_permutexvar_epi8(ihi_, thi), (w));                       \
  } while (0)

/// Chunks [c0, c0 + n) of R row blocks against one token's tables: out[r][row] += lo + 256·hi −
/// corr (int64; corr is the table bias 512·4·n·Σc of these chunks).
template <int Bits, int Kind, bool TopTwice, int R>
BITDIAL_TARGET_AVX512 void lut_segment(const plane_job& job, const std::byte* const* base, const std::uint8_t* tables,
                                       std::size_t c0, std::size_t n, std::int64_t* const* out,
                                       std::int64_t corr) noexcept {
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  const __m512i sel = _mm512_set1_epi32(0x30201000);  // byte p: 16·(p % 4)
  const __m512i ones = _mm512_set1_epi32(-1);
  __m512i w[Bits + 1];
  BITDIAL_UNROLL
  for (int j = 0; j < Bits; ++j) w[j] = _mm512_set1_epi8(job.weight[static_cast<std::size_t>(j)]);
  w[Bits] = _mm512_set1_epi8(1);
  const std::size_t pb = job.plane_bytes;
  __m512i acc[R][4];
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int q = 0; q < 4; ++q) acc[r][q] = _mm512_setzero_si512();
  for (std::size_t t = c0; t < c0 + n; ++t) {
    const __m512i tlo = _mm512_load_si512(tables + table_bytes_per_chunk * t);
    const __m512i thi = _mm512_load_si512(tables + table_bytes_per_chunk * t + 64);
    BITDIAL_UNROLL
    for (int r = 0; r < R; ++r) {
      const std::byte* p = base[r] + 64 * t;
      __m512i h = ones, last = ones;
      BITDIAL_UNROLL
      for (int j = 0; j < Bits; ++j) {
        const __m512i v = _mm512_load_si512(p + static_cast<std::size_t>(j) * pb);
        BITDIAL_LUT_PLANE(acc[r], v, w[j]);
        if (TopTwice && j == 0) BITDIAL_LUT_PLANE(acc[r], v, w[j]);
        if constexpr (Kind != 0) {
          h = j == 0 ? _mm512_andnot_si512(v, ones) : _mm512_and_si512(h, v);
          last = v;
        }
      }
      if constexpr (Kind != 0) {
        const __m512i half = _mm512_load_si512(p + static_cast<std::size_t>(Bits) * pb);
        __m512i round;
        if constexpr (Kind == 1) {
          round = _mm512_andnot_si512(h, half);
        } else {
          __m512i x = last;  // P_{b−1} ∨ L
          for (int l = 0; l < job.low_planes; ++l)
            x = _mm512_or_si512(x, _mm512_load_si512(p + static_cast<std::size_t>(Bits + 1 + l) * pb));
          round = _mm512_ternarylogic_epi32(half, h, x, 0x20);  // half ∧ ¬h ∧ x
        }
        BITDIAL_LUT_PLANE(acc[r], round, w[Bits]);
      }
    }
  }
  BITDIAL_UNROLL
  for (int r = 0; r < R; ++r) BITDIAL_UNROLL
  for (int half = 0; half < 2; ++half) {
    const __m512i lo = acc[r][2 * half], hi = acc[r][2 * half + 1];
    const __m512i a = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(lo)),
                                       _mm512_slli_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(hi)), 8));
    const __m512i b = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(lo, 1)),
                                       _mm512_slli_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(hi, 1)), 8));
    std::int64_t* o = out[r] + 16 * half;
    const __m512i c = _mm512_set1_epi64(corr);
    _mm512_storeu_si512(o, _mm512_add_epi64(_mm512_loadu_si512(o), _mm512_sub_epi64(a, c)));
    _mm512_storeu_si512(o + 8, _mm512_add_epi64(_mm512_loadu_si512(o + 8), _mm512_sub_epi64(b, c)));
  }
}
#undef BITDIAL_LUT_PLANE

using lut_fn = void (*)(const plane_job&, const std::byte* const*, const std::uint8_t*, std::size_t, std::size_t,
                        std::int64_t* const*, std::int64_t) noexcept;

template <int R>
inline lut_fn pick_lut(const plane_job& j) noexcept {
  auto by_kind = [&]<int B>() -> lut_fn {
    if constexpr (B == 8) {
      return j.top_twice ? &lut_segment<8, 0, true, R> : &lut_segment<8, 0, false, R>;
    } else {
      switch (j.kind) {
        case 1:
          return &lut_segment<B, 1, false, R>;
        case 2:
          return &lut_segment<B, 2, false, R>;
        default:
          return &lut_segment<B, 0, false, R>;
      }
    }
  };
  switch (j.served_bits) {
    case 1:
      return by_kind.template operator()<1>();
    case 2:
      return by_kind.template operator()<2>();
    case 3:
      return by_kind.template operator()<3>();
    case 4:
      return by_kind.template operator()<4>();
    case 5:
      return by_kind.template operator()<5>();
    case 6:
      return by_kind.template operator()<6>();
    case 7:
      return by_kind.template operator()<7>();
    default:
      return by_kind.template operator()<8>();
  }
}

// ---- unpack + VNNI kernel ------------------------------------------------------------------

/// Adds weight wt (mod 256) to the code bytes whose bit is set in plane tile v.
BITDIAL_TARGET_AVX512 inline void unpack_add_plane(__m512i (&code)[2][4], const __m512i (&gather)[4], __m512i bit_lo,
                                                   __m512i bit_hi, __m512i v, __m512i wt) noexcept {
  BITDIAL_UNROLL
  for (int g = 0; g < 4; ++g) {
    const __m512i gv = _mm512_permutexvar_epi8(gather[g], v);
    code[0][g] = _mm512_mask_add_epi8(code[0][g], _mm512_test_epi8_mask(gv, bit_lo), code[0][g], wt);
    code[1][g] = _mm512_mask_add_epi8(code[1][g], _mm512_test_epi8_mask(gv, bit_hi), code[1][g], wt);
  }
}

/// Rebuilds the served codes of one row block as bytes q_b + 128 (signed) or q_b (unsigned):
/// out = k_tiles × [half 0..1][K-group 0..3][16 rows × 4 K] (dword r = 4 consecutive K of row
/// 16·half + r). Byte arithmetic is mod 256, so the −128 / 128 top weights need no special case.
BITDIAL_TARGET_AVX512 inline void unpack_block(const plane_job& job, const std::byte* base,
                                               std::uint8_t* out) noexcept {
  __m512i gather[4];
  BITDIAL_UNROLL
  for (int g = 0; g < 4; ++g) gather[g] = _mm512_load_si512(k_unpack_patterns.gather[g]);
  const __m512i bit_lo = _mm512_load_si512(k_unpack_patterns.bit_lo);
  const __m512i bit_hi = _mm512_load_si512(k_unpack_patterns.bit_hi);
  const __m512i ones = _mm512_set1_epi32(-1);
  const __m512i start = _mm512_set1_epi8(job.is_signed ? static_cast<char>(0x80) : 0);
  const int b = job.served_bits;
  __m512i w[9];
  for (int j = 0; j <= b; ++j) {
    int c = job.weight[static_cast<std::size_t>(j)];
    if (j == 0 && job.top_twice) c = 128;
    w[j] = _mm512_set1_epi8(static_cast<char>(c));
  }
  const std::size_t pb = job.plane_bytes;
  for (std::size_t t = 0; t < job.k_tiles; ++t) {
    const std::byte* p = base + 64 * t;
    __m512i code[2][4];
    BITDIAL_UNROLL
    for (int h = 0; h < 2; ++h) BITDIAL_UNROLL
    for (int g = 0; g < 4; ++g) code[h][g] = start;
    __m512i h = ones, last = ones;
    for (int j = 0; j < b; ++j) {
      const __m512i v = _mm512_load_si512(p + static_cast<std::size_t>(j) * pb);
      unpack_add_plane(code, gather, bit_lo, bit_hi, v, w[j]);
      h = j == 0 ? _mm512_andnot_si512(v, ones) : _mm512_and_si512(h, v);
      last = v;
    }
    if (job.kind != 0) {
      const __m512i half = _mm512_load_si512(p + static_cast<std::size_t>(b) * pb);
      __m512i round;
      if (job.kind == 1) {
        round = _mm512_andnot_si512(h, half);
      } else {
        __m512i x = last;
        for (int l = 0; l < job.low_planes; ++l)
          x = _mm512_or_si512(x, _mm512_load_si512(p + static_cast<std::size_t>(b + 1 + l) * pb));
        round = _mm512_ternarylogic_epi32(half, h, x, 0x20);
      }
      unpack_add_plane(code, gather, bit_lo, bit_hi, round, w[b]);
    }
    std::uint8_t* o = out + unpacked_bytes_per_chunk * t;
    BITDIAL_UNROLL
    for (int hh = 0; hh < 2; ++hh) BITDIAL_UNROLL
    for (int g = 0; g < 4; ++g) _mm512_store_si512(o + 64 * (4 * hh + g), code[hh][g]);
  }
}

/// Chunks [c0, c0 + n) of one unpacked 32-row block against T tokens (zero-padded int8 rows):
/// out[j·32 + row] = Σ code_byte · x (int32, exact: see the overflow bound). The codes may be any
/// k_tiles × 512-byte array in the unpacked layout (also int8_vnni's packed weights).
template <int T>
BITDIAL_TARGET_AVX512 void vnni_tokens(const std::uint8_t* codes, std::size_t c0, std::size_t n,
                                       const std::int8_t* const* xs, std::int32_t* out) noexcept {
  constexpr int GS = T <= 2 ? 4 : (T <= 4 ? 2 : 1);  // independent chains: 2·GS·T ≥ 8
  __m512i acc[2][GS][T];
  BITDIAL_UNROLL
  for (int h = 0; h < 2; ++h) BITDIAL_UNROLL
  for (int s = 0; s < GS; ++s) BITDIAL_UNROLL
  for (int j = 0; j < T; ++j) acc[h][s][j] = _mm512_setzero_si512();
  for (std::size_t t = c0; t < c0 + n; ++t) {
    const std::uint8_t* c = codes + unpacked_bytes_per_chunk * t;
    BITDIAL_UNROLL
    for (int g = 0; g < 4; ++g) {
      const __m512i a0 = _mm512_load_si512(c + 64 * g);
      const __m512i a1 = _mm512_load_si512(c + 64 * (4 + g));
      BITDIAL_UNROLL
      for (int j = 0; j < T; ++j) {
        std::int32_t xv;
        std::memcpy(&xv, xs[j] + 16 * t + 4 * static_cast<std::size_t>(g), 4);
        const __m512i xb = _mm512_set1_epi32(xv);
        acc[0][g % GS][j] = dpbusd(acc[0][g % GS][j], a0, xb);
        acc[1][g % GS][j] = dpbusd(acc[1][g % GS][j], a1, xb);
      }
    }
  }
  BITDIAL_UNROLL
  for (int h = 0; h < 2; ++h) BITDIAL_UNROLL
  for (int j = 0; j < T; ++j) {
    __m512i s = acc[h][0][j];
    BITDIAL_UNROLL
    for (int q = 1; q < GS; ++q) s = _mm512_add_epi32(s, acc[h][q][j]);
    _mm512_storeu_si512(out + 32 * j + 16 * h, s);
  }
}

using vnni_fn = void (*)(const std::uint8_t*, std::size_t, std::size_t, const std::int8_t* const*,
                         std::int32_t*) noexcept;
inline constexpr std::size_t vnni_max_tokens = 8;
inline vnni_fn pick_vnni(std::size_t tokens) noexcept {
  switch (tokens) {
    case 1:
      return &vnni_tokens<1>;
    case 2:
      return &vnni_tokens<2>;
    case 3:
      return &vnni_tokens<3>;
    case 4:
      return &vnni_tokens<4>;
    case 5:
      return &vnni_tokens<5>;
    case 6:
      return &vnni_tokens<6>;
    case 7:
      return &vnni_tokens<7>;
    default:
      return &vnni_tokens<8>;
  }
}

#endif  // BITDIAL_X86_SIMD

/// Scale-group segmentation shared by all paths: group g covers chunks [g·gc, (g+1)·gc), split
/// into flushes of at most max_chunks_per_flush chunks.
struct segments {
  std::size_t groups = 1, chunks_per_group = 0;
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t g = 0; g < groups; ++g)
      for (std::size_t c = g * chunks_per_group; c < (g + 1) * chunks_per_group; c += max_chunks_per_flush)
        f(g, c, std::min(max_chunks_per_flush, (g + 1) * chunks_per_group - c));
  }
};

#if BITDIAL_X86_SIMD
/// The shared epilogue (bitdial::detail::finish_row) for the rows of one 32-row block inside
/// stack rows [a0, a1), 16 rows per vector, groups in ascending order — the same operations per
/// lane as finish_row, so the floats are identical: int64 t = 256·acc + off·Σx with
/// off = (mid + o − 2z)·2^(7−k) + β_r, float(t) (vcvtqq2ps, round to nearest like cvtsi2ss),
/// ·2^−8 (exact), ·float(s·α_r), rounded, summed; then token_scale·sum, rounded, + bias (view row).
/// acc is [group][32 rows] (int64).
BITDIAL_TARGET_AVX512 inline void finish_block_avx512(const plane_view& w, std::size_t blk, const std::int64_t* acc,
                                                      const std::int64_t* sumx, float token_scale, const float* bias,
                                                      float* y_token, std::size_t a0, std::size_t a1) noexcept {
  constexpr std::size_t RB = tile32x16::rows_per_block;
  const bit_plane_stack& s = *w.stack;
  const std::size_t groups = s.groups_per_row();
  const unsigned zshift = static_cast<unsigned>(8 - w.shift());  // 2z·2^(7−k)
  // The part of offset256 shared by every row and group: (mid + o)·2^(7−k) (z = 0 here when the
  // master has zero points: they are added per row below; β_r is added per row for fitted views).
  const std::int64_t base_off = w.offset256(0, 0) - (w.fit_offset ? w.fit_offset[0] : 0) +
                                (s.zero_points().empty() ? 0 : std::int64_t{s.zero_points()[0]} << zshift);
  const float* bscale = s.block_scales(blk);
  const std::int32_t* bzero = s.block_zero_points(blk);
  const float* boff = s.block_offsets(blk);  // μ per row and group, or null
  const __m512 inv256 = _mm512_set1_ps(0x1p-8f);
  const __m512 tscale = _mm512_set1_ps(token_scale);
  for (std::size_t h = 0; h < 2; ++h) {
    const std::size_t row0 = blk * RB + 16 * h;
    if (row0 >= a1 || row0 + 16 <= a0) continue;
    __m512 sum = _mm512_setzero_ps();
    const std::size_t live = std::min<std::size_t>(16, s.rows() - row0);  // rows of the stack in this half
    const __mmask16 valid = static_cast<__mmask16>(live == 16 ? 0xFFFFu : (1u << live) - 1u);
    // Per-row factor and offset: α_r and β_r of a fitted view (tables padded to whole blocks), else
    // 2^k and 0.
    const __m512 mult = w.fit_alpha ? _mm512_loadu_ps(w.fit_alpha + row0) : _mm512_set1_ps(w.multiplier(0));
    __m512i roff0 = _mm512_set1_epi64(base_off), roff1 = roff0;
    if (w.fit_offset) {
      const __m256i b16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.fit_offset + row0));
      roff0 = _mm512_add_epi64(roff0, _mm512_cvtepi16_epi64(_mm256_castsi256_si128(b16)));
      roff1 = _mm512_add_epi64(roff1, _mm512_cvtepi16_epi64(_mm256_extracti128_si256(b16, 1)));
    }
    for (std::size_t g = 0; g < groups; ++g) {
      const std::int64_t* a = acc + g * RB + 16 * h;
      __m512i t0 = _mm512_slli_epi64(_mm512_loadu_si512(a), 8);
      __m512i t1 = _mm512_slli_epi64(_mm512_loadu_si512(a + 8), 8);
      __m512i o0 = roff0, o1 = roff1;
      if (bzero != nullptr) {  // − 2z·2^(7−k) per row of this group
        const __m256i z0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bzero + g * RB + 16 * h));
        const __m256i z1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bzero + g * RB + 16 * h + 8));
        o0 = _mm512_sub_epi64(o0, _mm512_slli_epi64(_mm512_cvtepi32_epi64(z0), zshift));
        o1 = _mm512_sub_epi64(o1, _mm512_slli_epi64(_mm512_cvtepi32_epi64(z1), zshift));
      }
      const __m512i sx = _mm512_set1_epi64(sumx[g]);
      t0 = _mm512_add_epi64(t0, _mm512_mullo_epi64(o0, sx));
      t1 = _mm512_add_epi64(t1, _mm512_mullo_epi64(o1, sx));
      const __m512 f = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtepi64_ps(t0)), _mm512_cvtepi64_ps(t1), 1);
      const __m512 s0 = w.scale_override ? _mm512_maskz_loadu_ps(valid, w.scale_override + row0)
                                         : _mm512_loadu_ps(bscale + g * RB + 16 * h);
      __m512 sc = _mm512_mul_ps(s0, mult);
      __asm__("" : "+v"(sc));  // float(s·α_r), as in finish_row
      __m512 term = _mm512_mul_ps(sc, _mm512_mul_ps(f, inv256));
      __asm__("" : "+v"(term));  // rounded before the add, as in finish_row
      if (boff != nullptr) {     // + μ_g·Σx, rounded, as in finish_row
        __m512 m = _mm512_mul_ps(_mm512_loadu_ps(boff + g * RB + 16 * h), _mm512_set1_ps(static_cast<float>(sumx[g])));
        __asm__("" : "+v"(m));
        term = _mm512_add_ps(term, m);
        __asm__("" : "+v"(term));
      }
      sum = _mm512_add_ps(sum, term);
    }
    __m512 yv = _mm512_mul_ps(tscale, sum);
    __asm__("" : "+v"(yv));
    alignas(64) float out[16];
    _mm512_store_ps(out, yv);
    const std::size_t lo = std::max(a0, row0), hi = std::min(a1, row0 + 16);
    for (std::size_t r = lo; r < hi; ++r) {
      const float v = out[r - row0];
      y_token[r - w.row_begin] = bias ? bias[r - w.row_begin] + v : v;  // view-relative bias
    }
  }
}

#endif  // BITDIAL_X86_SIMD

}  // namespace detail

class plane_gemm_plan;
plane_gemm_plan prepare_plane_gemm_avx512(const plane_view& w, const token_batch& x,
                                          plane_method method = plane_method::automatic);
void run_plane_gemm_avx512(const plane_gemm_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                           std::size_t row_end);
plane_gemm_plan rebind_plane_gemm_avx512(const plane_gemm_plan& p, const plane_view& w);

/// Everything a call prepares once and every thread then reads: the view, the activations, and
/// per token the lookup tables (lookup) or a zero-padded copy of the codes (unpack), plus Σx per
/// scale group. Immutable after prepare_plane_gemm_avx512; run it from any number of threads.
class plane_gemm_plan {
 public:
  const plane_view& view() const noexcept { return w_; }
  const token_batch& tokens() const noexcept { return x_; }
  plane_method method() const noexcept { return method_; }

 private:
  friend plane_gemm_plan prepare_plane_gemm_avx512(const plane_view&, const token_batch&, plane_method);
  friend void run_plane_gemm_avx512(const plane_gemm_plan&, matrix_view<float>, const float*, std::size_t, std::size_t);
  friend plane_gemm_plan rebind_plane_gemm_avx512(const plane_gemm_plan&, const plane_view&);
  plane_view w_;
  token_batch x_;
  plane_method method_ = plane_method::lookup;
  detail::plane_job job_;
  detail::segments seg_;
  // lookup: tokens × k_tiles × 128; unpack: tokens × k_tiles × 16. Shared by rebound plans (the
  // slices of one stack reuse one table build per token).
  std::shared_ptr<const aligned_buffer> data_;
  std::vector<std::int64_t> sumx_;  // tokens × groups
};

/// Validates and prepares one call (tables or padded activations, Σx). Throws bitdial::error when
/// the CPU lacks AVX-512 VNNI/VBMI, the shapes disagree, or the scale groups are not multiples of 16.
inline plane_gemm_plan prepare_plane_gemm_avx512(const plane_view& w, const token_batch& x, plane_method method) {
  constexpr const char* where = "x86::prepare_plane_gemm_avx512";
  BITDIAL_REQUIRE(plane_avx512_available(), where, ": cpu = ", "no AVX-512 F/BW/VL/DQ/VNNI/VBMI",
                  ": this kernel cannot run here");
  detail::check_plane_operands(w, x, where);
  const bit_plane_stack& s = *w.stack;

  plane_gemm_plan p;
  p.w_ = w;
  p.x_ = x;
  p.method_ = method != plane_method::automatic ? method
              : x.tokens <= lookup_max_tokens   ? plane_method::lookup
                                                : plane_method::unpack;
  p.job_ = detail::make_job(w);
  const std::size_t kt = s.layout().k_tiles(), groups = s.groups_per_row();
  p.seg_.groups = groups;
  p.seg_.chunks_per_group = kt / groups;
  p.sumx_.resize(x.tokens * groups);
#if BITDIAL_X86_SIMD
  const std::size_t glen = x.cols / groups;
  for (std::size_t n = 0; n < x.tokens; ++n)
    for (std::size_t g = 0; g < groups; ++g) p.sumx_[n * groups + g] = detail::sum_int8(x.token(n) + g * glen, glen);
  if (p.method_ == plane_method::lookup) {
    aligned_buffer d(bitdial::detail::checked_mul(x.tokens, kt * detail::table_bytes_per_chunk, where, "tables"));
    auto* t = reinterpret_cast<std::uint8_t*>(d.data());
    for (std::size_t n = 0; n < x.tokens; ++n)
      detail::build_tables(x.token(n), x.cols, kt, t + n * kt * detail::table_bytes_per_chunk);
    p.data_ = std::make_shared<const aligned_buffer>(std::move(d));
  } else {
    aligned_buffer d(bitdial::detail::checked_mul(x.tokens, kt * 16, where, "padded activations"));
    for (std::size_t n = 0; n < x.tokens; ++n) std::memcpy(d.data() + n * kt * 16, x.token(n), x.cols);
    p.data_ = std::make_shared<const aligned_buffer>(std::move(d));
  }
#endif
  return p;
}

/// The prepared activations of `p` (tables or padded codes, Σx) for another view `w` with the same
/// K and scale groups — the slices of one stack: one table build per token serves them all.
inline plane_gemm_plan rebind_plane_gemm_avx512(const plane_gemm_plan& p, const plane_view& w) {
  constexpr const char* where = "x86::rebind_plane_gemm_avx512";
  BITDIAL_REQUIRE(w.stack != nullptr, where, ": weights: empty view");
  BITDIAL_REQUIRE(w.cols() == p.w_.cols() && w.stack->groups_per_row() == p.w_.stack->groups_per_row() &&
                      w.stack->layout().k_tiles() == p.w_.stack->layout().k_tiles(),
                  where, ": weights K = ", w.cols(), " with ", w.stack->groups_per_row(),
                  " groups per row: the plan was prepared for K = ", p.w_.cols(), " with ",
                  p.w_.stack->groups_per_row());
  BITDIAL_REQUIRE(plane_avx512_supports(w), where, ": group = ", w.stack->gran().group,
                  ": scale groups must be multiples of 16 for this kernel");
  BITDIAL_REQUIRE(
      w.bits >= 1 && w.bits <= w.stack->master_bits() && w.row_begin < w.row_end && w.row_end <= w.stack->rows(), where,
      ": view bits = ", w.bits, ", rows = [", w.row_begin, ", ", w.row_end, "): not a valid view");
  plane_gemm_plan q = p;
  q.w_ = w;
  q.job_ = detail::make_job(w);
  return q;
}

/// Computes y(n, r) for every token and view-relative rows [row_begin, row_end) from a prepared
/// call. Touches only those rows of y; safe to run concurrently on disjoint row ranges.
inline void run_plane_gemm_avx512(const plane_gemm_plan& p, matrix_view<float> y, const float* bias,
                                  std::size_t row_begin, std::size_t row_end) {
  constexpr const char* where = "x86::run_plane_gemm_avx512";
  const plane_view& w = p.w_;
  bitdial::detail::check_run_rows(w, p.x_.tokens, y, row_begin, row_end, where);
#if BITDIAL_X86_SIMD
  constexpr std::size_t RB = tile32x16::rows_per_block;
  const bit_plane_stack& s = *w.stack;
  const std::size_t a0 = w.row_begin + row_begin, a1 = w.row_begin + row_end;  // stack rows
  const std::size_t blk0 = a0 / RB, blk1 = (a1 - 1) / RB + 1;
  const std::size_t groups = p.seg_.groups, kt = p.job_.k_tiles, tokens = p.x_.tokens;
  const int top_bit = s.master_bits() - 1;
  std::vector<std::int64_t> row_acc(groups);

  // Writes the rows of block `blk` inside the range from acc[(g·32 + rr)]: vectorised across 16
  // rows unless a scale override is combined with scale groups (then row by row).
  const bool vector_finish = w.scale_override == nullptr || groups == 1;
  auto finish_block = [&](std::size_t blk, std::size_t n, const std::int64_t* acc) {
    if (vector_finish) {
      detail::finish_block_avx512(w, blk, acc, &p.sumx_[n * groups], p.x_.scales[n], bias, &y(n, 0), a0, a1);
      return;
    }
    const std::size_t r_lo = std::max(a0, blk * RB), r_hi = std::min(a1, (blk + 1) * RB);
    for (std::size_t r = r_lo; r < r_hi; ++r) {
      for (std::size_t g = 0; g < groups; ++g) row_acc[g] = acc[g * RB + (r - blk * RB)];
      y(n, r - w.row_begin) =
          bitdial::detail::finish_row(w, r - w.row_begin, row_acc.data(), &p.sumx_[n * groups], p.x_.scales[n], bias);
    }
  };

  if (p.method_ == plane_method::lookup) {
    const detail::lut_fn one = detail::pick_lut<1>(p.job_), two = detail::pick_lut<2>(p.job_);
    const auto* tables = reinterpret_cast<const std::uint8_t*>(p.data_->data());
    const std::int64_t bias_per_chunk = 2048 * p.job_.weight_sum;  // 512 · 4 groups · Σc
    std::vector<std::int64_t> acc(2 * groups * RB);
    for (std::size_t blk = blk0; blk < blk1;) {
      const int R = blk + 1 < blk1 ? 2 : 1;
      const std::byte* base[2] = {s.plane(blk, top_bit), R == 2 ? s.plane(blk + 1, top_bit) : nullptr};
      for (std::size_t n = 0; n < tokens; ++n) {
        std::fill(acc.begin(), acc.end(), 0);
        const std::uint8_t* tab = tables + n * kt * detail::table_bytes_per_chunk;
        p.seg_.for_each([&](std::size_t g, std::size_t c0, std::size_t nc) {
          std::int64_t* const outs[2] = {&acc[g * RB], &acc[(groups + g) * RB]};
          (R == 2 ? two : one)(p.job_, base, tab, c0, nc, outs, bias_per_chunk * static_cast<std::int64_t>(nc));
        });
        BITDIAL_UNROLL
        for (int r = 0; r < R; ++r)
          finish_block(blk + static_cast<std::size_t>(r), n, &acc[static_cast<std::size_t>(r) * groups * RB]);
      }
      blk += static_cast<std::size_t>(R);
    }
    return;
  }

  // Unpack once per block, then VNNI against blocks of up to 8 tokens.
  aligned_buffer codes(kt * detail::unpacked_bytes_per_chunk);
  auto* cb = reinterpret_cast<std::uint8_t*>(codes.data());
  const std::int64_t code_bias = s.is_signed() ? 128 : 0;
  const auto* xpad = reinterpret_cast<const std::int8_t*>(p.data_->data());
  std::vector<std::int64_t> acc(detail::vnni_max_tokens * groups * RB);
  std::int32_t seg_out[detail::vnni_max_tokens * RB];
  for (std::size_t blk = blk0; blk < blk1; ++blk) {
    detail::unpack_block(p.job_, s.plane(blk, top_bit), cb);
    for (std::size_t n0 = 0; n0 < tokens; n0 += detail::vnni_max_tokens) {
      const std::size_t T = std::min(detail::vnni_max_tokens, tokens - n0);
      const std::int8_t* xs[detail::vnni_max_tokens];
      for (std::size_t j = 0; j < T; ++j) xs[j] = xpad + (n0 + j) * kt * 16;
      const detail::vnni_fn fn = detail::pick_vnni(T);
      std::fill(acc.begin(), acc.end(), 0);
      p.seg_.for_each([&](std::size_t g, std::size_t c0, std::size_t nc) {
        fn(cb, c0, nc, xs, seg_out);
        for (std::size_t j = 0; j < T; ++j)
          for (std::size_t i = 0; i < RB; ++i) acc[(j * groups + g) * RB + i] += seg_out[j * RB + i];
      });
      for (std::size_t j = 0; j < T; ++j) {
        std::int64_t* a = &acc[j * groups * RB];
        for (std::size_t g = 0; g < groups; ++g)
          for (std::size_t i = 0; i < RB; ++i) a[g * RB + i] -= code_bias * p.sumx_[(n0 + j) * groups + g];
        finish_block(blk, n0 + j, a);
      }
    }
  }
#else
  (void)bias;
  BITDIAL_REQUIRE(false, where, ": x86 kernels are compiled out in this build");
#endif
}

/// y(n, r) = reference::gemm's result for view-relative rows [row_begin, row_end), one thread.
inline void plane_gemm_avx512(const plane_view& w, const token_batch& x, matrix_view<float> y, const float* bias,
                              std::size_t row_begin, std::size_t row_end,
                              plane_method method = plane_method::automatic) {
  const plane_gemm_plan p = prepare_plane_gemm_avx512(w, x, method);
  run_plane_gemm_avx512(p, y, bias, row_begin, row_end);
}

/// Prepares once, then hands `parallel(blocks, fn)` the number of 32-row blocks overlapping
/// [row_begin, row_end); fn(i0, i1) runs blocks [i0, i1) of them. `parallel` may call fn on any
/// threads with any disjoint cover of [0, blocks).
template <class Parallel>
void plane_gemm_avx512_parallel(const plane_view& w, const token_batch& x, matrix_view<float> y, const float* bias,
                                std::size_t row_begin, std::size_t row_end, Parallel&& parallel,
                                plane_method method = plane_method::automatic) {
  const plane_gemm_plan p = prepare_plane_gemm_avx512(w, x, method);
  split_row_blocks(w.row_begin, row_begin, row_end, tile32x16::rows_per_block, parallel,
                   [&](std::size_t a, std::size_t b) { run_plane_gemm_avx512(p, y, bias, a, b); });
}

}  // namespace bitdial::x86

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
