// Core utilities: tie rules, integer shift rounding, granularity, bit-width validation.
#include <bitdial/core/bits.hpp>
#include <bitdial/core/matrix.hpp>
#include <bitdial/core/rounding.hpp>

#include "test_support.hpp"

using namespace bitdial;

TEST_CASE("float tie rules on exact halves", "[core][rounding]") {
  CHECK(round_half_even(2.5) == 2.0);
  CHECK(round_half_even(3.5) == 4.0);
  CHECK(round_half_even(-2.5) == -2.0);
  CHECK(round_half_even(-0.5) == 0.0);
  CHECK(round_half_away(2.5) == 3.0);
  CHECK(round_half_away(-2.5) == -3.0);
  CHECK(round_half_up(2.5) == 3.0);
  CHECK(round_half_up(-2.5) == -2.0);
  CHECK(round_half_down(2.5) == 2.0);
  CHECK(round_half_down(-2.5) == -3.0);
  CHECK(round_half_down(2.5000001) == 3.0);
  CHECK(round_with(rounding::floor, -2.5) == -3.0);
  CHECK(round_half_even(2.4999999) == 2.0);
  CHECK(round_half_even(2.5000001) == 3.0);
}

TEST_CASE("shift_round equals rounding of the exact quotient for every int8 and k", "[core][rounding]") {
  for (int k = 0; k <= 7; ++k)
    for (int q = -128; q <= 127; ++q) {
      const double exact = double(q) / double(1 << k);
      INFO("q = " << q << ", k = " << k);
      CHECK(shift_round(q, k, rounding::half_up) == round_half_up(exact));
      CHECK(shift_round(q, k, rounding::half_even) == round_half_even(exact));
      CHECK(shift_round(q, k, rounding::half_away) == round_half_away(exact));
      CHECK(shift_round(q, k, rounding::half_down) == round_half_down(exact));
      CHECK(shift_round(q, k, rounding::floor) == std::floor(exact));
      CHECK(shift_round(q, k, rounding::floor) == (q >> k));
    }
}

TEST_CASE("run-time bit-widths outside 1..8 are rejected by name", "[core][errors]") {
  CHECK_THROWS_WITH(bit_width<dynamic_bits>(0), Catch::Contains("bits = 0"));
  CHECK_THROWS_WITH(bit_width<dynamic_bits>(9), Catch::Contains("bits = 9"));
  CHECK_THROWS_AS(bit_width<4>(5), error);
  CHECK(bit_width<dynamic_bits>(3).value() == 3);
  STATIC_REQUIRE(bit_width<8>::value() == 8);
}

TEST_CASE("granularity indexes and validates groups", "[core]") {
  const auto g = granularity::per_group(4);
  CHECK(g.count(3, 8) == 6);
  CHECK(g.index(2, 5, 8) == 5);
  CHECK_THROWS_WITH(g.validate(10, "f"), Catch::Contains("group = 4") && Catch::Contains("K = 10"));
  CHECK_THROWS_WITH(granularity::per_group(0).validate(8, "f"), Catch::Contains("group = 0"));
  CHECK(granularity::per_tensor().count(5, 7) == 1);
  CHECK(granularity::per_row().index(4, 6, 7) == 4);
}

TEST_CASE("size arithmetic overflow is reported", "[core][errors]") {
  const std::size_t big = std::size_t{1} << 40;
  CHECK_THROWS_WITH(detail::checked_mul(big, big, "f", "rows*cols"), Catch::Contains("overflows"));
}
