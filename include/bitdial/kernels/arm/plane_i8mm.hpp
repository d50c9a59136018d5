// bitdial/kernels/arm/plane_i8mm.hpp — aarch64 FEAT_I8MM kernel for Y = X · Ŵ_bᵀ over a
// tile32x16 bit-plane stack at any width and rule, for many tokens; integers equal reference::gemm
// exactly, floats go through detail::finish_row like every other kernel.
//
// SMMLA (vmmlaq_s32) multiplies a 2 × 8 int8 matrix by the transpose of another 2 × 8 and adds the
// 2 × 2 int32 product to an accumulator: with A = two weight rows × 8 K and B = two tokens × 8 K,
//   lane 2i + j += Σ_{e<8} A[i][e] · B[j][e]     (lanes: row 0·token 0, row 0·token 1,
//                                                           row 1·token 0, row 1·token 1)
// i.e. 32 multiply-adds per instruction where SDOT does 16.
//
// Codes. Per 32-row block and window of ≤ 16 chunks the served codes are rebuilt once by the dotprod
// kernel's unpack (plane_neon.hpp: detail::unpack_chunks — Horner over the planes, unsigned 8-bit
// views stored as q − 128), whose layout per chunk is [K-group g][row quad k][4 rows × 4 K]. With
// RowPairs it ZIP1/ZIP2s the vectors (g = 2h, k) and (g = 2h + 1, k) — quad k's 4 rows × K
// 8h..8h+3 and × K 8h+4..8h+7 — by 32-bit lanes before storing them: two row pairs × 8 K, i.e.
//   chunk layout [K half h][row pair p of the quad][row quad k][2 rows × 8 K]  (16 bytes each)
// where quad k holds rows 4k (k < 4) or 16 + 4(k − 4) (k ≥ 4), and pair p its rows +2p, +2p + 1.
//
// Activations are packed once per call as token pairs × 8 K: per pair and chunk 32 bytes
// [K half h][token 2m, token 2m + 1][8 K], K zero-padded to whole chunks (an unsigned view's padded
// codes are −128, so the padding must be zero) and an odd count padded with a zero token (its
// lanes are computed and dropped).
//
// Loop order: per block, scale group and window, the codes are rebuilt, then for every two token
// pairs the 32 rows in two halves of 8 row pairs, each half keeping 8 × 2 int32x4 tiles in
// registers across the window's chunks (16 code loads and 4 activation loads for 32 SMMLA per
// chunk). The tiles live in a per-pair buffer between windows and are flushed to the int64
// per-group sums at every scale-group end and at least every max_chunks_per_flush_i8mm chunks.
//
// Exactness (per int32 lane): stored codes and activations are int8, so one SMMLA adds
//   Σ_{e<8} c·x ∈ [8 · (−128) · 127, 8 · 128 · 128] = [−130 048, 131 072],
// a chunk (two SMMLA: K halves 0 and 1) at most 2^18 = 262 144 and at least −260 096. A lane that
// starts at 0 is exact for n chunks while n · 2^18 ≤ 2^31 − 1, i.e. n ≤ 8191 (8192 chunks of
// −128 · −128 reach exactly 2^31 and wrap). The kernel flushes every 511 windows of 16 chunks,
// 8176 chunks: 8176 · 262 144 = 2 143 289 344 < 2^31 − 1 = 2 147 483 647. An unsigned 8-bit view adds
// 128 · Σx back in int64 at the end (as the dotprod kernel does).
//
// Scale groups must be multiples of 16 (plane_arm_groups_ok), as for the other ARM kernels.
// Threading: prepare once (packed activations, Σx), then run(row range) on any number of threads
// with disjoint ranges. Under `automatic` the front door (gemm.hpp) runs this kernel from
// i8mm_min_tokens tokens up and the dotprod row's choice below that.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bitdial/kernels/arm/plane_neon.hpp"
#include "bitdial/kernels/plane_checks.hpp"

namespace bitdial::arm {

/// Whether this CPU runs the SMMLA kernel (FEAT_I8MM beside FEAT_DotProd) and this build compiled it.
inline bool plane_i8mm_available() noexcept { return BITDIAL_ARM_I8MM && plane_dotprod_available() && cpu().i8mm; }

/// Token count from which the i8mm row runs the SMMLA kernel under `automatic` (gemm.hpp); below
/// it the row makes the dotprod row's choice (lookup up to lookup_max_tokens, unpack + SDOT above).
/// Per chunk the code rebuild is the dotprod kernel's plus 16 ZIP, then per token pair SMMLA issues
/// 32 instructions where SDOT issues 64, and an odd count computes a padded token. On paper
/// (bench/results/arm-cost-2026-12-06.md) SMMLA wins from 3 tokens by the issue count and the
/// apple-m1 / cortex-a55 models; the Cortex-A57 model, whose 128-bit ZIP costs 3 µops, has it 6–9 %
/// behind at 3–5 tokens and ahead from 8. 4 is the first count past the lookup range that has no
/// padded token (3 spends a quarter of its SMMLA on one).
inline constexpr std::size_t i8mm_min_tokens = 4;

namespace detail {

inline constexpr std::size_t pair_bytes_per_chunk = 32;                        // 2 K halves × 2 tokens × 8 K
inline constexpr std::size_t tile_lanes_per_pair = 64;                         // 16 row-pair tiles × 4 int32 lanes
inline constexpr std::size_t max_chunks_per_flush_i8mm = 511 * window_chunks;  // int32 bound, see the header

/// Packs token n (cols int8 values) into the token-pair layout of the header comment.
inline void pack_token_pairs(const token_batch& x, std::size_t k_tiles, std::int8_t* out) noexcept {
  for (std::size_t n = 0; n < x.tokens; ++n) {
    std::int8_t* pair = out + (n / 2) * k_tiles * pair_bytes_per_chunk + 8 * (n % 2);
    const std::int8_t* src = x.token(n);
    for (std::size_t c = 0; c < x.cols; ++c)
      pair[pair_bytes_per_chunk * (c / 16) + 16 * ((c % 16) / 8) + c % 8] = src[c];
  }
}

/// Stack row (block-relative) of lane `lane` of row-pair tile `tile` (tile = 8·half + 4·p + quad).
constexpr std::size_t tile_row(std::size_t tile, std::size_t lane) noexcept {
  return 16 * (tile / 8) + 4 * (tile % 4) + 2 * ((tile / 4) % 2) + lane / 2;
}

#if BITDIAL_ARM_I8MM

/// tiles[i] (tile_lanes_per_pair int32 each) += the products of n chunks of row-pair codes with
/// TP token pairs (xs[i] at the window's first chunk of pair i).
template <int TP>
BITDIAL_TARGET_I8MM void smmla_window(const std::int8_t* codes, std::size_t n, const std::int8_t* const* xs,
                                      std::int32_t* const* tiles) noexcept {
  for (std::size_t half = 0; half < 2; ++half) {
    int32x4_t acc[TP][8];
    BITDIAL_UNROLL
    for (int i = 0; i < TP; ++i) {
      BITDIAL_UNROLL
      for (int q = 0; q < 8; ++q) acc[i][q] = vld1q_s32(tiles[i] + 4 * (8 * half + q));
    }
    for (std::size_t t = 0; t < n; ++t) {
      const std::int8_t* c = codes + unpack_bytes_per_chunk * t + 64 * half;
      BITDIAL_UNROLL
      for (int h = 0; h < 2; ++h) {
        int8x16_t x[TP];
        BITDIAL_UNROLL
        for (int i = 0; i < TP; ++i) x[i] = vld1q_s8(xs[i] + pair_bytes_per_chunk * t + 16 * h);
        BITDIAL_UNROLL
        for (int q = 0; q < 8; ++q) {
          const int8x16_t w = vld1q_s8(c + 256 * h + 128 * (q / 4) + 16 * (q % 4));
          BITDIAL_UNROLL
          for (int i = 0; i < TP; ++i) acc[i][q] = vmmlaq_s32(acc[i][q], w, x[i]);
        }
      }
    }
    BITDIAL_UNROLL
    for (int i = 0; i < TP; ++i) {
      BITDIAL_UNROLL
      for (int q = 0; q < 8; ++q) vst1q_s32(tiles[i] + 4 * (8 * half + q), acc[i][q]);
    }
  }
}

inline constexpr std::size_t smmla_max_pairs = 2;
using smmla_fn = void (*)(const std::int8_t*, std::size_t, const std::int8_t* const*, std::int32_t* const*) noexcept;
inline smmla_fn pick_smmla(std::size_t pairs) noexcept { return pairs >= 2 ? &smmla_window<2> : &smmla_window<1>; }

#endif  // BITDIAL_ARM_I8MM

}  // namespace detail

class plane_i8mm_plan;
plane_i8mm_plan prepare_plane_gemm_i8mm(const plane_view& w, const token_batch& x);
void run_plane_gemm_i8mm(const plane_i8mm_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                         std::size_t row_end);

/// What one call prepares once and every thread then reads: the view, the activations packed as
/// token pairs, and Σx per scale group.
class plane_i8mm_plan {
 public:
  const plane_view& view() const noexcept { return w_; }
  const token_batch& tokens() const noexcept { return x_; }

 private:
  friend plane_i8mm_plan prepare_plane_gemm_i8mm(const plane_view&, const token_batch&);
  friend void run_plane_gemm_i8mm(const plane_i8mm_plan&, matrix_view<float>, const float*, std::size_t, std::size_t);
  plane_view w_;
  token_batch x_;
  detail::job job_;
  aligned_buffer pairs_;            // ⌈tokens / 2⌉ × k_tiles × 32
  std::vector<std::int64_t> sumx_;  // tokens × groups
};

/// Validates and prepares one call. Throws bitdial::error when the CPU lacks FEAT_I8MM, the shapes
/// disagree, or the scale groups are not multiples of 16.
inline plane_i8mm_plan prepare_plane_gemm_i8mm(const plane_view& w, const token_batch& x) {
  constexpr const char* where = "arm::prepare_plane_gemm_i8mm";
  BITDIAL_REQUIRE(plane_i8mm_available(), where, ": method = SMMLA (i8mm): this CPU or build cannot run it");
  bitdial::detail::check_plane_operands(w, x, where);
  const bit_plane_stack& s = *w.stack;

  plane_i8mm_plan p;
  p.w_ = w;
  p.x_ = x;
  p.job_ = detail::make_job(w);
  const std::size_t groups = s.groups_per_row(), kt = s.layout().k_tiles();
  p.sumx_.resize(x.tokens * groups);
  for (std::size_t n = 0; n < x.tokens; ++n)
    bitdial::detail::group_sums(x.token(n), x.cols, groups, &p.sumx_[n * groups]);
  const std::size_t per_pair = bitdial::detail::checked_mul(kt, detail::pair_bytes_per_chunk, where, "token pairs");
  p.pairs_ = aligned_buffer(bitdial::detail::checked_mul((x.tokens + 1) / 2, per_pair, where, "token pairs"));
  std::memset(p.pairs_.data(), 0, p.pairs_.size());
  detail::pack_token_pairs(x, kt, reinterpret_cast<std::int8_t*>(p.pairs_.data()));
  return p;
}

/// Computes y(n, r) for every token and view-relative rows [row_begin, row_end) from a prepared
/// call. Touches only those rows of y; safe to run concurrently on disjoint row ranges.
inline void run_plane_gemm_i8mm(const plane_i8mm_plan& p, matrix_view<float> y, const float* bias,
                                std::size_t row_begin, std::size_t row_end) {
  constexpr const char* where = "arm::run_plane_gemm_i8mm";
  const plane_view& w = p.w_;
  bitdial::detail::check_run_rows(w, p.x_.tokens, y, row_begin, row_end, where);
#if BITDIAL_ARM_I8MM
  constexpr std::size_t RB = tile32x16::rows_per_block;
  const bit_plane_stack& s = *w.stack;
  const std::size_t a0 = w.row_begin + row_begin, a1 = w.row_begin + row_end;  // stack rows
  const std::size_t groups = s.groups_per_row(), kt = p.job_.k_tiles, chunks_per_group = kt / groups;
  const std::size_t tokens = p.x_.tokens, pairs = (tokens + 1) / 2;
  const auto* xpairs = reinterpret_cast<const std::int8_t*>(p.pairs_.data());
  std::vector<std::int64_t> acc(tokens * groups * RB), row_acc(groups);
  aligned_buffer codes(detail::window_chunks * detail::unpack_bytes_per_chunk);
  aligned_buffer tile_buf(pairs * detail::tile_lanes_per_pair * sizeof(std::int32_t));
  auto* cbuf = reinterpret_cast<std::int8_t*>(codes.data());
  auto* tiles = reinterpret_cast<std::int32_t*>(tile_buf.data());
  // Adds the int32 tiles of scale group g to the int64 sums and clears them.
  auto flush = [&](std::size_t g) {
    for (std::size_t m = 0; m < pairs; ++m)
      for (std::size_t i = 0; i < detail::tile_lanes_per_pair; ++i) {
        const std::size_t n = 2 * m + i % 2;  // lane i % 4: (row +0, token 2m), (+0, 2m + 1), (+1, 2m), (+1, 2m + 1)
        if (n < tokens) acc[(n * groups + g) * RB + detail::tile_row(i / 4, i % 4)] += tiles[m * 64 + i];
      }
    std::memset(tiles, 0, tile_buf.size());
  };
  for (std::size_t blk = a0 / RB; blk * RB < a1; ++blk) {
    const std::byte* base = s.plane(blk, s.master_bits() - 1);
    std::fill(acc.begin(), acc.end(), 0);
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t c_end = (g + 1) * chunks_per_group;
      std::memset(tiles, 0, tile_buf.size());
      std::size_t since_flush = 0;
      for (std::size_t c = g * chunks_per_group; c < c_end; c += detail::window_chunks) {
        const std::size_t nc = std::min(detail::window_chunks, c_end - c);
        detail::unpack_chunks<true>(p.job_, base, c, nc, cbuf);
        for (std::size_t m0 = 0; m0 < pairs; m0 += detail::smmla_max_pairs) {
          const std::size_t TP = std::min(detail::smmla_max_pairs, pairs - m0);
          const std::int8_t* xs[detail::smmla_max_pairs];
          std::int32_t* ts[detail::smmla_max_pairs];
          for (std::size_t i = 0; i < TP; ++i) {
            xs[i] = xpairs + ((m0 + i) * kt + c) * detail::pair_bytes_per_chunk;
            ts[i] = tiles + (m0 + i) * detail::tile_lanes_per_pair;
          }
          detail::pick_smmla(TP)(cbuf, nc, xs, ts);
        }
        since_flush += nc;
        if (c + nc == c_end || since_flush + detail::window_chunks > detail::max_chunks_per_flush_i8mm) {
          flush(g);
          since_flush = 0;
        }
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
#else
  (void)bias;
  (void)p;
  BITDIAL_REQUIRE(false, where, ": the i8mm kernel is compiled out in this build");
#endif
}

}  // namespace bitdial::arm
