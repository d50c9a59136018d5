// bitdial/kernels/portable/plane_gemm.hpp — the bit-plane kernel in plain C++: the fallback on
// any CPU (and the only kernel of a BITDIAL_NO_SIMD build), the same algorithm the SIMD kernels
// vectorise.
//
// Per token, every group of 4 consecutive activations gets a table of its 16 subset sums
// (T-MAC's lookup form): T[g][m] = Σ_{t: bit t of m} x[4g + t], |T| ≤ 512, stored as int16. A
// plane nibble m of row r then contributes T[g][m] to row r's dot product with that plane.
//
// Served code as weighted 0/1 planes (P_j = plane B−1−j; kernels/plane_terms.hpp's carry, clamp
// and tie terms folded into one plane R, exactly as kernels/x86/plane_avx2.hpp derives it):
//   truncate         q_b = ±2^(b−1)·P_0 + Σ_{j=1}^{b−1} 2^(b−1−j)·P_j   (− for signed masters)
//   round_half_up    + R,  R = P_b ∧ ¬H,  H = ¬P_0 ∧ P_1 ∧ … ∧ P_{b−1}
//   round_half_even  + R,  R = P_b ∧ ¬H ∧ (P_{b−1} ∨ P_{b+1} ∨ … ∨ P_{B−1})
//
// Loop order per 32-row block and token (scale groups that are whole 16-K chunks): windows of
// ≤ 64 chunks (8 KiB of tables, L1-resident); inside, term by term, the UNWEIGHTED int32 sums of
// every row over the window — each tile byte feeds two rows (low nibble: row p/4, high nibble:
// row 16 + p/4) from the same 16-entry table row of K-group p % 4 — then acc64 += w_j · sum once
// per window. Exact: a row gains at most 4 · 512 per chunk, 64 · 2048 = 2^17 ≪ 2^31.
// Scale groups that are a multiple of 4 but not of 16 split a chunk between groups: those views
// keep per-K-group sums and are attributed chunk by chunk (slower, same integers). Other group
// sizes cannot be served (a nibble would straddle two groups); the front door sends them to the
// reference kernel.
//
// No SIMD and no intrinsics: this is what runs with BITDIAL_NO_SIMD and on any CPU. (At the
// x86-64 baseline, SSE2, there is no byte shuffle, so a vector lookup has nothing to build on; the
// subset sums are scalar loads from an L1-resident table, which the compiler schedules well.)
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <vector>

#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/epilogue.hpp"
#include "bitdial/select/plane_view.hpp"

namespace bitdial::portable {

/// Subset-sum tables of every token: [token][k_group][16], K zero-padded to the stack's K tiles.
struct lookup_tables {
  std::vector<std::int16_t> values;
  std::size_t groups = 0;  // K groups of 4 per token

  const std::int16_t* token(std::size_t n) const noexcept { return values.data() + n * groups * 16; }
};

inline lookup_tables build_tables(const token_batch& x, std::size_t k_tiles) {
  lookup_tables lt;
  lt.groups = k_tiles * 4;
  lt.values.assign(x.tokens * lt.groups * 16, 0);
  for (std::size_t n = 0; n < x.tokens; ++n) {
    const std::int8_t* xs = x.token(n);
    std::int16_t* t = lt.values.data() + n * lt.groups * 16;
    for (std::size_t g = 0; g < lt.groups; ++g, t += 16) {
      std::int16_t v[4];
      for (std::size_t j = 0; j < 4; ++j) v[j] = 4 * g + j < x.cols ? xs[4 * g + j] : 0;
      for (int m = 1; m < 16; ++m) {
        const int low = m & -m, j = std::countr_zero(static_cast<unsigned>(m));
        t[m] = static_cast<std::int16_t>(t[m - low] + v[j]);
      }
    }
  }
  return lt;
}

namespace detail {

inline constexpr std::size_t window_chunks = 64;

/// The served view as b (+1) weighted planes (see the header comment).
struct plane_job {
  int bits = 8;        // b
  int kind = 0;        // 0 truncate (or b = B), 1 round_half_up, 2 round_half_even
  int low_planes = 0;  // RNE: B − b − 1
  int terms = 8;
  std::array<std::int64_t, 9> weight{};
};

inline plane_job make_job(const plane_view& w) noexcept {
  plane_job j;
  const int b = w.bits, B = w.master_bits();
  j.bits = b;
  j.kind = (b == B || w.rule == rounding::floor) ? 0 : (w.rule == rounding::half_up ? 1 : 2);
  j.low_planes = j.kind == 2 ? B - b - 1 : 0;
  for (int p = 0; p < b; ++p) {
    const std::int64_t c = std::int64_t{1} << (b - 1 - p);
    j.weight[static_cast<std::size_t>(p)] = (p == 0 && w.stack->is_signed()) ? -c : c;
  }
  j.terms = b;
  if (j.kind != 0) j.weight[static_cast<std::size_t>(j.terms++)] = 1;
  return j;
}

/// Term j of one tile as 8 words (P_0 at `top`, planes `pb` bytes apart).
inline void term_tile(const plane_job& jb, int j, const std::byte* top, std::size_t pb, std::uint64_t* out) noexcept {
  auto word = [&](int plane, int q) {
    std::uint64_t v;
    std::memcpy(&v, top + static_cast<std::size_t>(plane) * pb + 8 * static_cast<std::size_t>(q), 8);
    return v;
  };
  if (j < jb.bits) {
    std::memcpy(out, top + static_cast<std::size_t>(j) * pb, 64);
    return;
  }
  for (int q = 0; q < 8; ++q) {
    std::uint64_t h = ~word(0, q), last = word(0, q);
    for (int i = 1; i < jb.bits; ++i) {
      last = word(i, q);
      h &= last;
    }
    std::uint64_t r = word(jb.bits, q) & ~h;
    if (jb.kind == 2) {
      std::uint64_t odd_or_above = last;
      for (int l = 0; l < jb.low_planes; ++l) odd_or_above |= word(jb.bits + 1 + l, q);
      r &= odd_or_above;
    }
    out[q] = r;
  }
}

/// sum[row] += Σ_g T[g][nibble] over one term tile (both nibbles of a byte use one table row).
inline void add_tile(const std::uint64_t* words, const std::int16_t* t, std::int32_t* sum) noexcept {
  constexpr std::uint64_t low_nibbles = 0x0F0F0F0F0F0F0F0Full;
  for (int q = 0; q < 8; ++q) {
    const std::uint64_t v = words[q];
    if (v == 0) continue;
    // Byte i of lo / hi is the table index of K-group i % 4 for row slot 2q + i / 4.
    const std::uint64_t lo = v & low_nibbles, hi = (v >> 4) & low_nibbles;
    auto row = [t](std::uint64_t idx, int shift) {
      return t[(idx >> shift) & 0xFF] + t[16 + ((idx >> (shift + 8)) & 0xFF)] + t[32 + ((idx >> (shift + 16)) & 0xFF)] +
             t[48 + ((idx >> (shift + 24)) & 0xFF)];
    };
    sum[2 * q] += row(lo, 0);
    sum[2 * q + 1] += row(lo, 32);
    sum[16 + 2 * q] += row(hi, 0);
    sum[17 + 2 * q] += row(hi, 32);
  }
}

/// As add_tile, but keeps the 4 K-groups apart: sum[g·32 + row].
inline void add_tile_split(const std::uint64_t* words, const std::int16_t* t, std::int32_t* sum) noexcept {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(words);
  for (std::size_t p = 0; p < 64; ++p) {
    const unsigned v = bytes[p];
    if (v == 0) continue;
    const std::size_t g = p % 4, r = p / 4;
    sum[g * 32 + r] += t[16 * g + (v & 15)];
    sum[g * 32 + 16 + r] += t[16 * g + (v >> 4)];
  }
}

}  // namespace detail

/// Rows [row_begin, row_end) (view-relative) of Y = X · Ŵ_bᵀ, from tables built by build_tables.
inline void plane_gemm(const plane_view& w, const token_batch& x, const lookup_tables& lt, matrix_view<float> y,
                       const float* bias, std::size_t row_begin, std::size_t row_end) {
  constexpr std::size_t RB = tile32x16::rows_per_block, TB = tile32x16::tile_bytes;
  const bit_plane_stack& s = *w.stack;
  const tile32x16& geo = s.layout();
  const detail::plane_job jb = detail::make_job(w);
  const std::size_t groups = s.groups_per_row(), glen = w.cols() / groups, kt = geo.k_tiles(), pb = geo.plane_bytes();
  const bool whole_chunks = groups == 1 || glen % tile32x16::k_per_tile == 0;
  const std::size_t r0 = w.row_begin + row_begin, r1 = w.row_begin + row_end;  // stack rows

  std::vector<std::int64_t> acc(groups * RB), row_acc(groups);
  std::vector<std::int64_t> sumx(x.tokens * groups);
  for (std::size_t n = 0; n < x.tokens; ++n) bitdial::detail::group_sums(x.token(n), x.cols, groups, &sumx[n * groups]);
  std::uint64_t words[8];
  std::int32_t sum[4 * RB];

  for (std::size_t rb = r0 / RB; rb * RB < r1; ++rb) {
    const std::byte* top = s.plane(rb, s.master_bits() - 1);
    for (std::size_t n = 0; n < x.tokens; ++n) {
      const std::int16_t* table = lt.token(n);
      std::fill(acc.begin(), acc.end(), 0);
      if (whole_chunks) {
        const std::size_t per_group = kt / groups;
        for (std::size_t g = 0; g < groups; ++g)
          for (std::size_t c0 = g * per_group; c0 < (g + 1) * per_group; c0 += detail::window_chunks) {
            const std::size_t c1 = std::min((g + 1) * per_group, c0 + detail::window_chunks);
            for (int j = 0; j < jb.terms; ++j) {
              std::fill(sum, sum + RB, 0);
              for (std::size_t t = c0; t < c1; ++t) {
                detail::term_tile(jb, j, top + TB * t, pb, words);
                detail::add_tile(words, table + 64 * t, sum);
              }
              const std::int64_t wt = jb.weight[static_cast<std::size_t>(j)];
              for (std::size_t r = 0; r < RB; ++r) acc[g * RB + r] += wt * sum[r];
            }
          }
      } else {
        for (std::size_t t = 0; t < kt; ++t) {
          std::size_t grp[4];
          for (std::size_t kg = 0; kg < 4; ++kg) grp[kg] = std::min(groups - 1, (16 * t + 4 * kg) / glen);
          for (int j = 0; j < jb.terms; ++j) {
            std::fill(sum, sum + 4 * RB, 0);
            detail::term_tile(jb, j, top + TB * t, pb, words);
            detail::add_tile_split(words, table + 64 * t, sum);
            const std::int64_t wt = jb.weight[static_cast<std::size_t>(j)];
            for (std::size_t kg = 0; kg < 4; ++kg)
              for (std::size_t r = 0; r < RB; ++r) acc[grp[kg] * RB + r] += wt * sum[kg * RB + r];
          }
        }
      }
      const std::size_t lo = std::max(r0, rb * RB), hi = std::min(r1, (rb + 1) * RB);
      for (std::size_t row = lo; row < hi; ++row) {
        for (std::size_t g = 0; g < groups; ++g) row_acc[g] = acc[g * RB + (row - rb * RB)];
        y(n, row - w.row_begin) =
            bitdial::detail::finish_row(w, row - w.row_begin, row_acc.data(), &sumx[n * groups], x.scales[n], bias);
      }
    }
  }
}

}  // namespace bitdial::portable
