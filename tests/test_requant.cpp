// Integer requantization: dyadic (HAWQ-V3) against an exact 128-bit formula, the gemmlowp/TFLite
// pair against its exact rounding formulas, hand-computed ties, saturation, multiplier conversion.
#include <bitdial/quant/requant.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

__extension__ typedef __int128 i128;  // exact reference arithmetic (GCC/Clang)
constexpr std::int32_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();

/// floor(p / 2^e) and the remainder, by 128-bit division (not by shifts).
struct floor_div {
  i128 q, r;
};
floor_div floor_pow2(i128 p, int e) {
  const i128 d = i128(1) << e;
  i128 q = p / d;  // truncates toward zero
  if (q * d > p) --q;
  return {q, p - q * d};
}

/// round(p / 2^e) under a rule, from the exact quotient and remainder.
i128 exact_round(i128 p, int e, rounding r) {
  if (e == 0) return p;
  const auto [q, rem] = floor_pow2(p, e);
  if (r == rounding::floor) return q;
  const i128 twice = 2 * rem, d = i128(1) << e;
  if (twice < d) return q;
  if (twice > d) return q + 1;
  switch (r) {
    case rounding::half_even:
      return q % 2 == 0 ? q : q + 1;
    case rounding::half_away:
      return p < 0 ? q : q + 1;
    case rounding::half_up:
      return q + 1;
    case rounding::floor:
    case rounding::half_down:
      return q;
  }
  return q;
}

std::int32_t clamp128(i128 v, std::int32_t lo, std::int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : static_cast<std::int32_t>(v));
}

/// Random accumulators: the full int32 range, small values and the extremes.
std::int32_t random_acc(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return static_cast<std::int32_t>(static_cast<std::uint32_t>(rng()));
    case 1:
      return std::uniform_int_distribution<std::int32_t>(-70000, 70000)(rng);
    case 2:
      return std::uniform_int_distribution<std::int32_t>(-300, 300)(rng);
    default: {
      const std::int32_t edges[] = {int32_min, int32_min + 1, -1, 0, 1, int32_max - 1, int32_max};
      return edges[rng() % 7];
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Dyadic

TEST_CASE("to_dyadic: 31 significant bits, exact for float multipliers", "[requant][dyadic]") {
  const auto half = to_dyadic(0.5);
  CHECK(half.m == (1 << 30));
  CHECK(half.e == 31);
  const auto one = to_dyadic(1.0);
  CHECK(one.m == (1 << 30));
  CHECK(one.e == 30);
  const auto three_eighths = to_dyadic(0.375);  // 0.75·2^-1
  CHECK(three_eighths.m == 3 << 29);
  CHECK(three_eighths.e == 32);
  // Rounding carries into the exponent: 1 - 2^-40 rounds to 2^31 / 2^31.
  const auto carry = to_dyadic(1.0 - std::ldexp(1.0, -40));
  CHECK(carry.m == (1 << 30));
  CHECK(carry.e == 30);
  // RNE on the 31-bit mantissa: f·2^31 = 2^30 + 1/2 (a tie) stays even; + 3/2 goes up.
  CHECK(to_dyadic(std::ldexp(double(1 << 30) + 0.5, -31)).m == (1 << 30));
  CHECK(to_dyadic(std::ldexp(double(1 << 30) + 1.5, -31)).m == (1 << 30) + 2);
  // Range ends.
  CHECK(to_dyadic(std::ldexp(1.0, -32)).e == 62);
  CHECK(to_dyadic(double(int32_max)).e == 0);
  CHECK(to_dyadic(double(int32_max)).m == int32_max);

  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 1);
  std::uniform_real_distribution<double> log2m(-31.9, 30.9);
  for (int i = 0; i < 20000; ++i) {
    const double md = std::exp2(log2m(rng));
    const float mf = static_cast<float>(md);
    const auto d = to_dyadic(md);
    const auto f = to_dyadic(mf);
    INFO("multiplier = " << md);
    REQUIRE(d.m >= (1 << 30));
    REQUIRE(d.e >= 0);
    REQUIRE(d.e <= 62);
    REQUIRE(std::fabs(d.value() - md) <= md * std::ldexp(1.0, -31));
    REQUIRE(f.value() == double(mf));  // 24 bits fit in 31
  }
}

TEST_CASE("requantize: hand-computed ties under RNE, RHA and RHU", "[requant][dyadic][ties]") {
  const auto half = make_dyadic(1 << 30, 31);  // exactly 0.5
  const output_range wide{0, int32_min, int32_max};
  struct tie {
    std::int32_t acc, rne, rha, rhu;
  };
  for (const tie t : {tie{1, 0, 1, 1}, tie{-1, 0, -1, 0}, tie{3, 2, 2, 2}, tie{-3, -2, -2, -1}, tie{5, 2, 3, 3},
                      tie{-5, -2, -3, -2}, tie{7, 4, 4, 4}, tie{2, 1, 1, 1}, tie{0, 0, 0, 0}}) {
    INFO("acc = " << t.acc);
    CHECK(requantize(t.acc, half, wide) == t.rne);
    CHECK(requantize(t.acc, half, wide, rounding::half_even) == t.rne);
    CHECK(requantize(t.acc, half, wide, rounding::half_away) == t.rha);
    CHECK(requantize(t.acc, half, wide, rounding::half_up) == t.rhu);
  }
  // A quarter: ties at acc ≡ 2 (mod 4).
  const auto quarter = make_dyadic(1, 2);
  CHECK(requantize(2, quarter, wide) == 0);
  CHECK(requantize(6, quarter, wide) == 2);
  CHECK(requantize(-6, quarter, wide) == -2);
  CHECK(requantize(-6, quarter, wide, rounding::half_away) == -2);
  CHECK(requantize(-10, quarter, wide, rounding::half_away) == -3);
  CHECK(requantize(-10, quarter, wide, rounding::half_up) == -2);
  CHECK(requantize(5, quarter, wide) == 1);  // 1.25
  CHECK(requantize(7, quarter, wide) == 2);  // 1.75
  // e = 0 is an exact integer multiply.
  CHECK(requantize(-7, make_dyadic(3, 0), wide) == -21);
  // Largest shift: |acc·m| < 2^62, so e = 62 rounds everything to 0 except the largest products.
  CHECK(requantize(int32_min, make_dyadic(int32_max, 62), wide) == -1);  // -(1 - 2^-31)
  CHECK(requantize(int32_max, make_dyadic(int32_max, 62), wide) == 1);   // (1 - 2^-31)^2
  CHECK(requantize(1 << 29, make_dyadic(1 << 30, 60), wide) == 0);       // 0.5 -> even 0
  CHECK(requantize(3 << 29, make_dyadic(1 << 30, 60), wide) == 2);       // 1.5 -> 2
}

TEST_CASE("requantize: zero point and saturation at the output range edges", "[requant][dyadic][saturation]") {
  const auto half = make_dyadic(1 << 30, 31);
  CHECK(requantize(1000, half) == 127);
  CHECK(requantize(-1000, half) == -128);
  CHECK(requantize(254, half) == 127);
  CHECK(requantize(256, half) == 127);  // 128 saturates
  CHECK(requantize(-256, half) == -128);
  CHECK(requantize(-258, half) == -128);  // -129 saturates
  CHECK(requantize(120, half, {10, -128, 127}) == 70);
  CHECK(requantize(240, half, {10, -128, 127}) == 127);  // 120 + 10 saturates
  const auto u8 = output_range::unsigned_bits(8, 128);
  CHECK(requantize(-256, half, u8) == 0);
  CHECK(requantize(-258, half, u8) == 0);
  CHECK(requantize(254, half, u8) == 255);
  CHECK(requantize(256, half, u8) == 255);
  const auto s4 = output_range::signed_bits(4);
  CHECK(requantize(14, half, s4) == 7);
  CHECK(requantize(16, half, s4) == 7);
  CHECK(requantize(-16, half, s4) == -8);
  CHECK(requantize(-18, half, s4) == -8);
  // Extreme accumulator and multiplier: no overflow anywhere, the int32 range saturates.
  const output_range wide{0, int32_min, int32_max};
  CHECK(requantize(int32_min, make_dyadic(int32_max, 0), wide) == int32_min);
  CHECK(requantize(int32_max, make_dyadic(int32_max, 0), wide) == int32_max);
  CHECK(requantize(int32_max, make_dyadic(1, 0), {int32_max, int32_min, int32_max}) == int32_max);
  CHECK(requantize(int32_min, make_dyadic(1, 0), {int32_min, int32_min, int32_max}) == int32_min);
}

TEST_CASE("requantize equals the exact 128-bit formula on random accumulators and multipliers", "[requant][dyadic]") {
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 2);
  const rounding rules[] = {rounding::half_even, rounding::half_away, rounding::half_up, rounding::half_down,
                            rounding::floor};
  for (int i = 0; i < 300000; ++i) {
    const std::int32_t acc = random_acc(rng);
    const dyadic_multiplier d = rng() % 2
                                    ? to_dyadic(std::exp2(std::uniform_real_distribution<double>(-31.9, 30.9)(rng)))
                                    : make_dyadic(static_cast<std::int32_t>(rng() >> 33), static_cast<int>(rng() % 63));
    const rounding r = rules[rng() % 5];
    output_range out{0, int32_min, int32_max};
    if (rng() % 2) {
      const int b = 1 + static_cast<int>(rng() % 8);
      out = rng() % 2 ? output_range::signed_bits(b) : output_range::unsigned_bits(b);
      out.zero_point = std::uniform_int_distribution<std::int32_t>(-300, 300)(rng);
    }
    const i128 exact = exact_round(i128(acc) * d.m, d.e, r) + out.zero_point;
    INFO("acc = " << acc << ", m = " << d.m << ", e = " << d.e << ", rule " << to_string(r));
    REQUIRE(requantize(acc, d, out, r) == clamp128(exact, out.lo, out.hi));
  }
  // Exhaustive over small accumulators and every shift with a power-of-two-heavy multiplier.
  for (int e = 0; e <= 12; ++e)
    for (std::int32_t acc = -4096; acc <= 4096; ++acc)
      for (const rounding r : rules) {
        const auto d = make_dyadic(3, e);
        REQUIRE(requantize(acc, d, {0, int32_min, int32_max}, r) ==
                clamp128(exact_round(i128(acc) * 3, e, r), int32_min, int32_max));
      }
}

TEST_CASE("requantize over a span writes the requested integer type", "[requant][dyadic]") {
  const std::vector<std::int32_t> acc{1, 3, -3, 1000, -1000, 0};
  const auto half = make_dyadic(1 << 30, 31);
  std::vector<std::int8_t> out8(acc.size());
  requantize<std::int8_t>(acc, half, {}, out8);
  CHECK(out8 == std::vector<std::int8_t>{0, 2, -2, 127, -128, 0});
  std::vector<std::uint8_t> outu(acc.size());
  requantize<std::uint8_t>(acc, half, output_range::unsigned_bits(8, 128), outu);
  CHECK(outu == std::vector<std::uint8_t>{128, 130, 126, 255, 0, 128});
  std::vector<std::int32_t> out32(acc.size());
  requantize<std::int32_t>(acc, half, {0, int32_min, int32_max}, out32, rounding::half_away);
  CHECK(out32 == std::vector<std::int32_t>{1, 2, -2, 500, -500, 0});
}

// ---------------------------------------------------------------------------------------------
// gemmlowp / TFLite

namespace {

/// SaturatingRoundingDoublingHighMul as a formula: floor(a·b / 2^31 + 1/2), saturating INT32_MIN².
std::int32_t srdhm_formula(std::int32_t a, std::int32_t b) {
  if (a == int32_min && b == int32_min) return int32_max;
  return static_cast<std::int32_t>(exact_round(i128(a) * b, 31, rounding::half_up));
}
/// RoundingDivideByPOT as a formula: x / 2^k, ties away from zero.
std::int32_t rdbpot_formula(std::int32_t x, int k) {
  return static_cast<std::int32_t>(exact_round(x, k, rounding::half_away));
}

}  // namespace

TEST_CASE("SaturatingRoundingDoublingHighMul: ties go toward +inf, one saturating case", "[requant][gemmlowp][ties]") {
  const std::int32_t h = 1 << 30;                             // a·h / 2^31 = a / 2
  CHECK(saturating_rounding_doubling_high_mul(1, h) == 1);    // 0.5 -> 1
  CHECK(saturating_rounding_doubling_high_mul(-1, h) == 0);   // -0.5 -> 0 (not -1)
  CHECK(saturating_rounding_doubling_high_mul(3, h) == 2);    // 1.5 -> 2
  CHECK(saturating_rounding_doubling_high_mul(-3, h) == -1);  // -1.5 -> -1
  CHECK(saturating_rounding_doubling_high_mul(-5, h) == -2);  // -2.5 -> -2
  CHECK(saturating_rounding_doubling_high_mul(2, h) == 1);
  CHECK(saturating_rounding_doubling_high_mul(-2, h) == -1);
  CHECK(saturating_rounding_doubling_high_mul(int32_min, int32_min) == int32_max);
  CHECK(saturating_rounding_doubling_high_mul(int32_min, int32_max) == -int32_max);
  CHECK(saturating_rounding_doubling_high_mul(int32_max, int32_max) == int32_max - 1);
  CHECK(saturating_rounding_doubling_high_mul(int32_min, int32_min + 1) == int32_max);
  CHECK(saturating_rounding_doubling_high_mul(int32_min, 1) == -1);
  CHECK(saturating_rounding_doubling_high_mul(0, int32_min) == 0);
  STATIC_REQUIRE(saturating_rounding_doubling_high_mul(-1, 1 << 30) == 0);

  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 3);
  for (int i = 0; i < 300000; ++i) {
    const std::int32_t a = random_acc(rng), b = random_acc(rng);
    INFO("a = " << a << ", b = " << b);
    REQUIRE(saturating_rounding_doubling_high_mul(a, b) == srdhm_formula(a, b));
  }
  // Every exact tie in a window: a·b = (2j + 1)·2^30.
  for (std::int32_t a = -2001; a <= 2001; a += 2)
    REQUIRE(saturating_rounding_doubling_high_mul(a, h) == srdhm_formula(a, h));
}

TEST_CASE("RoundingDivideByPOT: ties away from zero, every exponent", "[requant][gemmlowp][ties]") {
  CHECK(rounding_divide_by_pot(5, 1) == 3);
  CHECK(rounding_divide_by_pot(-5, 1) == -3);
  CHECK(rounding_divide_by_pot(3, 1) == 2);
  CHECK(rounding_divide_by_pot(-3, 1) == -2);
  CHECK(rounding_divide_by_pot(1, 1) == 1);
  CHECK(rounding_divide_by_pot(-1, 1) == -1);
  CHECK(rounding_divide_by_pot(6, 2) == 2);    // 1.5
  CHECK(rounding_divide_by_pot(-6, 2) == -2);  // -1.5
  CHECK(rounding_divide_by_pot(5, 2) == 1);    // 1.25
  CHECK(rounding_divide_by_pot(-7, 2) == -2);  // -1.75
  CHECK(rounding_divide_by_pot(-123, 0) == -123);
  CHECK(rounding_divide_by_pot(int32_min, 31) == -1);
  CHECK(rounding_divide_by_pot(int32_max, 31) == 1);
  CHECK(rounding_divide_by_pot(1 << 30, 31) == 1);
  CHECK(rounding_divide_by_pot(-(1 << 30), 31) == -1);
  CHECK(rounding_divide_by_pot((1 << 30) - 1, 31) == 0);
  CHECK(rounding_divide_by_pot(int32_min, 1) == -(1 << 30));
  for (int k = 0; k <= 31; ++k) {
    for (std::int32_t x = -3000; x <= 3000; ++x) REQUIRE(rounding_divide_by_pot(x, k) == rdbpot_formula(x, k));
    for (std::int32_t x : {int32_min, int32_min + 1, int32_max, int32_max - 1})
      REQUIRE(rounding_divide_by_pot(x, k) == rdbpot_formula(x, k));
  }
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 4);
  for (int i = 0; i < 200000; ++i) {
    const std::int32_t x = random_acc(rng);
    const int k = static_cast<int>(rng() % 32);
    INFO("x = " << x << ", k = " << k);
    REQUIRE(rounding_divide_by_pot(x, k) == rdbpot_formula(x, k));
  }
}

TEST_CASE("gemmlowp multiplier conversion follows TFLite's QuantizeMultiplier", "[requant][gemmlowp]") {
  const auto half = to_gemmlowp_multiplier(0.5);
  CHECK(half.m == (1 << 30));
  CHECK(half.shift == 0);
  const auto quarter = to_gemmlowp_multiplier(0.25);
  CHECK(quarter.m == (1 << 30));
  CHECK(quarter.shift == -1);
  const auto three = to_gemmlowp_multiplier(3.0);  // 0.75·2^2
  CHECK(three.m == 3 << 29);
  CHECK(three.shift == 2);
  CHECK(to_gemmlowp_multiplier(1.0 - std::ldexp(1.0, -40)).m == (1 << 30));  // carry
  CHECK(to_gemmlowp_multiplier(1.0 - std::ldexp(1.0, -40)).shift == 1);
  // RHA on the mantissa (std::round), unlike to_dyadic's RNE: f·2^31 = 2^30 + 1/2.
  CHECK(to_gemmlowp_multiplier(std::ldexp(double(1 << 30) + 0.5, -31)).m == (1 << 30) + 1);
  // Tiny multipliers become 0.
  const auto tiny = to_gemmlowp_multiplier(std::ldexp(1.0, -40));
  CHECK(tiny.m == 0);
  CHECK(tiny.shift == 0);
  CHECK(requantize_gemmlowp(int32_max, tiny, {0, int32_min, int32_max}) == 0);
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 5);
  for (int i = 0; i < 10000; ++i) {
    const double md = std::exp2(std::uniform_real_distribution<double>(-31.0, 29.9)(rng));
    const auto g = to_gemmlowp_multiplier(md);
    REQUIRE(g.m >= (1 << 30));
    REQUIRE(std::fabs(g.value() - md) <= md * std::ldexp(1.0, -31));
  }
}

TEST_CASE("requantize_gemmlowp equals its exact double-rounding formula", "[requant][gemmlowp]") {
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 6);
  int differs_from_single_rounding = 0;
  for (int i = 0; i < 300000; ++i) {
    const std::int32_t acc = random_acc(rng);
    const double md = std::exp2(std::uniform_real_distribution<double>(-31.0, 0.0)(rng));
    const auto g = to_gemmlowp_multiplier(md);
    if (g.shift > 0) continue;  // mantissa rounding carried to 1.0
    output_range out{0, int32_min, int32_max};
    if (rng() % 2) out = output_range::signed_bits(8, std::uniform_int_distribution<std::int32_t>(-20, 20)(rng));
    // round_half_up(acc·m / 2^31), then round_half_away(· / 2^right), then + zp, saturate.
    const int right = -g.shift;
    const i128 high = exact_round(i128(acc) * g.m, 31, rounding::half_up);
    const i128 y = exact_round(high, right, rounding::half_away) + out.zero_point;
    INFO("acc = " << acc << ", m = " << g.m << ", shift = " << g.shift);
    REQUIRE(requantize_gemmlowp(acc, g, out) == clamp128(y, out.lo, out.hi));
    // Against a single RNE rounding of the same multiplier the double rounding is off by at most 1.
    const i128 single = exact_round(i128(acc) * g.m, 31 + right, rounding::half_even);
    const std::int32_t a = requantize_gemmlowp(acc, g, {0, int32_min, int32_max});
    const std::int32_t b = clamp128(single, int32_min, int32_max);
    REQUIRE(std::abs(std::int64_t(a) - b) <= 1);
    differs_from_single_rounding += a != b;
  }
  // The double rounding is observable (about 1.6% of these cases with the default seed).
  CHECK(differs_from_single_rounding > 0);
  // Hand-computed: M = 0.25 (m = 2^30, shift = -1): acc·2^30/2^31 = acc/2 (half up), then /2 (half away).
  const auto q = to_gemmlowp_multiplier(0.25);
  const output_range wide{0, int32_min, int32_max};
  CHECK(requantize_gemmlowp(2, q, wide) == 1);    // 1 -> 0.5 -> 1 (RNE of 0.5 would give 0)
  CHECK(requantize_gemmlowp(-2, q, wide) == -1);  // -1 -> -0.5 -> -1
  CHECK(requantize_gemmlowp(3, q, wide) == 1);    // 1.5 -> 2 -> 1 (exact 0.75 -> 1)
  CHECK(requantize_gemmlowp(-3, q, wide) == -1);  // -1.5 -> -1 -> -0.5 -> -1
  CHECK(requantize_gemmlowp(-5, q, wide) == -1);  // -2.5 -> -2 -> -1 (exact -1.25 -> -1)
  CHECK(requantize_gemmlowp(6, q, wide) == 2);    // 3 -> 1.5 -> 2
  // Left shifts (M >= 1) saturate the shifted accumulator instead of overflowing.
  const auto four = to_gemmlowp_multiplier(4.0);  // m = 2^30, shift = 3
  CHECK(four.shift == 3);
  CHECK(requantize_gemmlowp(5, four, wide) == 20);
  CHECK(requantize_gemmlowp(int32_max / 2, four, wide) == int32_max / 2 + 1);  // saturated 2^31-1, ·1/2, half up
  CHECK(requantize_gemmlowp(100, four) == 127);
  CHECK(requantize_gemmlowp(-100, four) == -128);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST_CASE("requantization rejects bad multipliers and ranges by name", "[requant][errors]") {
  CHECK_THROWS_WITH(to_dyadic(0.0), Catch::Contains("multiplier = 0"));
  CHECK_THROWS_WITH(to_dyadic(-0.5), Catch::Contains("multiplier = -0.5"));
  CHECK_THROWS_WITH(to_dyadic(std::nan("")), Catch::Contains("multiplier = nan"));
  CHECK_THROWS_WITH(to_dyadic(std::numeric_limits<double>::infinity()), Catch::Contains("multiplier = inf"));
  CHECK_THROWS_WITH(to_dyadic(std::ldexp(1.0, 31)), Catch::Contains("[2^-32, 2^31)"));
  CHECK_THROWS_WITH(to_dyadic(std::ldexp(1.0, -33)), Catch::Contains("[2^-32, 2^31)"));
  CHECK_THROWS_WITH(make_dyadic(-1, 3), Catch::Contains("m = -1"));
  CHECK_THROWS_WITH(make_dyadic(1, 63), Catch::Contains("e = 63"));
  CHECK_THROWS_WITH(make_dyadic(1, -1), Catch::Contains("e = -1"));
  CHECK_THROWS_WITH(to_gemmlowp_multiplier(0.0), Catch::Contains("multiplier = 0"));
  CHECK_THROWS_WITH(to_gemmlowp_multiplier(std::ldexp(1.0, 31)), Catch::Contains("< 2^30"));
  CHECK_THROWS_WITH(output_range::signed_bits(0), Catch::Contains("bits = 0"));
  CHECK_THROWS_WITH(output_range::unsigned_bits(9), Catch::Contains("bits = 9"));
  const std::vector<std::int32_t> acc{1, 2, 3};
  std::vector<std::int8_t> out(2);
  const auto d = make_dyadic(1, 1);
  CHECK_THROWS_WITH(requantize<std::int8_t>(acc, d, {}, out), Catch::Contains("out.size() = 2"));
  out.resize(3);
  CHECK_THROWS_WITH(requantize<std::int8_t>(acc, d, {0, 5, 4}, out), Catch::Contains("lo = 5"));
  CHECK_THROWS_WITH(requantize<std::int8_t>(acc, d, output_range::unsigned_bits(8), out),
                    Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(requantize<std::int8_t>(acc, {1, 70}, {}, out), Catch::Contains("e = 70"));
  CHECK_THROWS_WITH(requantize<std::int8_t>(acc, {-4, 3}, {}, out), Catch::Contains("m = -4"));
}
