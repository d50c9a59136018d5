// bitdial/kernels/reference/minifloat_gemm.hpp — THE SPEC for the FP4 × int8 kernels (MXFP4, NVFP4,
// BitMoD-FP4): exact integer block dots, then one documented float epilogue that every kernel shares.
//
// Levels. Every E2M1 value times 2 is an integer: 2·{0, .5, 1, 1.5, 2, 3, 4, 6} = {0, 1, 2, 3, 4, 6, 8,
// 12}, with the code's sign (−0 → 0). BitMoD's extra value v_g (the −0 code 0b1000) joins them after
// multiplying by a level multiplier L: the smallest of 2, 4, 8, 16 for which L·v is an integer of
// magnitude ≤ 127 for every menu value (the default menu ±5, ±8 gives L = 2; a menu without such an L
// is rejected). So the integer level of code c in block b of row r is
//   ℓ(c) = L·E2M1(c)  (c ≠ 0b1000 or not BitMoD),   ℓ(0b1000) = L·v_g  (BitMoD),   L = 2 for MX/NVFP4.
//
// Integer part (exact; int64 here, int32 lanes in the kernels — see their overflow bounds):
//   dot(n, r, b) = Σ_{c ∈ block b} ℓ(code(r, c)) · xq(n, c)
// Blocks: 32 (MX, scale E8M0), 16 (NVFP4, scale E4M3), the BitMoD group G (float scale).
//
// Float epilogue, in this order (fl = one IEEE binary32 rounding, ties to even):
//   p_b = fl(σ_b · fl(dot_b))          σ_b = 2^(e_b − 127) (MX; E8M0 code e_b ≠ 255, 2^-127 included),
//                                          E4M3 value of the block scale code (NVFP4; must be ≥ 0, not NaN),
//                                          the group's scale s_g (BitMoD; finite)
//   S   = (((p_0 + p_1) + p_2) + …)    float additions over the blocks of the row, ascending
//   y   = fl(sx · fl(S · κ))           κ = 1/2 (MX), fl(s_tensor / 2) (NVFP4), 1/L (BitMoD)
//   y  += bias_r                       when a bias is given (bias_r + y)
// fl(dot) is exact while |dot| < 2^24 (always for MX and NVFP4: |dot| ≤ 32·12·128). For MX and NVFP4
// the product p_b is exact too (an integer of ≤ 17 bits times a power of two, or times a 4-bit
// mantissa), so only S and the two final products round; for BitMoD p_b rounds once.
// Products are formed as fl(double(a)·double(b)) — exact double product, one rounding — so no
// compiler can fuse them into an FMA with a different rounding; the SIMD kernels compute the same
// correctly rounded products (AVX-512: explicit-rounding multiply, or vscalefps for MX; AVX2: a multiply
// pinned by an empty asm before the add) and the same ordered sums, and so return the same floats bit
// for bit (with the default MXCSR: no flush-to-zero, round to nearest).
//
// Relation to dequantize-then-dot: Σ_c ŵ(r, c)·x̂(c) with ŵ = σ_b·ℓ/L (·s_tensor) and x̂ = sx·xq equals
// the exact sx·κ·Σ_b σ_b·dot_b; the epilogue differs only by the roundings above (bound in
// tests/test_minifloat_kernels.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/quant/bitmod.hpp"
#include "bitdial/quant/minifloat.hpp"
#include "bitdial/quant/mx.hpp"
#include "bitdial/quant/nvfp4.hpp"

namespace bitdial {

/// The FP4 block formats the minifloat kernels serve.
enum class fp4_format : std::uint8_t { mxfp4, nvfp4, bitmod };

inline const char* to_string(fp4_format f) noexcept {
  switch (f) {
    case fp4_format::mxfp4:
      return "mxfp4";
    case fp4_format::nvfp4:
      return "nvfp4";
    case fp4_format::bitmod:
      return "bitmod";
  }
  return "?";
}

namespace detail {

/// 2·E2M1(code) as an integer; the −0 code gives 0.
constexpr std::int32_t e2m1_twice(std::uint8_t code) noexcept {
  constexpr std::int32_t mag[8] = {0, 1, 2, 3, 4, 6, 8, 12};
  const std::int32_t m = mag[code & 7u];
  return (code & 8u) ? -m : m;
}

/// BitMoD level multiplier (see the header comment), or 0 when no L in {2, 4, 8, 16} works.
inline std::int32_t bitmod_level_multiplier(std::span<const float> menu) noexcept {
  for (std::int32_t L : {2, 4, 8, 16}) {
    bool ok = true;
    for (float v : menu) {
      const double lv = static_cast<double>(v) * L;
      ok = ok && std::isfinite(v) && lv == std::floor(lv) && std::fabs(lv) <= 127.0;
    }
    if (ok) return L;
  }
  return 0;
}

/// fl(a·b): the exact double product rounded once to float. Compilers may turn this into one float
/// multiply (the same value), and then contract it with a following add into an FMA (aarch64 GCC
/// does, by default): BITDIAL_ROUNDED keeps the product a rounded float wherever it is used.
inline float mf_mul(float a, float b) noexcept {
  float p = static_cast<float>(static_cast<double>(a) * static_cast<double>(b));
  BITDIAL_ROUNDED(p);
  return p;
}

/// The row epilogue after the ordered block sum S: y = fl(sx · fl(S · κ)), then bias_r + y.
inline float mf_finish(float block_sum, float kappa, float token_scale, const float* bias, std::size_t row) noexcept {
  const float y = mf_mul(token_scale, mf_mul(block_sum, kappa));
  return bias ? bias[row] + y : y;
}

/// 2^(code − 127) of an E8M0 scale code (≠ 255), exact (2^-127 is a float subnormal).
inline float e8m0_value(std::uint8_t code) noexcept { return std::ldexp(1.0f, static_cast<int>(code) - 127); }

inline void check_mx_for_kernels(const mx_matrix& w, const char* where) {
  BITDIAL_REQUIRE(w.format == mxfp4, where, ": format = ", w.format.name(), ": the FP4 kernels serve MXFP4 only");
  BITDIAL_REQUIRE(w.rows > 0 && w.cols > 0, where, ": shape = ", w.rows, "x", w.cols, ": must not be empty");
  BITDIAL_REQUIRE(w.cols % mx_block_size == 0, where, ": K = ", w.cols, ": must be a multiple of 32");
  BITDIAL_REQUIRE(w.codes.bits == 4 && w.codes.count == w.rows * w.cols, where, ": codes: ", w.codes.count,
                  " codes of ", w.codes.bits, " bits: expected ", w.rows * w.cols, " 4-bit codes");
  BITDIAL_REQUIRE(w.scales.size() == w.rows * w.blocks_per_row(), where, ": scales.size() = ", w.scales.size(),
                  ": expected ", w.rows * w.blocks_per_row());
  for (std::size_t i = 0; i < w.scales.size(); ++i)
    BITDIAL_REQUIRE(w.scales[i] != 0xFF, where, ": scales[", i, "] = 0xFF: the E8M0 NaN scale");
}

inline void check_nvfp4_for_kernels(const nvfp4_matrix& w, const char* where) {
  BITDIAL_REQUIRE(w.rows > 0 && w.cols > 0, where, ": shape = ", w.rows, "x", w.cols, ": must not be empty");
  BITDIAL_REQUIRE(w.cols % nvfp4_block_size == 0, where, ": K = ", w.cols, ": must be a multiple of 16");
  BITDIAL_REQUIRE(w.codes.bits == 4 && w.codes.count == w.rows * w.cols, where, ": codes: ", w.codes.count,
                  " codes of ", w.codes.bits, " bits: expected ", w.rows * w.cols, " 4-bit codes");
  BITDIAL_REQUIRE(w.scales.size() == w.rows * w.blocks_per_row(), where, ": scales.size() = ", w.scales.size(),
                  ": expected ", w.rows * w.blocks_per_row());
  BITDIAL_REQUIRE(std::isfinite(w.tensor_scale), where, ": tensor_scale = ", w.tensor_scale, ": must be finite");
  for (std::size_t i = 0; i < w.scales.size(); ++i) {
    BITDIAL_REQUIRE(!e4m3.is_nan(w.scales[i]), where, ": scales[", i, "] = ", int(w.scales[i]), ": an E4M3 NaN");
    BITDIAL_REQUIRE((w.scales[i] & 0x80) == 0, where, ": scales[", i, "] = ", int(w.scales[i]),
                    ": block scales must be non-negative (sign bit clear)");
  }
}

inline std::int32_t check_bitmod_for_kernels(const bitmod_matrix& w, const char* where) {
  BITDIAL_REQUIRE(w.rows > 0 && w.cols > 0, where, ": shape = ", w.rows, "x", w.cols, ": must not be empty");
  BITDIAL_REQUIRE(w.group > 0 && w.cols % w.group == 0, where, ": group = ", w.group, ": does not divide K = ", w.cols);
  BITDIAL_REQUIRE(w.codes.bits == 4 && w.codes.count == w.rows * w.cols, where, ": codes: ", w.codes.count,
                  " codes of ", w.codes.bits, " bits: expected ", w.rows * w.cols, " 4-bit codes");
  const std::size_t groups = w.rows * w.groups_per_row();
  BITDIAL_REQUIRE(w.scales.size() == groups && w.extra_index.size() == groups, where,
                  ": scales.size() = ", w.scales.size(), ", extra_index.size() = ", w.extra_index.size(), ": expected ",
                  groups);
  BITDIAL_REQUIRE(!w.menu.empty() && w.menu.size() <= 16, where, ": menu.size() = ", w.menu.size(),
                  ": must be in 1..16");
  const std::int32_t L = bitmod_level_multiplier(w.menu);
  BITDIAL_REQUIRE(L != 0, where, ": menu = {", w.menu[0], w.menu.size() > 1 ? ", …" : "",
                  "}: every value times 2, 4, 8 or 16 must be an integer of magnitude <= 127");
  for (std::size_t g = 0; g < groups; ++g) {
    BITDIAL_REQUIRE(std::isfinite(w.scales[g]), where, ": scales[", g, "] = ", w.scales[g], ": must be finite");
    BITDIAL_REQUIRE(w.extra_index[g] < w.menu.size(), where, ": extra_index[", g, "] = ", int(w.extra_index[g]),
                    ": outside the menu of ", w.menu.size());
  }
  return L;
}

/// The spec loop shared by the three formats: level(r, c) → ℓ, sigma(r, b) → σ_b.
template <class Level, class Sigma>
void mf_reference_gemm(std::size_t rows, std::size_t cols, std::size_t block, Level&& level, Sigma&& sigma, float kappa,
                       const token_batch& x, matrix_view<float> y, const gemm_params& p) {
  const std::size_t r1 = std::min(p.row_end, rows), blocks = cols / block;
  for (std::size_t n = 0; n < x.tokens; ++n)
    for (std::size_t r = p.row_begin; r < r1; ++r) {
      float sum = 0.0f;
      for (std::size_t b = 0; b < blocks; ++b) {
        std::int64_t dot = 0;
        for (std::size_t c = b * block; c < (b + 1) * block; ++c) dot += std::int64_t{level(r, c)} * x.token(n)[c];
        sum += mf_mul(sigma(r, b), static_cast<float>(dot));
      }
      y(n, r) = mf_finish(sum, kappa, x.scales[n], p.bias, r);
    }
}

}  // namespace detail

namespace reference {

/// Y (tokens × rows) = X · Ŵᵀ for an MXFP4 matrix, rows [p.row_begin, min(p.row_end, rows)).
inline void minifloat_gemm(const mx_matrix& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {}) {
  detail::check_mx_for_kernels(w, "reference::minifloat_gemm(mxfp4)");
  detail::mf_reference_gemm(
      w.rows, w.cols, mx_block_size, [&](std::size_t r, std::size_t c) { return detail::e2m1_twice(w.code(r, c)); },
      [&](std::size_t r, std::size_t b) { return detail::e8m0_value(w.scale_code(r, b)); }, 0.5f, x, y, p);
}

/// NVFP4: σ_b = E4M3 block scale, κ = fl(s_tensor / 2).
inline void minifloat_gemm(const nvfp4_matrix& w, const token_batch& x, matrix_view<float> y,
                           const gemm_params& p = {}) {
  detail::check_nvfp4_for_kernels(w, "reference::minifloat_gemm(nvfp4)");
  detail::mf_reference_gemm(
      w.rows, w.cols, nvfp4_block_size, [&](std::size_t r, std::size_t c) { return detail::e2m1_twice(w.code(r, c)); },
      [&](std::size_t r, std::size_t b) { return w.block_scale(r, b); }, detail::mf_mul(w.tensor_scale, 0.5f), x, y, p);
}

/// BitMoD: ℓ(0b1000) = L·v_g, σ_b = s_g, κ = 1/L.
inline void minifloat_gemm(const bitmod_matrix& w, const token_batch& x, matrix_view<float> y,
                           const gemm_params& p = {}) {
  const std::int32_t L = detail::check_bitmod_for_kernels(w, "reference::minifloat_gemm(bitmod)");
  detail::mf_reference_gemm(
      w.rows, w.cols, w.group,
      [&](std::size_t r, std::size_t c) -> std::int32_t {
        const std::uint8_t code = w.code(r, c);
        if (code == bitmod_matrix::extra_code) return static_cast<std::int32_t>(w.extra_value(w.group_index(r, c)) * L);
        return detail::e2m1_twice(code) * (L / 2);
      },
      [&](std::size_t r, std::size_t b) { return w.scales[r * w.groups_per_row() + b]; }, 1.0f / static_cast<float>(L),
      x, y, p);
}

}  // namespace reference
}  // namespace bitdial
