// bitdial/quant/minifloat.hpp — generic ExMy minifloat formats (FP4/FP6/FP8/E8M0) and the
// LLM-FP4 per-channel minifloat quantizer with a searched real-valued exponent bias (SEMANTICS.md §6).
//
// Format. A code has an optional sign bit, E exponent bits and M mantissa bits (sign | exp | mant,
// sign in bit E+M). For exponent field e and mantissa field m:
//   normal    (e >= 1):  (-1)^s · 2^(e - bias) · (1 + m / 2^M)
//   subnormal (e == 0):  (-1)^s · 2^(1 - bias) · (m / 2^M)          (subnormals on)
//                        ±0 for every m                               (subnormals off: flush; the
//                        codes with m != 0 are non-canonical zeros that encode never produces)
// Special-value policies:
//   none      every code is finite (OCP E2M1, E2M3, E3M2): no Inf, no NaN.
//   nan_only  only S.1…1.1…1 is NaN, the rest of the top binade is finite (OCP E4M3, ml_dtypes
//             float8_e4m3fn "fn" = finite + NaN, no Inf).
//   inf_nan   IEEE 754: exponent all ones is Inf (m == 0) or NaN (m != 0) (OCP E5M2, ml_dtypes
//             float8_e5m2).
//   e8m0      OCP MX scale type (ml_dtypes float8_e8m0fnu): unsigned, no zero, no subnormals — every
//             field is normal, 2^(e - bias)·(1 + m/2^M), including e == 0 — and all ones is NaN.
//
// Predefined formats (checked in the tests against OCP MX v1.0 and ml_dtypes):
//   | format | bias | max    | min subnormal | specials                     |
//   | E2M1   | 1    | 6      | 0.5           | none; 0 .5 1 1.5 2 3 4 6     |
//   | E2M3   | 1    | 7.5    | 0.125         | none                         |
//   | E3M2   | 3    | 28     | 0.0625        | none                         |
//   | E4M3   | 7    | 448    | 2^-9          | NaN only (S.1111.111)        |
//   | E5M2   | 15   | 57344  | 2^-16         | Inf (S.11111.00), NaN        |
//   | E8M0   | 127  | 2^127  | — (min 2^-127)| 0xFF = NaN, no zero, no sign |
//
// decode(code) is exact: every finite value of a valid format is a float (validated: all
// exponents lie in [-149, 127]). Bits above bits() in a code are ignored.
//
// encode(x) is the correctly rounded conversion of the float x, computed exactly in double:
//   * rounding to the nearest representable magnitude; an exact tie goes by `rounding`:
//       half_even (default, IEEE/ml_dtypes/OCP): to the even magnitude code (the code's last bit is
//         0; for M >= 1 that is the even mantissa, for M == 0 the even exponent field, exactly as
//         rounding the float's bit pattern does). With subnormals off the tie between 0 and the
//         smallest normal goes to 0.
//       half_away: to the larger magnitude (microxcaling "nearest").
//       half_up:   toward +inf.
//   * the sign is kept: a negative value that rounds to zero gives -0 (IEEE / ml_dtypes).
//   * overflow (the rounded magnitude is above max, including x = ±Inf):
//       overflow_policy::saturate (default; OCP "saturating" conversion, CUDA __NV_SATFINITE):
//         ±max. For E2M1 that means 7 -> 6, for E4M3 1e6 -> 448, for E5M2 Inf -> 57344.
//       overflow_policy::to_special (IEEE / ml_dtypes non-saturating conversion): ±Inf for inf_nan
//         formats (E5M2: x >= 61440 -> Inf, the tie at 61440 goes to the even code = Inf), NaN for
//         nan_only (E4M3: 464 -> 448 by ties-to-even, anything above -> NaN) and e8m0; formats
//         without special values always saturate.
//   * NaN input: the format's NaN (sign kept; E4M3 0x7F/0xFF, E5M2 0x7E/0xFE, E8M0 0xFF). Formats
//     without NaN (E2M1, E2M3, E3M2) have no faithful result: encode throws bitdial::error.
//   * e8m0 (no zero, no sign): x <= 0 (including -0 and +0) encodes to NaN (0xFF); 0 < x < 2^-127
//     rounds to the smallest value 2^-127 (code 0x00).
// Round trip: encode(decode(c)) == c for every non-NaN code, except Inf codes under saturate and
// the non-canonical zeros of subnormal-off formats.
//
// Everything above is constexpr: `constexpr auto c = e4m3.encode(300.0f);` works at compile time,
// and minifloat<F> is the typed compile-time counterpart. Run-time formats come from
// make_minifloat_format(...), which validates (E in 1..8, M in 0..7, sign+E+M <= 8, policy/sign
// consistency, a positive max, exponent range representable as float).
//
// LLM-FP4 (Liu et al., "LLM-FP4: 4-Bit Floating-Point Quantized Transformers", EMNLP 2023): an ExMy
// grid whose exponent bias b̃ is real-valued and chosen per channel by searching the clipping
// value (their eq. 4: b̃ = 2^E − log2(maxval) + log2(2 − 2^−M) − 1). A real bias is the same as a
// float scale s = 2^(bias − b̃) on the integer-bias grid, so minifloat_quantizer stores
//     x̂ = s_g · decode(encode(x / s_g)),     b̃_g = bias − log2(s_g),
// with x / s_g evaluated in float. Scale rules: default_bias (s = 1, the format as is), absmax
// (s = amax / max), mse_search (the default: candidates s = 1 and s = α·amax/max for α on a
// linear grid [search_lo, search_hi] with search_steps points — our grid, defaults 0.30..1.20 in
// 46 steps; the smallest sum of squared errors wins, earlier candidates on ties, so the search is
// never worse than the default bias). An all-zero group gets s = 1 (codes 0, x̂ = 0, never NaN).
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"
#include "bitdial/quant/uniform.hpp"

namespace bitdial {

enum class minifloat_specials : std::uint8_t { none, nan_only, inf_nan, e8m0 };
enum class overflow_policy : std::uint8_t { saturate, to_special };

inline const char* to_string(minifloat_specials s) noexcept {
  switch (s) {
    case minifloat_specials::none:
      return "none";
    case minifloat_specials::nan_only:
      return "nan_only";
    case minifloat_specials::inf_nan:
      return "inf_nan";
    case minifloat_specials::e8m0:
      return "e8m0";
  }
  return "?";
}

namespace detail {

/// 2^e as a double, exact for -1022 <= e <= 1023 (constexpr; std::ldexp is not).
constexpr double pow2(int e) noexcept { return std::bit_cast<double>(static_cast<std::uint64_t>(e + 1023) << 52); }

/// floor(log2(a)) of a positive, finite, normal double (every float is one).
constexpr int floor_log2(double a) noexcept {
  return static_cast<int>((std::bit_cast<std::uint64_t>(a) >> 52) & 0x7FF) - 1023;
}

constexpr bool sign_bit(double x) noexcept { return (std::bit_cast<std::uint64_t>(x) >> 63) != 0; }

}  // namespace detail

/// An ExMy format; a structural literal type, so it can be a template argument.
struct minifloat_format {
  int exponent_bits = 0;
  int mantissa_bits = 0;
  int bias = 0;
  bool subnormals = true;
  minifloat_specials specials = minifloat_specials::none;
  bool is_signed = true;

  friend constexpr bool operator==(const minifloat_format&, const minifloat_format&) = default;

  constexpr int magnitude_bits() const noexcept { return exponent_bits + mantissa_bits; }
  constexpr int bits() const noexcept { return (is_signed ? 1 : 0) + magnitude_bits(); }
  constexpr std::uint32_t sign_mask() const noexcept { return is_signed ? (1u << magnitude_bits()) : 0u; }
  constexpr std::uint32_t magnitude_mask() const noexcept { return (1u << magnitude_bits()) - 1u; }
  constexpr int max_exponent_field() const noexcept { return (1 << exponent_bits) - 1; }

  /// Largest magnitude code with a finite value.
  constexpr std::uint32_t max_magnitude_code() const noexcept {
    switch (specials) {
      case minifloat_specials::none:
        return magnitude_mask();
      case minifloat_specials::inf_nan:
        return (static_cast<std::uint32_t>(max_exponent_field()) << mantissa_bits) - 1u;
      case minifloat_specials::nan_only:
      case minifloat_specials::e8m0:
        return magnitude_mask() - 1u;
    }
    return magnitude_mask();
  }
  /// Smallest magnitude code with a positive value.
  constexpr std::uint32_t min_positive_code() const noexcept {
    if (specials == minifloat_specials::e8m0) return 0;
    return (subnormals || mantissa_bits == 0) ? 1u : (1u << mantissa_bits);
  }

  /// Value of a magnitude code read as a finite number (ignores the special-value policy).
  constexpr double magnitude_value(std::uint32_t mag) const noexcept {
    const int e = static_cast<int>(mag >> mantissa_bits);
    const std::uint32_t m = mag & ((1u << mantissa_bits) - 1u);
    if (specials == minifloat_specials::e8m0)
      return static_cast<double>((1u << mantissa_bits) + m) * detail::pow2(e - bias - mantissa_bits);
    if (e == 0) return subnormals ? static_cast<double>(m) * detail::pow2(1 - bias - mantissa_bits) : 0.0;
    return static_cast<double>((1u << mantissa_bits) + m) * detail::pow2(e - bias - mantissa_bits);
  }

  constexpr double max_finite() const noexcept { return magnitude_value(max_magnitude_code()); }
  constexpr double min_positive() const noexcept { return magnitude_value(min_positive_code()); }
  /// Smallest normal magnitude (for e8m0: 2^-bias, its smallest value).
  constexpr double min_normal() const noexcept {
    return specials == minifloat_specials::e8m0 ? detail::pow2(-bias) : detail::pow2(1 - bias);
  }
  /// floor(log2(max_finite())): the "emax" of OCP MX (E2M1 2, E2M3 2, E3M2 4, E4M3 8, E5M2 15).
  constexpr int emax() const noexcept { return detail::floor_log2(max_finite()); }

  constexpr bool has_nan() const noexcept { return specials != minifloat_specials::none; }
  constexpr bool has_inf() const noexcept { return specials == minifloat_specials::inf_nan; }

  constexpr bool is_nan(std::uint8_t code) const noexcept {
    const std::uint32_t mag = code & magnitude_mask();
    switch (specials) {
      case minifloat_specials::none:
        return false;
      case minifloat_specials::inf_nan:
        return (mag >> mantissa_bits) == static_cast<std::uint32_t>(max_exponent_field()) &&
               (mag & ((1u << mantissa_bits) - 1u)) != 0;
      case minifloat_specials::nan_only:
      case minifloat_specials::e8m0:
        return mag == magnitude_mask();
    }
    return false;
  }
  constexpr bool is_inf(std::uint8_t code) const noexcept {
    return specials == minifloat_specials::inf_nan &&
           (code & magnitude_mask()) == (static_cast<std::uint32_t>(max_exponent_field()) << mantissa_bits);
  }

  /// Canonical NaN code (E4M3 0x7F, E5M2 0x7E, E8M0 0xFF), or 0 for formats without NaN.
  constexpr std::uint8_t nan_code(bool negative = false) const noexcept {
    std::uint32_t mag = 0;
    switch (specials) {
      case minifloat_specials::none:
        return 0;
      case minifloat_specials::inf_nan:  // quiet NaN: top mantissa bit set
        mag = (static_cast<std::uint32_t>(max_exponent_field()) << mantissa_bits) | (1u << (mantissa_bits - 1));
        break;
      case minifloat_specials::nan_only:
      case minifloat_specials::e8m0:
        mag = magnitude_mask();
        break;
    }
    return static_cast<std::uint8_t>(mag | (negative ? sign_mask() : 0u));
  }
  constexpr std::uint8_t max_code(bool negative = false) const noexcept {
    return static_cast<std::uint8_t>(max_magnitude_code() | (negative ? sign_mask() : 0u));
  }

  /// Why the format is invalid, or nullptr.
  constexpr const char* invalid_reason() const noexcept {
    if (exponent_bits < 1 || exponent_bits > 8) return "exponent_bits must be in 1..8";
    if (mantissa_bits < 0 || mantissa_bits > 7) return "mantissa_bits must be in 0..7";
    if (bits() > 8) return "sign + exponent_bits + mantissa_bits must be <= 8";
    if ((specials == minifloat_specials::e8m0) != !is_signed)
      return "unsigned formats are exactly those with the e8m0 policy";
    if (specials == minifloat_specials::e8m0 && subnormals) return "the e8m0 policy has no subnormals";
    if (specials == minifloat_specials::inf_nan && exponent_bits < 2) return "inf_nan needs exponent_bits >= 2";
    if (specials == minifloat_specials::inf_nan && mantissa_bits < 1) return "inf_nan needs mantissa_bits >= 1";
    if (max_magnitude_code() < min_positive_code()) return "the format has no positive finite value";
    // Every exponent used must be a float exponent, so that decode is exact.
    if (bias < -200 || bias > 400) return "bias is out of range";
    if (detail::floor_log2(min_positive()) < -149) return "bias too large: smallest value is below 2^-149";
    if (detail::floor_log2(max_finite()) > 127) return "bias too small: largest value is above float max";
    return nullptr;
  }
  constexpr bool valid() const noexcept { return invalid_reason() == nullptr; }

  std::string name() const {
    std::string s = "E";
    s += std::to_string(exponent_bits);
    s += 'M';
    s += std::to_string(mantissa_bits);
    return s;
  }

  void validate(const char* where) const {
    if (const char* why = invalid_reason())
      detail::fail(where, ": format = E", exponent_bits, "M", mantissa_bits, " (bias ", bias, ", specials ",
                   to_string(specials), is_signed ? "" : ", unsigned", "): ", why);
  }

  /// Exact value of a code (NaN codes -> quiet NaN, Inf codes -> ±Inf).
  constexpr float decode(std::uint8_t code) const noexcept {
    const bool neg = (code & sign_mask()) != 0;
    if (is_nan(code)) return std::numeric_limits<float>::quiet_NaN();
    if (is_inf(code)) return neg ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
    const float v = static_cast<float>(magnitude_value(code & magnitude_mask()));
    return neg ? -v : v;
  }

  /// Correctly rounded conversion of x (see the header comment for ties, overflow, NaN, -0).
  constexpr std::uint8_t encode(float x, rounding r = rounding::half_even,
                                overflow_policy o = overflow_policy::saturate) const {
    detail::require_nearest(r, "minifloat_format::encode", "r");
    const double xd = static_cast<double>(x);
    const bool neg = detail::sign_bit(xd);
    if (xd != xd) {
      if (has_nan()) return nan_code(neg && is_signed);
      detail::fail("minifloat_format::encode: x = nan: format ", name(), " has no NaN encoding");
    }
    if (!is_signed && (neg || xd == 0.0)) return nan_code();  // e8m0: no zero, no sign
    const double a = neg ? -xd : xd;
    // Ties: round the magnitude up when the rule says so for this sign.
    const bool tie_up =
        r == rounding::half_away || (r == rounding::half_up && !neg) || (r == rounding::half_down && neg);
    const std::uint32_t mag = round_magnitude(a, r == rounding::half_even, tie_up);
    std::uint32_t out = mag;
    if (mag > max_magnitude_code()) {
      if (o == overflow_policy::saturate || specials == minifloat_specials::none)
        out = max_magnitude_code();
      else if (specials == minifloat_specials::inf_nan)
        out = static_cast<std::uint32_t>(max_exponent_field()) << mantissa_bits;
      else
        out = magnitude_mask();  // nan_only / e8m0: the NaN code
    }
    return static_cast<std::uint8_t>(out | (neg ? sign_mask() : 0u));
  }

 private:
  /// Nearest magnitude code of a >= 0 (may exceed max_magnitude_code(): overflow, caller decides).
  constexpr std::uint32_t round_magnitude(double a, bool tie_even, bool tie_up) const noexcept {
    const std::uint32_t overflow = max_magnitude_code() + 1u;
    if (a == std::numeric_limits<double>::infinity()) return overflow;
    // Rounds q >= 0 (exact double) to an integer; `low_code(qi)` is the magnitude code of floor(q).
    auto round_q = [&](double q, auto low_code) -> std::uint32_t {
      const auto qi = static_cast<std::uint64_t>(q);  // floor, q >= 0
      const double frac = q - static_cast<double>(qi);
      const std::uint32_t low = low_code(qi);
      if (frac > 0.5) return low + 1u;
      if (frac < 0.5) return low;
      if (tie_even) return (low & 1u) ? low + 1u : low;
      return tie_up ? low + 1u : low;
    };
    const double min_norm = min_normal();
    if (specials == minifloat_specials::e8m0 && a < min_norm) return 0u;  // nearest is the smallest value
    if (a >= min_norm) {
      const int e = detail::floor_log2(a);
      const int field = e + bias;
      if (field > max_exponent_field()) return overflow;     // a >= 2^(2^E - bias): beyond every format's max
      const double q = a * detail::pow2(mantissa_bits - e);  // in [2^M, 2^(M+1)), exact
      const std::uint32_t lead = 1u << mantissa_bits;
      return round_q(q, [&](std::uint64_t qi) {
        return (static_cast<std::uint32_t>(field) << mantissa_bits) + static_cast<std::uint32_t>(qi) - lead;
      });
    }
    if (subnormals) {
      const double q = a * detail::pow2(bias + mantissa_bits - 1);  // a / min_subnormal, < 2^M
      return round_q(q, [](std::uint64_t qi) { return static_cast<std::uint32_t>(qi); });
    }
    // Subnormals off: only 0 and the smallest normal (code 2^M) are candidates.
    const double half = 0.5 * min_norm;
    if (a < half) return 0u;
    if (a > half) return 1u << mantissa_bits;
    return (!tie_even && tie_up) ? (1u << mantissa_bits) : 0u;
  }
};

inline constexpr int ieee_bias(int exponent_bits) noexcept { return (1 << (exponent_bits - 1)) - 1; }

// OCP MX v1.0 / OCP OFP8 element and scale formats.
inline constexpr minifloat_format e2m1{2, 1, 1, true, minifloat_specials::none, true};
inline constexpr minifloat_format e2m3{2, 3, 1, true, minifloat_specials::none, true};
inline constexpr minifloat_format e3m2{3, 2, 3, true, minifloat_specials::none, true};
inline constexpr minifloat_format e4m3{4, 3, 7, true, minifloat_specials::nan_only, true};
inline constexpr minifloat_format e5m2{5, 2, 15, true, minifloat_specials::inf_nan, true};
inline constexpr minifloat_format e8m0{8, 0, 127, false, minifloat_specials::e8m0, false};

/// Validated run-time format; bias defaults to the IEEE bias 2^(E-1) - 1.
inline minifloat_format make_minifloat_format(int exponent_bits, int mantissa_bits, int bias, bool subnormals = true,
                                              minifloat_specials specials = minifloat_specials::none) {
  const minifloat_format f{exponent_bits, mantissa_bits, bias,
                           subnormals,    specials,      specials != minifloat_specials::e8m0};
  f.validate("make_minifloat_format");
  return f;
}
inline minifloat_format make_minifloat_format(int exponent_bits, int mantissa_bits) {
  BITDIAL_REQUIRE(exponent_bits >= 1 && exponent_bits <= 8, "make_minifloat_format: exponent_bits = ", exponent_bits,
                  ": must be in 1..8");
  return make_minifloat_format(exponent_bits, mantissa_bits, ieee_bias(exponent_bits));
}

/// A minifloat value of compile-time format F (like ml_dtypes' float8_e4m3fn scalar type).
template <minifloat_format F>
struct minifloat {
  static_assert(F.valid(), "bitdial: invalid minifloat format (see minifloat_format::invalid_reason)");
  static constexpr minifloat_format format = F;
  std::uint8_t code = 0;

  static constexpr minifloat from_float(float x, rounding r = rounding::half_even,
                                        overflow_policy o = overflow_policy::saturate) {
    return minifloat{F.encode(x, r, o)};
  }
  constexpr float to_float() const noexcept { return F.decode(code); }
  friend constexpr bool operator==(minifloat, minifloat) = default;
};

using float4_e2m1 = minifloat<e2m1>;
using float6_e2m3 = minifloat<e2m3>;
using float6_e3m2 = minifloat<e3m2>;
using float8_e4m3 = minifloat<e4m3>;
using float8_e5m2 = minifloat<e5m2>;
using float8_e8m0 = minifloat<e8m0>;

/// Minifloat codes (one per byte) with one float scale per group: x̂ = scales[g] · decode(code).
struct minifloat_matrix {
  minifloat_format format = e2m1;
  std::size_t rows = 0;
  std::size_t cols = 0;
  granularity gran;
  std::vector<std::uint8_t> codes;  // rows * cols, row-major
  std::vector<float> scales;        // gran.count(rows, cols)

  std::size_t scale_index(std::size_t r, std::size_t c) const noexcept { return gran.index(r, c, cols); }
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    return scales[scale_index(r, c)] * format.decode(codes[r * cols + c]);
  }
  std::vector<float> dequantize() const {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = dequantize(r, c);
    return out;
  }
  /// LLM-FP4's real-valued exponent bias of group g: b̃ = bias − log2(scale).
  double exponent_bias(std::size_t g) const { return format.bias - std::log2(static_cast<double>(scales[g])); }
};

/// Scaled ExMy quantizer; with mse_search it is LLM-FP4's per-channel real-valued-bias search.
enum class minifloat_scale_rule : std::uint8_t { default_bias, absmax, mse_search };

struct minifloat_quantizer_options {
  minifloat_format format = e2m1;
  granularity gran = granularity::per_row();
  minifloat_scale_rule rule = minifloat_scale_rule::mse_search;
  rounding round = rounding::half_even;
  int search_steps = 46;  // clipping candidates α in [search_lo, search_hi]
  float search_lo = 0.30f;
  float search_hi = 1.20f;
};

class minifloat_quantizer {
 public:
  using scale_rule = minifloat_scale_rule;
  using options = minifloat_quantizer_options;

  explicit minifloat_quantizer(options o = {}) : opt_(o) {
    opt_.format.validate("minifloat_quantizer");
    detail::require_nearest(opt_.round, "minifloat_quantizer");
    BITDIAL_REQUIRE(opt_.format.is_signed, "minifloat_quantizer: format = ", opt_.format.name(),
                    ": needs a signed format");
    BITDIAL_REQUIRE(opt_.search_steps >= 1, "minifloat_quantizer: search_steps = ", opt_.search_steps,
                    ": must be >= 1");
    BITDIAL_REQUIRE(std::isfinite(opt_.search_lo) && opt_.search_lo > 0.0f,
                    "minifloat_quantizer: search_lo = ", opt_.search_lo, ": must be finite and > 0");
    BITDIAL_REQUIRE(std::isfinite(opt_.search_hi) && opt_.search_hi >= opt_.search_lo,
                    "minifloat_quantizer: search_hi = ", opt_.search_hi,
                    ": must be finite and >= search_lo = ", opt_.search_lo);
  }

  const options& opts() const noexcept { return opt_; }

  /// x̂ = s · decode(encode(x / s)), x / s in float; s == 0 never occurs (zero groups use s = 1).
  float fake_quantize(float x, float s) const { return s * opt_.format.decode(opt_.format.encode(x / s, opt_.round)); }

  minifloat_matrix quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "minifloat_quantizer::quantize");
    std::vector<float> scales(opt_.gran.count(w.rows, w.cols));
    detail::for_each_group(w.rows, w.cols, opt_.gran,
                           [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
                             scales[g] = choose_scale(w, row, c0, c1);
                           });
    return encode_all(w, std::move(scales));
  }

  /// Quantizes with caller-chosen scales, one per group (finite, > 0).
  minifloat_matrix quantize_with_scales(const_matrix w, std::span<const float> scales) const {
    const char* where = "minifloat_quantizer::quantize_with_scales";
    detail::check_quantize_input(w, opt_.gran, where);
    BITDIAL_REQUIRE(scales.size() == opt_.gran.count(w.rows, w.cols), where, ": scales.size() = ", scales.size(),
                    ": expected ", opt_.gran.count(w.rows, w.cols));
    for (std::size_t i = 0; i < scales.size(); ++i)
      BITDIAL_REQUIRE(std::isfinite(scales[i]) && scales[i] > 0.0f, where, ": scales[", i, "] = ", scales[i],
                      ": must be finite and > 0");
    return encode_all(w, std::vector<float>(scales.begin(), scales.end()));
  }

 private:
  template <class F>
  static void for_group_elements(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1, F&& f) {
    const std::size_t r0 = row == static_cast<std::size_t>(-1) ? 0 : row;
    const std::size_t r1 = row == static_cast<std::size_t>(-1) ? w.rows : row + 1;
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t c = c0; c < c1; ++c) f(w(r, c));
  }

  double group_sse(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1, float s) const {
    double sse = 0.0;
    for_group_elements(w, row, c0, c1, [&](float x) {
      const double d = static_cast<double>(x) - static_cast<double>(fake_quantize(x, s));
      sse += d * d;
    });
    return sse;
  }

  float choose_scale(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1) const {
    const float amax = detail::group_absmax(w, row, c0, c1);
    if (amax == 0.0f || opt_.rule == scale_rule::default_bias) return 1.0f;
    const double fmax = opt_.format.max_finite();
    if (opt_.rule == scale_rule::absmax) return static_cast<float>(amax / fmax);
    float best_s = 1.0f;
    double best = group_sse(w, row, c0, c1, best_s);
    for (int i = 0; i < opt_.search_steps; ++i) {
      const double t = opt_.search_steps == 1 ? 0.0 : double(i) / double(opt_.search_steps - 1);
      const double alpha = opt_.search_lo + t * (double(opt_.search_hi) - double(opt_.search_lo));
      const float s = static_cast<float>(alpha * amax / fmax);
      if (!(s > 0.0f) || !std::isfinite(s)) continue;
      const double e = group_sse(w, row, c0, c1, s);
      if (e < best) {
        best = e;
        best_s = s;
      }
    }
    return best_s;
  }

  minifloat_matrix encode_all(const_matrix w, std::vector<float> scales) const {
    minifloat_matrix out;
    out.format = opt_.format;
    out.rows = w.rows;
    out.cols = w.cols;
    out.gran = opt_.gran;
    out.scales = std::move(scales);
    out.codes.resize(w.rows * w.cols);
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t c = 0; c < w.cols; ++c)
        out.codes[r * w.cols + c] = opt_.format.encode(w(r, c) / out.scales[out.scale_index(r, c)], opt_.round);
    return out;
  }

  options opt_;
};

}  // namespace bitdial
