// bitdial/core/rounding.hpp — the tie rules, for floats and for integer right shifts.
//
//   half_even (RNE): ties to the even neighbour — IEEE default, torch.round, numpy.round, ml_dtypes.
//   half_away (RHA): ties away from zero — C roundf, ggml q8_0, microxcaling "nearest".
//   half_up   (RHU): ties toward +inf — floor(x + 1/2).
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

namespace bitdial {

enum class rounding : std::uint8_t { half_even, half_away, half_up };

inline const char* to_string(rounding r) noexcept {
  switch (r) {
    case rounding::half_even:
      return "half_even";
    case rounding::half_away:
      return "half_away";
    case rounding::half_up:
      return "half_up";
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

inline double round_with(rounding r, double x) noexcept {
  switch (r) {
    case rounding::half_even:
      return round_half_even(x);
    case rounding::half_away:
      return round_half_away(x);
    case rounding::half_up:
      return round_half_up(x);
  }
  return round_half_even(x);
}

/// round(q / 2^k) under rule r, exact for every int32 q and 0 <= k < 31.
///   half_up:   (q >> k) + bit_{k-1}(q)                       — servable from the top planes alone
///   half_even: as half_up, except exact ties (low k bits == 2^(k-1)) go to the even quotient
///   half_away: ties go away from zero
constexpr std::int32_t shift_round(std::int32_t q, int k, rounding r) noexcept {
  if (k == 0) return q;
  const std::int32_t floor_q = q >> k;                            // arithmetic shift = floor division by 2^k
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
  }
  return floor_q + 1;
}

constexpr std::int32_t clamp_i32(std::int32_t v, std::int32_t lo, std::int32_t hi) noexcept {
  return v < lo ? lo : (v > hi ? hi : v);
}

}  // namespace bitdial
