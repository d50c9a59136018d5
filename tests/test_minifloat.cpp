// ExMy minifloat formats (E2M1/E2M3/E3M2/E4M3/E5M2/E8M0 and user formats) and the LLM-FP4
// real-valued-bias quantizer: exact tables, tie rules, saturation, specials, errors.
#include <bitdial/quant/minifloat.hpp>
#include <bitdial/quant/mx.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

/// Brute-force reference for encode: nearest finite value, ties to the even magnitude code (the
/// smaller one if both are even), saturating; the sign of x is kept.
std::uint8_t brute_force_encode(const minifloat_format& f, float x) {
  const double a = std::fabs(static_cast<double>(x));
  std::uint32_t best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (std::uint32_t mag = 0; mag <= f.max_magnitude_code(); ++mag) {
    if (!f.subnormals && f.specials != minifloat_specials::e8m0 && mag != 0 && (mag >> f.mantissa_bits) == 0)
      continue;  // non-canonical zeros
    const double d = std::fabs(a - static_cast<double>(f.decode(static_cast<std::uint8_t>(mag))));
    if (d < best_d || (d == best_d && (best & 1u) && !(mag & 1u))) {
      best = mag;
      best_d = d;
    }
  }
  return static_cast<std::uint8_t>(best | (std::signbit(x) ? f.sign_mask() : 0u));
}

/// Every finite code, and the exact midpoints between neighbouring finite magnitudes.
std::vector<double> midpoints(const minifloat_format& f) {
  std::vector<double> vals;
  for (std::uint32_t mag = f.min_positive_code(); mag <= f.max_magnitude_code(); ++mag) {
    const double v = f.decode(static_cast<std::uint8_t>(mag));
    if (vals.empty() || v > vals.back()) vals.push_back(v);
  }
  std::vector<double> mids;
  if (f.specials != minifloat_specials::e8m0) mids.push_back(0.5 * vals.front());
  for (std::size_t i = 0; i + 1 < vals.size(); ++i) mids.push_back(0.5 * (vals[i] + vals[i + 1]));
  return mids;
}

void check_against_brute_force(const minifloat_format& f, std::uint64_t salt) {
  BITDIAL_LOG_SEED();
  INFO("format " << f.name() << " bias " << f.bias);
  std::mt19937_64 rng(test::seed() + salt);
  const double lo = std::log2(f.min_positive()) - 3.0;
  const double hi = std::log2(f.max_finite()) + 2.0;
  std::uniform_real_distribution<double> expo(lo, hi);
  std::vector<float> xs;
  for (int i = 0; i < 20000; ++i) {
    const float x = static_cast<float>(std::exp2(expo(rng)));
    xs.push_back((rng() & 1) ? -x : x);
  }
  for (double m : midpoints(f)) {  // exact ties, both signs
    xs.push_back(static_cast<float>(m));
    xs.push_back(static_cast<float>(-m));
    REQUIRE(static_cast<double>(static_cast<float>(m)) == m);
  }
  for (float x : xs) {
    INFO("x = " << x);
    CHECK(f.encode(x) == brute_force_encode(f, x));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Tables: facts from OCP MX v1.0 (element types, E8M0) and OCP OFP8 / ml_dtypes (float8_e4m3fn,
// float8_e5m2, float8_e8m0fnu).

TEST_CASE("predefined formats have the published bias, max, min subnormal and specials", "[minifloat]") {
  CHECK(e2m1.bias == 1);
  CHECK(e2m1.max_finite() == 6.0);
  CHECK(e2m1.min_positive() == 0.5);
  CHECK(e2m3.bias == 1);
  CHECK(e2m3.max_finite() == 7.5);
  CHECK(e2m3.min_positive() == 0.125);
  CHECK(e3m2.bias == 3);
  CHECK(e3m2.max_finite() == 28.0);
  CHECK(e3m2.min_positive() == 0.0625);
  CHECK(e4m3.bias == 7);
  CHECK(e4m3.max_finite() == 448.0);
  CHECK(e4m3.min_positive() == std::ldexp(1.0, -9));
  CHECK(e4m3.min_normal() == std::ldexp(1.0, -6));
  CHECK(e5m2.bias == 15);
  CHECK(e5m2.max_finite() == 57344.0);
  CHECK(e5m2.min_positive() == std::ldexp(1.0, -16));
  CHECK(e5m2.min_normal() == std::ldexp(1.0, -14));
  CHECK(e8m0.bias == 127);
  CHECK(e8m0.max_finite() == std::ldexp(1.0, 127));
  CHECK(e8m0.min_positive() == std::ldexp(1.0, -127));
  CHECK(e2m1.bits() == 4);
  CHECK(e2m3.bits() == 6);
  CHECK(e3m2.bits() == 6);
  CHECK(e4m3.bits() == 8);
  CHECK(e5m2.bits() == 8);
  CHECK(e8m0.bits() == 8);
  // OCP MX emax_elem.
  CHECK(e2m1.emax() == 2);
  CHECK(e2m3.emax() == 2);
  CHECK(e3m2.emax() == 4);
  CHECK(e4m3.emax() == 8);
  CHECK(e5m2.emax() == 15);
}

TEST_CASE("E2M1: all 16 codes", "[minifloat][exhaustive]") {
  const float expected[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (int c = 0; c < 16; ++c) {
    INFO("code " << c);
    const float v = e2m1.decode(static_cast<std::uint8_t>(c));
    CHECK(std::fabs(v) == expected[c & 7]);
    CHECK(std::signbit(v) == (c >= 8));
    CHECK(e2m1.encode(v) == c);  // round trip, -0 included
    CHECK_FALSE(e2m1.is_nan(static_cast<std::uint8_t>(c)));
  }
}

TEST_CASE("E2M1 rounding examples (RNE, saturating)", "[minifloat][ties]") {
  auto val = [](float x) { return e2m1.decode(e2m1.encode(x)); };
  CHECK(val(0.25f) == 0.0f);
  CHECK(val(0.75f) == 1.0f);
  CHECK(val(1.25f) == 1.0f);
  CHECK(val(1.75f) == 2.0f);
  CHECK(val(2.5f) == 2.0f);
  CHECK(val(3.5f) == 4.0f);
  CHECK(val(5.0f) == 4.0f);
  CHECK(val(5.5f) == 6.0f);
  CHECK(val(7.0f) == 6.0f);
  CHECK(val(1e30f) == 6.0f);
  CHECK(val(kInf) == 6.0f);
  CHECK(val(-kInf) == -6.0f);
  CHECK(val(-2.5f) == -2.0f);
  CHECK(val(-3.5f) == -4.0f);
  CHECK(val(2.5000002f) == 3.0f);
  CHECK(val(2.4999998f) == 2.0f);
  // The sign survives rounding to zero: -0.25 -> -0 (code 0b1000), as IEEE / ml_dtypes.
  CHECK(e2m1.encode(-0.25f) == 0x8);
  CHECK(e2m1.encode(0.25f) == 0x0);
  CHECK(e2m1.encode(-0.0f) == 0x8);
  CHECK(e2m1.encode(0.0f) == 0x0);
}

TEST_CASE("E2M1 tie rules half_away and half_up", "[minifloat][ties]") {
  auto val = [](float x, rounding r) { return e2m1.decode(e2m1.encode(x, r)); };
  CHECK(val(2.5f, rounding::half_away) == 3.0f);
  CHECK(val(-2.5f, rounding::half_away) == -3.0f);
  CHECK(val(0.25f, rounding::half_away) == 0.5f);
  CHECK(val(5.0f, rounding::half_away) == 6.0f);
  CHECK(val(7.0f, rounding::half_away) == 6.0f);  // still saturates
  CHECK(val(2.5f, rounding::half_up) == 3.0f);
  CHECK(val(-2.5f, rounding::half_up) == -2.0f);
  CHECK(val(-0.25f, rounding::half_up) == 0.0f);
  CHECK(val(3.5f, rounding::half_up) == 4.0f);
  CHECK(val(-3.5f, rounding::half_up) == -3.0f);
  // Non-ties are unaffected.
  CHECK(val(2.6f, rounding::half_up) == 3.0f);
  CHECK(val(-2.6f, rounding::half_up) == -3.0f);
  // half_down: ties toward −inf, the mirror image of half_up.
  CHECK(val(2.5f, rounding::half_down) == 2.0f);
  CHECK(val(-2.5f, rounding::half_down) == -3.0f);
  CHECK(val(0.25f, rounding::half_down) == 0.0f);
  CHECK(val(-3.5f, rounding::half_down) == -4.0f);
  CHECK(val(2.6f, rounding::half_down) == 3.0f);
  // floor is not a round-to-nearest rule: rejected by name.
  CHECK_THROWS_WITH(e2m1.encode(1.0f, rounding::floor), Catch::Contains("r = floor"));
  CHECK_THROWS_WITH(minifloat_quantizer({.round = rounding::floor}), Catch::Contains("round = floor"));
  CHECK_THROWS_WITH(mx_quantizer({.round = rounding::floor}), Catch::Contains("round = floor"));
}

TEST_CASE("E2M3 and E3M2: all 64 codes round-trip; hand-checked values", "[minifloat][exhaustive]") {
  for (const auto& f : {e2m3, e3m2})
    for (int c = 0; c < 64; ++c) {
      INFO(f.name() << " code " << c);
      CHECK(f.encode(f.decode(static_cast<std::uint8_t>(c))) == c);
    }
  CHECK(e2m3.decode(0x01) == 0.125f);
  CHECK(e2m3.decode(0x08) == 1.0f);
  CHECK(e2m3.decode(0x1F) == 7.5f);
  CHECK(e2m3.decode(0x3F) == -7.5f);
  CHECK(e3m2.decode(0x01) == 0.0625f);
  CHECK(e3m2.decode(0x04) == 0.25f);
  CHECK(e3m2.decode(0x0C) == 1.0f);
  CHECK(e3m2.decode(0x1F) == 28.0f);
  CHECK(e3m2.decode(0x20) == 0.0f);
  CHECK(std::signbit(e3m2.decode(0x20)));
  CHECK(e2m3.encode(100.0f) == 0x1F);
  CHECK(e3m2.encode(-30.0f) == 0x3F);
  // Ties: E3M2 in [16, 32) has step 4: 26 -> 24 (mantissa 10), 30 -> 28 (saturate, not 32).
  CHECK(e3m2.decode(e3m2.encode(26.0f)) == 24.0f);
  CHECK(e3m2.decode(e3m2.encode(22.0f)) == 24.0f);
  CHECK(e3m2.decode(e3m2.encode(30.0f)) == 28.0f);
  CHECK(e2m3.decode(e2m3.encode(0.0625f)) == 0.0f);   // tie 0 / 0.125
  CHECK(e2m3.decode(e2m3.encode(0.1875f)) == 0.25f);  // tie 0.125 / 0.25 -> even code 2
  CHECK(e2m3.decode(e2m3.encode(7.75f)) == 7.5f);     // saturate
}

TEST_CASE("E4M3 (fn): all 256 codes, NaN only at S.1111.111, ml_dtypes values", "[minifloat][exhaustive]") {
  int nan_codes = 0;
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    INFO("code " << c);
    if (e4m3.is_nan(code)) {
      ++nan_codes;
      CHECK((c & 0x7F) == 0x7F);
      CHECK(std::isnan(e4m3.decode(code)));
      continue;
    }
    CHECK(std::isfinite(e4m3.decode(code)));
    CHECK(e4m3.encode(e4m3.decode(code)) == code);
  }
  CHECK(nan_codes == 2);
  CHECK(e4m3.decode(0x01) == std::ldexp(1.0f, -9));
  CHECK(e4m3.decode(0x07) == 7 * std::ldexp(1.0f, -9));
  CHECK(e4m3.decode(0x08) == std::ldexp(1.0f, -6));
  CHECK(e4m3.decode(0x38) == 1.0f);
  CHECK(e4m3.decode(0x3C) == 1.5f);
  CHECK(e4m3.decode(0x77) == 240.0f);
  CHECK(e4m3.decode(0x78) == 256.0f);
  CHECK(e4m3.decode(0x7E) == 448.0f);
  CHECK(e4m3.decode(0xFE) == -448.0f);
  CHECK(e4m3.decode(0x80) == 0.0f);
  CHECK(std::signbit(e4m3.decode(0x80)));
}

TEST_CASE("E5M2: all 256 codes, IEEE Inf and NaN, ml_dtypes values", "[minifloat][exhaustive]") {
  int nan_codes = 0, inf_codes = 0;
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    INFO("code " << c);
    const float v = e5m2.decode(code);
    if (e5m2.is_nan(code)) {
      ++nan_codes;
      CHECK(std::isnan(v));
      CHECK((c & 0x7C) == 0x7C);
      continue;
    }
    if (e5m2.is_inf(code)) {
      ++inf_codes;
      CHECK(std::isinf(v));
      CHECK(e5m2.encode(v, rounding::half_even, overflow_policy::to_special) == code);
      CHECK(e5m2.encode(v) == ((code & 0x80) | 0x7B));  // saturate: Inf -> ±max
      continue;
    }
    CHECK(e5m2.encode(v) == code);
    CHECK(e5m2.encode(v, rounding::half_even, overflow_policy::to_special) == code);
  }
  CHECK(nan_codes == 6);
  CHECK(inf_codes == 2);
  CHECK(e5m2.decode(0x01) == std::ldexp(1.0f, -16));
  CHECK(e5m2.decode(0x04) == std::ldexp(1.0f, -14));
  CHECK(e5m2.decode(0x3C) == 1.0f);
  CHECK(e5m2.decode(0x7B) == 57344.0f);
  CHECK(e5m2.decode(0x7C) == kInf);
  CHECK(e5m2.decode(0xFC) == -kInf);
}

TEST_CASE("E8M0: all 256 codes, no zero, no sign, 0xFF = NaN", "[minifloat][exhaustive]") {
  for (int c = 0; c < 255; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    INFO("code " << c);
    CHECK(e8m0.decode(code) == std::ldexp(1.0f, c - 127));
    CHECK(e8m0.encode(e8m0.decode(code)) == code);
  }
  CHECK(std::isnan(e8m0.decode(0xFF)));
  CHECK(e8m0.decode(0x7F) == 1.0f);
  // Ties between 2^k and 2^(k+1) at 1.5 * 2^k go to the even code (bit-pattern RNE).
  CHECK(e8m0.encode(1.5f) == 0x80);  // 1 (0x7F) vs 2 (0x80)
  CHECK(e8m0.encode(3.0f) == 0x80);  // 2 (0x80) vs 4 (0x81)
  CHECK(e8m0.encode(1.4f) == 0x7F);
  CHECK(e8m0.encode(3.1f) == 0x81);
  CHECK(e8m0.encode(1e-45f) == 0x00);  // below 2^-127: the smallest value
  CHECK(e8m0.encode(std::numeric_limits<float>::max()) == 0xFE);
  CHECK(e8m0.encode(std::numeric_limits<float>::max(), rounding::half_even, overflow_policy::to_special) == 0xFF);
  CHECK(e8m0.encode(0.0f) == 0xFF);
  CHECK(e8m0.encode(-0.0f) == 0xFF);
  CHECK(e8m0.encode(-1.0f) == 0xFF);
  CHECK(e8m0.encode(kNaN) == 0xFF);
}

TEST_CASE("overflow: saturating by default, Inf/NaN with overflow_policy::to_special", "[minifloat][saturation]") {
  const auto sp = overflow_policy::to_special;
  const auto rne = rounding::half_even;
  // E5M2: max 57344, the next binade would start at 65536, midpoint 61440 (a tie -> even = Inf).
  CHECK(e5m2.encode(61439.0f, rne, sp) == 0x7B);
  CHECK(e5m2.encode(std::nextafter(61440.0f, 0.0f), rne, sp) == 0x7B);
  CHECK(e5m2.encode(61440.0f, rne, sp) == 0x7C);
  CHECK(e5m2.encode(-61440.0f, rne, sp) == 0xFC);
  CHECK(e5m2.encode(1e9f, rne, sp) == 0x7C);
  CHECK(e5m2.encode(61440.0f) == 0x7B);
  CHECK(e5m2.encode(1e9f) == 0x7B);
  CHECK(e5m2.encode(-kInf) == 0xFB);
  // E4M3 fn: 448 = 1.110b * 2^8; 464 is the tie with the (NaN) pattern 1.111b -> even = 448.
  CHECK(e4m3.encode(464.0f, rne, sp) == 0x7E);
  CHECK(e4m3.encode(std::nextafter(464.0f, 1e9f), rne, sp) == 0x7F);
  CHECK(e4m3.encode(-1e9f, rne, sp) == 0xFF);
  CHECK(e4m3.encode(kInf, rne, sp) == 0x7F);
  CHECK(e4m3.encode(1e9f) == 0x7E);
  CHECK(e4m3.encode(kInf) == 0x7E);
  CHECK(e4m3.encode(-kInf) == 0xFE);
  CHECK(e4m3.encode(464.0f, rounding::half_away) == 0x7E);  // saturating, whatever the tie rule
  // Formats without specials always saturate.
  CHECK(e2m1.encode(100.0f, rne, sp) == 0x7);
  CHECK(e3m2.encode(-kInf, rne, sp) == 0x3F);
}

TEST_CASE("NaN input: the format's NaN, or an error when it has none", "[minifloat][errors]") {
  CHECK(e4m3.encode(kNaN) == 0x7F);
  CHECK(e4m3.encode(-kNaN) == 0xFF);
  CHECK(e5m2.encode(kNaN) == 0x7E);
  CHECK(e5m2.is_nan(e5m2.encode(-kNaN)));
  CHECK(e8m0.encode(kNaN) == 0xFF);
  CHECK_THROWS_WITH(e2m1.encode(kNaN), Catch::Contains("x = nan") && Catch::Contains("E2M1"));
  CHECK_THROWS_AS(e2m3.encode(kNaN), error);
  CHECK_THROWS_AS(e3m2.encode(kNaN), error);
}

TEST_CASE("encode equals a brute-force nearest search with ties to even (random and exact ties)",
          "[minifloat][property]") {
  check_against_brute_force(e2m1, 1);
  check_against_brute_force(e2m3, 2);
  check_against_brute_force(e3m2, 3);
  check_against_brute_force(e4m3, 4);
  check_against_brute_force(e5m2, 5);
  check_against_brute_force(make_minifloat_format(3, 3, 3), 6);
  check_against_brute_force(make_minifloat_format(3, 0, 3), 7);
  check_against_brute_force(make_minifloat_format(5, 2, 15, false, minifloat_specials::inf_nan), 8);
  check_against_brute_force(make_minifloat_format(4, 3, 11, true, minifloat_specials::nan_only), 9);
  check_against_brute_force(make_minifloat_format(2, 1, 3, false), 10);
}

TEST_CASE("compile-time use: constexpr formats and minifloat<F>", "[minifloat]") {
  STATIC_REQUIRE(e2m1.encode(2.5f) == 0x4);
  STATIC_REQUIRE(e2m1.encode(-7.0f) == 0xF);
  STATIC_REQUIRE(e4m3.encode(300.0f) == 0x79);  // 288 vs 320: 300 -> 288 = 1.001b * 2^8
  STATIC_REQUIRE(e5m2.decode(0x7B) == 57344.0f);
  STATIC_REQUIRE(e8m0.decode(0x7F) == 1.0f);
  STATIC_REQUIRE(e3m2.max_finite() == 28.0);
  STATIC_REQUIRE(float8_e4m3::from_float(1000.0f).code == 0x7E);
  STATIC_REQUIRE(float4_e2m1::from_float(5.5f).to_float() == 6.0f);
  STATIC_REQUIRE(minifloat<minifloat_format{3, 4, 3}>::from_float(1.0f).to_float() == 1.0f);
  STATIC_REQUIRE(!minifloat_format{0, 3, 1}.valid());
  STATIC_REQUIRE(!minifloat_format{5, 3, 15}.valid());
  constexpr float8_e5m2 h = float8_e5m2::from_float(1e9f, rounding::half_even, overflow_policy::to_special);
  CHECK(std::isinf(h.to_float()));
}

TEST_CASE("user-defined formats: subnormals off, M = 0, IEEE-style E4M3", "[minifloat]") {
  // E2M1 with bias 3 and no subnormals: values 0, 0.25, 0.375, 0.5, 0.75, 1, 1.5.
  const auto f = make_minifloat_format(2, 1, 3, false);
  CHECK(f.min_positive() == 0.25);
  CHECK(f.max_finite() == 1.5);
  CHECK(f.decode(0x1) == 0.0f);           // non-canonical zero (flushed)
  CHECK(f.encode(f.decode(0x1)) == 0x0);  // documented round-trip exception
  CHECK(f.encode(0.125f) == 0x0);         // tie 0 / 0.25 -> 0
  CHECK(f.encode(0.125f, rounding::half_away) == 0x2);
  CHECK(f.encode(0.13f) == 0x2);
  // M = 0, subnormals on: E3M0 bias 3 is {0, 2^-2, ..., 2^4}; ties go to the even code.
  const auto g = make_minifloat_format(3, 0, 3);
  CHECK(g.max_finite() == 16.0);
  CHECK(g.decode(g.encode(1.5f)) == 2.0f);    // 1 (code 3) vs 2 (code 4)
  CHECK(g.decode(g.encode(3.0f)) == 2.0f);    // 2 (code 4) vs 4 (code 5)
  CHECK(g.decode(g.encode(0.125f)) == 0.0f);  // 0 (code 0) vs 0.25 (code 1)
  // IEEE-style E4M3 (Inf + NaN in the top binade): max 240.
  const auto h = make_minifloat_format(4, 3, 7, true, minifloat_specials::inf_nan);
  CHECK(h.max_finite() == 240.0);
  CHECK(std::isinf(h.decode(0x78)));
  CHECK(h.encode(250.0f, rounding::half_even, overflow_policy::to_special) == 0x78);
  CHECK(h.encode(247.0f, rounding::half_even, overflow_policy::to_special) == 0x77);
  CHECK(h.encode(250.0f) == 0x77);
  CHECK(make_minifloat_format(4, 3) == minifloat_format{4, 3, 7});
}

TEST_CASE("invalid user formats are rejected by name", "[minifloat][errors]") {
  CHECK_THROWS_WITH(make_minifloat_format(0, 3, 1), Catch::Contains("E0M3") && Catch::Contains("exponent_bits"));
  CHECK_THROWS_WITH(make_minifloat_format(0, 3), Catch::Contains("exponent_bits = 0"));
  CHECK_THROWS_WITH(make_minifloat_format(9, 0, 127), Catch::Contains("E9M0"));
  CHECK_THROWS_WITH(make_minifloat_format(5, 3, 15), Catch::Contains("E5M3") && Catch::Contains("<= 8"));
  CHECK_THROWS_WITH(make_minifloat_format(4, 4, 7), Catch::Contains("E4M4"));
  CHECK_THROWS_WITH(make_minifloat_format(2, 8, 1), Catch::Contains("mantissa_bits"));
  CHECK_THROWS_WITH(make_minifloat_format(2, -1, 1), Catch::Contains("mantissa_bits"));
  CHECK_THROWS_WITH(make_minifloat_format(1, 2, 0, true, minifloat_specials::inf_nan), Catch::Contains("inf_nan"));
  CHECK_THROWS_WITH(make_minifloat_format(5, 2, 200),
                    Catch::Contains("bias = 200") || Catch::Contains("bias too large"));
  CHECK_THROWS_WITH(make_minifloat_format(7, 0, -10), Catch::Contains("bias too small"));
  CHECK_THROWS_WITH(make_minifloat_format(1, 0, 0, true, minifloat_specials::nan_only),
                    Catch::Contains("no positive finite value"));
  const minifloat_format signed_e8m0{8, 0, 127, false, minifloat_specials::e8m0, true};
  CHECK_THROWS_WITH(signed_e8m0.validate("f"), Catch::Contains("e8m0"));
  CHECK_NOTHROW(make_minifloat_format(1, 6, 0));
  CHECK_NOTHROW(make_minifloat_format(7, 0, 63));
}

// ---------------------------------------------------------------------------------------------
// LLM-FP4

TEST_CASE("LLM-FP4: hand-computed rows with given scales", "[minifloat][llmfp4]") {
  const std::vector<float> w = {0.25f, 0.75f, 7.0f, -2.5f, 0.25f, 0.75f, 7.0f, -2.5f};
  minifloat_quantizer::options o;
  o.rule = minifloat_quantizer::scale_rule::default_bias;
  const minifloat_quantizer q(o);
  const auto m = q.quantize(const_matrix(w.data(), 2, 4));
  CHECK(m.scales == std::vector<float>{1.0f, 1.0f});
  CHECK(m.exponent_bias(0) == 1.0);
  const auto d = m.dequantize();
  CHECK(d == std::vector<float>{0.0f, 1.0f, 6.0f, -2.0f, 0.0f, 1.0f, 6.0f, -2.0f});
  // Scale 0.5 = real bias 2: x / 0.5 = [0.5, 1.5, 14, -5] -> [0.5, 1.5, 6, -4].
  const std::vector<float> s = {0.5f, 2.0f};
  const auto m2 = q.quantize_with_scales(const_matrix(w.data(), 2, 4), s);
  CHECK(m2.exponent_bias(0) == 2.0);
  CHECK(m2.exponent_bias(1) == 0.0);
  CHECK(m2.dequantize() == std::vector<float>{0.25f, 0.75f, 3.0f, -2.0f, 0.0f, 1.0f, 8.0f, -2.0f});
}

TEST_CASE("LLM-FP4: absmax maps the largest magnitude to ±max; real bias follows the paper's eq. 4",
          "[minifloat][llmfp4]") {
  const std::vector<float> w = {0.1f, -3.0f, 1.2f, 0.5f};
  minifloat_quantizer::options o;
  o.rule = minifloat_quantizer::scale_rule::absmax;
  const auto m = minifloat_quantizer(o).quantize(const_matrix(w.data(), 1, 4));
  CHECK(m.scales[0] == 0.5f);
  CHECK(m.dequantize(0, 1) == -3.0f);
  // b̃ = 2^E − log2(maxval) + log2(2 − 2^−M) − 1 with maxval = 3.
  CHECK(m.exponent_bias(0) == Approx(4.0 - std::log2(3.0) + std::log2(1.5) - 1.0));
}

TEST_CASE("LLM-FP4: searched bias beats the default bias on N(0,1) rows", "[minifloat][llmfp4]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 32, cols = 1024;
  const auto w = test::normal(rows * cols, 11);
  const const_matrix W(w.data(), rows, cols);
  for (const auto& fmt : {e2m1, e3m2, make_minifloat_format(3, 0, 3)}) {
    INFO("format " << fmt.name());
    minifloat_quantizer::options o;
    o.format = fmt;
    const minifloat_quantizer searched(o);
    o.rule = minifloat_quantizer::scale_rule::default_bias;
    const minifloat_quantizer fixed(o);
    const auto a = searched.quantize(W).dequantize();
    const auto b = fixed.quantize(W).dequantize();
    double ea_total = 0, eb_total = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      double ea = 0, eb = 0;
      for (std::size_t c = 0; c < cols; ++c) {
        const double x = w[r * cols + c];
        ea += (x - a[r * cols + c]) * (x - a[r * cols + c]);
        eb += (x - b[r * cols + c]) * (x - b[r * cols + c]);
      }
      CHECK(ea <= eb);  // the default bias is one of the candidates
      ea_total += ea;
      eb_total += eb;
    }
    CHECK(ea_total < eb_total);
    if (fmt == e2m1) CHECK(ea_total < 0.9 * eb_total);
  }
  // E2M1 on N(0,1): the searched bias is well above the default 1 (a finer grid than max 6).
  minifloat_quantizer::options o;
  const auto m = minifloat_quantizer(o).quantize(W);
  for (std::size_t r = 0; r < rows; ++r) CHECK(m.exponent_bias(r) > 1.3);
}

TEST_CASE("LLM-FP4: per-group granularity, all-zero group, errors", "[minifloat][llmfp4][errors]") {
  std::vector<float> w(16, 0.0f);
  for (std::size_t i = 8; i < 16; ++i) w[i] = 0.1f * float(i);
  minifloat_quantizer::options o;
  o.gran = granularity::per_group(8);
  const minifloat_quantizer q(o);
  const auto m = q.quantize(const_matrix(w.data(), 1, 16));
  REQUIRE(m.scales.size() == 2);
  CHECK(m.scales[0] == 1.0f);
  for (std::size_t c = 0; c < 8; ++c) CHECK(m.dequantize(0, c) == 0.0f);
  CHECK(m.scales[1] != 1.0f);

  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 1, 12)),
                    Catch::Contains("group = 8") && Catch::Contains("K = 12"));
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 0, 16)), Catch::Contains("must not be empty"));
  w[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 1, 16)), Catch::Contains("weights(0, 3) = nan"));
  w[3] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 1, 16)), Catch::Contains("weights(0, 3) = -inf"));
  w[3] = 0.0f;
  const std::vector<float> bad = {1.0f, 0.0f};
  CHECK_THROWS_WITH(q.quantize_with_scales(const_matrix(w.data(), 1, 16), bad), Catch::Contains("scales[1] = 0"));
  CHECK_THROWS_WITH(q.quantize_with_scales(const_matrix(w.data(), 1, 16), std::vector<float>{1.0f}),
                    Catch::Contains("scales.size() = 1"));

  minifloat_quantizer::options e;
  e.search_steps = 0;
  CHECK_THROWS_WITH(minifloat_quantizer{e}, Catch::Contains("search_steps = 0"));
  e = {};
  e.search_lo = 0.0f;
  CHECK_THROWS_WITH(minifloat_quantizer{e}, Catch::Contains("search_lo = 0"));
  e = {};
  e.search_hi = 0.1f;
  CHECK_THROWS_WITH(minifloat_quantizer{e}, Catch::Contains("search_hi = 0.1"));
  e = {};
  e.format = minifloat_format{0, 2, 1};
  CHECK_THROWS_WITH(minifloat_quantizer{e}, Catch::Contains("E0M2"));
  e.format = e8m0;
  CHECK_THROWS_WITH(minifloat_quantizer{e}, Catch::Contains("signed"));
}
