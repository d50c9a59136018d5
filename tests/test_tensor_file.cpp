// Shared pieces of the tensor-file readers: exact half / bfloat16 conversion (exhaustive), RNE
// narrowing on hand-computed ties, and the bounds of byte_source.
#include <bitdial/format/tensor_file.hpp>

#include <cmath>
#include <cstdio>
#include <limits>

#include "test_support.hpp"

using namespace bitdial;

namespace {

/// Reference value of a binary16 pattern from its fields (ldexp is exact here).
double half_reference(std::uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31)
    v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (e == 0)
    v = std::ldexp(double(m), -24);
  else
    v = std::ldexp(double(1024 + m), e - 25);
  return s ? -v : v;
}

std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }

}  // namespace

TEST_CASE("half_to_float is exact for all 65536 patterns and float_to_half inverts it", "[tensor_file][half]") {
  for (std::uint32_t u = 0; u < 65536; ++u) {
    const auto h = static_cast<std::uint16_t>(u);
    const float f = half_to_float(h);
    const double ref = half_reference(h);
    INFO("half bits 0x" << std::hex << u);
    if (std::isnan(ref)) {
      REQUIRE(std::isnan(f));
      REQUIRE(((bits(f) >> 13) & 0x3FF) == (u & 0x3FF));  // payload kept
      REQUIRE(std::signbit(f) == bool(u & 0x8000));
      continue;
    }
    REQUIRE(double(f) == ref);
    REQUIRE(std::signbit(f) == bool(u & 0x8000));  // -0 stays -0
    REQUIRE(float_to_half(f) == h);
  }
}

TEST_CASE("float_to_half rounds to nearest even, saturates to Inf at 65520, keeps NaN", "[tensor_file][half]") {
  CHECK(float_to_half(1.0f) == 0x3C00);
  CHECK(float_to_half(1.0f + 0x1p-11f) == 0x3C00);             // tie between 1 and 1+2^-10 -> even (1)
  CHECK(float_to_half(1.0f + 3 * 0x1p-11f) == 0x3C02);         // tie between 1+2^-10 and 1+2^-9 -> even
  CHECK(float_to_half(1.0f + 0x1p-11f + 0x1p-20f) == 0x3C01);  // just above the tie
  CHECK(float_to_half(65504.0f) == 0x7BFF);
  CHECK(float_to_half(65519.0f) == 0x7BFF);
  CHECK(float_to_half(65520.0f) == 0x7C00);  // the tie above the largest finite goes to Inf
  CHECK(float_to_half(-1e9f) == 0xFC00);
  CHECK(float_to_half(std::numeric_limits<float>::infinity()) == 0x7C00);
  CHECK(float_to_half(0x1p-24f) == 0x0001);  // smallest subnormal
  CHECK(float_to_half(0x1p-25f) == 0x0000);  // half of it: tie -> even (0)
  CHECK(float_to_half(0x1p-25f + 0x1p-40f) == 0x0001);
  CHECK(float_to_half(3 * 0x1p-25f) == 0x0002);         // 1.5 ulp: tie -> even (2)
  CHECK(float_to_half(-0x1p-26f) == 0x8000);            // signed zero
  CHECK(float_to_half(0x1p-14f) == 0x0400);             // smallest normal
  CHECK(float_to_half(0x1p-14f - 0x1p-25f) == 0x0400);  // 1023.5 subnormal steps: tie -> even (1024 = normal)
  CHECK(float_to_half(1e-30f) == 0x0000);
  CHECK(float_to_half(std::numeric_limits<float>::denorm_min()) == 0x0000);
  const std::uint16_t n = float_to_half(std::numeric_limits<float>::quiet_NaN());
  CHECK((n & 0x7C00) == 0x7C00);
  CHECK((n & 0x3FF) != 0);
  // Random floats: the result is the nearest half (ties to even) by brute comparison with neighbours.
  BITDIAL_LOG_SEED();
  const auto v = test::normal(20000, 1, 300.0f);
  for (float x : v) {
    const std::uint16_t h = float_to_half(x);
    const double got = half_to_float(h);
    const auto lo = static_cast<std::uint16_t>(h - 1), hi = static_cast<std::uint16_t>(h + 1);
    for (std::uint16_t nb : {lo, hi}) {
      if ((nb & 0x7C00) == 0x7C00 || (nb ^ h) & 0x8000) continue;
      const double other = half_to_float(nb);
      INFO("x = " << x);
      REQUIRE(std::fabs(got - x) <= std::fabs(other - x));
      if (std::fabs(got - x) == std::fabs(other - x)) REQUIRE((h & 1) == 0);
    }
  }
}

TEST_CASE("bfloat16 widening is exact and narrowing is RNE", "[tensor_file][bf16]") {
  for (std::uint32_t u = 0; u < 65536; ++u) {
    const float f = bf16_to_float(static_cast<std::uint16_t>(u));
    REQUIRE(bits(f) == u << 16);
    if (!std::isnan(f)) REQUIRE(float_to_bf16(f) == u);
  }
  CHECK(float_to_bf16(1.0f) == 0x3F80);
  CHECK(float_to_bf16(std::bit_cast<float>(0x3F808000u)) == 0x3F80);  // tie -> even
  CHECK(float_to_bf16(std::bit_cast<float>(0x3F818000u)) == 0x3F82);  // tie -> even (up)
  CHECK(float_to_bf16(std::bit_cast<float>(0x3F808001u)) == 0x3F81);
  CHECK(float_to_bf16(std::bit_cast<float>(0x7F7FFFFFu)) == 0x7F80);         // FLT_MAX rounds to Inf
  const std::uint16_t n = float_to_bf16(std::bit_cast<float>(0x7F800001u));  // signalling NaN, payload in low bits
  CHECK((n & 0x7F80) == 0x7F80);
  CHECK((n & 0x7F) != 0);
}

TEST_CASE("byte_source never reads past its end", "[tensor_file][errors]") {
  const auto src = byte_source::from_memory(std::vector<std::uint8_t>{1, 2, 3, 4});
  std::uint8_t buf[8] = {};
  src.read(0, buf, 4, "t", "all");
  CHECK(buf[3] == 4);
  src.read(4, buf, 0, "t", "nothing at the end");
  CHECK_THROWS_WITH(src.read(1, buf, 4, "t", "field x"), Catch::Contains("field x") && Catch::Contains("truncated"));
  CHECK_THROWS_WITH(src.read(UINT64_MAX, buf, 2, "t", "f"), Catch::Contains("past the end"));
  CHECK_FALSE(src.contains(2, UINT64_MAX));
  CHECK_THROWS_WITH(byte_source::from_file("/nonexistent/bitdial.bin", "t"), Catch::Contains("cannot open"));
  const std::string path = "bitdial_test_source.bin";
  detail::write_file(path, {9, 8, 7}, "t");
  const auto fs = byte_source::from_file(path, "t");
  CHECK(fs.size() == 3);
  CHECK(fs.read(1, 2, "t", "f") == std::vector<std::uint8_t>{8, 7});
  CHECK_THROWS_WITH(fs.read(2, 2, "t", "tail"), Catch::Contains("tail"));
  std::remove(path.c_str());
}

TEST_CASE("checked_product names an overflowing shape", "[tensor_file][errors]") {
  CHECK(detail::checked_product(std::vector<std::uint64_t>{3, 5, 7}, "t", "x") == 105);
  CHECK(detail::checked_product(std::vector<std::uint64_t>{}, "t", "x") == 1);
  CHECK(detail::checked_product(std::vector<std::uint64_t>{0, UINT64_MAX, UINT64_MAX}, "t", "x") == 0);
  CHECK_THROWS_WITH(detail::checked_product(std::vector<std::uint64_t>{1ull << 32, 1ull << 32}, "t", "x"),
                    Catch::Contains("[4294967296, 4294967296]") && Catch::Contains("overflow"));
}
