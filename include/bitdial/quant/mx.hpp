// bitdial/quant/mx.hpp — OCP Microscaling (MX v1.0) block formats MXFP4/6/8 and MXINT8, and the packed
// code storage shared by the block-scaled formats (SEMANTICS.md §6).
//
// Follows the OCP Microscaling Formats (MX) Specification v1.0 and its reference implementation
// (microsoft/microxcaling, mx_ops.py) for everything the spec leaves open:
//   * blocks of k = 32 consecutive elements of a row; K must be a multiple of 32 (rejected
//     otherwise — no padding).
//   * shared scale X = 2^(floor(log2(amax)) − emax_elem), amax = max |V| of the block, emax_elem =
//     floor(log2(largest element value)): E2M1 2, E2M3 2, E3M2 4, E4M3 8, E5M2 15, INT8 0.
//     floor(log2) is exact (read from the float's exponent, subnormals included). The exponent is
//     clamped to E8M0's range [-127, 127] and stored as the E8M0 code exponent + 127 (never 0xFF).
//   * all-zero block: as microxcaling, amax = 0 is treated as FP32_MIN_NORMAL = 2^-126, so the
//     scale exponent is max(-127, -126 − emax_elem): code 0 (X = 2^-127) for the FP formats, code 1
//     (X = 2^-126) for MXINT8. Every element code is +0 and dequantizes to 0.
//   * elements P_i = RNE_sat(V_i / X): V_i / X is exact (X is a power of two), then converted to the
//     element format with ties to even and saturation to ±max (never Inf/NaN; E5M2 included).
//     The block max can saturate: [7, 5, −2.5, 0.25, 1, 0…] → X = 1 → [6, 4, −2, 0, 1, 0…] (MXFP4).
//     Ties are an option: rounding::half_away reproduces microxcaling's default "nearest".
//   * MXINT8: 8-bit two's complement with an implied scale 2^-6 (element value = code / 64, OCP MX
//     §5.3), P_i = clamp(round(64·V_i / X), −127, 127). The encoder never emits −128 (−2.0) —
//     microxcaling clamps symmetrically to ±127/64 — but decode accepts it, as the spec allows.
//   * NaN/Inf input: OCP propagates a NaN scale through the whole block. bitdial rejects it at the
//     API instead: bitdial::error naming the element, its row and the block index.
//   * dequantize: x̂ = decode(P_i) · X, exact in float for every element/scale pair.
//
// Storage (packed_codes): 4-bit codes are packed two per byte, the even element in the low nibble
// (the same order as OCP/NVIDIA FP4 tensors); 6- and 8-bit codes use one byte each (6-bit codes in
// the low bits). One E8M0 scale byte per block.
//
//     byte i of a 4-bit row:   bit 7      4 3       0
//                              [ code 2i+1 | code 2i  ]
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"
#include "bitdial/quant/minifloat.hpp"

namespace bitdial {

/// Element codes of a block-scaled matrix: 4-bit codes two per byte, wider codes one per byte.
struct packed_codes {
  int bits = 8;
  std::size_t count = 0;
  std::vector<std::uint8_t> bytes;

  packed_codes() = default;
  packed_codes(int code_bits, std::size_t n)
      : bits(code_bits), count(n), bytes(code_bits == 4 ? (n + 1) / 2 : n, std::uint8_t{0}) {
    BITDIAL_REQUIRE(code_bits >= 1 && code_bits <= 8, "packed_codes: bits = ", code_bits, ": must be in 1..8");
  }

  std::uint8_t get(std::size_t i) const noexcept {
    BITDIAL_ASSERT(i < count);
    if (bits != 4) return bytes[i];
    return static_cast<std::uint8_t>((bytes[i / 2] >> ((i & 1) * 4)) & 0x0F);
  }
  void set(std::size_t i, std::uint8_t code) noexcept {
    BITDIAL_ASSERT(i < count);
    const std::uint8_t mask = static_cast<std::uint8_t>((1u << bits) - 1u);
    code &= mask;
    if (bits != 4) {
      bytes[i] = code;
      return;
    }
    const int shift = static_cast<int>(i & 1) * 4;
    std::uint8_t& b = bytes[i / 2];
    b = static_cast<std::uint8_t>((b & ~(0x0F << shift)) | (code << shift));
  }
};

enum class mx_element : std::uint8_t { e2m1, e2m3, e3m2, e4m3, e5m2, int8 };

/// One of the six OCP MX v1.0 concrete formats (element type; the scale is always E8M0, k = 32).
struct mx_format {
  mx_element element = mx_element::e2m1;

  friend constexpr bool operator==(const mx_format&, const mx_format&) = default;

  constexpr bool is_int() const noexcept { return element == mx_element::int8; }
  /// Element minifloat format (E2M1 for int8, unused).
  constexpr minifloat_format minifloat() const noexcept {
    switch (element) {
      case mx_element::e2m1:
        return e2m1;
      case mx_element::e2m3:
        return e2m3;
      case mx_element::e3m2:
        return e3m2;
      case mx_element::e4m3:
        return e4m3;
      case mx_element::e5m2:
        return e5m2;
      case mx_element::int8:
        return e2m1;
    }
    return e2m1;
  }
  constexpr int element_bits() const noexcept { return is_int() ? 8 : minifloat().bits(); }
  /// emax_elem of OCP MX Table 1: exponent of the largest normal element.
  constexpr int emax() const noexcept { return is_int() ? 0 : minifloat().emax(); }
  /// Largest element magnitude (INT8: 127/64).
  constexpr double max_element() const noexcept { return is_int() ? 127.0 / 64.0 : minifloat().max_finite(); }

  const char* name() const noexcept {
    switch (element) {
      case mx_element::e2m1:
        return "MXFP4";
      case mx_element::e2m3:
        return "MXFP6_E2M3";
      case mx_element::e3m2:
        return "MXFP6_E3M2";
      case mx_element::e4m3:
        return "MXFP8_E4M3";
      case mx_element::e5m2:
        return "MXFP8_E5M2";
      case mx_element::int8:
        return "MXINT8";
    }
    return "?";
  }

  /// Element value of a code (INT8: two's complement / 64).
  constexpr float decode(std::uint8_t code) const noexcept {
    if (is_int()) return static_cast<float>(static_cast<std::int8_t>(code)) / 64.0f;
    return minifloat().decode(code);
  }
  /// Element code of v (already divided by the block scale): round, saturate to ±max.
  std::uint8_t encode(float v, rounding r = rounding::half_even) const {
    if (is_int()) {
      const double q = round_with(r, static_cast<double>(v) * 64.0);
      const double c = q < -127.0 ? -127.0 : (q > 127.0 ? 127.0 : q);
      return static_cast<std::uint8_t>(static_cast<std::int8_t>(c));
    }
    return minifloat().encode(v, r, overflow_policy::saturate);
  }
};

inline constexpr mx_format mxfp4{mx_element::e2m1};
inline constexpr mx_format mxfp6_e2m3{mx_element::e2m3};
inline constexpr mx_format mxfp6_e3m2{mx_element::e3m2};
inline constexpr mx_format mxfp8_e4m3{mx_element::e4m3};
inline constexpr mx_format mxfp8_e5m2{mx_element::e5m2};
inline constexpr mx_format mxint8{mx_element::int8};

inline constexpr std::size_t mx_block_size = 32;

/// A matrix in an MX format: packed element codes and one E8M0 scale per 32-element block.
struct mx_matrix {
  mx_format format;
  std::size_t rows = 0;
  std::size_t cols = 0;
  packed_codes codes;                // rows * cols, row-major
  std::vector<std::uint8_t> scales;  // E8M0 codes, rows * (cols / 32)

  std::size_t blocks_per_row() const noexcept { return cols / mx_block_size; }
  std::uint8_t code(std::size_t r, std::size_t c) const noexcept { return codes.get(r * cols + c); }
  std::uint8_t scale_code(std::size_t r, std::size_t block) const noexcept {
    return scales[r * blocks_per_row() + block];
  }
  /// X = 2^(scale_code − 127) (NaN for 0xFF, which quantize never produces).
  float scale(std::size_t r, std::size_t block) const noexcept { return e8m0.decode(scale_code(r, block)); }
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    return static_cast<float>(static_cast<double>(format.decode(code(r, c))) *
                              static_cast<double>(scale(r, c / mx_block_size)));
  }
  std::vector<float> dequantize() const {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = dequantize(r, c);
    return out;
  }
};

namespace detail {

/// Validates a matrix for a block format: non-empty, K a multiple of the block, all finite (the
/// error names the element and its block).
inline void check_block_input(const_matrix w, std::size_t block, const char* where) {
  check_view(w, where, "weights");
  BITDIAL_REQUIRE(w.cols % block == 0, where, ": K = ", w.cols, ": must be a multiple of the block size ", block);
  for (std::size_t r = 0; r < w.rows; ++r)
    for (std::size_t c = 0; c < w.cols; ++c)
      BITDIAL_REQUIRE(std::isfinite(w(r, c)), where, ": weights(", r, ", ", c, ") = ", w(r, c), " in block ", c / block,
                      " of row ", r, ": must be finite");
}

}  // namespace detail

/// Options of mx_quantizer: the MX format and the element tie rule.
struct mx_options {
  mx_format format = mxfp4;
  rounding round = rounding::half_even;
};

/// OCP MX quantizer.
class mx_quantizer {
 public:
  using options = mx_options;

  explicit mx_quantizer(options o = {}) : opt_(o) { detail::require_nearest(opt_.round, "mx_quantizer"); }
  explicit mx_quantizer(mx_format f) : opt_{f, rounding::half_even} {}

  const options& opts() const noexcept { return opt_; }

  /// Unbiased scale exponent floor(log2(amax)) − emax_elem, clamped to [-127, 127]
  /// (amax = 0 is read as 2^-126, as microxcaling does).
  static int scale_exponent(float amax, mx_format f) noexcept {
    const int e = amax > 0.0f ? detail::floor_log2(static_cast<double>(amax)) : -126;
    const int x = e - f.emax();
    return x < -127 ? -127 : (x > 127 ? 127 : x);
  }
  /// E8M0 code of the shared scale of a block with largest magnitude amax.
  static std::uint8_t scale_code(float amax, mx_format f) noexcept {
    return static_cast<std::uint8_t>(scale_exponent(amax, f) + 127);
  }

  mx_matrix quantize(const_matrix w) const {
    detail::check_block_input(w, mx_block_size, "mx_quantizer::quantize");
    mx_matrix out;
    out.format = opt_.format;
    out.rows = w.rows;
    out.cols = w.cols;
    out.codes = packed_codes(opt_.format.element_bits(), w.rows * w.cols);
    out.scales.resize(w.rows * out.blocks_per_row());
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t b = 0; b < out.blocks_per_row(); ++b) {
        const std::size_t c0 = b * mx_block_size;
        float amax = 0.0f;
        for (std::size_t c = c0; c < c0 + mx_block_size; ++c) amax = std::max(amax, std::fabs(w(r, c)));
        const int x = scale_exponent(amax, opt_.format);
        out.scales[r * out.blocks_per_row() + b] = static_cast<std::uint8_t>(x + 127);
        for (std::size_t c = c0; c < c0 + mx_block_size; ++c) {
          const float v = std::ldexp(w(r, c), -x);  // exact: V / X with X = 2^x
          out.codes.set(r * w.cols + c, opt_.format.encode(v, opt_.round));
        }
      }
    return out;
  }

 private:
  options opt_;
};

}  // namespace bitdial
