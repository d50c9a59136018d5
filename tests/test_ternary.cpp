// Ternary weight quantizers (SEMANTICS.md §5): BitNet b1.58 absmean, TWN, Tequila-style threshold,
// their deliberately different tie rules, the dead-zone bias fold, and errors.
#include <bitdial/quant/ternary.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

double test_sqnr_db(const std::vector<float>& w, const std::vector<float>& what) {
  double s = 0.0, n = 0.0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double d = double(w[i]) - double(what[i]);
    s += double(w[i]) * double(w[i]);
    n += d * d;
  }
  return 10.0 * std::log10(s / n);
}

using codes_t = std::vector<std::int8_t>;

void check_ternary_shape(const quantized_matrix<std::int8_t>& q, std::size_t rows, std::size_t cols, granularity g) {
  CHECK(q.rows == rows);
  CHECK(q.cols == cols);
  CHECK(q.bits == 2);
  CHECK(q.gran == g);
  CHECK(q.zero_points.empty());
  CHECK(q.scales.size() == g.count(rows, cols));
  REQUIRE(q.codes.size() == rows * cols);
  for (auto c : q.codes) CHECK((c == -1 || c == 0 || c == 1));
}

}  // namespace

TEST_CASE("ties differ between BitNet, TWN and Tequila on purpose", "[ternary][ties]") {
  // mean|W| = 2 exactly. BitNet: γ = 2, W/γ = ±0.5 → RNE 0, ±1.5 → ±2 → clamp ±1.
  // Tequila: Δ = γ/2 = 1, inclusive → ±1 at W = ±1. TWN with ratio 0.5: Δ = 1, strict → 0.
  const std::vector<float> w{1.0f, -1.0f, 3.0f, -3.0f};
  const const_matrix v(w.data(), 1, 4);
  const auto b = bitnet_ternary().quantize(v);
  CHECK(b.scales[0] == 2.0f);
  CHECK(b.codes == codes_t{0, 0, 1, -1});
  const auto t = tequila_ternary({granularity::per_row()}).quantize(v);
  CHECK(t.scales[0] == 2.0f);
  CHECK(t.codes == codes_t{1, -1, 1, -1});
  const auto n = twn_ternary({.threshold_ratio = 0.5f}).quantize(v);
  CHECK(n.codes == codes_t{0, 0, 1, -1});
  CHECK(n.scales[0] == 3.0f);
}

TEST_CASE("BitNet b1.58: gamma = max(mean|W|, 1e-5), q = clamp(RNE(W/gamma), -1, 1)", "[ternary][bitnet]") {
  SECTION("exact ties and saturation") {
    // γ = 12/6 = 2: W/γ = [0.5, -0.5, 1.5, -2.5, 0, 1] → RNE [0, -0, 2, -2, 0, 1] → clamp.
    const std::vector<float> w{1.0f, -1.0f, 3.0f, -5.0f, 0.0f, 2.0f};
    const auto q = bitnet_ternary().quantize(const_matrix(w.data(), 1, 6));
    check_ternary_shape(q, 1, 6, granularity::per_tensor());
    CHECK(q.scales[0] == 2.0f);
    CHECK(q.codes == codes_t{0, 0, 1, -1, 0, 1});
    CHECK(q.dequantize() == std::vector<float>{0, 0, 2, -2, 0, 2});
  }
  SECTION("one ulp either side of the tie") {
    CHECK(bitnet_ternary::code(std::nextafter(1.0f, 2.0f), 2.0f) == 1);
    CHECK(bitnet_ternary::code(1.0f, 2.0f) == 0);
    CHECK(bitnet_ternary::code(std::nextafter(1.0f, 0.0f), 2.0f) == 0);
    CHECK(bitnet_ternary::code(std::nextafter(-1.0f, -2.0f), 2.0f) == -1);
    CHECK(bitnet_ternary::code(-1.0f, 2.0f) == 0);
    CHECK(bitnet_ternary::code(1e30f, 2.0f) == 1);
    CHECK(bitnet_ternary::code(-1e30f, 2.0f) == -1);
  }
  SECTION("the 1e-5 floor: all-zero and tiny tensors") {
    const std::vector<float> zero(8, 0.0f);
    const auto z = bitnet_ternary().quantize(const_matrix(zero.data(), 2, 4));
    CHECK(z.scales[0] == 1e-5f);
    CHECK(z.codes == codes_t(8, 0));
    CHECK(z.dequantize() == zero);
    const std::vector<float> tiny{4e-6f, -4e-6f, 6e-6f, -1e-7f};  // mean 3.525e-6 < 1e-5
    const auto t = bitnet_ternary().quantize(const_matrix(tiny.data(), 1, 4));
    CHECK(t.scales[0] == 1e-5f);
    CHECK(t.codes == codes_t{0, 0, 1, 0});  // 0.4 → 0, 0.6 → 1
  }
  SECTION("per-row and per-group options give one gamma per group") {
    // Row 0: mean 2; row 1 groups of 2: [4, -4] → 4, [0.5, 0.25] → 0.375 (dyadic).
    const std::vector<float> w{1, -1, 3, -3, 4, -4, 0.5f, 0.25f};
    const auto r = bitnet_ternary({granularity::per_row()}).quantize(const_matrix(w.data(), 2, 4));
    CHECK(r.scales == std::vector<float>{2.0f, 2.1875f});
    const auto g = bitnet_ternary({granularity::per_group(2)}).quantize(const_matrix(w.data(), 2, 4));
    check_ternary_shape(g, 2, 4, granularity::per_group(2));
    CHECK(g.scales == std::vector<float>{1.0f, 3.0f, 4.0f, 0.375f});
    // 1/1 → 1; 3/3 → 1; 4/4 → 1; 0.5/0.375 = 1.33 → 1; 0.25/0.375 = 0.67 → 1.
    CHECK(g.codes == codes_t{1, -1, 1, -1, 1, -1, 1, 1});
  }
  SECTION("equals the strict threshold gamma/2 on random data (RNE(0.5) = 0)") {
    BITDIAL_LOG_SEED();
    for (bool heavy : {false, true}) {
      const auto w = heavy ? test::heavy_tailed(64 * 96, 3) : test::normal(64 * 96, 3);
      const auto q = bitnet_ternary({granularity::per_group(32)}).quantize(const_matrix(w.data(), 64, 96));
      std::size_t mismatches = 0;
      for (std::size_t r = 0; r < 64; ++r)
        for (std::size_t c = 0; c < 96; ++c) {
          const float half = q.scales[q.scale_index(r, c)] / 2.0f;
          const float x = w[r * 96 + c];
          if (q.code(r, c) != int(x > half) - int(x < -half)) ++mismatches;
        }
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("TWN: strict threshold 0.7 mean|W|, alpha = mean of the kept |W|", "[ternary][twn]") {
  SECTION("default ratio: a tie at delta = 7 exactly") {
    const twn_ternary twn;
    REQUIRE(twn.threshold(10.0f) == 7.0f);                   // fl(0.7f · 10) = 7 exactly
    const std::vector<float> w{7.0f, -7.0f, 13.0f, -13.0f};  // mean 10
    const auto q = twn.quantize(const_matrix(w.data(), 1, 4));
    check_ternary_shape(q, 1, 4, granularity::per_tensor());
    CHECK(q.codes == codes_t{0, 0, 1, -1});
    CHECK(q.scales[0] == 13.0f);
    CHECK(twn_ternary::code(std::nextafter(7.0f, 8.0f), 7.0f) == 1);
    CHECK(twn_ternary::code(std::nextafter(-7.0f, -8.0f), 7.0f) == -1);
  }
  SECTION("ratio 0.5: dyadic threshold and alpha") {
    // mean = 12/6 = 2 → Δ = 1; kept |W| = 3, 2, 2.5, 2.5 → α = 2.5.
    const std::vector<float> w{1.0f, -1.0f, 3.0f, -2.0f, 2.5f, -2.5f};
    const auto q = twn_ternary({.threshold_ratio = 0.5f}).quantize(const_matrix(w.data(), 1, 6));
    CHECK(q.codes == codes_t{0, 0, 1, -1, 1, -1});
    CHECK(q.scales[0] == 2.5f);
  }
  SECTION("no kept weight: alpha = 0, no division by zero") {
    const std::vector<float> flat{1.0f, -1.0f, 1.0f, -1.0f};  // ratio 1 → Δ = 1, strict → all 0
    const auto q = twn_ternary({.threshold_ratio = 1.0f}).quantize(const_matrix(flat.data(), 1, 4));
    CHECK(q.codes == codes_t(4, 0));
    CHECK(q.scales[0] == 0.0f);
    CHECK(q.dequantize() == std::vector<float>(4, 0.0f));
    const std::vector<float> zero(4, 0.0f);
    const auto z = twn_ternary().quantize(const_matrix(zero.data(), 2, 2));
    CHECK(z.codes == codes_t(4, 0));
    CHECK(z.scales[0] == 0.0f);
  }
  SECTION("alpha is the least-squares scale of the codes (random data, per row)") {
    BITDIAL_LOG_SEED();
    const auto w = test::heavy_tailed(16 * 64, 5);
    const auto q = twn_ternary({.gran = granularity::per_row()}).quantize(const_matrix(w.data(), 16, 64));
    for (std::size_t r = 0; r < 16; ++r) {
      double abs_sum = 0.0, kept_sum = 0.0;
      std::size_t kept = 0;
      for (std::size_t c = 0; c < 64; ++c) abs_sum += std::fabs(double(w[r * 64 + c]));
      const float delta = twn_ternary().threshold(static_cast<float>(abs_sum / 64));
      for (std::size_t c = 0; c < 64; ++c) {
        const float x = w[r * 64 + c];
        CHECK(q.code(r, c) == int(x > delta) - int(x < -delta));
        if (q.code(r, c) != 0) {
          kept_sum += std::fabs(double(x));
          ++kept;
        }
      }
      // argmin_α Σ (W − α q)² = Σ|W|·[q ≠ 0] / #[q ≠ 0]
      CHECK(q.scales[r] == Approx(kept_sum / double(kept)).epsilon(1e-6));
    }
  }
}

TEST_CASE("Tequila: inclusive threshold gamma/2 per group of 128", "[ternary][tequila]") {
  SECTION("exact ties go to +-1") {
    const std::vector<float> w{0.5f, -0.5f, 1.5f, -1.5f};  // γ = 1, Δ = 0.5
    const auto q = tequila_ternary({granularity::per_row()}).quantize(const_matrix(w.data(), 1, 4));
    CHECK(q.codes == codes_t{1, -1, 1, -1});
    CHECK(q.scales[0] == 1.0f);
    CHECK(tequila_ternary::code(std::nextafter(0.5f, 0.0f), 0.5f) == 0);
    CHECK(tequila_ternary::code(std::nextafter(-0.5f, 0.0f), 0.5f) == 0);
    CHECK(tequila_ternary::code(0.0f, 0.0f) == 0);  // an all-zero group: Δ = 0, 0 stays 0
  }
  SECTION("default groups of 128, one gamma each; an all-zero group stays zero") {
    std::vector<float> w(2 * 256);
    for (std::size_t c = 0; c < 128; ++c) w[c] = (c % 2 ? -1.0f : 1.0f) * (c % 4 < 2 ? 0.5f : 1.5f);  // γ = 1
    for (std::size_t c = 128; c < 256; ++c) w[c] = c % 3 == 0 ? 4.0f : 0.0f;  // 43 fours: γ = 172/128
    // row 1: group 0 all zero, group 1 = 0.25 everywhere.
    for (std::size_t c = 384; c < 512; ++c) w[c] = 0.25f;
    const tequila_ternary teq;
    CHECK(teq.opts().gran == granularity::per_group(128));
    const auto q = teq.quantize(const_matrix(w.data(), 2, 256));
    check_ternary_shape(q, 2, 256, granularity::per_group(128));
    CHECK(q.scales[0] == 1.0f);
    CHECK(q.scales[1] == 1.34375f);
    CHECK(q.scales[2] == 0.0f);
    CHECK(q.scales[3] == 0.25f);
    for (std::size_t c = 0; c < 128; ++c) CHECK(q.code(0, c) == (c % 2 ? -1 : 1));  // ±0.5 ties included
    for (std::size_t c = 128; c < 256; ++c) CHECK(q.code(0, c) == (c % 3 == 0 ? 1 : 0));
    for (std::size_t c = 0; c < 128; ++c) CHECK(q.code(1, c) == 0);
    for (std::size_t c = 128; c < 256; ++c) CHECK(q.code(1, c) == 1);  // 0.25 ≥ 0.125
    const auto d = q.dequantize();
    for (std::size_t c = 0; c < 128; ++c) CHECK(d[256 + c] == 0.0f);
  }
}

TEST_CASE("dead-zone weights fold into an input-independent bias", "[ternary][tequila]") {
  SECTION("hand example") {
    // Row 0: γ = 2 → Tequila codes [1, -1, 1, -1] (no dead zone), BitNet [0, 0, 1, -1].
    // Row 1: γ = 8.75/4 = 2.1875 → both rules [0, 1, -1, 0]; dead zone W = 0.25 (c = 0), 0.5 (c = 3).
    const std::vector<float> w{1, -1, 3, -3, 0.25f, 4, -4, 0.5f};
    const std::vector<float> mean_x{2, 4, 8, 16};
    const const_matrix v(w.data(), 2, 4);
    const auto t = tequila_ternary({granularity::per_row()}).quantize(v);
    CHECK(t.codes == codes_t{1, -1, 1, -1, 0, 1, -1, 0});
    CHECK(ternary_deadzone_bias(v, t, mean_x) == std::vector<float>{0.0f, 0.25f * 2 + 0.5f * 16});
    const auto b = bitnet_ternary({granularity::per_row()}).quantize(v);
    CHECK(ternary_deadzone_bias(v, b, mean_x) == std::vector<float>{1.0f * 2 - 1.0f * 4, 8.5f});
  }
  SECTION("random: bias = D·mu, and at x = mu the fold restores the dead-zone part exactly") {
    BITDIAL_LOG_SEED();
    const std::size_t M = 16, K = 256;
    const auto w = test::heavy_tailed(M * K, 7);
    auto mu = test::normal(K, 8);
    for (auto& m : mu) m += 1.0f;
    const const_matrix v(w.data(), M, K);
    const auto q = tequila_ternary().quantize(v);
    const auto bias = ternary_deadzone_bias(v, q, mu);
    REQUIRE(bias.size() == M);
    for (std::size_t r = 0; r < M; ++r) {
      double dz = 0.0, mag = 0.0, full = 0.0, kept = 0.0;
      for (std::size_t c = 0; c < K; ++c) {
        const double x = w[r * K + c], m = mu[c];
        if (q.code(r, c) == 0) {
          dz += x * m;
          mag += std::fabs(x * m);
        }
        full += x * m;
        kept += (q.code(r, c) == 0 ? 0.0 : x) * m;
      }
      CHECK(bias[r] == Approx(dz).margin(1e-6 * mag + 1e-30));
      // W·mu = (kept part)·mu + bias: the dead-zone contribution at the mean input is recovered.
      CHECK(kept + double(bias[r]) == Approx(full).margin(1e-6 * (mag + std::fabs(full))));
    }
  }
}

TEST_CASE("ternary quantizers reject bad input by name", "[ternary][errors]") {
  std::vector<float> w(4 * 8, 0.5f);
  const const_matrix v(w.data(), 4, 8);
  SECTION("NaN / Inf") {
    w[2 * 8 + 3] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(bitnet_ternary().quantize(v),
                      Catch::Contains("bitnet_ternary::quantize") && Catch::Contains("weights(2, 3)"));
    CHECK_THROWS_WITH(twn_ternary().quantize(v), Catch::Contains("weights(2, 3)"));
    w[2 * 8 + 3] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH(tequila_ternary({granularity::per_row()}).quantize(v), Catch::Contains("weights(2, 3) = inf"));
  }
  SECTION("empty") {
    CHECK_THROWS_WITH(bitnet_ternary().quantize(const_matrix(w.data(), 0, 8)), Catch::Contains("weights shape = 0x8"));
    CHECK_THROWS_WITH(twn_ternary().quantize(const_matrix(w.data(), 4, 0)), Catch::Contains("weights shape = 4x0"));
    CHECK_THROWS_WITH(tequila_ternary().quantize(const_matrix(nullptr, 0, 0)), Catch::Contains("weights shape = 0x0"));
  }
  SECTION("group not dividing K") {
    CHECK_THROWS_WITH(tequila_ternary().quantize(v), Catch::Contains("group = 128") && Catch::Contains("K = 8"));
    // A 4-element input under Tequila's default group of 128: the message names the fix, and the fix works.
    const std::vector<float> four = {0.5f, -1.0f, 0.1f, 2.0f};
    CHECK_THROWS_WITH(tequila_ternary().quantize(const_matrix(four.data(), 1, 4)),
                      Catch::Contains("group = 128: does not divide K = 4") && Catch::Contains("per_row()"));
    const auto q4 = tequila_ternary({granularity::per_row()}).quantize(const_matrix(four.data(), 1, 4));
    CHECK(q4.codes == std::vector<std::int8_t>{1, -1, 0, 1});  // γ = 0.9, Δ = 0.45
    CHECK_THROWS_WITH(bitnet_ternary({granularity::per_group(3)}).quantize(v), Catch::Contains("group = 3"));
    CHECK_THROWS_WITH(twn_ternary({.gran = granularity::per_group(0)}).quantize(v), Catch::Contains("group = 0"));
  }
  SECTION("TWN threshold ratio") {
    CHECK_THROWS_WITH(twn_ternary({.threshold_ratio = -0.5f}), Catch::Contains("threshold_ratio = -0.5"));
    CHECK_THROWS_WITH(twn_ternary({.threshold_ratio = std::numeric_limits<float>::quiet_NaN()}),
                      Catch::Contains("threshold_ratio = nan"));
  }
  SECTION("dead-zone bias arguments") {
    const auto q = tequila_ternary({granularity::per_row()}).quantize(v);
    const std::vector<float> mu(8, 1.0f);
    CHECK_THROWS_WITH(ternary_deadzone_bias(v, q, std::vector<float>(7, 1.0f)), Catch::Contains("mean_x.size() = 7"));
    auto bad_mu = mu;
    bad_mu[6] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(ternary_deadzone_bias(v, q, bad_mu), Catch::Contains("mean_x[6] = nan"));
    CHECK_THROWS_WITH(ternary_deadzone_bias(const_matrix(w.data(), 2, 8), q, mu), Catch::Contains("codes shape = 4x8"));
    auto not_ternary = q;
    not_ternary.codes[9] = 2;
    CHECK_THROWS_WITH(ternary_deadzone_bias(v, not_ternary, mu), Catch::Contains("code(1, 1) = 2"));
  }
}

TEST_CASE("ternary SQNR table, 256x1024", "[ternary][table]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 256, K = 1024;
  std::printf("\nternary SQNR dB, %zux%zu, seed %llu\n%-34s %10s %16s\n", M, K,
              static_cast<unsigned long long>(test::seed()), "rule", "N(0,1)", "Student-t 3 dof");
  struct rule {
    const char* name;
    quantized_matrix<std::int8_t> (*run)(const_matrix);
  };
  const rule rules[] = {
      {"BitNet b1.58 (per tensor)", [](const_matrix v) { return bitnet_ternary().quantize(v); }},
      {"BitNet b1.58 (group 128)",
       [](const_matrix v) { return bitnet_ternary({granularity::per_group(128)}).quantize(v); }},
      {"TWN 0.7 (per tensor)", [](const_matrix v) { return twn_ternary().quantize(v); }},
      {"TWN 0.7 (group 128)",
       [](const_matrix v) { return twn_ternary({.gran = granularity::per_group(128)}).quantize(v); }},
      {"Tequila (group 128)", [](const_matrix v) { return tequila_ternary().quantize(v); }},
  };
  const auto normal = test::normal(M * K, 9);
  const auto heavy = test::heavy_tailed(M * K, 9);
  for (const auto& r : rules) {
    const double a = test_sqnr_db(normal, r.run(const_matrix(normal.data(), M, K)).dequantize());
    const double b = test_sqnr_db(heavy, r.run(const_matrix(heavy.data(), M, K)).dequantize());
    std::printf("%-34s %10.2f %16.2f\n", r.name, a, b);
    // Any ternary rule beats Ŵ = 0 (0 dB) and cannot beat the 2-bit rate-distortion bound (~12 dB).
    CHECK(a > 3.0);
    CHECK(a < 12.0);
    CHECK(b > 0.0);
  }
  // TWN is the closed-form optimum of the ternary L2 problem for Gaussian weights (its 0.7 ratio
  // approximates the optimal threshold ≈ 0.6σ), so it must beat BitNet's γ-scaled codes there.
  const double twn = test_sqnr_db(normal, twn_ternary().quantize(const_matrix(normal.data(), M, K)).dequantize());
  const double bitnet = test_sqnr_db(normal, bitnet_ternary().quantize(const_matrix(normal.data(), M, K)).dequantize());
  CHECK(twn > bitnet);
}
