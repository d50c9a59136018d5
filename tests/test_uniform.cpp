// Uniform quantizers: symmetric, asymmetric, mid-rise — formulas, ties, saturation, granularity, errors.
#include <bitdial/quant/uniform.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

const_matrix view(const std::vector<float>& v, std::size_t rows, std::size_t cols) { return {v.data(), rows, cols}; }

std::vector<float> row_of(std::initializer_list<float> l) { return std::vector<float>(l); }

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

/// Extra distance a correct quantizer may lose to the true nearest grid point: x / s is one float
/// division (relative error 2^-24), so only values within |x|·2^-24 of a decision boundary can land
/// on the neighbouring point, which is then at most 2·|x|·2^-24 farther.
double slack(float x) { return std::ldexp(std::fabs(double(x)), -22) + 1e-30; }

/// Random matrix with per-row offsets and spreads (some rows all-positive or all-negative), zeros
/// sprinkled in, and one all-zero row.
std::vector<float> varied_matrix(std::size_t rows, std::size_t cols, std::uint64_t salt) {
  std::vector<float> v = test::normal(rows * cols, salt);
  std::mt19937_64 rng(test::seed() + salt + 1000);
  std::uniform_real_distribution<float> off(-3.0f, 3.0f), spread(0.01f, 4.0f);
  for (std::size_t r = 0; r < rows; ++r) {
    const float o = r % 3 == 0 ? off(rng) : 0.0f, sp = spread(rng);
    for (std::size_t c = 0; c < cols; ++c) {
      float& x = v[r * cols + c];
      x = x * sp + o;
      if (c % 7 == 3) x = 0.0f;
      if (r == 1) x = 0.0f;
    }
  }
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The code path's float rounding (clamp, then an exact small-integer round)

TEST_CASE("round_small equals the core tie rules on every multiple of 1/64 and its float neighbours",
          "[uniform][rounding]") {
  const rounding rules[] = {rounding::half_even, rounding::half_away, rounding::half_up, rounding::half_down,
                            rounding::floor};
  for (int k = -300 * 64; k <= 300 * 64; ++k) {
    const float v = float(k) / 64.0f;
    for (const float x : {v, std::nextafter(v, -1e9f), std::nextafter(v, 1e9f)})
      for (const rounding r : rules) {
        INFO("x = " << std::hexfloat << x << ", rule " << to_string(r));
        REQUIRE(detail::round_small(x, r) == round_with(r, double(x)));
      }
  }
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 77);
  std::uniform_real_distribution<float> any(-300.0f, 300.0f), exponent(-40.0f, 8.0f);
  for (int i = 0; i < 200000; ++i) {
    const float x = i % 2 ? any(rng) : std::copysign(std::exp2(exponent(rng)), any(rng));
    for (const rounding r : rules) {
      INFO("x = " << std::hexfloat << x << ", rule " << to_string(r));
      REQUIRE(detail::round_small(x, r) == round_with(r, double(x)));
    }
  }
  // Just below one half: floor(x + 0.5f) would round up here.
  for (const rounding r : rules) {
    if (r == rounding::floor) {
      CHECK(detail::round_small(0.49999997f, r) == 0);
      CHECK(detail::round_small(-0.49999997f, r) == -1);
      CHECK(detail::round_small(1.4999999f, r) == 1);
      continue;
    }
    CHECK(detail::round_small(0.49999997f, r) == 0);
    CHECK(detail::round_small(-0.49999997f, r) == 0);
    CHECK(detail::round_small(1.4999999f, r) == 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Symmetric

TEST_CASE("symmetric: absmax scale maps the largest magnitude to qmax, RNE in between", "[uniform][symmetric]") {
  // amax = 7 at b = 4 gives s = 7/7 = 1, so every x/s is exact.
  const auto w = row_of({7.0f, -7.0f, 3.5f, -2.5f, 0.4f, 0.5f, -0.5f, 1.5f});
  const auto q = uniform_symmetric<4>().quantize(view(w, 1, 8));
  REQUIRE(q.scales == std::vector<float>{1.0f});
  CHECK(q.zero_points.empty());
  CHECK(q.codes == std::vector<std::int8_t>{7, -7, 4, -2, 0, 0, 0, 2});
  CHECK(q.dequantize() == std::vector<float>{7, -7, 4, -2, 0, 0, 0, 2});
}

TEST_CASE("symmetric: ggml q8_0 style restricted range, s = amax / 127", "[uniform][symmetric]") {
  const auto w = row_of({127.0f, -127.0f, 64.5f, -1.0f});
  uniform_symmetric<8> restricted({granularity::per_row(), int_range::restricted});
  const auto q = restricted.quantize(view(w, 1, 4));
  CHECK(q.scales[0] == 1.0f);
  CHECK(q.codes == std::vector<std::int8_t>{127, -127, 64, -1});
  CHECK(restricted.qmin() == -127);
  CHECK(uniform_symmetric<8>().qmin() == -128);
  // A clipped scale makes the two ranges differ at the bottom.
  const std::vector<float> half{0.5f};
  const auto wide = row_of({-80.0f, 80.0f, -63.75f});
  CHECK(restricted.quantize_with_scales(view(wide, 1, 3), half).codes == std::vector<std::int8_t>{-127, 127, -127});
  CHECK(uniform_symmetric<8>().quantize_with_scales(view(wide, 1, 3), half).codes ==
        std::vector<std::int8_t>{-128, 127, -128});
}

TEST_CASE("symmetric: tie rules on exact halves with a power-of-two scale", "[uniform][symmetric][ties]") {
  // s = 0.5: x / s = 2x exactly.
  const auto w = row_of({0.25f, -0.25f, 0.75f, -0.75f, 1.25f, -1.25f, 0.0f, -0.0f});
  const std::vector<float> s{0.5f};
  auto codes = [&](rounding r) {
    return uniform_symmetric<4>({granularity::per_row(), int_range::full, r})
        .quantize_with_scales(view(w, 1, 8), s)
        .codes;
  };
  CHECK(codes(rounding::half_even) == std::vector<std::int8_t>{0, 0, 2, -2, 2, -2, 0, 0});
  CHECK(codes(rounding::half_away) == std::vector<std::int8_t>{1, -1, 2, -2, 3, -3, 0, 0});
  CHECK(codes(rounding::half_up) == std::vector<std::int8_t>{1, 0, 2, -1, 3, -2, 0, 0});
  CHECK(codes(rounding::half_down) == std::vector<std::int8_t>{0, -1, 1, -2, 2, -3, 0, 0});
  CHECK(codes(rounding::floor) == std::vector<std::int8_t>{0, -1, 1, -2, 2, -3, 0, 0});
}

TEST_CASE("symmetric: saturation at both ends of the code range", "[uniform][symmetric][saturation]") {
  const std::vector<float> s{1.0f};
  const auto w = row_of({-8.0f, -8.5f, -9.0f, 7.0f, 7.49f, 7.5f, 1e30f, -1e30f});
  CHECK(uniform_symmetric<4>().quantize_with_scales(view(w, 1, 8), s).codes ==
        std::vector<std::int8_t>{-8, -8, -8, 7, 7, 7, 7, -8});
  CHECK(uniform_symmetric<4>({granularity::per_row(), int_range::restricted})
            .quantize_with_scales(view(w, 1, 8), s)
            .codes == std::vector<std::int8_t>{-7, -7, -7, 7, 7, 7, 7, -7});
  // b = 8 edges.
  const auto w8 = row_of({-128.0f, -128.5f, 127.0f, 127.5f});
  CHECK(uniform_symmetric<8>().quantize_with_scales(view(w8, 1, 4), s).codes ==
        std::vector<std::int8_t>{-128, -128, 127, 127});
}

TEST_CASE("symmetric: b = 1 full range is the literal grid {-s, 0} with s = amax", "[uniform][symmetric]") {
  const auto w = row_of({0.6f, -0.6f, -0.31f, 0.29f});
  const auto q = uniform_symmetric<1>().quantize(view(w, 1, 4));
  CHECK(q.scales[0] == 0.6f);
  CHECK(q.codes == std::vector<std::int8_t>{0, -1, -1, 0});
}

// ---------------------------------------------------------------------------------------------
// Asymmetric

TEST_CASE("asymmetric: minmax scale and zero point, zero exactly representable", "[uniform][asymmetric]") {
  SECTION("all-positive row: min forced to 0, z = 0") {
    const auto w = row_of({0.0f, 1.0f, 2.0f, 3.0f});
    const auto q = uniform_asymmetric<2>().quantize(view(w, 1, 4));
    CHECK(q.scales == std::vector<float>{1.0f});
    CHECK(q.zero_points == std::vector<std::int32_t>{0});
    CHECK(q.codes == std::vector<std::uint8_t>{0, 1, 2, 3});
    CHECK(q.dequantize() == w);
  }
  SECTION("mixed signs: s = (max - min) / 3, z = round(-min / s)") {
    const auto w = row_of({-1.0f, 0.0f, 2.0f});
    const auto q = uniform_asymmetric<2>().quantize(view(w, 1, 3));
    CHECK(q.scales[0] == 1.0f);
    CHECK(q.zero_points[0] == 1);
    CHECK(q.codes == std::vector<std::uint8_t>{0, 1, 3});
    CHECK(q.dequantize() == w);
  }
  SECTION("all-negative row: max forced to 0, z = 2^b - 1") {
    const auto w = row_of({-3.0f, -1.5f, -0.4f});
    const auto q = uniform_asymmetric<2>().quantize(view(w, 1, 3));
    CHECK(q.scales[0] == 1.0f);
    CHECK(q.zero_points[0] == 3);
    CHECK(q.codes == std::vector<std::uint8_t>{0, 1, 3});  // -1.5 -> RNE -2 -> 1
  }
  SECTION("8-bit: z = round(-min / s) with s = 255 / 255") {
    const auto w = row_of({-100.0f, 155.0f, 0.0f, 20.5f});
    const auto q = uniform_asymmetric<8>().quantize(view(w, 1, 4));
    CHECK(q.scales[0] == 1.0f);
    CHECK(q.zero_points[0] == 100);
    CHECK(q.codes == std::vector<std::uint8_t>{0, 255, 100, 120});  // 20.5 -> RNE 20
    CHECK(q.dequantize(0, 2) == 0.0f);
  }
}

TEST_CASE("asymmetric: zero dequantizes to exactly 0 for every width and random data", "[uniform][asymmetric]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 12, cols = 64;
  const auto w = varied_matrix(rows, cols, 11);
  for (int b = 1; b <= 8; ++b)
    for (auto g : {granularity::per_tensor(), granularity::per_row(), granularity::per_group(16)}) {
      const auto q = uniform_asymmetric<>(b, {g}).quantize(view(w, rows, cols));
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
          if (w[r * cols + c] == 0.0f) {
            INFO("b = " << b << ", r = " << r << ", c = " << c);
            REQUIRE(q.dequantize(r, c) == 0.0f);
          }
    }
}

TEST_CASE("asymmetric: tie rules on exact halves", "[uniform][asymmetric][ties]") {
  // s = 0.5, z = 8 at b = 4: code = round(2x) + 8.
  const auto w = row_of({0.25f, -0.25f, 0.75f, -0.75f, 1.25f, -1.25f});
  const std::vector<float> s{0.5f};
  const std::vector<std::int32_t> z{8};
  auto codes = [&](rounding r) {
    return uniform_asymmetric<4>({granularity::per_row(), r}).quantize_with_scales(view(w, 1, 6), s, z).codes;
  };
  CHECK(codes(rounding::half_even) == std::vector<std::uint8_t>{8, 8, 10, 6, 10, 6});
  CHECK(codes(rounding::half_away) == std::vector<std::uint8_t>{9, 7, 10, 6, 11, 5});
  CHECK(codes(rounding::half_up) == std::vector<std::uint8_t>{9, 8, 10, 7, 11, 6});
  // The zero point uses the same rule: -min / s = 2.5 at s = 1 (b = 3: range 7 = 2.5 + 4.5).
  const auto zw = row_of({-2.5f, 4.5f});
  CHECK(uniform_asymmetric<3>({granularity::per_row(), rounding::half_even}).quantize(view(zw, 1, 2)).zero_points[0] ==
        2);
  CHECK(uniform_asymmetric<3>({granularity::per_row(), rounding::half_away}).quantize(view(zw, 1, 2)).zero_points[0] ==
        3);
  CHECK(uniform_asymmetric<3>({granularity::per_row(), rounding::half_up}).quantize(view(zw, 1, 2)).zero_points[0] ==
        3);
}

TEST_CASE("asymmetric: saturation to [0, 2^b - 1]", "[uniform][asymmetric][saturation]") {
  const std::vector<float> s{1.0f};
  const std::vector<std::int32_t> z{3};
  const auto w = row_of({-3.0f, -3.5f, -4.0f, 12.0f, 12.5f, 13.0f, 1e30f, -1e30f});
  CHECK(uniform_asymmetric<4>().quantize_with_scales(view(w, 1, 8), s, z).codes ==
        std::vector<std::uint8_t>{0, 0, 0, 15, 15, 15, 15, 0});
  const auto w8 = row_of({-3.0f, 252.0f, 253.0f});
  CHECK(uniform_asymmetric<8>().quantize_with_scales(view(w8, 1, 3), s, z).codes ==
        std::vector<std::uint8_t>{0, 255, 255});
}

// ---------------------------------------------------------------------------------------------
// Mid-rise

TEST_CASE("mid-rise: levels s(2j+1)/2, absmax puts ±amax on the outer levels", "[uniform][midrise]") {
  // b = 2, amax = 1.5 -> s = 2·1.5/3 = 1; levels ±0.5, ±1.5.
  const auto w = row_of({1.5f, 0.9f, 0.0f, -0.2f, -1.5f, 1.2f});
  const auto q = uniform_midrise<2>().quantize(view(w, 1, 6));
  CHECK(q.scales[0] == 1.0f);
  CHECK(q.codes == std::vector<std::int8_t>{1, 0, 0, -1, -2, 1});
  CHECK(q.dequantize() == std::vector<float>{1.5f, 0.5f, 0.5f, -0.5f, -1.5f, 1.5f});
  // b = 1 is sign binarization with sign(0) = +1 and magnitude amax.
  const auto w1 = row_of({0.3f, -0.2f, 0.0f, -1e-4f});
  const auto q1 = uniform_midrise<1>().quantize(view(w1, 1, 4));
  CHECK(q1.codes == std::vector<std::int8_t>{0, -1, 0, -1});
  CHECK(q1.dequantize() == std::vector<float>{0.3f, -0.3f, 0.3f, -0.3f});
}

TEST_CASE("mid-rise: ties on cell boundaries go to the upper level", "[uniform][midrise][ties]") {
  const std::vector<float> s{0.5f};
  const auto w = row_of({0.0f, -0.0f, 0.5f, -0.5f, 1.0f, -1.0f, 0.25f, -0.25f});
  const auto q = uniform_midrise<3>().quantize_with_scales(view(w, 1, 8), s);
  CHECK(q.codes == std::vector<std::int8_t>{0, 0, 1, -1, 2, -2, 0, -1});
  CHECK(q.dequantize() == std::vector<float>{0.25f, 0.25f, 0.75f, -0.25f, 1.25f, -0.75f, 0.25f, -0.25f});
}

TEST_CASE("mid-rise: saturation at j = -2^(b-1) and 2^(b-1) - 1", "[uniform][midrise][saturation]") {
  const std::vector<float> s{1.0f};
  const auto w = row_of({3.999f, 4.0f, 100.0f, -4.0f, -4.001f, -1e30f});
  CHECK(uniform_midrise<3>().quantize_with_scales(view(w, 1, 6), s).codes ==
        std::vector<std::int8_t>{3, 3, 3, -4, -4, -4});
  const auto w8 = row_of({127.0f, 128.0f, -128.0f, -129.0f});
  CHECK(uniform_midrise<8>().quantize_with_scales(view(w8, 1, 4), s).codes ==
        std::vector<std::int8_t>{127, 127, -128, -128});
}

TEST_CASE("mid-rise: the offset code's bit-planes are the ±1 planes, for every j and b", "[uniform][midrise]") {
  for (int b = 1; b <= 8; ++b)
    for (int j = signed_min(b); j <= signed_max(b); ++j) {
      midrise_matrix m;
      m.rows = m.cols = 1;
      m.bits = b;
      m.codes = {static_cast<std::int8_t>(j)};
      m.scales = {2.0f};
      const unsigned u = m.offset_code(0, 0);
      int sum = 0;
      for (int i = 0; i < b; ++i) sum += (1 << i) * (((u >> i) & 1u) ? 1 : -1);
      INFO("b = " << b << ", j = " << j);
      CHECK(u < (1u << b));
      CHECK(sum == 2 * j + 1);
      CHECK(m.dequantize(0, 0) == float(2 * j + 1));
    }
}

// ---------------------------------------------------------------------------------------------
// Shared behaviour

TEST_CASE("all-zero groups: scale 0, codes 0 (or z = 0), dequantized 0 — never NaN", "[uniform]") {
  const auto w = row_of({0, 0, 0, 0, 1, -2, 0, 0.5f});
  const auto g = granularity::per_group(4);
  const auto qs = uniform_symmetric<4>({g}).quantize(view(w, 1, 8));
  const auto qa = uniform_asymmetric<4>({g}).quantize(view(w, 1, 8));
  const auto qm = uniform_midrise<4>({g}).quantize(view(w, 1, 8));
  CHECK(qs.scales[0] == 0.0f);
  CHECK(qa.scales[0] == 0.0f);
  CHECK(qa.zero_points[0] == 0);
  CHECK(qm.scales[0] == 0.0f);
  for (std::size_t c = 0; c < 4; ++c) {
    CHECK(qs.code(0, c) == 0);
    CHECK(qa.code(0, c) == 0);
    CHECK(qm.code(0, c) == 0);
    CHECK(qs.dequantize(0, c) == 0.0f);
    CHECK(qa.dequantize(0, c) == 0.0f);
    CHECK(qm.dequantize(0, c) == 0.0f);
  }
  CHECK(qs.scales[1] > 0.0f);
  CHECK(qa.scales[1] > 0.0f);
  CHECK(qm.scales[1] > 0.0f);
}

TEST_CASE("granularity: one scale per tensor, row or group, applied to the right elements", "[uniform][granularity]") {
  // 2 x 4, rows: [1 2 4 8], [-16 1 1 1]
  const auto w = row_of({1, 2, 4, 8, -16, 1, 1, 1});
  const auto m = view(w, 2, 4);
  const auto t = uniform_symmetric<8>({granularity::per_tensor()}).quantize(m);
  const auto r = uniform_symmetric<8>({granularity::per_row()}).quantize(m);
  const auto g = uniform_symmetric<8>({granularity::per_group(2)}).quantize(m);
  CHECK(t.scales == std::vector<float>{16.0f / 127});
  CHECK(r.scales == std::vector<float>{8.0f / 127, 16.0f / 127});
  CHECK(g.scales == std::vector<float>{2.0f / 127, 8.0f / 127, 16.0f / 127, 1.0f / 127});
  CHECK(g.code(0, 1) == 127);
  CHECK(g.code(0, 3) == 127);
  CHECK(g.code(1, 0) == -127);
  CHECK(g.code(1, 3) == 127);
  const auto ga = uniform_asymmetric<8>({granularity::per_group(2)}).quantize(m);
  CHECK(ga.scales.size() == 4);
  CHECK(ga.zero_points == std::vector<std::int32_t>{0, 0, 240, 0});  // 16 / (17/255) = 240
  const auto gm = uniform_midrise<8>({granularity::per_group(2)}).quantize(m);
  CHECK(gm.scales == std::vector<float>{4.0f / 255, 16.0f / 255, 32.0f / 255, 2.0f / 255});
  // A strided view quantizes the same as a packed copy.
  const std::vector<float> padded{1, 2, 4, 8, 99, -16, 1, 1, 1, 99};
  const auto gs = uniform_symmetric<8>({granularity::per_group(2)}).quantize({padded.data(), 2, 4, 5});
  CHECK(gs.codes == g.codes);
  CHECK(gs.scales == g.scales);
}

TEST_CASE("compile-time and run-time widths give identical results", "[uniform]") {
  BITDIAL_LOG_SEED();
  const auto w = varied_matrix(4, 32, 3);
  const auto m = view(w, 4, 32);
  CHECK(uniform_symmetric<3>().quantize(m).codes == uniform_symmetric<>(3).quantize(m).codes);
  CHECK(uniform_asymmetric<5>().quantize(m).codes == uniform_asymmetric<>(5).quantize(m).codes);
  CHECK(uniform_midrise<2>().quantize(m).codes == uniform_midrise<>(2).quantize(m).codes);
}

// Nearest-grid property: every code is the grid point nearest to x (up to the float division's
// rounding at decision boundaries), for absmax/minmax scales and for clipped scales (so clamping
// is exercised), at every width.
TEMPLATE_TEST_CASE_SIG("dequantize(quantize(x)) is the nearest grid point", "[uniform][property]", ((int B), B), 1, 2,
                       3, 4, 5, 6, 7, 8) {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 16, cols = 96;
  const auto w = varied_matrix(rows, cols, 100 + B);
  const auto m = view(w, rows, cols);
  std::mt19937_64 rng(test::seed() + 7 * B);
  std::uniform_real_distribution<float> shrink(0.05f, 1.0f);
  const granularity grans[] = {granularity::per_tensor(), granularity::per_row(), granularity::per_group(32)};

  // Checks code q against every grid point s·(k + offset), k in [kmin, kmax].
  auto check_nearest = [](float x, double s, double offset, int kmin, int kmax, int k) {
    const double d = s * (k + offset);
    double best = std::numeric_limits<double>::infinity();
    for (int j = kmin; j <= kmax; ++j) best = std::min(best, std::fabs(double(x) - s * (j + offset)));
    return std::fabs(double(x) - d) <= best + slack(x);
  };

  for (const auto g : grans) {
    INFO("granularity kind = " << int(g.k));
    {
      const uniform_symmetric<B> q(typename uniform_symmetric<B>::options{g});
      auto scales = q.quantize(m).scales;
      for (int pass = 0; pass < 2; ++pass) {
        const auto qm = q.quantize_with_scales(m, scales);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < cols; ++c) {
            const double s = qm.scales[qm.scale_index(r, c)];
            const int k = qm.code(r, c);
            REQUIRE(k >= q.qmin());
            REQUIRE(k <= q.qmax());
            if (s == 0.0) continue;
            INFO("symmetric x = " << w[r * cols + c] << ", s = " << s << ", q = " << k);
            REQUIRE(check_nearest(w[r * cols + c], s, 0.0, q.qmin(), q.qmax(), k));
            REQUIRE(qm.dequantize(r, c) == static_cast<float>(qm.scales[qm.scale_index(r, c)] * float(k)));
          }
        for (auto& s : scales) s *= shrink(rng);
      }
    }
    {
      const uniform_asymmetric<B> q(typename uniform_asymmetric<B>::options{g});
      auto p = q.minmax_params(m);
      for (int pass = 0; pass < 2; ++pass) {
        const auto qm = q.quantize_with_scales(m, p);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < cols; ++c) {
            const std::size_t gi = qm.scale_index(r, c);
            const double s = qm.scales[gi];
            const int z = qm.zero_points[gi];
            const int k = qm.code(r, c) - z;
            REQUIRE(qm.code(r, c) <= q.qmax());
            if (s == 0.0) continue;
            INFO("asymmetric x = " << w[r * cols + c] << ", s = " << s << ", z = " << z << ", q = " << qm.code(r, c));
            REQUIRE(check_nearest(w[r * cols + c], s, 0.0, -z, q.qmax() - z, k));
          }
        for (auto& s : p.scales) s *= shrink(rng);
      }
    }
    {
      const uniform_midrise<B> q(typename uniform_midrise<B>::options{g});
      auto scales = q.quantize(m).scales;
      for (int pass = 0; pass < 2; ++pass) {
        const auto qm = q.quantize_with_scales(m, scales);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < cols; ++c) {
            const double s = qm.scales[qm.scale_index(r, c)];
            const int k = qm.code(r, c);
            REQUIRE(k >= q.jmin());
            REQUIRE(k <= q.jmax());
            if (s == 0.0) continue;
            INFO("mid-rise x = " << w[r * cols + c] << ", s = " << s << ", j = " << k);
            REQUIRE(check_nearest(w[r * cols + c], s, 0.5, q.jmin(), q.jmax(), k));
            REQUIRE(qm.dequantize(r, c) == static_cast<float>(s * (k + 0.5)));
          }
        for (auto& s : scales) s *= shrink(rng);
      }
    }
  }
}

TEST_CASE("absmax / minmax scales reproduce the extremes exactly when they are on the grid", "[uniform]") {
  BITDIAL_LOG_SEED();
  const auto w = varied_matrix(8, 64, 5);
  const auto m = view(w, 8, 64);
  for (int b = 2; b <= 8; ++b) {
    const auto qs = uniform_symmetric<>(b).quantize(m);
    const auto qm = uniform_midrise<>(b).quantize(m);
    for (std::size_t r = 0; r < 8; ++r) {
      if (qs.scales[r] == 0.0f) continue;
      float amax = 0;
      std::int32_t top = 0;
      std::int32_t jtop = 0;
      for (std::size_t c = 0; c < 64; ++c)
        if (std::fabs(w[r * 64 + c]) >= amax) {
          amax = std::fabs(w[r * 64 + c]);
          top = std::abs(qs.code(r, c));
          jtop = qm.code(r, c);
        }
      INFO("b = " << b << ", row " << r);
      CHECK(top == signed_max(b));
      CHECK((jtop == signed_max(b) || jtop == signed_min(b)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST_CASE("uniform quantizers reject bad input by name", "[uniform][errors]") {
  std::vector<float> w{1, 2, 3, 4, 5, 6};
  const auto m = view(w, 2, 3);
  SECTION("bit-widths outside 1..8") {
    CHECK_THROWS_WITH(uniform_symmetric<>(0), Catch::Contains("bits = 0"));
    CHECK_THROWS_WITH(uniform_symmetric<>(9), Catch::Contains("bits = 9"));
    CHECK_THROWS_WITH(uniform_asymmetric<>(0), Catch::Contains("bits = 0"));
    CHECK_THROWS_WITH(uniform_asymmetric<>(9), Catch::Contains("bits = 9"));
    CHECK_THROWS_WITH(uniform_midrise<>(0), Catch::Contains("bits = 0"));
    CHECK_THROWS_WITH(uniform_midrise<>(9), Catch::Contains("bits = 9"));
    CHECK_THROWS_WITH(uniform_symmetric<>(1, {granularity::per_row(), int_range::restricted}),
                      Catch::Contains("bits = 1"));
  }
  SECTION("NaN and Inf") {
    w[4] = nan_f;
    CHECK_THROWS_WITH(uniform_symmetric<4>().quantize(m), Catch::Contains("(1, 1) = nan"));
    CHECK_THROWS_WITH(uniform_asymmetric<4>().quantize(m), Catch::Contains("(1, 1) = nan"));
    CHECK_THROWS_WITH(uniform_midrise<4>().quantize(m), Catch::Contains("(1, 1) = nan"));
    w[4] = -inf_f;
    CHECK_THROWS_WITH(uniform_midrise<4>().quantize(m), Catch::Contains("(1, 1) = -inf"));
    CHECK_THROWS_WITH(
        uniform_asymmetric<4>().quantize_with_scales(m, std::vector<float>{1, 1}, std::vector<std::int32_t>{0, 0}),
        Catch::Contains("(1, 1) = -inf"));
  }
  SECTION("empty input") {
    CHECK_THROWS_WITH(uniform_symmetric<4>().quantize({w.data(), 0, 3}), Catch::Contains("shape = 0x3"));
    CHECK_THROWS_WITH(uniform_asymmetric<4>().quantize({w.data(), 2, 0}), Catch::Contains("shape = 2x0"));
    CHECK_THROWS_WITH(uniform_midrise<4>().quantize({nullptr, 0, 0}), Catch::Contains("shape = 0x0"));
  }
  SECTION("group size not dividing K") {
    CHECK_THROWS_WITH(uniform_symmetric<4>({granularity::per_group(2)}).quantize(m), Catch::Contains("group = 2"));
    CHECK_THROWS_WITH(uniform_asymmetric<4>({granularity::per_group(2)}).quantize(m), Catch::Contains("group = 2"));
    CHECK_THROWS_WITH(uniform_midrise<4>({granularity::per_group(2)}).quantize(m), Catch::Contains("group = 2"));
    CHECK_THROWS_WITH(uniform_midrise<4>({granularity::per_group(0)}).quantize(m), Catch::Contains("group = 0"));
  }
  SECTION("bad caller scales and zero points") {
    CHECK_THROWS_WITH(uniform_symmetric<4>().quantize_with_scales(m, std::vector<float>{1}),
                      Catch::Contains("scales.size() = 1"));
    CHECK_THROWS_WITH(uniform_symmetric<4>().quantize_with_scales(m, std::vector<float>{1, -1}),
                      Catch::Contains("scales[1] = -1"));
    CHECK_THROWS_WITH(uniform_midrise<4>().quantize_with_scales(m, std::vector<float>{nan_f, 1}),
                      Catch::Contains("scales[0] = nan"));
    CHECK_THROWS_WITH(
        uniform_asymmetric<4>().quantize_with_scales(m, std::vector<float>{1, 1}, std::vector<std::int32_t>{0, 16}),
        Catch::Contains("zero_points[1] = 16"));
    CHECK_THROWS_WITH(
        uniform_asymmetric<4>().quantize_with_scales(m, std::vector<float>{1, 1}, std::vector<std::int32_t>{-1, 0}),
        Catch::Contains("zero_points[0] = -1"));
    CHECK_THROWS_WITH(
        uniform_asymmetric<4>().quantize_with_scales(m, std::vector<float>{1, 1}, std::vector<std::int32_t>{0}),
        Catch::Contains("zero_points.size() = 1"));
  }
  SECTION("a range whose scale would overflow float: the scale is clamped, every level finite") {
    // (max − min)/(2^b − 1) = 6e38 at b = 1: the scale is lowered to the largest step whose levels
    // stay finite (tests/test_float_edges.cpp covers every family).
    const std::vector<float> huge{-3e38f, 3e38f};
    for (const auto& d : {uniform_asymmetric<1>().quantize(view(huge, 1, 2)).dequantize(),
                          uniform_asymmetric<2>().quantize(view(huge, 1, 2)).dequantize(),
                          uniform_midrise<1>().quantize(view(huge, 1, 2)).dequantize()})
      for (float v : d) CHECK(std::isfinite(v));
    CHECK(uniform_midrise<1>().quantize(view(huge, 1, 2)).scales[0] == std::numeric_limits<float>::max());
  }
  SECTION("stride shorter than a row") {
    CHECK_THROWS_WITH(uniform_symmetric<4>().quantize({w.data(), 2, 3, 2}), Catch::Contains("stride = 2"));
  }
}
