// bitdial/kernels/portable/plane_gemm.hpp — the bit-plane kernel in plain C++: the fallback on
// any CPU, and the same algorithm the SIMD kernels vectorise.
//
// Per token, every group of 4 consecutive activations gets a table of its 16 subset sums
// (T-MAC's lookup form): T[g][m] = Σ_{t: bit t of m} x[4g + t]. A plane nibble m of row r then
// contributes T[g][m] to row r's dot product with that plane, and a view is Σ_terms w · (plane · x)
// (kernels/plane_terms.hpp). Accumulators are int64: exact for every K.
// Scale groups must be a multiple of 4 elements so a nibble never straddles two groups; the
// front door sends other group sizes to the reference kernel.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/epilogue.hpp"
#include "bitdial/kernels/plane_terms.hpp"

namespace bitdial::portable {

/// Subset-sum tables of every token: [token][k_group][16], K zero-padded to the stack's K tiles.
struct lookup_tables {
  std::vector<std::int32_t> values;
  std::size_t groups = 0;  // K groups of 4 per token

  const std::int32_t* token(std::size_t n) const noexcept { return values.data() + n * groups * 16; }
};

inline lookup_tables build_tables(const token_batch& x, std::size_t k_tiles) {
  lookup_tables lt;
  lt.groups = k_tiles * 4;
  lt.values.assign(x.tokens * lt.groups * 16, 0);
  for (std::size_t n = 0; n < x.tokens; ++n) {
    const std::int8_t* xs = x.token(n);
    std::int32_t* t = lt.values.data() + n * lt.groups * 16;
    for (std::size_t g = 0; g < lt.groups; ++g, t += 16) {
      std::int32_t v[4];
      for (std::size_t j = 0; j < 4; ++j) v[j] = 4 * g + j < x.cols ? xs[4 * g + j] : 0;
      for (int m = 1; m < 16; ++m) {
        const int low = m & -m, j = std::countr_zero(static_cast<unsigned>(m));
        t[m] = t[m - low] + v[j];
      }
    }
  }
  return lt;
}

/// Rows [row_begin, row_end) (view-relative) of Y = X · Ŵ_bᵀ, from tables built by build_tables.
inline void plane_gemm(const plane_view& w, const token_batch& x, const lookup_tables& lt, matrix_view<float> y,
                       const float* bias, std::size_t row_begin, std::size_t row_end) {
  constexpr std::size_t RB = tile32x16::rows_per_block;
  constexpr std::size_t token_block = 4;
  const bit_plane_stack& s = *w.stack;
  const tile32x16& geo = s.layout();
  const detail::plane_terms terms = detail::make_terms(w);
  const int lowest = terms.lowest_plane();
  const std::size_t groups = s.groups_per_row();
  const std::size_t glen = w.cols() / groups;
  const std::size_t r0 = w.row_begin + row_begin, r1 = w.row_begin + row_end;  // stack rows

  std::vector<std::int64_t> acc(token_block * RB * groups);
  std::vector<std::int64_t> sumx(x.tokens * groups);
  for (std::size_t n = 0; n < x.tokens; ++n) detail::group_sums(x.token(n), x.cols, groups, &sumx[n * groups]);

  std::uint64_t planes[8][8];  // [bit][word] of one tile
  std::uint64_t term_words[11][8];
  for (std::size_t rb = r0 / RB; rb * RB < r1; ++rb) {
    for (std::size_t n0 = 0; n0 < x.tokens; n0 += token_block) {
      const std::size_t nt = std::min(token_block, x.tokens - n0);
      std::fill(acc.begin(), acc.end(), 0);
      for (std::size_t t = 0; t < geo.k_tiles(); ++t) {
        for (int i = lowest; i < terms.master_bits; ++i)
          std::memcpy(planes[i], s.plane(rb, i) + t * tile32x16::tile_bytes, tile32x16::tile_bytes);
        for (int j = 0; j < terms.count; ++j)
          for (int q = 0; q < 8; ++q) {
            std::uint64_t p[8];
            for (int i = lowest; i < terms.master_bits; ++i) p[i] = planes[i][q];
            const auto& term = terms.terms[j];
            term_words[j][q] = term.kind == detail::term_kind::plane   ? p[term.bit]
                               : term.kind == detail::term_kind::clamp ? terms.clamp_mask(p)
                                                                       : terms.tie_mask(p);
          }
        for (std::size_t nn = 0; nn < nt; ++nn) {
          const std::int32_t* table = lt.token(n0 + nn) + t * 4 * 16;
          std::int64_t* a = &acc[nn * RB * groups];
          for (int j = 0; j < terms.count; ++j) {
            const std::int64_t wgt = terms.terms[j].weight;
            const auto* bytes = reinterpret_cast<const std::uint8_t*>(term_words[j]);
            for (std::size_t p = 0; p < 64; ++p) {
              if (bytes[p] == 0) continue;
              const std::size_t kg = p % 4, row = p / 4;
              const std::size_t grp = (t * 16 + 4 * kg) / glen;
              a[row * groups + grp] += wgt * table[kg * 16 + (bytes[p] & 15)];
              a[(row + 16) * groups + grp] += wgt * table[kg * 16 + (bytes[p] >> 4)];
            }
          }
        }
      }
      for (std::size_t rr = 0; rr < RB; ++rr) {
        const std::size_t row = rb * RB + rr;
        if (row < r0 || row >= r1) continue;
        for (std::size_t nn = 0; nn < nt; ++nn) {
          const std::size_t n = n0 + nn;
          y(n, row - w.row_begin) = detail::finish_row(w, row - w.row_begin, &acc[(nn * RB + rr) * groups],
                                                       &sumx[n * groups], x.scales[n], bias);
        }
      }
    }
  }
}

}  // namespace bitdial::portable
