// Per-token activation quantization: BitNet b1.58's int8 rule, lower widths, the asymmetric option,
// code sums, the single-token kernel entry, errors.
#include <bitdial/quant/activation.hpp>

#include <cfenv>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

const_matrix view(const std::vector<float>& v, std::size_t rows, std::size_t cols) { return {v.data(), rows, cols}; }

/// BitNet's rule written out independently: fp32 scale and product, std::nearbyint under the default
/// (round-to-nearest-even) mode, clamp. Qp = 2^(a-1) - 1, taken as 1 for a = 1.
std::vector<std::int8_t> bitnet_reference(const std::vector<float>& x, int a, float* dequant_scale,
                                          float* quant_scale = nullptr) {
  float amax = 0;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  const float qp = a == 1 ? 1.0f : float((1 << (a - 1)) - 1);
  const float scale = qp / std::max(amax, 1e-5f);
  std::vector<std::int8_t> q;
  for (float v : x) {
    const float r = std::nearbyint(v * scale);
    q.push_back(static_cast<std::int8_t>(std::min(std::max(r, -float(1 << (a - 1))), float((1 << (a - 1)) - 1))));
  }
  *dequant_scale = 1.0f / scale;
  if (quant_scale) *quant_scale = scale;
  return q;
}

std::vector<float> random_tokens(std::size_t rows, std::size_t cols, std::uint64_t salt) {
  auto v = test::heavy_tailed(rows * cols, salt);
  std::mt19937_64 rng(test::seed() + salt + 1);
  std::uniform_real_distribution<float> spread(1e-7f, 50.0f), shift(-2.0f, 2.0f);
  for (std::size_t r = 0; r < rows; ++r) {
    const float sp = spread(rng), sh = r % 4 == 0 ? shift(rng) : 0.0f;
    for (std::size_t c = 0; c < cols; ++c) {
      float& x = v[r * cols + c];
      x = x * sp + sh * sp;
      if (c % 5 == 2) x = 0.0f;
      if (r == 2) x = 0.0f;
    }
  }
  return v;
}

}  // namespace

TEST_CASE("int8 per-token quantization matches BitNet b1.58's activation rule", "[activation][bitnet]") {
  SECTION("hand-computed: amax = 127 gives s = 1, ties to even") {
    const std::vector<float> x{127.0f, 2.5f, -2.5f, 3.5f, 0.5f, -0.5f, -127.0f, 1.49f};
    const auto q = bitnet_activation_quantizer().quantize(view(x, 1, 8));
    CHECK(q.codes == std::vector<std::int8_t>{127, 2, -2, 4, 0, 0, -127, 1});
    CHECK(q.scales[0] == 1.0f);
    CHECK(q.zero_points[0] == 0);
    CHECK(q.code_sums[0] == 127 + 2 - 2 + 4 + 0 + 0 - 127 + 1);
  }
  SECTION("hand-computed: amax = 1 gives s = 127") {
    const std::vector<float> x{1.0f, -0.5f, 0.25f, 0.0f};
    const auto q = bitnet_activation_quantizer().quantize(view(x, 1, 4));
    CHECK(q.codes == std::vector<std::int8_t>{127, -64, 32, 0});  // -63.5 -> -64 (even), 31.75 -> 32
    CHECK(q.scales[0] == 1.0f / 127.0f);
  }
  SECTION("tokens below eps use s = 127 / 1e-5") {
    const std::vector<float> x{1e-6f, -1e-6f, 4e-6f};
    float ds = 0;
    const auto ref = bitnet_reference(x, 8, &ds);
    const auto q = bitnet_activation_quantizer().quantize(view(x, 1, 3));
    CHECK(q.codes == ref);
    CHECK(q.codes == std::vector<std::int8_t>{13, -13, 51});  // 12.7, 50.8
    CHECK(q.scales[0] == ds);
  }
  SECTION("random tokens, every width, bit for bit") {
    BITDIAL_LOG_SEED();
    REQUIRE(std::fegetround() == FE_TONEAREST);
    const std::size_t rows = 24, cols = 200;
    const auto x = random_tokens(rows, cols, 5);
    for (int a = 1; a <= 8; ++a) {
      const auto q = per_token_quantizer<>(a).quantize(view(x, rows, cols));
      for (std::size_t t = 0; t < rows; ++t) {
        const std::vector<float> tok(x.begin() + t * cols, x.begin() + (t + 1) * cols);
        float ds = 0, s = 0;
        const auto ref = bitnet_reference(tok, a, &ds, &s);
        INFO("a = " << a << ", token " << t);
        REQUIRE(std::vector<std::int8_t>(q.token(t).begin(), q.token(t).end()) == ref);
        CHECK(q.scales[t] == ds);
        CHECK(q.zero_points[t] == 0);
        // Our q·(1/s) against BitNet's q / s: a few ulp at most.
        for (std::size_t k = 0; k < cols; ++k) {
          const float bitnet = float(q.code(t, k)) / s;
          REQUIRE(std::fabs(q.dequantize(t, k) - bitnet) <= std::ldexp(std::fabs(bitnet), -22));
        }
      }
    }
  }
}

TEST_CASE("lower widths use Qp = 2^(a-1) - 1 and clamp to the a-bit signed range", "[activation]") {
  // a = 4: Qp = 7; amax = 7 -> s = 1.
  const std::vector<float> x{7.0f, -7.0f, 6.5f, 5.5f, -0.5f, -6.5f, 2.4f};
  const auto q = per_token_quantizer<4>().quantize(view(x, 1, 7));
  CHECK(q.codes == std::vector<std::int8_t>{7, -7, 6, 6, 0, -6, 2});
  CHECK(q.bits == 4);
  // a = 2: Qp = 1, codes in [-2, 1]; amax = 1 -> s = 1.
  const std::vector<float> y{1.0f, -1.0f, 0.5f, -0.5f, 0.51f, -0.51f};
  CHECK(per_token_quantizer<2>().quantize(view(y, 1, 6)).codes == std::vector<std::int8_t>{1, -1, 0, 0, 1, -1});
  // a = 1: the degenerate grid {-1, 0} with s = 1 / amax.
  CHECK(per_token_quantizer<1>().quantize(view(y, 1, 6)).codes == std::vector<std::int8_t>{0, -1, 0, 0, 0, -1});
  // Every code stays inside the a-bit range and |x - x̂| <= scale/2 inside the clamp range.
  BITDIAL_LOG_SEED();
  const std::size_t rows = 16, cols = 128;
  const auto r = random_tokens(rows, cols, 9);
  for (int a = 2; a <= 8; ++a) {
    const auto qa = per_token_quantizer<>(a).quantize(view(r, rows, cols));
    for (std::size_t t = 0; t < rows; ++t)
      for (std::size_t k = 0; k < cols; ++k) {
        INFO("a = " << a << ", t = " << t << ", k = " << k);
        REQUIRE(qa.code(t, k) >= signed_min(a));
        REQUIRE(qa.code(t, k) <= signed_max(a));
        const double err = std::fabs(double(r[t * cols + k]) - double(qa.scales[t]) * qa.code(t, k));
        REQUIRE(err <= 0.5 * qa.scales[t] * (1 + 1e-5) + 1e-30);
      }
  }
}

TEST_CASE("asymmetric per-token option: minmax with exact zero, bias-shifted int8 codes", "[activation][asymmetric]") {
  using opts = per_token_quantizer<>::options;
  SECTION("hand-computed, a = 2") {
    const std::vector<float> x{0.0f, 1.0f, 2.0f, 3.0f, -1.0f, 0.0f, 2.0f, 1.5f};
    const auto q = per_token_quantizer<>(2, opts{activation_mode::asymmetric}).quantize(view(x, 2, 4));
    // Token 0: lo = 0, hi = 3 -> s = 1, z = 0, u = 0..3, stored q = u - 2, zero point -2.
    CHECK(q.token(0)[0] == -2);
    CHECK(q.token(0)[3] == 1);
    CHECK(q.zero_points[0] == -2);
    CHECK(q.scales[0] == 1.0f);
    // Token 1: lo = -1, hi = 2 -> s = 1, z = 1, u = {0, 1, 3, 3} (1.5 -> RNE 2, +1), zero point -1.
    CHECK(std::vector<std::int8_t>(q.token(1).begin(), q.token(1).end()) == std::vector<std::int8_t>{-2, -1, 1, 1});
    CHECK(q.zero_points[1] == -1);
    CHECK(q.code_sums[0] == -2 - 1 + 0 + 1);
    CHECK(q.code_sums[1] == -2 - 1 + 1 + 1);
    CHECK(q.dequantize() == std::vector<float>{0, 1, 2, 3, -1, 0, 2, 2});
  }
  SECTION("a = 8: stored code is the unsigned code XOR 0x80, zero is exact") {
    BITDIAL_LOG_SEED();
    const std::size_t rows = 20, cols = 150;
    const auto x = random_tokens(rows, cols, 13);
    const auto q = per_token_quantizer<8>(opts{activation_mode::asymmetric}).quantize(view(x, rows, cols));
    CHECK(q.mode == activation_mode::asymmetric);
    for (std::size_t t = 0; t < rows; ++t) {
      float lo = 0, hi = 0;
      for (std::size_t k = 0; k < cols; ++k) lo = std::min(lo, x[t * cols + k]), hi = std::max(hi, x[t * cols + k]);
      const float s = float(255.0 / std::max(double(hi) - lo, double(1e-5f)));
      const std::int32_t z = std::clamp(std::int32_t(std::nearbyint(-lo * s)), 0, 255);
      INFO("token " << t);
      CHECK(q.zero_points[t] == z - 128);
      CHECK(q.scales[t] == 1.0f / s);
      std::int32_t sum = 0;
      for (std::size_t k = 0; k < cols; ++k) {
        const std::int32_t u = std::clamp(std::int32_t(std::nearbyint(x[t * cols + k] * s)) + z, 0, 255);
        REQUIRE(static_cast<std::uint8_t>(q.code(t, k)) == (u ^ 0x80));
        if (x[t * cols + k] == 0.0f) REQUIRE(q.dequantize(t, k) == 0.0f);
        sum += q.code(t, k);
      }
      CHECK(q.code_sums[t] == sum);
    }
  }
  SECTION("every width: codes in the shifted range, error <= scale/2") {
    BITDIAL_LOG_SEED();
    const std::size_t rows = 12, cols = 64;
    const auto x = random_tokens(rows, cols, 17);
    for (int a = 1; a <= 8; ++a) {
      const auto q = per_token_quantizer<>(a, opts{activation_mode::asymmetric}).quantize(view(x, rows, cols));
      for (std::size_t t = 0; t < rows; ++t)
        for (std::size_t k = 0; k < cols; ++k) {
          INFO("a = " << a << ", t = " << t << ", k = " << k);
          REQUIRE(q.code(t, k) >= signed_min(a));
          REQUIRE(q.code(t, k) <= signed_max(a));
          const double xhat = double(q.scales[t]) * (q.code(t, k) - q.zero_points[t]);
          // The zero point is rounded, so the top of the range can clip by up to half a step more.
          REQUIRE(std::fabs(double(x[t * cols + k]) - xhat) <= 1.0 * q.scales[t] * (1 + 1e-5) + 1e-30);
          if (x[t * cols + k] == 0.0f) REQUIRE(q.dequantize(t, k) == 0.0f);
        }
    }
  }
}

TEST_CASE("all-zero tokens quantize to zero with a finite scale", "[activation]") {
  const std::vector<float> x(16, 0.0f);
  for (auto mode : {activation_mode::symmetric, activation_mode::asymmetric})
    for (int a = 1; a <= 8; ++a) {
      const auto q = per_token_quantizer<>(a, {mode}).quantize(view(x, 2, 8));
      INFO("a = " << a << ", mode " << int(mode));
      for (float v : q.dequantize()) CHECK(v == 0.0f);
      CHECK(std::isfinite(q.scales[0]));
      CHECK(q.code_sums[0] == 8 * q.zero_points[0]);
    }
}

TEST_CASE("the single-token entry equals the matrix path, and strided views work", "[activation]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 5, cols = 33;
  const auto x = random_tokens(rows, cols, 21);
  for (auto mode : {activation_mode::symmetric, activation_mode::asymmetric}) {
    const per_token_quantizer<> q(6, {mode});
    const auto all = q.quantize(view(x, rows, cols));
    std::vector<std::int8_t> codes(cols);
    for (std::size_t t = 0; t < rows; ++t) {
      const auto p = q.quantize_token(std::span<const float>(x.data() + t * cols, cols), codes);
      CHECK(std::vector<std::int8_t>(all.token(t).begin(), all.token(t).end()) == codes);
      CHECK(p.scale == all.scales[t]);
      CHECK(p.zero_point == all.zero_points[t]);
      CHECK(p.code_sum == all.code_sums[t]);
    }
    // Rows 1 and 3 through a stride-2 view.
    const auto strided = q.quantize({x.data() + cols, 2, cols, 2 * cols});
    CHECK(std::vector<std::int8_t>(strided.token(1).begin(), strided.token(1).end()) ==
          std::vector<std::int8_t>(all.token(3).begin(), all.token(3).end()));
  }
  // Compile-time and run-time widths agree.
  CHECK(per_token_quantizer<3>().quantize(view(x, rows, cols)).codes ==
        per_token_quantizer<>(3).quantize(view(x, rows, cols)).codes);
}

TEST_CASE("activation quantization rejects bad input by name", "[activation][errors]") {
  std::vector<float> x{1, 2, 3, 4, 5, 6};
  CHECK_THROWS_WITH(per_token_quantizer<>(0), Catch::Contains("bits = 0"));
  CHECK_THROWS_WITH(per_token_quantizer<>(9), Catch::Contains("bits = 9"));
  CHECK_THROWS_WITH(per_token_quantizer<8>({activation_mode::symmetric, 0.0f}), Catch::Contains("eps = 0"));
  CHECK_THROWS_WITH(per_token_quantizer<8>({activation_mode::symmetric, std::numeric_limits<float>::quiet_NaN()}),
                    Catch::Contains("eps = nan"));
  const bitnet_activation_quantizer q;
  CHECK_THROWS_WITH(q.quantize({x.data(), 0, 6}), Catch::Contains("shape = 0x6"));
  x[4] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(q.quantize(view(x, 2, 3)), Catch::Contains("(1, 1) = nan"));
  x[4] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(q.quantize(view(x, 2, 3)), Catch::Contains("(1, 1) = -inf"));
  std::vector<std::int8_t> codes(6);
  CHECK_THROWS_WITH(q.quantize_token(x, codes), Catch::Contains("x[4] = -inf"));
  x[4] = 5;
  CHECK_THROWS_WITH(q.quantize_token(x, std::span<std::int8_t>(codes.data(), 5)), Catch::Contains("codes.size() = 5"));
  CHECK_THROWS_WITH(q.quantize_token(std::span<const float>(), std::span<std::int8_t>()), Catch::Contains("empty"));
}

TEST_CASE("SIMD per-token rounding equals the scalar rule on ties, clamps and every tail length",
          "[activation][simd]") {
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(bitdial::test::seed() + 77);
  std::uniform_int_distribution<int> half_steps(-300, 300);
  for (std::size_t k = 1; k <= 70; ++k) {
    std::vector<float> x(k);
    for (auto& v : x) v = 0.5f * static_cast<float>(half_steps(rng));  // exact halves: every rule's ties
    std::vector<std::int8_t> codes(k);
    const std::int32_t sum = bitdial::detail::quantize_scaled_rne(x.data(), k, 1.0f, -128.0f, 127.0f, codes.data());
    std::int32_t want_sum = 0;
    for (std::size_t i = 0; i < k; ++i) {
      const std::int32_t want = bitdial::detail::round_half_even_small(std::clamp(x[i], -128.0f, 127.0f));
      INFO("k = " << k << ", x = " << x[i]);
      REQUIRE(codes[i] == want);
      want_sum += want;
    }
    REQUIRE(sum == want_sum);
    float want_max = 0.0f;
    for (float v : x) want_max = std::max(want_max, std::fabs(v));
    REQUIRE(bitdial::detail::absmax(x.data(), k) == want_max);
  }
}
