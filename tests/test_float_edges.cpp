// Edges of the float range: no finite input may dequantize to ±inf or NaN, for every quantizer family,
// with weights near ±FLT_MAX and subnormal weights; the error measures reject non-finite input by name.
#include <bitdial/quant/activation.hpp>
#include <bitdial/quant/bitmod.hpp>
#include <bitdial/quant/bitstack.hpp>
#include <bitdial/quant/calibrate.hpp>
#include <bitdial/quant/double_rounding.hpp>
#include <bitdial/quant/metrics.hpp>
#include <bitdial/quant/minifloat.hpp>
#include <bitdial/quant/mx.hpp>
#include <bitdial/quant/nvfp4.hpp>
#include <bitdial/quant/residual.hpp>
#include <bitdial/quant/ternary.hpp>
#include <bitdial/quant/truncation.hpp>
#include <bitdial/quant/uniform.hpp>
#include <bitdial/select/fit.hpp>
#include <bitdial/select/plane_view.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

constexpr float flt_max = std::numeric_limits<float>::max();
constexpr float denorm_min = std::numeric_limits<float>::denorm_min();
constexpr std::size_t R = 2, K = 128;

struct input {
  std::string name;
  std::vector<float> w;  // R x K
};

/// Near ±FLT_MAX (both signs, one sign), subnormals only, and a mix of FLT_MAX, subnormals and zeros.
std::vector<input> edge_inputs() {
  std::vector<input> in;
  std::vector<float> v(R * K);
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = (i % 2 ? -flt_max : flt_max) * (i % 5 == 0 ? 1.0f : 0.999f - 0.001f * float(i % 7));
  in.push_back({"near ±FLT_MAX", v});
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i % 2 ? flt_max : -0.5f * flt_max;
  in.push_back({"FLT_MAX and -FLT_MAX/2", v});
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = flt_max * (1.0f - 0.0001f * float(i % 13));
  in.push_back({"positive near FLT_MAX", v});
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = (i % 3 == 0 ? -1.0f : 1.0f) * denorm_min * float(1 + i % 17);
  in.push_back({"subnormals", v});
  std::fill(v.begin(), v.end(), 0.0f);
  v[3] = flt_max, v[4] = denorm_min, v[5] = -flt_max, v[K + 7] = -denorm_min, v[K + 9] = flt_max;
  in.push_back({"FLT_MAX, subnormals and zeros", v});
  return in;
}

/// Every value finite; and where the input reaches FLT_MAX, the largest magnitude survives to within
/// `rel` (so that a fix by zeroing or by a huge clip would fail).
void require_finite(const std::vector<float>& w, const std::vector<float>& d, double rel) {
  REQUIRE(d.size() == w.size());
  float wmax = 0.0f, dmax = 0.0f;
  for (std::size_t i = 0; i < d.size(); ++i) {
    INFO("element " << i << ": w = " << w[i] << ", dequantized = " << d[i]);
    REQUIRE(std::isfinite(d[i]));
    wmax = std::max(wmax, std::fabs(w[i]));
    dmax = std::max(dmax, std::fabs(d[i]));
  }
  if (wmax > 1e38f) {
    INFO("largest |w| = " << wmax << ", largest |dequantized| = " << dmax);
    CHECK(std::fabs(double(dmax) - double(wmax)) <= rel * double(wmax));
  }
}

std::vector<float> view_values(const plane_view& v) {
  std::vector<float> out;
  for (std::size_t r = 0; r < v.rows(); ++r)
    for (std::size_t c = 0; c < v.cols(); ++c) out.push_back(v.dequantize(r, c));
  return out;
}

}  // namespace

TEST_CASE("float edges: uniform quantizers (absmax and MSE-clipped) stay finite", "[float_edges][uniform]") {
  for (const auto& in : edge_inputs())
    for (int b = 1; b <= 8; ++b) {
      INFO(in.name << ", b = " << b);
      const const_matrix w(in.w.data(), R, K);
      // The scale is at most FLT_MAX/2^(b−1) (the code −2^(b−1) must stay finite), so near FLT_MAX the
      // top level is (2^(b−1)−1)/2^(b−1) of it: low widths clip hard by design, and the tolerance only
      // guards against a zeroed or absurd output there.
      const double rel = b <= 3 ? 1.0 : 0.2;
      require_finite(in.w, uniform_symmetric<dynamic_bits>(b).quantize(w).dequantize(), rel);
      if (b >= 2)
        require_finite(in.w,
                       uniform_symmetric<dynamic_bits>(b, {granularity::per_row(), int_range::restricted})
                           .quantize(w)
                           .dequantize(),
                       rel);
      require_finite(in.w, quantize_mse(uniform_symmetric<dynamic_bits>(b), w).dequantize(), 1.0);
      require_finite(in.w, uniform_asymmetric<dynamic_bits>(b).quantize(w).dequantize(), 1.0);
      require_finite(in.w, quantize_mse(uniform_asymmetric<dynamic_bits>(b), w).dequantize(), 1.0);
      require_finite(in.w, uniform_midrise<dynamic_bits>(b).quantize(w).dequantize(), 1.0);
      require_finite(in.w, quantize_mse(uniform_midrise<dynamic_bits>(b), w).dequantize(), 1.0);
    }
}

TEST_CASE("float edges: 8-bit absmax keeps the extremes of a near-FLT_MAX group", "[float_edges][uniform]") {
  const std::vector<float> w = {flt_max, -flt_max, 0.5f * flt_max, 1.0f, 0.0f, -0.25f * flt_max, flt_max, -1.0f};
  const auto q = uniform_symmetric<8>().quantize(const_matrix(w.data(), 1, 8));
  // The scale is clamped to FLT_MAX/128 (so that the code -128 stays finite): both extremes land on
  // ±127·s and ±128·s, within 1% of ±FLT_MAX.
  CHECK(q.scales[0] == std::ldexp(flt_max, -7));
  const auto d = q.dequantize();
  CHECK(d[0] == 127.0f * q.scales[0]);
  CHECK(d[1] == -128.0f * q.scales[0]);
  CHECK(d[1] == -flt_max);
  // A caller-chosen scale whose largest code overflows is rejected by name.
  const std::vector<float> big = {flt_max / 100.0f};
  CHECK_THROWS_WITH(uniform_symmetric<8>().quantize_with_scales(const_matrix(w.data(), 1, 8), big),
                    Catch::Contains("scales[0] =") && Catch::Contains("overflows float"));
  CHECK_THROWS_WITH(uniform_midrise<8>().quantize_with_scales(const_matrix(w.data(), 1, 8), big),
                    Catch::Contains("scales[0] =") && Catch::Contains("overflows float"));
  const std::vector<std::int32_t> z = {0};
  CHECK_THROWS_WITH(uniform_asymmetric<8>().quantize_with_scales(const_matrix(w.data(), 1, 8), big, z),
                    Catch::Contains("scales[0] =") && Catch::Contains("overflows float"));
}

TEST_CASE("float edges: served widths (double rounding, truncation, plane views, fits) stay finite",
          "[float_edges][elastic]") {
  for (const auto& in : edge_inputs()) {
    const const_matrix w(in.w.data(), R, K);
    const auto master = uniform_symmetric<8>().quantize(w);
    const auto ready = truncation_ready<8>().quantize(w);
    auto stack = bit_plane_stack::pack(master);
    fit_reconstruction(stack, w);
    for (int b = 1; b <= 8; ++b) {
      INFO(in.name << ", b = " << b);
      for (rounding r : {rounding::half_up, rounding::half_even})
        require_finite(in.w, double_rounding<>({r}).dequantize(master, b), 1.0);
      for (reconstruction rc : {reconstruction::midpoint, reconstruction::floor}) {
        require_finite(in.w, truncation<>({rc}).dequantize(master, b), 1.0);
        require_finite(in.w, truncation<>({rc}).dequantize(ready, b), 1.0);
      }
      for (rounding r : {rounding::floor, rounding::half_up, rounding::half_even})
        for (reconstruction rc : {reconstruction::midpoint, reconstruction::automatic}) {
          INFO("rule " << to_string(r) << ", " << to_string(rc));
          require_finite(in.w, view_values(view(stack, b, r, rc)), 1.0);
        }
    }
  }
}

TEST_CASE("float edges: ternary, minifloat, MX, NVFP4 and BitMoD stay finite", "[float_edges][minifloat]") {
  for (const auto& in : edge_inputs()) {
    INFO(in.name);
    const const_matrix w(in.w.data(), R, K);
    require_finite(in.w, bitnet_ternary().quantize(w).dequantize(), 1.0);
    require_finite(in.w, twn_ternary().quantize(w).dequantize(), 1.0);
    require_finite(in.w, tequila_ternary().quantize(w).dequantize(), 1.0);
    require_finite(in.w, minifloat_quantizer().quantize(w).dequantize(), 1.0);
    for (const auto& f : {e2m1, e2m3, e3m2, e4m3, e5m2})
      require_finite(
          in.w, minifloat_quantizer({.format = f, .rule = minifloat_scale_rule::absmax}).quantize(w).dequantize(), 0.2);
    for (const auto& f : {mxfp4, mxfp6_e2m3, mxfp6_e3m2, mxfp8_e4m3, mxfp8_e5m2, mxint8})
      require_finite(in.w, mx_quantizer(f).quantize(w).dequantize(), 1.0);
    require_finite(in.w, nvfp4_quantizer().quantize(w).dequantize(), 1.0);
    for (const auto& menu : {bitmod_menus::er_ea(), bitmod_menus::sp_sr()})
      for (rounding r : {rounding::half_even, rounding::half_down})
        require_finite(in.w, bitmod_quantizer({128, menu, r}).quantize(w).dequantize(), 0.2);
  }
}

TEST_CASE("float edges: residual stacks and per-token activations stay finite", "[float_edges][residual]") {
  for (const auto& in : edge_inputs()) {
    INFO(in.name);
    const const_matrix w(in.w.data(), R, K);
    for (std::size_t n = 1; n <= 3; ++n) {
      INFO("slices " << n);
      require_finite(in.w, uniform_residual({2, 2, 2}).quantize(w).dequantize(n), 1.0);
      require_finite(
          in.w,
          uniform_residual({4, 4, 4}, {granularity::per_row(), residual_scales::independent}).quantize(w).dequantize(n),
          1.0);
      require_finite(in.w, residual_binarizer(3).quantize(w).dequantize(n), 1.0);
      require_finite(in.w, bitstack(3).quantize(w).dequantize(n), 1.0);
    }
    for (int a : {2, 4, 8}) {
      INFO("activation bits " << a);
      require_finite(in.w, per_token_quantizer<dynamic_bits>(a).quantize(w).dequantize(), 1.0);
      require_finite(in.w, per_token_quantizer<dynamic_bits>(a, {activation_mode::asymmetric}).quantize(w).dequantize(),
                     1.0);
    }
  }
}

TEST_CASE("error measures reject NaN and infinities by name", "[float_edges][metrics]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {1.0f, 2.0f, 3.0f};
  for (const float bad : {nan, inf, -inf}) {
    std::vector<float> y = x;
    y[1] = bad;
    CHECK_THROWS_WITH(mse(x, y), Catch::Contains("mse: approximation[1] ="));
    CHECK_THROWS_WITH(sqnr_db(x, y), Catch::Contains("sqnr_db: approximation[1] ="));
    CHECK_THROWS_WITH(relative_mse(x, y), Catch::Contains("relative_mse: approximation[1] ="));
    CHECK_THROWS_WITH(mse(y, x), Catch::Contains("mse: reference[1] ="));
    CHECK_THROWS_WITH(sqnr_db(y, x), Catch::Contains("sqnr_db: reference[1] ="));
  }
  // Finite extremes are measured, not rejected: Σ in double holds FLT_MAX² easily.
  const std::vector<float> big = {flt_max, -flt_max}, half = {0.5f * flt_max, -0.5f * flt_max};
  CHECK(std::isfinite(mse(big, half)));
  CHECK(sqnr_db(big, half) == Approx(10.0 * std::log10(4.0)));
  const std::vector<float> tiny = {denorm_min, -denorm_min}, zero = {0.0f, 0.0f};
  CHECK(sqnr_db(tiny, zero) == Approx(0.0));
}
