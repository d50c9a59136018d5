// bitdial/quant/requant.hpp — integer requantization of int32 accumulators (SEMANTICS.md §7).
//
// Dyadic mode (HAWQ-V3, "dyadic quantization": every rescale is m / 2^e, integer-only):
//   y = clamp(round(acc · m / 2^e) + zero_point, lo, hi)
//   acc: int32; m: int32 in [0, 2^31); e in [0, 62]. acc·m is exact in int64 (|acc·m| < 2^62) and the
//   division by 2^e is an exact rounding shift. Rounding is an option, default RNE (ties to even);
//   RHA (ties away from zero) and RHU (ties toward +inf) are available. Adding the zero point is done
//   in int64, then the result saturates to [lo, hi] — no wrap-around anywhere.
//   to_dyadic(M) turns a real multiplier M > 0 into (m, e) with 31 significant bits:
//   M = f·2^p (f ∈ [0.5, 1)), m = RNE(f·2^31) ∈ [2^30, 2^31), e = 31 - p; if the rounding carries to
//   2^31 then m = 2^30, e = e - 1. A float M is represented exactly (24 ≤ 31 bits); a double M to
//   within a relative 2^-31. M must lie in [2^-32, 2^31) so that 0 <= e <= 62.
//
// gemmlowp / TFLite compatibility mode (MultiplyByQuantizedMultiplier), implemented from the
// published definitions:
//   SaturatingRoundingDoublingHighMul(a, b): ab = a·b in int64; nudge = ab >= 0 ? 2^30 : 1 - 2^30;
//     result = (ab + nudge) / 2^31 with C++ division (truncation toward zero); the single saturating
//     case is a = b = INT32_MIN, which returns INT32_MAX. Exact rounding, as a formula:
//       result = floor(ab / 2^31 + 1/2)      — ties toward +inf (half up), for either sign.
//     The nudge is often described as "round half away from zero", but for negative products the
//     -2^30 + 1 nudge with truncation sends exact ties toward zero (e.g. a·b = -2^30, i.e. -0.5,
//     gives 0); this is the rounding of ARM's VQRDMULH, which the function is defined to match.
//   RoundingDivideByPOT(x, k), k ∈ [0, 31]: x / 2^k rounded to nearest, ties away from zero (RHA):
//     (x >> k) + (remainder > threshold), remainder = x & (2^k - 1), threshold = (2^k-1)/2 floor,
//     plus 1 when x < 0.
//   Multiplier (QuantizeMultiplier): M = f·2^shift, m = RHA(f·2^31) (std::round), carry as above,
//     shift < -31 gives m = 0, shift = 0 (the result is 0); value = m · 2^(shift - 31).
//   requantize_gemmlowp: left = max(shift, 0), right = max(-shift, 0);
//     y = clamp(RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc·2^left, m), right) + zp, lo, hi).
//     acc·2^left saturates to int32 here (the reference leaves that overflow undefined).
//   This is a double rounding (half up, then half away), so it can differ by 1 from the exact
//   RNE(acc·M); the dyadic mode rounds once.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/rounding.hpp"

namespace bitdial {

/// Output zero point and saturation range of a requantization.
struct output_range {
  std::int32_t zero_point = 0;
  std::int32_t lo = -128;
  std::int32_t hi = 127;

  /// Signed b-bit output [-2^(b-1), 2^(b-1)-1]; unsigned b-bit output [0, 2^b-1].
  static output_range signed_bits(int bits, std::int32_t zero_point = 0) {
    detail::checked_bits(bits, "output_range::signed_bits");
    return {zero_point, signed_min(bits), signed_max(bits)};
  }
  static output_range unsigned_bits(int bits, std::int32_t zero_point = 0) {
    detail::checked_bits(bits, "output_range::unsigned_bits");
    return {zero_point, 0, unsigned_max(bits)};
  }
};

/// Real multiplier m / 2^e.
struct dyadic_multiplier {
  std::int32_t m = 0;  // [0, 2^31)
  int e = 0;           // [0, 62]
  double value() const noexcept { return std::ldexp(static_cast<double>(m), -e); }
};

/// gemmlowp/TFLite multiplier: value m · 2^(shift - 31).
struct gemmlowp_multiplier {
  std::int32_t m = 0;  // [2^30, 2^31), or 0
  int shift = 0;       // [-31, 30]; > 0 is a left shift of the accumulator
  double value() const noexcept { return std::ldexp(static_cast<double>(m), shift - 31); }
};

namespace detail {

inline void check_output_range(const output_range& r, const char* where) {
  BITDIAL_REQUIRE(r.lo <= r.hi, where, ": output range lo = ", r.lo, ": greater than hi = ", r.hi);
}

/// round(v / 2^e) under rule r, exact for |v| < 2^62 and 0 <= e <= 62.
constexpr std::int64_t shift_round64(std::int64_t v, int e, rounding r) noexcept {
  if (e == 0) return v;
  const std::int64_t q = v >> e;  // floor
  if (r == rounding::floor) return q;
  const std::int64_t rem = v - q * (std::int64_t{1} << e);
  const std::int64_t half = std::int64_t{1} << (e - 1);
  if (rem != half) return rem > half ? q + 1 : q;
  switch (r) {
    case rounding::half_even:
      return q + (q & 1);
    case rounding::half_away:
      return v < 0 ? q : q + 1;
    case rounding::half_up:
      return q + 1;
    case rounding::floor:
    case rounding::half_down:
      return q;
  }
  return q + (q & 1);
}

constexpr std::int32_t saturate_i32(std::int64_t v, std::int32_t lo, std::int32_t hi) noexcept {
  return static_cast<std::int32_t>(std::clamp<std::int64_t>(v, lo, hi));
}

/// Splits M > 0 into f·2^p, f in [0.5, 1), and rounds f·2^31 by rule r, carrying into p.
struct split_multiplier {
  std::int64_t m;
  int p;
};
inline split_multiplier split(double multiplier, rounding r) noexcept {
  int p = 0;
  const double f = std::frexp(multiplier, &p);
  auto m = static_cast<std::int64_t>(round_with(r, std::ldexp(f, 31)));
  if (m == (std::int64_t{1} << 31)) m /= 2, ++p;
  return {m, p};
}

}  // namespace detail

/// (m, e) with m in [2^30, 2^31) and m / 2^e = multiplier to 31 significant bits (RNE).
inline dyadic_multiplier to_dyadic(double multiplier) {
  BITDIAL_REQUIRE(std::isfinite(multiplier) && multiplier > 0.0, "to_dyadic: multiplier = ", multiplier,
                  ": must be finite and > 0");
  const detail::split_multiplier s = detail::split(multiplier, rounding::half_even);
  const int e = 31 - s.p;
  BITDIAL_REQUIRE(e >= 0 && e <= 62, "to_dyadic: multiplier = ", multiplier, ": must be in [2^-32, 2^31)");
  return {static_cast<std::int32_t>(s.m), e};
}

/// A dyadic multiplier given directly; m in [0, 2^31) is any non-negative int32, e in 0..62.
inline dyadic_multiplier make_dyadic(std::int32_t m, int e) {
  BITDIAL_REQUIRE(m >= 0, "make_dyadic: m = ", m, ": must be >= 0");
  BITDIAL_REQUIRE(e >= 0 && e <= 62, "make_dyadic: e = ", e, ": must be in 0..62");
  return {m, e};
}

/// y = clamp(round(acc·m / 2^e) + zero_point, lo, hi). Kernel entry: inputs assumed validated.
constexpr std::int32_t requantize(std::int32_t acc, dyadic_multiplier d, output_range r = {},
                                  rounding rnd = rounding::half_even) noexcept {
  BITDIAL_ASSERT(d.m >= 0 && d.e >= 0 && d.e <= 62 && r.lo <= r.hi);
  const std::int64_t y = detail::shift_round64(static_cast<std::int64_t>(acc) * d.m, d.e, rnd);
  return detail::saturate_i32(y + r.zero_point, r.lo, r.hi);
}

/// Requantizes a row of accumulators into out (int8_t, uint8_t, int16_t or int32_t), validated.
template <class Out>
void requantize(std::span<const std::int32_t> acc, dyadic_multiplier d, output_range r, std::span<Out> out,
                rounding rnd = rounding::half_even) {
  static_assert(std::is_integral_v<Out> && sizeof(Out) <= 4, "bitdial: requantize outputs an integer of <= 32 bits");
  constexpr const char* where = "requantize";
  BITDIAL_REQUIRE(out.size() == acc.size(), where, ": out.size() = ", out.size(),
                  ": expected acc.size() = ", acc.size());
  BITDIAL_REQUIRE(d.m >= 0, where, ": m = ", d.m, ": must be >= 0");
  BITDIAL_REQUIRE(d.e >= 0 && d.e <= 62, where, ": e = ", d.e, ": must be in 0..62");
  detail::check_output_range(r, where);
  BITDIAL_REQUIRE(r.lo >= std::numeric_limits<Out>::min() && r.hi <= std::numeric_limits<Out>::max(), where,
                  ": output range = [", r.lo, ", ", r.hi, "]: does not fit the output type");
  for (std::size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<Out>(requantize(acc[i], d, r, rnd));
}

// ---- gemmlowp / TFLite compatibility -------------------------------------------------------------

/// floor(a·b / 2^31 + 1/2); INT32_MAX for a = b = INT32_MIN (see the header comment).
constexpr std::int32_t saturating_rounding_doubling_high_mul(std::int32_t a, std::int32_t b) noexcept {
  constexpr std::int32_t int_min = std::numeric_limits<std::int32_t>::min();
  if (a == int_min && b == int_min) return std::numeric_limits<std::int32_t>::max();
  const std::int64_t ab = static_cast<std::int64_t>(a) * b;
  const std::int64_t nudge = ab >= 0 ? (std::int64_t{1} << 30) : 1 - (std::int64_t{1} << 30);
  return static_cast<std::int32_t>((ab + nudge) / (std::int64_t{1} << 31));
}

/// x / 2^exponent rounded half away from zero; exponent in 0..31.
constexpr std::int32_t rounding_divide_by_pot(std::int32_t x, int exponent) noexcept {
  BITDIAL_ASSERT(exponent >= 0 && exponent <= 31);
  const std::int64_t mask = (std::int64_t{1} << exponent) - 1;
  const std::int64_t remainder = static_cast<std::int64_t>(x) & mask;
  const std::int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return static_cast<std::int32_t>((static_cast<std::int64_t>(x) >> exponent) + (remainder > threshold ? 1 : 0));
}

/// TFLite's QuantizeMultiplier: m = RHA(f·2^31) in [2^30, 2^31), shift = p; tiny M (shift < -31) -> {0, 0}.
inline gemmlowp_multiplier to_gemmlowp_multiplier(double multiplier) {
  BITDIAL_REQUIRE(std::isfinite(multiplier) && multiplier > 0.0, "to_gemmlowp_multiplier: multiplier = ", multiplier,
                  ": must be finite and > 0");
  const detail::split_multiplier s = detail::split(multiplier, rounding::half_away);
  if (s.p < -31) return {0, 0};
  BITDIAL_REQUIRE(s.p <= 30, "to_gemmlowp_multiplier: multiplier = ", multiplier, ": must be < 2^30");
  return {static_cast<std::int32_t>(s.m), s.p};
}

/// y = clamp(RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc·2^left, m), right) + zp, lo, hi).
constexpr std::int32_t requantize_gemmlowp(std::int32_t acc, gemmlowp_multiplier g, output_range r = {}) noexcept {
  BITDIAL_ASSERT(g.shift >= -31 && g.shift <= 30 && r.lo <= r.hi);
  const int left = g.shift > 0 ? g.shift : 0;
  const int right = g.shift > 0 ? 0 : -g.shift;
  const std::int32_t x =
      detail::saturate_i32(static_cast<std::int64_t>(acc) * (std::int64_t{1} << left),
                           std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max());
  const std::int32_t y = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, g.m), right);
  return detail::saturate_i32(static_cast<std::int64_t>(y) + r.zero_point, r.lo, r.hi);
}

}  // namespace bitdial
