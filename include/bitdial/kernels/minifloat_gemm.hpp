// bitdial/kernels/minifloat_gemm.hpp — FP4 block formats (MXFP4, NVFP4, BitMoD-FP4) × int8 per-token
// activations: the kernel layout `fp4_tiles16x8`, its pack functions, and the GEMV/GEMM front door
// (reference | portable | avx2 | avx512 | neon | dotprod).
//
// The result is defined by kernels/reference/minifloat_gemm.hpp: exact integer block dots of the
// integer levels ℓ = L·E2M1 (L = 2; BitMoD's extra value L·v_g), then the documented float epilogue
// p_b = fl(σ_b·fl(dot_b)), S = ordered Σ p_b, y = fl(sx·fl(S·κ)) (+ bias). Every ISA returns those
// floats bit for bit, and equals reference::minifloat_gemm on the quantizer's own matrix.
//
// Layout `fp4_tiles16x8` (fp4_matrix):
//
//   codes     = [row group 0][row group 1]...      row group = 16 rows (the last zero-padded)
//   row group = [slice 0][slice 1]...[slice S-1]    slice = 16 rows × 8 K = 64 bytes, 64-B aligned
//
//   slice byte p = 4·r + j   (r = row in group 0..15, j = 0..3):
//        bit:  7      4 3      0
//             +--------+--------+
//             | c(r,8s+4+j) | c(r,8s+j) |      c = the stored 4-bit E2M1 code
//             +--------+--------+
//
//   so the low nibbles of a slice are 16 rows × K 8s..8s+3 (dword r = row r) and the high nibbles
//   K 8s+4..8s+7: after a table lookup each is one vpdpbusd operand against a broadcast of 4
//   activations. K is zero-padded to a multiple of 8 (code 0 = level 0, activations padded with 0).
//
//   scales    = [row group][block][16 rows]:
//                 MXFP4   int8 e = E8M0 code − 127           (σ = 2^e; code 255 = NaN is rejected)
//                 NVFP4   one byte u = (E + 10)·8 + m for σ = 2^E·(1 + m/8), E ∈ [−9, 8] (every
//                         non-zero E4M3 value, subnormals included), so float bits = (u << 20) +
//                         (117 << 23): two integer ops. A zero block scale stores u for 1.0 and zero
//                         codes — its block contributes ±0 either way, so the floats do not change.
//                 BitMoD  float s_g, plus one byte m << 4 (m = menu index) per row and group
//   table     = 64 bytes, entry 16·m + c = ℓ_m(c) + 128 (u8) for m = 0..3 (MX/NVFP4: one level set
//               repeated; BitMoD: menu entry m as the −0 code's level); for the AVX2 kernel
//               (MX/NVFP4 only) a 32-byte table of ℓ(c) + 12 (vpshufb, vpmaddubsw without saturation)
//
// Bits per weight read by a GEMV: MXFP4 4.25, NVFP4 4.5, BitMoD 4 + 40/G (4.31 at G = 128).
// The AVX-512 and ARM (neon, dotprod) kernels need blocks that are whole slices (block % 8 == 0:
// always for MX and NVFP4), at most 4 BitMoD menu entries and blocks ≤ 65 536 K; the AVX2 kernel
// serves MXFP4 and NVFP4;
// anything else runs on the portable kernel (the rows of fp4_kernels; isa_serves<fp4_kernels>(isa, w)
// answers which ISA serves a matrix).
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
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/arm/minifloat_neon.hpp"
#include "bitdial/kernels/gemm.hpp"
#include "bitdial/kernels/reference/minifloat_gemm.hpp"
#include "bitdial/kernels/x86/minifloat_avx2.hpp"
#include "bitdial/kernels/x86/minifloat_avx512.hpp"
#include "bitdial/quant/activation.hpp"

namespace bitdial {

/// An FP4 block-scaled matrix in the fp4_tiles16x8 layout (see the header comment).
class fp4_matrix {
 public:
  static constexpr std::size_t rows_per_group = 16, k_per_slice = 8, slice_bytes = 64;
  static constexpr std::size_t max_simd_block = 65536;

  fp4_matrix() = default;

  static fp4_matrix pack(const mx_matrix& w) {
    constexpr const char* where = "fp4_matrix::pack(mxfp4)";
    detail::check_mx_for_kernels(w, where);
    fp4_matrix m = shell(fp4_format::mxfp4, w.rows, w.cols, mx_block_size, 2, 1.0f / 2.0f, where);
    m.set_levels({});
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t b = 0; b < m.blocks_; ++b)
        m.scale_bytes_[m.scale_slot(r, b)] =
            static_cast<std::uint8_t>(static_cast<std::int8_t>(int(w.scale_code(r, b)) - 127));
    m.fill_codes([&](std::size_t r, std::size_t c) { return w.code(r, c); });
    return m;
  }

  static fp4_matrix pack(const nvfp4_matrix& w) {
    constexpr const char* where = "fp4_matrix::pack(nvfp4)";
    detail::check_nvfp4_for_kernels(w, where);
    fp4_matrix m =
        shell(fp4_format::nvfp4, w.rows, w.cols, nvfp4_block_size, 2, detail::mf_mul(w.tensor_scale, 0.5f), where);
    m.set_levels({});
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t b = 0; b < m.blocks_; ++b) m.scale_bytes_[m.scale_slot(r, b)] = e4m3_packed(w.block_scale(r, b));
    m.fill_codes([&](std::size_t r, std::size_t c) -> std::uint8_t {
      return w.block_scale(r, c / nvfp4_block_size) == 0.0f ? 0 : w.code(r, c);
    });
    return m;
  }

  static fp4_matrix pack(const bitmod_matrix& w) {
    constexpr const char* where = "fp4_matrix::pack(bitmod)";
    const std::int32_t L = detail::check_bitmod_for_kernels(w, where);
    fp4_matrix m = shell(fp4_format::bitmod, w.rows, w.cols, w.group, L, 1.0f / static_cast<float>(L), where);
    m.set_levels(w.menu);
    m.scale_floats_.assign(m.row_groups_ * m.blocks_ * rows_per_group, 0.0f);
    m.menu_bytes_.assign(m.scale_floats_.size(), 0);
    m.menu_index_.assign(w.rows * m.blocks_, 0);
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t b = 0; b < m.blocks_; ++b) {
        const std::size_t g = r * w.groups_per_row() + b;
        m.scale_floats_[m.scale_slot(r, b)] = w.scales[g];
        m.menu_bytes_[m.scale_slot(r, b)] = static_cast<std::uint8_t>((w.extra_index[g] & 3u) << 4);
        m.menu_index_[r * m.blocks_ + b] = w.extra_index[g];
      }
    m.fill_codes([&](std::size_t r, std::size_t c) { return w.code(r, c); });
    return m;
  }

  fp4_format format() const noexcept { return format_; }
  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  /// K per scale block (32, 16, or the BitMoD group).
  std::size_t block() const noexcept { return block_; }
  std::size_t blocks_per_row() const noexcept { return blocks_; }
  std::size_t row_groups() const noexcept { return row_groups_; }
  std::size_t slices() const noexcept { return slices_; }
  /// L: integer levels are L·(grid value).
  std::int32_t level_multiplier() const noexcept { return level_mult_; }
  /// κ of the epilogue: 1/2 (MX), fl(s_tensor/2) (NVFP4), 1/L (BitMoD).
  float kappa() const noexcept { return kappa_; }
  std::size_t menu_size() const noexcept { return levels_.size() / 16; }

  /// Stored code of (r, c) (an NVFP4 block with a zero scale reads back as zeros).
  std::uint8_t code(std::size_t r, std::size_t c) const noexcept {
    const std::size_t rg = r / rows_per_group, s = c / k_per_slice, k = c % k_per_slice;
    const std::uint8_t b = codes_bytes()[(rg * slices_ + s) * slice_bytes + 4 * (r % rows_per_group) + k % 4];
    return static_cast<std::uint8_t>(k < 4 ? b & 0x0F : b >> 4);
  }
  /// Integer level ℓ of (r, c).
  std::int32_t level(std::size_t r, std::size_t c) const noexcept {
    const std::size_t m = format_ == fp4_format::bitmod ? menu_index_[r * blocks_ + c / block_] : 0;
    return levels_[16 * m + code(r, c)];
  }
  /// σ of block b of row r (exactly the value the kernels use).
  float sigma(std::size_t r, std::size_t b) const noexcept {
    const std::size_t slot = scale_slot(r, b);
    switch (format_) {
      case fp4_format::mxfp4:
        return std::ldexp(1.0f, static_cast<std::int8_t>(scale_bytes_[slot]));
      case fp4_format::nvfp4: {
        const std::uint32_t bits = (std::uint32_t{scale_bytes_[slot]} << 20) + x86::detail::e4m3_packed_bias;
        float f;
        std::memcpy(&f, &bits, 4);
        return f;
      }
      case fp4_format::bitmod:
        return scale_floats_[slot];
    }
    return 0.0f;
  }

  /// Weight bytes a GEMV reads (codes, scales, menu choices).
  std::size_t bytes() const noexcept {
    return codes_.size() + scale_bytes_.size() + scale_floats_.size() * sizeof(float) + menu_bytes_.size();
  }
  /// What the AVX-512 kernel consumes (pointers into this matrix).
  x86::detail::fp4_job job() const noexcept {
    x86::detail::fp4_job j;
    j.codes = codes_bytes();
    j.group_stride = slices_ * slice_bytes;
    j.scale_bytes = scale_bytes_.data();
    j.scale_floats = scale_floats_.data();
    j.menu = menu_bytes_.data();
    j.blocks = blocks_;
    j.slices_per_block = block_ / k_per_slice;
    j.table = reinterpret_cast<const std::uint8_t*>(table_.data());
    j.table16 = reinterpret_cast<const std::uint8_t*>(table16_.data());
    return j;
  }
  /// Whether the AVX-512 kernel serves this matrix (see the header comment). Deprecated as a
  /// public query: isa_serves<fp4_kernels>(kernel_isa::avx512, w) also checks the CPU.
  bool simd_ready() const noexcept { return block_ % k_per_slice == 0 && block_ <= max_simd_block && menu_size() <= 4; }
  /// Whether the AVX2 kernel serves this matrix (MXFP4 and NVFP4). Deprecated as a public query:
  /// isa_serves<fp4_kernels>(kernel_isa::avx2, w) also checks the CPU.
  bool avx2_ready() const noexcept { return format_ != fp4_format::bitmod; }

 private:
  static fp4_matrix shell(fp4_format f, std::size_t rows, std::size_t cols, std::size_t block, std::int32_t L,
                          float kappa, const char* where) {
    fp4_matrix m;
    m.format_ = f;
    m.rows_ = rows;
    m.cols_ = cols;
    m.block_ = block;
    m.blocks_ = cols / block;
    m.level_mult_ = L;
    m.kappa_ = kappa;
    m.row_groups_ = (rows + rows_per_group - 1) / rows_per_group;
    m.slices_ = (cols + k_per_slice - 1) / k_per_slice;
    m.codes_ = aligned_buffer(detail::checked_mul(m.row_groups_ * m.slices_, slice_bytes, where, "packed bytes"));
    if (f != fp4_format::bitmod) m.scale_bytes_.assign(m.row_groups_ * m.blocks_ * rows_per_group, 0);
    m.table_ = aligned_buffer(64);
    m.table16_ = aligned_buffer(32);
    return m;
  }

  /// ℓ per menu entry and code, and the 64-entry biased table of the AVX-512 kernel.
  void set_levels(std::span<const float> menu) {
    const std::size_t variants = menu.empty() ? 1 : menu.size();
    levels_.assign(variants * 16, 0);
    for (std::size_t m = 0; m < variants; ++m)
      for (std::uint8_t c = 0; c < 16; ++c)
        levels_[16 * m + c] = static_cast<std::int8_t>(!menu.empty() && c == bitmod_matrix::extra_code
                                                           ? static_cast<std::int32_t>(menu[m] * level_mult_)
                                                           : detail::e2m1_twice(c) * (level_mult_ / 2));
    auto* t = reinterpret_cast<std::uint8_t*>(table_.data());
    for (std::size_t i = 0; i < 64; ++i) {
      const std::size_t m = (i >> 4) < variants ? (i >> 4) : 0;
      t[i] = static_cast<std::uint8_t>(levels_[16 * m + (i & 15)] + 128);
    }
    if (menu.empty()) {
      auto* t16 = reinterpret_cast<std::uint8_t*>(table16_.data());
      for (std::size_t i = 0; i < 32; ++i)
        t16[i] = static_cast<std::uint8_t>(levels_[i & 15] + x86::detail::fp4_avx2_bias);
    }
  }

  template <class Code>
  void fill_codes(Code&& code) {
    auto* out = reinterpret_cast<std::uint8_t*>(codes_.data());
    for (std::size_t r = 0; r < rows_; ++r)
      for (std::size_t c = 0; c < cols_; ++c) {
        const std::size_t rg = r / rows_per_group, s = c / k_per_slice, k = c % k_per_slice;
        std::uint8_t& b = out[(rg * slices_ + s) * slice_bytes + 4 * (r % rows_per_group) + k % 4];
        b = static_cast<std::uint8_t>(b | ((code(r, c) & 0x0F) << (k < 4 ? 0 : 4)));
      }
  }

  /// The packed NVFP4 scale byte of a non-negative E4M3 value (0 → the byte of 1.0).
  static std::uint8_t e4m3_packed(float v) noexcept {
    if (v == 0.0f) return 10 << 3;
    int e = 0;
    const float f = std::frexp(v, &e);  // v = f · 2^e, f ∈ [0.5, 1)
    const int E = e - 1, m = static_cast<int>(f * 16.0f) - 8;
    return static_cast<std::uint8_t>(((E + 10) << 3) | m);
  }

  std::size_t scale_slot(std::size_t r, std::size_t b) const noexcept {
    return ((r / rows_per_group) * blocks_ + b) * rows_per_group + r % rows_per_group;
  }
  const std::uint8_t* codes_bytes() const noexcept { return reinterpret_cast<const std::uint8_t*>(codes_.data()); }

  fp4_format format_ = fp4_format::mxfp4;
  std::size_t rows_ = 0, cols_ = 0, block_ = 0, blocks_ = 0, row_groups_ = 0, slices_ = 0;
  std::int32_t level_mult_ = 2;
  float kappa_ = 0.5f;
  aligned_buffer codes_;
  aligned_buffer table_;
  aligned_buffer table16_;
  std::vector<std::uint8_t> scale_bytes_;
  std::vector<float> scale_floats_;
  std::vector<std::uint8_t> menu_bytes_;
  std::vector<std::uint8_t> menu_index_;  // BitMoD: rows × blocks (any menu size)
  std::vector<std::int8_t> levels_;       // menu entries × 16
};

namespace reference {

/// The spec evaluated on the packed matrix (its levels, σ and κ read back).
inline void minifloat_gemm(const fp4_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {}) {
  detail::mf_reference_gemm(
      w.rows(), w.cols(), w.block(), [&](std::size_t r, std::size_t c) { return w.level(r, c); },
      [&](std::size_t r, std::size_t b) { return w.sigma(r, b); }, w.kappa(), x, y, p);
}

}  // namespace reference

namespace detail {

/// Per call: the activations (a zero-padded copy only when K is not a multiple of 8) and 128·Σx per
/// token and block.
struct fp4_plan {
  const fp4_matrix* w = nullptr;
  token_batch x;
  aligned_buffer xpad;               // tokens × slices·8, only when K % 8 != 0
  std::vector<std::int32_t> corr;    // tokens × blocks: 128 · Σ_{c ∈ b} xq (AVX-512 table bias; |·| < 2^31)
  std::vector<std::int32_t> corr12;  // tokens × blocks: 12 · Σ_{c ∈ b} xq (AVX2 table bias)
  const std::int8_t* token(std::size_t n) const noexcept {
    if (xpad.empty()) return x.token(n);
    return reinterpret_cast<const std::int8_t*>(xpad.data()) + n * w->slices() * fp4_matrix::k_per_slice;
  }
};

inline fp4_plan prepare_fp4(const fp4_matrix& w, const token_batch& x) {
  fp4_plan p;
  p.w = &w;
  p.x = x;
  const std::size_t kp = w.slices() * fp4_matrix::k_per_slice, blocks = w.blocks_per_row(), bl = w.block();
  if (kp != x.cols) {
    p.xpad = aligned_buffer(checked_mul(x.tokens, kp, "gemm(fp4)", "padded activations"));
    for (std::size_t n = 0; n < x.tokens; ++n) std::memcpy(p.xpad.data() + n * kp, x.token(n), x.cols);
  }
  p.corr.assign(x.tokens * blocks, 0);
  p.corr12.assign(x.tokens * blocks, 0);
  const bool quads = bl % 4 == 0 && x86::plane_avx512_available();
  std::vector<std::int32_t> q(quads ? x.cols / 4 : 0);
  for (std::size_t n = 0; n < x.tokens; ++n) {
    const std::int8_t* t = x.token(n);
#if BITDIAL_X86_SIMD
    if (quads) x86::detail::quad_sums(t, q.size(), q.data());
#endif
    for (std::size_t b = 0; b < blocks; ++b) {
      std::int64_t sum = 0;
      if (quads)
        for (std::size_t i = b * bl / 4; i < (b + 1) * bl / 4; ++i) sum += q[i];
      else
        for (std::size_t c = b * bl; c < (b + 1) * bl; ++c) sum += t[c];
      p.corr[n * blocks + b] = static_cast<std::int32_t>(128 * sum);
      p.corr12[n * blocks + b] = static_cast<std::int32_t>(x86::detail::fp4_avx2_bias * sum);
    }
  }
  return p;
}

/// Portable kernel: rows [row_begin, row_end). Each row's levels are decoded once into int8, then
/// every token takes int64 block dots and the shared epilogue.
inline void fp4_portable(const fp4_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                         std::size_t row_end) {
  const fp4_matrix& w = *p.w;
  const std::size_t blocks = w.blocks_per_row(), bl = w.block();
  std::vector<std::int8_t> lv(w.cols());
  for (std::size_t r = row_begin; r < row_end; ++r) {
    for (std::size_t c = 0; c < w.cols(); ++c) lv[c] = static_cast<std::int8_t>(w.level(r, c));
    for (std::size_t n = 0; n < p.x.tokens; ++n) {
      const std::int8_t* x = p.token(n);
      float sum = 0.0f;
      for (std::size_t b = 0; b < blocks; ++b) {
        std::int64_t dot = 0;
        for (std::size_t c = b * bl; c < (b + 1) * bl; ++c) dot += std::int32_t{lv[c]} * x[c];
        sum += mf_mul(w.sigma(r, b), static_cast<float>(dot));
      }
      y(n, r) = mf_finish(sum, w.kappa(), p.x.scales[n], bias, r);
    }
  }
}

/// AVX-512 kernel: rows [row_begin, row_end). One token: 4 row groups per pass sharing the
/// activation broadcasts; more tokens: one row group against tiles of up to 4 tokens sharing lookups.
inline void fp4_avx512(const fp4_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                       std::size_t row_end) {
#if BITDIAL_X86_SIMD
  const fp4_matrix& w = *p.w;
  constexpr std::size_t RG = fp4_matrix::rows_per_group;
  const x86::detail::fp4_job job = w.job();
  const int F = static_cast<int>(w.format());
  const std::size_t g0 = row_begin / RG, g1 = (row_end - 1) / RG + 1, tokens = p.x.tokens, blocks = w.blocks_per_row();
  const bool gemv = tokens == 1;
  float S[4 * RG];
  for (std::size_t rg = g0; rg < g1;) {
    const std::size_t R = gemv ? std::min<std::size_t>(4, g1 - rg) : 1;
    for (std::size_t n0 = 0; n0 < tokens; n0 += 4) {
      const std::size_t T = gemv ? 1 : std::min<std::size_t>(4, tokens - n0);
      const std::int8_t* xs[4] = {};
      const std::int32_t* corr[4] = {};
      for (std::size_t j = 0; j < T; ++j) {
        xs[j] = p.token(n0 + j);
        corr[j] = &p.corr[(n0 + j) * blocks];
      }
      x86::detail::pick_fp4(F, static_cast<int>(R), static_cast<int>(T))(job, rg, xs, corr, S);
      for (std::size_t b = 0; b < R * T; ++b) {
        const std::size_t grp = rg + (gemv ? b : 0), n = n0 + (gemv ? 0 : b);
        const std::size_t r_lo = std::max(row_begin, grp * RG), r_hi = std::min(row_end, (grp + 1) * RG);
        for (std::size_t r = r_lo; r < r_hi; ++r)
          y(n, r) = mf_finish(S[b * RG + (r - grp * RG)], w.kappa(), p.x.scales[n], bias, r);
      }
    }
    rg += R;
  }
#else
  (void)p, (void)y, (void)bias, (void)row_begin, (void)row_end;
#endif
}

/// AVX2 kernel (MXFP4, NVFP4): rows [row_begin, row_end), two row groups per pass, one token at a time.
inline void fp4_avx2(const fp4_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin,
                     std::size_t row_end) {
#if BITDIAL_X86_SIMD
  const fp4_matrix& w = *p.w;
  constexpr std::size_t RG = fp4_matrix::rows_per_group;
  const x86::detail::fp4_job job = w.job();
  const int F = static_cast<int>(w.format());
  const std::size_t g0 = row_begin / RG, g1 = (row_end - 1) / RG + 1, blocks = w.blocks_per_row();
  float S[2 * RG];
  for (std::size_t rg = g0; rg < g1;) {
    const std::size_t R = std::min<std::size_t>(2, g1 - rg);
    const x86::detail::fp4_avx2_fn fn = x86::detail::pick_fp4_avx2(F, static_cast<int>(R));
    for (std::size_t n = 0; n < p.x.tokens; ++n) {
      fn(job, rg, p.token(n), &p.corr12[n * blocks], S);
      for (std::size_t b = 0; b < R; ++b) {
        const std::size_t grp = rg + b;
        for (std::size_t r = std::max(row_begin, grp * RG); r < std::min(row_end, (grp + 1) * RG); ++r)
          y(n, r) = mf_finish(S[b * RG + (r - grp * RG)], w.kappa(), p.x.scales[n], bias, r);
      }
    }
    rg += R;
  }
#else
  (void)p, (void)y, (void)bias, (void)row_begin, (void)row_end;
#endif
}

/// The aarch64 kernels (kernels/arm/minifloat_neon.hpp): rows [row_begin, row_end), one row group
/// at a time; SDOT against tiles of up to 4 tokens sharing the level lookups (Dot), or SMULL one
/// token at a time.
template <bool Dot>
void fp4_arm(const fp4_plan& p, matrix_view<float> y, const float* bias, std::size_t row_begin, std::size_t row_end) {
#if BITDIAL_ARM_SIMD
  const fp4_matrix& w = *p.w;
  constexpr std::size_t RG = fp4_matrix::rows_per_group, TM = arm::detail::fp4_max_tokens;
  const x86::detail::fp4_job job = w.job();
  const int F = static_cast<int>(w.format());
  const std::size_t tokens = p.x.tokens, per_group = job.blocks * RG;
  float S[TM * RG];
  for (std::size_t rg = row_begin / RG; rg <= (row_end - 1) / RG; ++rg) {
    arm::detail::fp4_group g;
    g.codes = job.codes + rg * job.group_stride;
    if (job.scale_bytes != nullptr && w.format() != fp4_format::bitmod)
      g.scale_bytes = job.scale_bytes + rg * per_group;
    if (w.format() == fp4_format::bitmod) {
      g.scale_floats = job.scale_floats + rg * per_group;
      g.menu = job.menu + rg * per_group;
    }
    g.blocks = job.blocks;
    g.slices_per_block = job.slices_per_block;
    g.table = job.table;
    const std::size_t r_lo = std::max(row_begin, rg * RG), r_hi = std::min(row_end, (rg + 1) * RG);
    for (std::size_t n0 = 0; n0 < tokens;) {
      std::size_t T = 1;
      if constexpr (Dot) {
#if BITDIAL_ARM_DOTPROD
        T = std::min(TM, tokens - n0);
        const std::int8_t* xs[TM] = {};
        for (std::size_t j = 0; j < T; ++j) xs[j] = p.token(n0 + j);
        arm::detail::pick_fp4_sdot(F, T)(g, xs, S);
#endif
      } else {
        arm::detail::pick_fp4_smull(F)(g, p.token(n0), S);
      }
      for (std::size_t j = 0; j < T; ++j)
        for (std::size_t r = r_lo; r < r_hi; ++r)
          y(n0 + j, r) = mf_finish(S[j * RG + (r - rg * RG)], w.kappa(), p.x.scales[n0 + j], bias, r);
      n0 += T;
    }
  }
#else
  (void)p, (void)y, (void)bias, (void)row_begin, (void)row_end;
#endif
}

}  // namespace detail

namespace detail {

inline void fp4_run_reference(const fp4_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                              const run_options&) {
  reference::minifloat_gemm(w, x, y, p);
}

using fp4_rows_fn = void (*)(const fp4_plan&, matrix_view<float>, const float*, std::size_t, std::size_t);

template <fp4_rows_fn Rows>
void fp4_run_packed(const fp4_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                    const run_options& o) {
  const fp4_plan plan = prepare_fp4(w, x);
  for_row_blocks(0, p.row_begin, p.row_end, fp4_matrix::rows_per_group, o,
                 [&](std::size_t a, std::size_t b) { Rows(plan, y, p.bias, a, b); });
}

/// The AVX-512 and ARM kernels: blocks of whole slices (≤ max_simd_block K), at most 4 menu entries.
inline bool fp4_slices_serve(const fp4_matrix& w) noexcept { return w.simd_ready(); }
inline bool fp4_avx2_serves(const fp4_matrix& w) noexcept { return w.avx2_ready(); }
inline std::string fp4_slices_rule(const fp4_matrix& w) {
  return "block " + std::to_string(w.block()) + " with " + std::to_string(w.menu_size()) +
         " menu entries: this kernel needs blocks of whole 8-K slices (at most " +
         std::to_string(fp4_matrix::max_simd_block) + " K) and at most 4 menu entries";
}
inline std::string fp4_avx2_rule(const fp4_matrix& w) {
  return std::string("format ") + to_string(w.format()) + " is not served by the avx2 kernel";
}

}  // namespace detail

/// The FP4 kernels (kernels/dispatch.hpp): packed MXFP4 / NVFP4 / BitMoD matrices × int8 activations.
struct fp4_kernels {
  using weights = fp4_matrix;
  using activations = token_batch;
  static constexpr const char* name = "FP4 weights";
  static std::span<const kernel_row<fp4_matrix, token_batch>> rows() noexcept;
};

namespace detail {
// Worst first; resolve_kernel takes the last that runs here and serves the matrix.
inline constexpr kernel_row<fp4_matrix, token_batch> fp4_rows_table[] = {
    {kernel_isa::reference, &isa_always, &always_serves, &no_rule, &fp4_run_reference},
    {kernel_isa::portable, &isa_always, &always_serves, &no_rule, &fp4_run_packed<&fp4_portable>},
    {kernel_isa::avx2, &x86::plane_avx2_available, &fp4_avx2_serves, &fp4_avx2_rule, &fp4_run_packed<&fp4_avx2>},
    {kernel_isa::avx512, &x86::plane_avx512_available, &fp4_slices_serve, &fp4_slices_rule,
     &fp4_run_packed<&fp4_avx512>},
    {kernel_isa::neon, &isa_always, &fp4_slices_serve, &fp4_slices_rule, &fp4_run_packed<&fp4_arm<false>>},
    {kernel_isa::dotprod, &isa_always, &fp4_slices_serve, &fp4_slices_rule, &fp4_run_packed<&fp4_arm<true>>},
};
}  // namespace detail

inline std::span<const kernel_row<fp4_matrix, token_batch>> fp4_kernels::rows() noexcept {
  return detail::fp4_rows_table;
}

/// Whether the FP4 front door can run `isa` here. Deprecated alias of kernel_isa_available<fp4_kernels>(isa).
inline bool fp4_isa_available(kernel_isa isa) noexcept { return kernel_isa_available<fp4_kernels>(isa); }
/// Every ISA the FP4 front door runs here, best last. Deprecated alias of kernel_isas<fp4_kernels>().
inline std::vector<kernel_isa> fp4_isas() { return kernel_isas<fp4_kernels>(); }

/// Y (tokens × rows) = X · Ŵᵀ for a packed FP4 matrix and pre-quantized int8 activations.
inline void gemm(const fp4_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  constexpr const char* where = "gemm(fp4)";
  BITDIAL_REQUIRE(w.rows() > 0, where, ": weights: empty matrix");
  detail::check_token_args(x, w.cols(), y, w.rows(), p, where);
  const auto& k = resolve_kernel<fp4_kernels>(w, o.isa, where);
  k.run(w, x, y, gemm_params{p.bias, p.row_begin, std::min(p.row_end, w.rows())}, o);
}

/// Float activations, quantized per token with BitNet's int8 rule inside the call.
inline void gemm(const fp4_matrix& w, const_matrix x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  const auto q = per_token_quantizer<8>().quantize(x);
  gemm(w, as_tokens(q), y, p, o);
}

/// y = Ŵ · x for one float token.
inline void gemv(const fp4_matrix& w, std::span<const float> x, std::span<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  BITDIAL_REQUIRE(y.size() == w.rows(), "gemv(fp4): y.size() = ", y.size(), ": expected the weight rows = ", w.rows());
  std::vector<std::int8_t> xq(x.size());
  const token_params t = per_token_quantizer<8>().quantize_token(x, xq);  // validates x (finite, non-empty)
  gemm(w, token_batch{xq.data(), &t.scale, 1, xq.size(), xq.size()}, matrix_view<float>(y.data(), 1, y.size()), p, o);
}

}  // namespace bitdial
