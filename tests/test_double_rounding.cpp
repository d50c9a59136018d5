// Double rounding (SEMANTICS.md §2): serve a signed B-bit master at b <= B by rounding its codes.
#include <bitdial/quant/double_rounding.hpp>
#include <bitdial/quant/metrics.hpp>

#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

constexpr rounding rhu = rounding::half_up;
constexpr rounding rne = rounding::half_even;

/// Independent reference in double: clamp(round(q / 2^k)) with the tie rule written out directly.
double reference_code(int q, int master_bits, int b, rounding r) {
  const double x = double(q) / std::ldexp(1.0, master_bits - b);
  const double rounded = r == rhu ? std::floor(x + 0.5) : std::nearbyint(x);  // default FE_TONEAREST = RNE
  const double lo = -std::ldexp(1.0, b - 1), hi = std::ldexp(1.0, b - 1) - 1.0;
  return rounded < lo ? lo : (rounded > hi ? hi : rounded);
}

/// Every code of a B-bit signed master, one row, with several scale groups.
quantized_matrix<std::int8_t> all_codes_master(int master_bits, std::size_t groups) {
  quantized_matrix<std::int8_t> m;
  const std::size_t n = std::size_t{1} << master_bits;
  m.rows = 1;
  m.cols = n;
  m.bits = master_bits;
  m.gran = groups == 1 ? granularity::per_row() : granularity::per_group(n / groups);
  for (std::size_t i = 0; i < n; ++i) m.codes.push_back(static_cast<std::int8_t>(signed_min(master_bits) + int(i)));
  const float scales[] = {0.0137f, 0.5f, 3.1f, 1e-3f};
  for (std::size_t g = 0; g < groups; ++g) m.scales.push_back(scales[g % 4]);
  return m;
}

}  // namespace

TEST_CASE("SEMANTICS §2 examples, k = 4", "[double_rounding]") {
  using dr = double_rounding<>;
  CHECK(dr::serve_code(127, 4, rne) == 7);  // 7.9375 -> 8 -> clamp 7
  CHECK(dr::serve_code(127, 4, rhu) == 7);
  CHECK(dr::serve_code(8, 4, rne) == 0);  // 0.5
  CHECK(dr::serve_code(8, 4, rhu) == 1);
  CHECK(dr::serve_code(40, 4, rne) == 2);  // 2.5
  CHECK(dr::serve_code(40, 4, rhu) == 3);
  CHECK(dr::serve_code(-100, 4, rne) == -6);  // -6.25; truncation would give -7
  CHECK(dr::serve_code(-100, 4, rhu) == -6);
  CHECK((-100 >> 4) == -7);
  STATIC_REQUIRE(dr::serve_code(40, 4, rounding::half_even) == 2);
  STATIC_REQUIRE(dr::serve_code(40, 4, rounding::half_up) == 3);
  STATIC_REQUIRE(dr::serve_code_from_planes(40, 4) == 3);
}

TEST_CASE("tie vectors: RNE and RHU differ exactly on halves", "[double_rounding][ties]") {
  using dr = double_rounding<>;
  // k = 1 (b = 7): q/2 ties
  CHECK(dr::serve_code(1, 7, rne) == 0);
  CHECK(dr::serve_code(1, 7, rhu) == 1);
  CHECK(dr::serve_code(3, 7, rne) == 2);
  CHECK(dr::serve_code(3, 7, rhu) == 2);
  CHECK(dr::serve_code(-1, 7, rne) == 0);  // -0.5
  CHECK(dr::serve_code(-1, 7, rhu) == 0);
  CHECK(dr::serve_code(-3, 7, rne) == -2);  // -1.5
  CHECK(dr::serve_code(-3, 7, rhu) == -1);
  CHECK(dr::serve_code(127, 7, rne) == 63);  // 63.5 -> 64 both -> clamp 63
  CHECK(dr::serve_code(127, 7, rhu) == 63);
  // k = 2 (b = 6)
  CHECK(dr::serve_code(-6, 6, rne) == -2);  // -1.5
  CHECK(dr::serve_code(-6, 6, rhu) == -1);
  CHECK(dr::serve_code(10, 6, rne) == 2);  // 2.5
  CHECK(dr::serve_code(10, 6, rhu) == 3);
  // k = 7 (b = 1): codes {-1, 0}
  CHECK(dr::serve_code(64, 1, rne) == 0);   // 0.5
  CHECK(dr::serve_code(64, 1, rhu) == 0);   // 1 -> clamp 0
  CHECK(dr::serve_code(-64, 1, rne) == 0);  // -0.5
  CHECK(dr::serve_code(-64, 1, rhu) == 0);
  CHECK(dr::serve_code(-65, 1, rne) == -1);
  CHECK(dr::serve_code(-65, 1, rhu) == -1);
  CHECK(dr::serve_code(-128, 1, rne) == -1);
  // non-tie neighbours of a tie round the same way under both rules
  CHECK(dr::serve_code(39, 4, rne) == 2);
  CHECK(dr::serve_code(41, 4, rne) == 3);
  CHECK(dr::serve_code(39, 4, rhu) == 2);
  CHECK(dr::serve_code(41, 4, rhu) == 3);
}

TEST_CASE("saturation edges at every width", "[double_rounding][saturation]") {
  using dr = double_rounding<>;
  for (int b = 1; b <= 8; ++b) {
    INFO("b = " << b);
    for (rounding r : {rne, rhu}) {
      // 127 / 2^k = 2^(b-1) - 2^-k rounds up to 2^(b-1) for k >= 1 and saturates.
      CHECK(dr::serve_code(127, b, r) == signed_max(b));
      // the most negative master code maps to the most negative served code, never below
      CHECK(dr::serve_code(-128, b, r) == signed_min(b));
    }
  }
  CHECK(dr::serve_code(120, 4, rhu) == 7);    // 7.5 -> 8 -> 7
  CHECK(dr::serve_code(119, 4, rhu) == 7);    // 7.4375 -> 7, no clamp needed
  CHECK(dr::serve_code(-120, 4, rne) == -8);  // -7.5 -> -8 (even)
  CHECK(dr::serve_code(-120, 4, rhu) == -7);  // -7.5 -> -7 (up)
}

TEST_CASE("exhaustive: every int8 master x b = 1..8 x both tie rules against the double formula",
          "[double_rounding][exhaustive]") {
  for (rounding r : {rne, rhu}) {
    const double_rounding<> dr({r});
    const auto master = all_codes_master(8, 4);
    for (int b = 1; b <= 8; ++b) {
      const auto served = dr.derive(master, b);
      REQUIRE(served.bits == b);
      REQUIRE(served.gran == master.gran);
      REQUIRE(served.zero_points.empty());
      const std::vector<float> xh = served.dequantize();
      REQUIRE(xh == dr.dequantize(master, b));
      for (std::size_t i = 0; i < 256; ++i) {
        const int q8 = master.codes[i];
        INFO("q8 = " << q8 << ", b = " << b << ", rule = " << to_string(r));
        const double q_ref = reference_code(q8, 8, b, r);
        REQUIRE(double(served.codes[i]) == q_ref);
        REQUIRE(double_rounding<>::serve_code(q8, b, r) == q_ref);
        if (r == rhu) REQUIRE(double_rounding<>::serve_code_from_planes(q8, b) == q_ref);
        const std::size_t g = master.scale_index(0, i);
        REQUIRE(served.scales[g] == float(double(master.scales[g]) * std::ldexp(1.0, 8 - b)));
        // x̂_b = s8 · 2^k · q_b: the exact product fits a double, so one rounding to float
        REQUIRE(xh[i] == float(double(master.scales[g]) * std::ldexp(1.0, 8 - b) * q_ref));
      }
    }
  }
}

TEST_CASE("exhaustive for narrower masters, B = 2..7", "[double_rounding][exhaustive]") {
  for (int B = 2; B <= 7; ++B)
    for (rounding r : {rne, rhu}) {
      const double_rounding<dynamic_bits> dr(B, {r});
      REQUIRE(dr.master_bits() == B);
      const auto master = all_codes_master(B, 1);
      for (int b = 1; b <= B; ++b) {
        const auto served = dr.derive(master, b);
        for (std::size_t i = 0; i < master.codes.size(); ++i) {
          INFO("B = " << B << ", q = " << int(master.codes[i]) << ", b = " << b << ", rule = " << to_string(r));
          REQUIRE(double(served.codes[i]) == reference_code(master.codes[i], B, b, r));
          if (r == rhu)
            REQUIRE(double_rounding<dynamic_bits>::serve_code_from_planes(master.codes[i], B, b) == served.codes[i]);
        }
      }
    }
}

TEST_CASE("b = B serves the master unchanged; the master is uniform_symmetric at B bits", "[double_rounding]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 7, cols = 64;
  const auto w = test::normal(rows * cols, 11);
  const const_matrix wv(w.data(), rows, cols);
  for (granularity g : {granularity::per_tensor(), granularity::per_row(), granularity::per_group(16)}) {
    const double_rounding<> dr;
    const auto master = dr.quantize_master(wv, g);
    const auto direct = uniform_symmetric<8>({g, int_range::full, rounding::half_even}).quantize(wv);
    CHECK(master.codes == direct.codes);
    CHECK(master.scales == direct.scales);
    CHECK(master.gran == g);
    const auto same = dr.derive(master, 8);
    CHECK(same.codes == master.codes);
    CHECK(same.scales == master.scales);
    CHECK(dr.dequantize(master, 8) == master.dequantize());
  }
  // a 5-bit master
  const double_rounding<dynamic_bits> dr5(5);
  const auto m5 = dr5.quantize_master(wv);
  CHECK(m5.bits == 5);
  CHECK(m5.codes == uniform_symmetric<5>().quantize(wv).codes);
  CHECK(dr5.derive(m5, 3).scales[2] == m5.scales[2] * 4.0f);
}

TEST_CASE("an all-zero group serves zeros at every width", "[double_rounding]") {
  std::vector<float> w(2 * 8, 0.0f);
  for (std::size_t c = 0; c < 8; ++c) w[8 + c] = 0.25f * float(c) - 1.0f;
  const double_rounding<> dr;
  const auto master = dr.quantize_master(const_matrix(w.data(), 2, 8));
  CHECK(master.scales[0] == 0.0f);
  for (int b = 1; b <= 8; ++b) {
    const auto xh = dr.dequantize(master, b);
    for (std::size_t c = 0; c < 8; ++c) CHECK(xh[c] == 0.0f);
    for (float v : xh) CHECK(std::isfinite(v));
  }
}

TEST_CASE("SQNR of double rounding vs direct b-bit quantization", "[double_rounding][table]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 256, cols = 4096;
  struct sample {
    const char* name;
    std::vector<float> w;
  };
  const sample samples[] = {{"N(0,1)", test::normal(rows * cols, 1)},
                            {"Student-t(3)", test::heavy_tailed(rows * cols, 2)}};
  for (const auto& s : samples) {
    const const_matrix wv(s.w.data(), rows, cols);
    const double_rounding<> dr_rhu({rhu}), dr_rne({rne});
    const auto master = dr_rne.quantize_master(wv);  // absmax per row, RNE
    std::printf("\nDouble rounding from an 8-bit absmax RNE master, %s %zux%zu per-row, seed %llu\n", s.name, rows,
                cols, static_cast<unsigned long long>(test::seed()));
    std::printf("  b | DR-RHU dB | DR-RNE dB | direct absmax dB | DR-RNE - direct\n");
    double sum_rhu = 0.0, sum_rne = 0.0;
    for (int b = 1; b <= 8; ++b) {
      const double d_rhu = sqnr_db(s.w, dr_rhu.dequantize(master, b));
      const double d_rne = sqnr_db(s.w, dr_rne.dequantize(master, b));
      const double direct = sqnr_db(s.w, uniform_symmetric<>(b).quantize(wv).dequantize());
      std::printf("  %d | %9.3f | %9.3f | %16.3f | %+8.3f\n", b, d_rhu, d_rne, direct, d_rne - direct);
      sum_rhu += d_rhu;
      sum_rne += d_rne;
      INFO(s.name << ", b = " << b);
      // Both tie rules move a tie by the same distance, so on a smooth density the MSE is the same;
      // on the t(3) peak the density slope inside the first bins favours RNE by a little.
      CHECK(std::fabs(d_rhu - d_rne) < (s.name[0] == 'N' ? 0.05 : 0.5));
      if (b == 8) CHECK(d_rne == direct);  // k = 0 serves the master, which is the direct 8-bit model
      // Granular-regime theory (header comment): double rounding's MSE is s_b²/12 · (1 + 3/4^k), a
      // direct absmax grid has step amax/(2^(b-1)-1) instead of amax·2^k/127.
      if (s.name[0] == 'N' && (b == 6 || b == 7)) {
        const int k = 8 - b;
        const double predicted = -10.0 * std::log10(1.0 + 3.0 / std::ldexp(1.0, 2 * k)) +
                                 20.0 * std::log10((127.0 / std::ldexp(1.0, k)) / signed_max(b));
        CHECK(std::fabs((d_rne - direct) - predicted) < 0.1);
      }
      // dropping bits costs roughly 6 dB per bit in the granular regime
      if (b >= 4 && b < 8) {
        const double d_next = sqnr_db(s.w, dr_rne.dequantize(master, b + 1));
        CHECK(d_next - d_rne > 4.0);
      }
    }
    std::printf("  mean over b: RHU %.3f dB, RNE %.3f dB\n", sum_rhu / 8, sum_rne / 8);
  }
}

TEST_CASE("bad input is rejected by name", "[double_rounding][errors]") {
  const double_rounding<> dr;
  const auto master = all_codes_master(8, 1);
  CHECK_THROWS_WITH(dr.derive(master, 0), Catch::Contains("b = 0"));
  CHECK_THROWS_WITH(dr.derive(master, 9), Catch::Contains("b = 9"));
  CHECK_THROWS_WITH(double_rounding<>::serve_code(1, 0, rhu), Catch::Contains("b = 0"));
  CHECK_THROWS_WITH(double_rounding<>::serve_code(1, 9, rhu), Catch::Contains("b = 9"));
  CHECK_THROWS_WITH(double_rounding<dynamic_bits>::serve_code(1, 4, 5, rhu),
                    Catch::Contains("b = 5") && Catch::Contains("1..4"));
  CHECK_THROWS_WITH(double_rounding<dynamic_bits>::serve_code(1, 9, 4, rhu), Catch::Contains("master_bits = 9"));
  CHECK_THROWS_WITH(double_rounding<dynamic_bits>::serve_code(1, 1, 1, rhu), Catch::Contains("master_bits = 1"));
  CHECK_THROWS_WITH(double_rounding<dynamic_bits>::serve_code(8, 4, 2, rhu), Catch::Contains("q8 = 8"));
  CHECK_THROWS_WITH(double_rounding<dynamic_bits>::serve_code(-9, 4, 2, rhu), Catch::Contains("q8 = -9"));
  // The deprecated form that repeats the master width: a width other than the template's throws
  // (double_rounding<4>::serve_code(q, 8, …) used to be accepted silently); the matching width agrees.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  CHECK_THROWS_WITH(double_rounding<4>::serve_code(1, 8, 2, rhu),
                    Catch::Contains("master_bits = 8") && Catch::Contains("double_rounding<4>"));
  CHECK_THROWS_WITH(double_rounding<4>::serve_code_from_planes(1, 8, 2), Catch::Contains("master_bits = 8"));
  CHECK(double_rounding<4>::serve_code(5, 4, 2, rhu) == double_rounding<4>::serve_code(5, 2, rhu));
  CHECK(double_rounding<>::serve_code_from_planes(40, 8, 4) == 3);
#pragma GCC diagnostic pop
  CHECK_THROWS_WITH(double_rounding<dynamic_bits>(1), Catch::Contains("master_bits = 1"));
  CHECK_THROWS_WITH(double_rounding<dynamic_bits>(9), Catch::Contains("master_bits = 9"));
  CHECK_THROWS_AS(double_rounding<8>(4), error);

  // b above the master width of a narrower master
  const double_rounding<dynamic_bits> dr4(4);
  const auto m4 = all_codes_master(4, 1);
  CHECK_THROWS_WITH(dr4.derive(m4, 5), Catch::Contains("b = 5"));
  // master bits mismatch: an 8-bit server given a 4-bit master, and the reverse
  CHECK_THROWS_WITH(dr.derive(m4, 2), Catch::Contains("master.bits = 4"));
  CHECK_THROWS_WITH(dr4.derive(master, 2), Catch::Contains("master.bits = 8"));
  // codes outside the declared width
  auto bad_code = m4;
  bad_code.codes[3] = 8;
  CHECK_THROWS_WITH(dr4.derive(bad_code, 2), Catch::Contains("master.codes[3] = 8"));
  // empty master
  CHECK_THROWS_WITH(dr.derive(quantized_matrix<std::int8_t>{}, 4), Catch::Contains("master shape = 0x0"));
  // inconsistent sizes, zero points, bad scales
  auto short_codes = master;
  short_codes.codes.pop_back();
  CHECK_THROWS_WITH(dr.derive(short_codes, 4), Catch::Contains("master.codes.size() = 255"));
  auto zp = master;
  zp.zero_points = {3};
  CHECK_THROWS_WITH(dr.derive(zp, 4), Catch::Contains("zero_points.size() = 1"));
  auto nan_scale = master;
  nan_scale.scales[0] = std::nanf("");
  CHECK_THROWS_WITH(dr.derive(nan_scale, 4), Catch::Contains("master.scales[0] = nan"));
  auto neg_scale = master;
  neg_scale.scales[0] = -1.0f;
  CHECK_THROWS_WITH(dr.derive(neg_scale, 4), Catch::Contains("master.scales[0] = -1"));
  auto huge_scale = master;
  huge_scale.scales[0] = 3e38f;
  CHECK_THROWS_WITH(dr.derive(huge_scale, 4), Catch::Contains("overflows"));
  CHECK_NOTHROW(dr.derive(huge_scale, 8));
  auto bad_group = master;
  bad_group.gran = granularity::per_group(100);
  CHECK_THROWS_WITH(dr.derive(bad_group, 4), Catch::Contains("group = 100"));

  // NaN / Inf / empty float input to the master quantizer
  std::vector<float> w(16, 0.5f);
  w[5] = std::nanf("");
  CHECK_THROWS_WITH(dr.quantize_master(const_matrix(w.data(), 2, 8)),
                    Catch::Contains("double_rounding::quantize_master") && Catch::Contains("weights(0, 5) = nan"));
  w[5] = INFINITY;
  CHECK_THROWS_WITH(dr.quantize_master(const_matrix(w.data(), 2, 8)), Catch::Contains("weights(0, 5) = inf"));
  CHECK_THROWS_WITH(dr.quantize_master(const_matrix(w.data(), 0, 8)), Catch::Contains("shape = 0x8"));
  w[5] = 0.0f;
  CHECK_THROWS_WITH(dr.quantize_master(const_matrix(w.data(), 2, 8), granularity::per_group(3)),
                    Catch::Contains("group = 3"));
}
