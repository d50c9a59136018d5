// bitdial/core/rounding.hpp — the rounding rules, for floats and for integer right shifts.
//
//   half_even (RNE): nearest, ties to the even neighbour — IEEE default, torch.round, numpy.round,
//                    ml_dtypes.
//   half_away (RHA): nearest, ties away from zero — C roundf, ggml q8_0, microxcaling "nearest".
//   half_up   (RHU): nearest, ties toward +inf — floor(x + 1/2).
//   half_down (RHD): nearest, ties toward −inf — ceil(x − 1/2); BitMoD's reference picks the lower
//                    level on a tie (quant/bitmod.hpp).
//   floor          : toward −inf. For a right shift, q >> k: dropping the low planes of a master is
//                    truncation (SEMANTICS §3).
//
// One enum names these rules everywhere: a quantizer's tie rule (uniform, minifloat, MX, requant),
// and the rule by which a view derives its b-bit codes from a B-bit master — floor (truncation),
// half_up or half_even (double rounding, SEMANTICS §2), select/plane_view.hpp. The former
// serve_rule enum of select/ is this enum; its names stay one release as deprecated aliases:
//   serve_rule::truncate = rounding::floor, serve_rule::round_half_up = rounding::half_up,
//   serve_rule::round_half_even = rounding::half_even.
// Formats whose encoders only round to nearest (minifloats, MX, BitMoD) reject floor by name.
//
// Float forms work in double, where `x - floor(x)` and `x + 0.5` are exact for every float x, so
// the result does not depend on the FPU rounding mode. Integer forms compute round(q / 2^k) exactly
// with arithmetic shifts (two's complement).
#pragma once

#include <cmath>
#include <cstdint>

/// Makes the compiler materialise x (a float rounded to its type): no multiply-add contraction can
/// reach across it, so a·b + c is two roundings in every translation unit whatever -ffp-contract says.
#ifndef BITDIAL_ROUNDED
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define BITDIAL_ROUNDED(x) __asm__("" : "+x"(x))
#elif defined(__GNUC__) && defined(__aarch64__)
#define BITDIAL_ROUNDED(x) __asm__("" : "+w"(x))
#else
#define BITDIAL_ROUNDED(x) ((void)0)
#endif
#endif
#include "bitdial/core/error.hpp"

namespace bitdial {

/// Values 0..2 are the view rules, in the former serve_rule's order (truncate, round_half_up,
/// round_half_even), which is also the order of a stack's fit slots (select/plane_view.hpp fit_index).
enum class rounding : std::uint8_t {
  floor,
  half_up,
  half_even,
  half_away,
  half_down,
  // Deprecated spellings of the former serve_rule enum (removed in the next release).
  truncate [[deprecated("serve_rule is bitdial::rounding: use rounding::floor")]] = floor,
  round_half_up [[deprecated("serve_rule is bitdial::rounding: use rounding::half_up")]] = half_up,
  round_half_even [[deprecated("serve_rule is bitdial::rounding: use rounding::half_even")]] = half_even,
};

/// Deprecated: the rule a view derives its codes by is a bitdial::rounding (floor = truncation).
using serve_rule [[deprecated("use bitdial::rounding (floor = truncation, half_up, half_even)")]] = rounding;

inline const char* to_string(rounding r) noexcept {
  switch (r) {
    case rounding::half_even:
      return "half_even";
    case rounding::half_away:
      return "half_away";
    case rounding::half_up:
      return "half_up";
    case rounding::floor:
      return "floor";
    case rounding::half_down:
      return "half_down";
  }
  return "?";
}

inline double round_half_even(double x) noexcept {
  const double f = std::floor(x);
  const double d = x - f;
  if (d > 0.5) return f + 1.0;
  if (d < 0.5) return f;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}
inline double round_half_away(double x) noexcept { return std::round(x); }
inline double round_half_up(double x) noexcept { return std::floor(x + 0.5); }
inline double round_half_down(double x) noexcept { return std::ceil(x - 0.5); }

/// Whether r rounds to nearest (a tie rule) rather than directed (floor).
constexpr bool is_nearest(rounding r) noexcept { return r != rounding::floor; }

inline double round_with(rounding r, double x) noexcept {
  switch (r) {
    case rounding::half_even:
      return round_half_even(x);
    case rounding::half_away:
      return round_half_away(x);
    case rounding::half_up:
      return round_half_up(x);
    case rounding::floor:
      return std::floor(x);
    case rounding::half_down:
      return round_half_down(x);
  }
  return round_half_even(x);
}

/// round(q / 2^k) under rule r, exact for every int32 q and 0 <= k < 31.
///   floor:     q >> k (arithmetic shift)                     — the top planes alone (truncation)
///   half_up:   (q >> k) + bit_{k-1}(q)                       — servable from the top planes alone
///   half_even: as half_up, except exact ties (low k bits == 2^(k-1)) go to the even quotient
///   half_away: ties go away from zero
///   half_down: ties go to the floor quotient
constexpr std::int32_t shift_round(std::int32_t q, int k, rounding r) noexcept {
  if (k == 0) return q;
  const std::int32_t floor_q = q >> k;  // arithmetic shift = floor division by 2^k
  if (r == rounding::floor) return floor_q;
  const std::int32_t rem = q - floor_q * (std::int32_t{1} << k);  // in [0, 2^k)
  const std::int32_t half = std::int32_t{1} << (k - 1);
  if (rem > half) return floor_q + 1;
  if (rem < half) return floor_q;
  switch (r) {
    case rounding::half_up:
      return floor_q + 1;
    case rounding::half_even:
      return (floor_q & 1) ? floor_q + 1 : floor_q;
    case rounding::half_away:
      return q < 0 ? floor_q : floor_q + 1;
    case rounding::floor:
    case rounding::half_down:
      return floor_q;
  }
  return floor_q + 1;
}

namespace detail {

/// Rejects floor where only round-to-nearest is defined (minifloat, MX and BitMoD encoders).
constexpr void require_nearest(rounding r, const char* where, const char* name = "round") {
  if (!is_nearest(r))
    fail(where, ": ", name, " = ", to_string(r),
         ": this format rounds to nearest; use half_even, half_away, half_up or half_down");
}

}  // namespace detail

constexpr std::int32_t clamp_i32(std::int32_t v, std::int32_t lo, std::int32_t hi) noexcept {
  return v < lo ? lo : (v > hi ? hi : v);
}

}  // namespace bitdial
