// bitdial/kernels/ternary.hpp — ternary (BitNet b1.58) weights × int8 activations: the packed layout,
// its pack function, and the GEMV/GEMM front door (reference | portable | avx2 | avx512 | neon |
// dotprod).
//
// Two routes serve a ternary matrix q ∈ {−1, 0, +1} (bitnet_ternary, twn_ternary, tequila_ternary):
//   1. planes: {−1, 0, 1} are 2-bit two's-complement codes (11, 00, 01), so pack_ternary_planes(q) is a
//      bit_plane_stack whose view at b = 2 (truncate, k = 0) is exactly q; the plane kernels
//      (kernels/gemm.hpp) run it with 2 plane lookups per 16 K.
//   2. dedicated (this header, faster on AVX-512): biased codes u = q + 1 ∈ {0, 1, 2}, 2 bits each,
//      multiplied with vpdpbusd after one AND per 64 weights (kernels/x86/ternary_avx512.hpp; the
//      AVX2 form uses vpmaddubsw + vpmaddwd, kernels/x86/ternary_avx2.hpp):
//      Σ q·x = Σ u·x − Σ x per scale group.
// Both give identical floats: the same integers and the same epilogue sequence
// (kernels/reference/ternary_gemm.hpp; tested against each other and against the reference).
//
// Layout `ternary_tiles16x16` (ternary_matrix):
//
//   buffer    = [row group 0][row group 1]...        row group = 16 rows (the last zero-padded)
//   row group = [slice 0][slice 1]...[slice S-1]      slice = 16 rows × 16 K = 64 bytes, 64-B aligned
//
//   slice byte p = 4·r + j  (r = row in group 0..15, j = 0..3):
//        bit:   7 6 | 5 4 | 3 2 | 1 0
//             +-----+-----+-----+-----+
//             | f=3 | f=2 | f=1 | f=0 |    field f = u of row r at K = 16·s + 4·f + j
//             +-----+-----+-----+-----+
//
//   so a 64-byte load masked with 0x03 << 2f is one vpdpbusd operand: dword r = 4 consecutive K of
//   row r, and all 16 lanes use the same 4 activations (a broadcast). K is padded to a multiple of
//   16 with u = 0 and zero activations, so padding adds nothing. 2 bits per weight.
//
// Scale groups: per tensor, per row, or per group of G (the SIMD kernels need G % 16 == 0; other G
// run on the portable kernel; isa_serves<ternary_kernels>(isa, w) answers it). Scales must be finite
// and >= 0 (the sign lives in the codes), for both packings.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "bitdial/core/aligned_buffer.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/parallel.hpp"
#include "bitdial/format/bit_planes.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/arm/ternary_neon.hpp"
#include "bitdial/kernels/gemm.hpp"
#include "bitdial/kernels/reference/ternary_gemm.hpp"
#include "bitdial/kernels/x86/ternary_avx2.hpp"
#include "bitdial/kernels/x86/ternary_avx512.hpp"
#include "bitdial/quant/activation.hpp"

namespace bitdial {

namespace detail {

inline void check_ternary_codes(const quantized_matrix<std::int8_t>& q, const char* where) {
  BITDIAL_REQUIRE(q.rows > 0 && q.cols > 0, where, ": shape = ", q.rows, "x", q.cols, ": must not be empty");
  BITDIAL_REQUIRE(q.codes.size() == q.rows * q.cols, where, ": codes.size() = ", q.codes.size(), ": expected ",
                  q.rows * q.cols);
  q.gran.validate(q.cols, where);
  BITDIAL_REQUIRE(q.scales.size() == q.gran.count(q.rows, q.cols), where, ": scales.size() = ", q.scales.size(),
                  ": expected ", q.gran.count(q.rows, q.cols));
  BITDIAL_REQUIRE(q.zero_points.empty(), where, ": zero_points.size() = ", q.zero_points.size(),
                  ": ternary codes are symmetric (no zero points)");
  BITDIAL_REQUIRE(q.offsets.empty(), where, ": offsets.size() = ", q.offsets.size(),
                  ": ternary codes carry no float offsets (serve such a master as a bit-plane stack)");
  for (std::size_t i = 0; i < q.scales.size(); ++i)
    BITDIAL_REQUIRE(std::isfinite(q.scales[i]) && q.scales[i] >= 0.0f, where, ": scales[", i, "] = ", q.scales[i],
                    ": must be finite and >= 0");
  for (std::size_t i = 0; i < q.codes.size(); ++i)
    BITDIAL_REQUIRE(q.codes[i] >= -1 && q.codes[i] <= 1, where, ": codes[", i, "] = ", int(q.codes[i]),
                    ": not ternary (must be -1, 0 or 1)");
}

}  // namespace detail

/// The 2-bit plane form of a ternary matrix: serve it with view(stack, 2).
inline bit_plane_stack pack_ternary_planes(const quantized_matrix<std::int8_t>& q) {
  detail::check_ternary_codes(q, "pack_ternary_planes");
  quantized_matrix<std::int8_t> m = q;
  m.bits = 2;
  return bit_plane_stack::pack(m);
}

/// A ternary matrix in the ternary_tiles16x16 layout (see the header comment), with its scales.
class ternary_matrix {
 public:
  static constexpr std::size_t rows_per_group = 16, k_per_slice = 16, slice_bytes = 64;

  ternary_matrix() = default;

  /// Packs codes in {−1, 0, 1} (any quantized_matrix<int8_t> holding only those) with their scales.
  static ternary_matrix pack(const quantized_matrix<std::int8_t>& q) {
    constexpr const char* where = "ternary_matrix::pack";
    detail::check_ternary_codes(q, where);
    ternary_matrix m;
    m.rows_ = q.rows;
    m.cols_ = q.cols;
    m.gran_ = q.gran;
    m.scales_ = q.scales;
    m.row_groups_ = (q.rows + rows_per_group - 1) / rows_per_group;
    m.slices_ = (q.cols + k_per_slice - 1) / k_per_slice;
    m.data_ = aligned_buffer(detail::checked_mul(m.row_groups_ * m.slices_, slice_bytes, where, "packed bytes"));
    auto* out = reinterpret_cast<std::uint8_t*>(m.data_.data());
    for (std::size_t r = 0; r < q.rows; ++r)
      for (std::size_t c = 0; c < q.cols; ++c) {
        const auto u = static_cast<std::uint8_t>(q.code(r, c) + 1);
        out[m.byte_index(r, c)] |= static_cast<std::uint8_t>(u << field_shift(c));
      }
    return m;
  }

  /// Code of element (r, c) read back from the packed bytes.
  std::int32_t code(std::size_t r, std::size_t c) const noexcept {
    const auto b = reinterpret_cast<const std::uint8_t*>(data_.data())[byte_index(r, c)];
    return static_cast<std::int32_t>((b >> field_shift(c)) & 3u) - 1;
  }
  /// The codes and scales as a quantized matrix (bits = 2).
  quantized_matrix<std::int8_t> unpack() const {
    quantized_matrix<std::int8_t> q;
    q.rows = rows_, q.cols = cols_, q.bits = 2, q.gran = gran_, q.scales = scales_;
    q.codes.resize(rows_ * cols_);
    for (std::size_t r = 0; r < rows_; ++r)
      for (std::size_t c = 0; c < cols_; ++c) q.codes[r * cols_ + c] = static_cast<std::int8_t>(code(r, c));
    return q;
  }

  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  const granularity& gran() const noexcept { return gran_; }
  std::span<const float> scales() const noexcept { return scales_; }
  std::size_t row_groups() const noexcept { return row_groups_; }
  std::size_t slices() const noexcept { return slices_; }
  std::size_t groups_per_row() const noexcept { return gran_.groups_per_row(cols_); }
  /// Start of row group `rg` (64-byte aligned).
  const std::uint8_t* group(std::size_t rg) const noexcept {
    return reinterpret_cast<const std::uint8_t*>(data_.data()) + rg * slices_ * slice_bytes;
  }
  /// Packed weight bytes (what a GEMV reads).
  std::size_t bytes() const noexcept { return data_.size(); }

 private:
  std::size_t byte_index(std::size_t r, std::size_t c) const noexcept {
    const std::size_t rg = r / rows_per_group, s = c / k_per_slice;
    return (rg * slices_ + s) * slice_bytes + 4 * (r % rows_per_group) + c % 4;
  }
  static unsigned field_shift(std::size_t c) noexcept { return static_cast<unsigned>(2 * ((c % k_per_slice) / 4)); }

  std::size_t rows_ = 0, cols_ = 0, row_groups_ = 0, slices_ = 0;
  granularity gran_;
  std::vector<float> scales_;
  aligned_buffer data_;
};

/// Whether the SIMD kernels serve this matrix's scale groups (whole 16-K slices).
inline bool ternary_simd_groups(const ternary_matrix& w) noexcept {
  return w.gran().k != granularity::kind::per_group || w.gran().group % ternary_matrix::k_per_slice == 0;
}

namespace detail {

/// Per call: the activations (a zero-padded copy only when K is not a multiple of 16) and Σx per
/// token and scale group.
struct ternary_plan {
  const ternary_matrix* w = nullptr;
  token_batch x;
  aligned_buffer xpad;
  std::vector<std::int64_t> sumx;  // tokens × groups
  const std::int8_t* token(std::size_t n) const noexcept {
    if (xpad.empty()) return x.token(n);
    return reinterpret_cast<const std::int8_t*>(xpad.data()) + n * w->slices() * ternary_matrix::k_per_slice;
  }
};

inline ternary_plan prepare_ternary(const ternary_matrix& w, const token_batch& x) {
  ternary_plan p;
  p.w = &w;
  p.x = x;
  const std::size_t kp = w.slices() * ternary_matrix::k_per_slice, groups = w.groups_per_row(),
                    glen = w.cols() / groups;
  if (kp != x.cols) {
    p.xpad = aligned_buffer(checked_mul(x.tokens, kp, "gemm(ternary)", "padded activations"));
    for (std::size_t n = 0; n < x.tokens; ++n) std::memcpy(p.xpad.data() + n * kp, x.token(n), x.cols);
  }
  p.sumx.assign(x.tokens * groups, 0);
  for (std::size_t n = 0; n < x.tokens; ++n)
    for (std::size_t g = 0; g < groups; ++g) {
      const std::int8_t* t = x.token(n) + g * glen;
#if BITDIAL_X86_SIMD
      if (x86::plane_avx512_available()) {
        p.sumx[n * groups + g] = x86::detail::sum_int8(t, glen);
        continue;
      }
#endif
      for (std::size_t c = 0; c < glen; ++c) p.sumx[n * groups + g] += t[c];
    }
  return p;
}

/// Writes y(n, r) for rows [r_lo, r_hi) of row group rg from acc[(n·groups + g)·16 + lane] = Σ u·x.
inline void ternary_finish_group(const ternary_plan& p, std::size_t rg, std::size_t n, std::int64_t* acc,
                                 std::size_t r_lo, std::size_t r_hi, matrix_view<float> y, const float* bias) {
  const ternary_matrix& w = *p.w;
  const std::size_t groups = w.groups_per_row();
  std::int64_t row_acc[64];
  std::vector<std::int64_t> big(groups > 64 ? groups : 0);
  std::int64_t* ra = groups > 64 ? big.data() : row_acc;
  for (std::size_t r = r_lo; r < r_hi; ++r) {
    const std::size_t lane = r - rg * ternary_matrix::rows_per_group;
    for (std::size_t g = 0; g < groups; ++g) ra[g] = acc[g * 16 + lane] - p.sumx[n * groups + g];
    y(n, r) = ternary_finish_row(w.gran(), w.scales().data(), r, w.cols(), ra, p.x.scales[n], bias);
  }
}

/// Portable kernel: rows [row_begin, row_end), plain C++ on the packed bytes.
inline void ternary_portable(const ternary_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                             std::size_t row_end) {
  const ternary_matrix& w = *p.w;
  constexpr std::size_t RG = ternary_matrix::rows_per_group;
  const std::size_t groups = w.groups_per_row(), glen = w.cols() / groups, S = w.slices();
  std::vector<std::uint32_t> col_group(S * ternary_matrix::k_per_slice);
  for (std::size_t c = 0; c < col_group.size(); ++c)
    col_group[c] = static_cast<std::uint32_t>(std::min(groups - 1, c / glen));
  std::vector<std::int64_t> acc(groups * RG);
  for (std::size_t rg = row_begin / RG; rg * RG < row_end; ++rg) {
    const std::uint8_t* base = w.group(rg);
    const std::size_t r_lo = std::max(row_begin, rg * RG), r_hi = std::min(row_end, (rg + 1) * RG);
    for (std::size_t n = 0; n < p.x.tokens; ++n) {
      const std::int8_t* x = p.token(n);
      std::fill(acc.begin(), acc.end(), 0);
      for (std::size_t r = r_lo; r < r_hi; ++r) {
        const std::size_t lane = r - rg * RG;
        for (std::size_t s = 0; s < S; ++s) {
          const std::uint8_t* b = base + 64 * s + 4 * lane;
          for (unsigned f = 0; f < 4; ++f)
            for (std::size_t j = 0; j < 4; ++j) {
              const std::size_t c = 16 * s + 4 * f + j;
              const std::int64_t u = (b[j] >> (2 * f)) & 3u;
              acc[col_group[c] * RG + lane] += u * x[c];
            }
        }
      }
      ternary_finish_group(p, rg, n, acc.data(), r_lo, r_hi, y, bias);
    }
  }
}

/// AVX-512 kernel: rows [row_begin, row_end). One token: 4 row groups per pass sharing the
/// activation broadcasts; more tokens: tiles of 2 row groups × up to 8 tokens sharing the unpacking.
inline void ternary_avx512(const ternary_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                           std::size_t row_end) {
#if BITDIAL_X86_SIMD
  const ternary_matrix& w = *p.w;
  constexpr std::size_t RG = ternary_matrix::rows_per_group, TR = 16;  // TR ≥ R·T of any tile
  const std::size_t groups = w.groups_per_row(), S = w.slices(), per_group = S / groups;
  const std::size_t g0 = row_begin / RG, g1 = (row_end - 1) / RG + 1, tokens = p.x.tokens;
  const bool gemv = tokens == 1;
  const std::size_t rows_per_tile = gemv ? 4 : x86::detail::ternary_gemm_rows;
  const std::size_t tokens_per_tile = gemv ? 1 : x86::detail::ternary_gemm_tokens;
  std::vector<std::int64_t> acc(TR * groups * RG);
  std::int32_t seg[TR * RG];
  for (std::size_t rg = g0; rg < g1;) {
    const std::size_t R = std::min(rows_per_tile, g1 - rg);
    const std::uint8_t* bases[4] = {};
    for (std::size_t r = 0; r < R; ++r) bases[r] = w.group(rg + r);
    for (std::size_t n0 = 0; n0 < tokens; n0 += tokens_per_tile) {
      const std::size_t T = std::min(tokens_per_tile, tokens - n0);
      const std::int8_t* xs[x86::detail::ternary_gemm_tokens] = {};
      for (std::size_t j = 0; j < T; ++j) xs[j] = p.token(n0 + j);
      const x86::detail::ternary_fn fn = x86::detail::pick_ternary(static_cast<int>(R), static_cast<int>(T));
      std::fill(acc.begin(), acc.begin() + static_cast<std::ptrdiff_t>(R * T * groups * RG), 0);
      for (std::size_t g = 0; g < groups; ++g)
        for (std::size_t s = g * per_group; s < (g + 1) * per_group; s += x86::detail::ternary_max_slices) {
          fn(bases, xs, s, std::min(x86::detail::ternary_max_slices, (g + 1) * per_group - s), seg);
          // seg[(j·R + r)·16 + lane] → acc[((j·R + r)·groups + g)·16 + lane]
          for (std::size_t b = 0; b < R * T; ++b)
            for (std::size_t l = 0; l < RG; ++l) acc[(b * groups + g) * RG + l] += seg[b * RG + l];
        }
      for (std::size_t j = 0; j < T; ++j)
        for (std::size_t r = 0; r < R; ++r) {
          const std::size_t grp = rg + r, b = j * R + r;
          ternary_finish_group(p, grp, n0 + j, &acc[b * groups * RG], std::max(row_begin, grp * RG),
                               std::min(row_end, (grp + 1) * RG), y, bias);
        }
    }
    rg += R;
  }
#else
  (void)p, (void)y, (void)bias, (void)row_begin, (void)row_end;
#endif
}

/// AVX2 kernel: rows [row_begin, row_end), two row groups per pass, one token at a time.
inline void ternary_avx2(const ternary_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                         std::size_t row_end) {
#if BITDIAL_X86_SIMD
  const ternary_matrix& w = *p.w;
  constexpr std::size_t RG = ternary_matrix::rows_per_group;
  const std::size_t groups = w.groups_per_row(), S = w.slices(), per_group = S / groups;
  const std::size_t g0 = row_begin / RG, g1 = (row_end - 1) / RG + 1;
  std::vector<std::int64_t> acc(2 * groups * RG);
  alignas(32) std::int32_t seg[2 * RG];
  for (std::size_t rg = g0; rg < g1;) {
    const std::size_t R = std::min<std::size_t>(2, g1 - rg);
    const std::uint8_t* bases[2] = {w.group(rg), R == 2 ? w.group(rg + 1) : nullptr};
    const x86::detail::ternary_avx2_fn fn = x86::detail::pick_ternary_avx2(static_cast<int>(R));
    for (std::size_t n = 0; n < p.x.tokens; ++n) {
      std::fill(acc.begin(), acc.end(), 0);
      for (std::size_t g = 0; g < groups; ++g)
        for (std::size_t s = g * per_group; s < (g + 1) * per_group; s += x86::detail::ternary_max_slices) {
          fn(bases, p.token(n), s, std::min(x86::detail::ternary_max_slices, (g + 1) * per_group - s), seg);
          for (std::size_t b = 0; b < R; ++b)
            for (std::size_t l = 0; l < RG; ++l) acc[(b * groups + g) * RG + l] += seg[b * RG + l];
        }
      for (std::size_t b = 0; b < R; ++b) {
        const std::size_t grp = rg + b;
        ternary_finish_group(p, grp, n, &acc[b * groups * RG], std::max(row_begin, grp * RG),
                             std::min(row_end, (grp + 1) * RG), y, bias);
      }
    }
    rg += R;
  }
#else
  (void)p, (void)y, (void)bias, (void)row_begin, (void)row_end;
#endif
}

/// aarch64 kernel (kernels/arm/ternary_neon.hpp): rows [row_begin, row_end), one row group per pass;
/// SDOT over tiles of up to 4 tokens (dotprod), or SMULL + SADALP one token at a time (neon).
template <bool Dotprod>
void ternary_arm(const ternary_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                 std::size_t row_end) {
#if BITDIAL_ARM_SIMD
  const ternary_matrix& w = *p.w;
  constexpr std::size_t RG = ternary_matrix::rows_per_group, TM = arm::detail::ternary_max_tokens;
  const std::size_t groups = w.groups_per_row(), S = w.slices(), per_group = S / groups, tokens = p.x.tokens;
  constexpr std::size_t tile = Dotprod ? TM : 1;
  std::vector<std::int64_t> acc(TM * groups * RG);
  std::int32_t seg[TM * RG];
  for (std::size_t rg = row_begin / RG; rg * RG < row_end; ++rg) {
    for (std::size_t n0 = 0; n0 < tokens; n0 += tile) {
      const std::size_t T = std::min(tile, tokens - n0);
      const std::int8_t* xs[TM] = {};
      for (std::size_t t = 0; t < T; ++t) xs[t] = p.token(n0 + t);
      std::fill(acc.begin(), acc.end(), 0);
      for (std::size_t g = 0; g < groups; ++g)
        for (std::size_t s = g * per_group; s < (g + 1) * per_group; s += arm::detail::ternary_max_slices) {
          const std::size_t ns = std::min(arm::detail::ternary_max_slices, (g + 1) * per_group - s);
#if BITDIAL_ARM_DOTPROD
          if constexpr (Dotprod)
            arm::detail::pick_ternary_sdot(T)(w.group(rg), xs, s, ns, seg);
          else
#endif
            arm::detail::ternary_smull(w.group(rg), xs[0], s, ns, seg);
          for (std::size_t t = 0; t < T; ++t)
            for (std::size_t l = 0; l < RG; ++l) acc[(t * groups + g) * RG + l] += seg[t * RG + l];
        }
      for (std::size_t t = 0; t < T; ++t)
        ternary_finish_group(p, rg, n0 + t, &acc[t * groups * RG], std::max(row_begin, rg * RG),
                             std::min(row_end, (rg + 1) * RG), y, bias);
    }
  }
#else
  (void)p, (void)y, (void)bias, (void)row_begin, (void)row_end;
#endif
}

}  // namespace detail

namespace detail {

inline void ternary_run_reference(const ternary_matrix& w, const token_batch& x, matrix_view<float> y,
                                  const gemm_params& p, const run_options&) {
  reference::ternary_gemm(w.unpack(), x, y, p);
}

using ternary_rows_fn = void (*)(const ternary_plan&, matrix_view<float>, const float*, std::size_t, std::size_t);

template <ternary_rows_fn Rows>
void ternary_run_packed(const ternary_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                        const run_options& o) {
  const ternary_plan plan = prepare_ternary(w, x);
  for_row_blocks(0, p.row_begin, p.row_end, ternary_matrix::rows_per_group, o,
                 [&](std::size_t a, std::size_t b) { Rows(plan, y, p.bias, a, b); });
}

inline std::string ternary_group_rule(const ternary_matrix& w) {
  return "group size " + std::to_string(w.gran().group) + " is not a multiple of 16";
}

}  // namespace detail

/// The ternary kernels (kernels/dispatch.hpp): packed ternary matrices × int8 activations.
struct ternary_kernels {
  using weights = ternary_matrix;
  using activations = token_batch;
  static constexpr const char* name = "ternary weights";
  static std::span<const kernel_row<ternary_matrix, token_batch>> rows() noexcept;
};

namespace detail {
// Worst first; resolve_kernel takes the last that runs here and serves the matrix.
inline constexpr kernel_row<ternary_matrix, token_batch> ternary_rows_table[] = {
    {kernel_isa::reference, &isa_always, &always_serves, &no_rule, &ternary_run_reference},
    {kernel_isa::portable, &isa_always, &always_serves, &no_rule, &ternary_run_packed<&ternary_portable>},
    {kernel_isa::avx2, &x86::plane_avx2_available, &ternary_simd_groups, &ternary_group_rule,
     &ternary_run_packed<&ternary_avx2>},
    {kernel_isa::avx512, &x86::plane_avx512_available, &ternary_simd_groups, &ternary_group_rule,
     &ternary_run_packed<&ternary_avx512>},
    {kernel_isa::neon, &isa_always, &ternary_simd_groups, &ternary_group_rule,
     &ternary_run_packed<&ternary_arm<false>>},
    {kernel_isa::dotprod, &isa_always, &ternary_simd_groups, &ternary_group_rule,
     &ternary_run_packed<&ternary_arm<true>>},
};
}  // namespace detail

inline std::span<const kernel_row<ternary_matrix, token_batch>> ternary_kernels::rows() noexcept {
  return detail::ternary_rows_table;
}

/// Whether the ternary front door can run `isa` here. Deprecated alias of
/// kernel_isa_available<ternary_kernels>(isa).
inline bool ternary_isa_available(kernel_isa isa) noexcept { return kernel_isa_available<ternary_kernels>(isa); }
/// Every ISA the ternary front door runs here, best last. Deprecated alias of kernel_isas<ternary_kernels>().
inline std::vector<kernel_isa> ternary_isas() { return kernel_isas<ternary_kernels>(); }
/// Deprecated alias of isa_serves<ternary_kernels>(kernel_isa::avx512, w).
inline bool ternary_avx512_supports(const ternary_matrix& w) noexcept {
  return isa_serves<ternary_kernels>(kernel_isa::avx512, w);
}
/// Deprecated alias of isa_serves<ternary_kernels>(kernel_isa::avx2, w).
inline bool ternary_avx2_supports(const ternary_matrix& w) noexcept {
  return isa_serves<ternary_kernels>(kernel_isa::avx2, w);
}

/// Y (tokens × rows) = X · Ŵᵀ for a packed ternary matrix and pre-quantized int8 activations.
/// Every ISA returns the floats of reference::ternary_gemm on the same codes, bit for bit.
inline void gemm(const ternary_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  constexpr const char* where = "gemm(ternary)";
  BITDIAL_REQUIRE(w.rows() > 0, where, ": weights: empty matrix");
  detail::check_token_args(x, w.cols(), y, w.rows(), p, where);
  const auto& k = resolve_kernel<ternary_kernels>(w, o.isa, where);
  k.run(w, x, y, gemm_params{p.bias, p.row_begin, std::min(p.row_end, w.rows())}, o);
}

/// Float activations, quantized per token with BitNet's int8 rule inside the call.
inline void gemm(const ternary_matrix& w, const_matrix x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  const auto q = per_token_quantizer<8>().quantize(x);
  gemm(w, as_tokens(q), y, p, o);
}

/// y = Ŵ · x for one float token.
inline void gemv(const ternary_matrix& w, std::span<const float> x, std::span<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  BITDIAL_REQUIRE(y.size() == w.rows(), "gemv(ternary): y.size() = ", y.size(),
                  ": expected the weight rows = ", w.rows());
  std::vector<std::int8_t> xq(x.size());
  const token_params t = per_token_quantizer<8>().quantize_token(x, xq);  // validates x (finite, non-empty)
  gemm(w, token_batch{xq.data(), &t.scale, 1, xq.size(), xq.size()}, matrix_view<float>(y.data(), 1, y.size()), p, o);
}

}  // namespace bitdial
