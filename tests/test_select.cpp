// plane_view: served codes equal the quantizer formulas for every master code, width and rule;
// views and shards copy nothing; bad requests are rejected by name.
#include <bitdial/select/plane_view.hpp>

#include <cmath>

#include "test_support.hpp"

using namespace bitdial;

namespace {

/// Every INT8 code once per row-position: a 1 x 256 master with scale 2^-4.
bit_plane_stack all_int8_codes() {
  quantized_matrix<std::int8_t> m;
  m.rows = 1;
  m.cols = 256;
  m.bits = 8;
  for (int q = -128; q <= 127; ++q) m.codes.push_back(static_cast<std::int8_t>(q));
  m.scales = {0.0625f};
  return bit_plane_stack::pack(m);
}

double formula(int q, int b, rounding rule) {  // independent double-arithmetic statement of §2–3
  const int k = 8 - b;
  const double e = std::ldexp(double(q), -k);
  const double lo = -std::ldexp(1.0, b - 1), hi = std::ldexp(1.0, b - 1) - 1;
  switch (rule) {
    case rounding::floor:
      return std::floor(e);
    case rounding::half_up:
      return std::clamp(std::floor(e + 0.5), lo, hi);
    case rounding::half_even:
      return std::clamp(std::nearbyint(e), lo, hi);
    case rounding::half_away:
    case rounding::half_down:
      break;  // no view rules
  }
  return 0;
}

}  // namespace

TEST_CASE("served codes and values match SEMANTICS §2–3 for all 256 masters x b x rule", "[select]") {
  const auto s = all_int8_codes();
  for (int b = 1; b <= 8; ++b)
    for (auto rule : {rounding::floor, rounding::half_up, rounding::half_even})
      for (auto recon : {reconstruction::midpoint, reconstruction::floor}) {
        const auto v = view(s, b, rule, recon);
        for (int q = -128; q <= 127; ++q) {
          INFO("q8 = " << q << ", b = " << b << ", rule = " << to_string(rule));
          const double qb = formula(q, b, rule);
          REQUIRE(v.code(0, q + 128) == qb);
          const int k = 8 - b;
          double xhat = 0.0625 * std::ldexp(qb, k);
          if (rule == rounding::floor && recon == reconstruction::midpoint)
            xhat += 0.0625 * (std::ldexp(1.0, k) - 1) / 2;
          REQUIRE(v.dequantize(0, q + 128) == static_cast<float>(xhat));
        }
      }
}

TEST_CASE("SEMANTICS §2 examples through the plane view (k = 4)", "[select]") {
  const auto s = all_int8_codes();
  const auto rhu = view(s, 4, rounding::half_up), rne = view(s, 4, rounding::half_even),
             tr = view(s, 4, rounding::floor);
  auto at = [](const plane_view& v, int q) { return v.code(0, q + 128); };
  CHECK(at(rhu, 127) == 7);
  CHECK(at(rne, 8) == 0);
  CHECK(at(rhu, 8) == 1);
  CHECK(at(rne, 40) == 2);
  CHECK(at(rhu, 40) == 3);
  CHECK(at(rne, -100) == -6);
  CHECK(at(rhu, -100) == -6);
  CHECK(at(tr, -100) == -7);
}

TEST_CASE("planes used and bytes read per width and rule", "[select]") {
  quantized_matrix<std::int8_t> m;
  m.rows = 4096;
  m.cols = 256;
  m.bits = 8;
  m.codes.assign(m.rows * m.cols, 3);
  m.scales.assign(m.rows, 1.0f);
  const auto s = bit_plane_stack::pack(m);
  for (int b = 1; b <= 8; ++b) {
    CHECK(view(s, b).planes_used() == b);
    CHECK(view(s, b).bytes_read() * 8 == s.bytes().size() * b);
    CHECK(view(s, b, rounding::half_up).planes_used() == (b == 8 ? 8 : b + 1));
    CHECK(view(s, b, rounding::half_even).planes_used() == 8);
  }
  const auto half = shard(view(s, 4), 2048, 4096);
  CHECK(half.bytes_read() * 2 == view(s, 4).bytes_read());
  CHECK(half.stack == &s);
  CHECK(half.code(0, 0) == view(s, 4).code(2048, 0));
}

TEST_CASE("bad view requests are rejected by name", "[select][errors]") {
  const auto s = all_int8_codes();
  CHECK_THROWS_WITH(view(s, 0), Catch::Contains("bits = 0"));
  CHECK_THROWS_WITH(view(s, 9), Catch::Contains("bits = 9"));
  CHECK_THROWS_WITH(shard(view(s, 4), 1, 1), Catch::Contains("rows = [1, 1)"));
  CHECK_THROWS_WITH(shard(view(s, 4), 0, 2), Catch::Contains("rows = [0, 2)"));
  quantized_matrix<std::uint8_t> u;
  u.rows = 1;
  u.cols = 4;
  u.bits = 8;
  u.codes = {1, 2, 3, 4};
  u.scales = {1.0f};
  u.zero_points = {2};
  const auto su = bit_plane_stack::pack(u);
  CHECK_THROWS_WITH(view(su, 4, rounding::half_up), Catch::Contains("signed master"));
  CHECK(view(su, 8).dequantize(0, 0) == -1.0f);
}
