// Block-scaled formats: OCP MX (MXFP4/6/8, MXINT8), NVFP4, BitMoD — hand-computed blocks, scale
// rules, zero/tiny/huge blocks, packing, error paths, and the SQNR table of every format.
#include <bitdial/quant/bitmod.hpp>
#include <bitdial/quant/metrics.hpp>
#include <bitdial/quant/minifloat.hpp>
#include <bitdial/quant/mx.hpp>
#include <bitdial/quant/nvfp4.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

std::vector<float> block_of(std::size_t n, std::initializer_list<float> head) {
  std::vector<float> v(n, 0.0f);
  std::size_t i = 0;
  for (float x : head) v[i++] = x;
  return v;
}

/// Nearest finite element value of v (ties to the even magnitude code, saturating) by brute force.
float nearest_element(mx_format f, float v) {
  if (f.is_int()) {
    const double q = std::clamp(round_half_even(double(v) * 64.0), -127.0, 127.0);
    return static_cast<float>(q / 64.0);
  }
  const minifloat_format m = f.minifloat();
  const double a = std::fabs(double(v));
  std::uint32_t best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (std::uint32_t mag = 0; mag <= m.max_magnitude_code(); ++mag) {
    const double d = std::fabs(a - double(m.decode(static_cast<std::uint8_t>(mag))));
    if (d < best_d || (d == best_d && (best & 1u) && !(mag & 1u))) {
      best = mag;
      best_d = d;
    }
  }
  const float r = m.decode(static_cast<std::uint8_t>(best));
  return v < 0 ? -r : r;
}

double sse(std::span<const float> x, std::span<const float> y) {
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Packed storage

TEST_CASE("packed_codes: two 4-bit codes per byte, even element in the low nibble", "[mx][packing]") {
  packed_codes p(4, 5);
  CHECK(p.bytes.size() == 3);
  p.set(0, 0x3);
  p.set(1, 0xA);
  p.set(4, 0xF);
  CHECK(p.bytes[0] == 0xA3);
  CHECK(p.bytes[2] == 0x0F);
  p.set(0, 0x5);
  CHECK(p.bytes[0] == 0xA5);
  CHECK(p.get(1) == 0xA);
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed());
  for (int bits : {4, 6, 8}) {
    packed_codes q(bits, 101);
    std::vector<std::uint8_t> ref(101);
    for (std::size_t i = 0; i < ref.size(); ++i) {
      ref[i] = static_cast<std::uint8_t>(rng() & ((1u << bits) - 1u));
      q.set(i, ref[i]);
    }
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(q.get(i) == ref[i]);
  }
  CHECK_THROWS_WITH(packed_codes(9, 4), Catch::Contains("bits = 9"));
}

// ---------------------------------------------------------------------------------------------
// MX

TEST_CASE("MX formats: element widths and emax_elem of OCP MX v1.0", "[mx]") {
  CHECK(mxfp4.element_bits() == 4);
  CHECK(mxfp6_e2m3.element_bits() == 6);
  CHECK(mxfp6_e3m2.element_bits() == 6);
  CHECK(mxfp8_e4m3.element_bits() == 8);
  CHECK(mxfp8_e5m2.element_bits() == 8);
  CHECK(mxint8.element_bits() == 8);
  CHECK(mxfp4.emax() == 2);
  CHECK(mxfp6_e2m3.emax() == 2);
  CHECK(mxfp6_e3m2.emax() == 4);
  CHECK(mxfp8_e4m3.emax() == 8);
  CHECK(mxfp8_e5m2.emax() == 15);
  CHECK(mxint8.emax() == 0);
  // MXINT8: code / 64, so 0x7F = 1.984375, 0x80 = -2 (decodable, never produced), 0x40 = 1.
  CHECK(mxint8.decode(0x7F) == 1.984375f);
  CHECK(mxint8.decode(0x80) == -2.0f);
  CHECK(mxint8.decode(0x40) == 1.0f);
  CHECK(mxint8.decode(0xFF) == -1.0f / 64.0f);
}

TEST_CASE("MXFP4 example block: the block max saturates", "[mx][saturation]") {
  const auto w = block_of(32, {7.0f, 5.0f, -2.5f, 0.25f, 1.0f});
  const auto m = mx_quantizer(mxfp4).quantize(const_matrix(w.data(), 1, 32));
  CHECK(m.scale_code(0, 0) == 127);  // X = 2^(floor(log2 7) - 2) = 1
  CHECK(m.scale(0, 0) == 1.0f);
  CHECK(m.code(0, 0) == 0x7);  // 6
  CHECK(m.code(0, 1) == 0x6);  // 4 (tie 4 / 6 -> even)
  CHECK(m.code(0, 2) == 0xC);  // -2 (tie -2 / -3 -> even)
  CHECK(m.code(0, 3) == 0x0);  // 0 (tie 0 / 0.5 -> even)
  CHECK(m.code(0, 4) == 0x2);  // 1
  const auto d = m.dequantize();
  CHECK(std::vector<float>(d.begin(), d.begin() + 6) == std::vector<float>{6.0f, 4.0f, -2.0f, 0.0f, 1.0f, 0.0f});
  // microxcaling's default "nearest" (ties away): 5 -> 6, -2.5 -> -3, 0.25 -> 0.5.
  const auto a = mx_quantizer({mxfp4, rounding::half_away}).quantize(const_matrix(w.data(), 1, 32)).dequantize();
  CHECK(std::vector<float>(a.begin(), a.begin() + 5) == std::vector<float>{6.0f, 6.0f, -3.0f, 0.5f, 1.0f});
}

TEST_CASE("MX hand-computed blocks for every element type", "[mx]") {
  SECTION("MXFP6 E2M3: amax 15 -> X = 2") {
    const auto w = block_of(32, {15.0f, 10.0f, 0.3f, 0.125f, -0.125f, -9.0f});
    const auto m = mx_quantizer(mxfp6_e2m3).quantize(const_matrix(w.data(), 1, 32));
    CHECK(m.scale_code(0, 0) == 128);
    const auto d = m.dequantize();
    CHECK(d[0] == 15.0f);  // 7.5
    CHECK(d[1] == 10.0f);  // 5
    CHECK(d[2] == 0.25f);  // 0.15 -> 0.125
    CHECK(d[3] == 0.0f);   // 0.0625: tie 0 / 0.125 -> 0
    CHECK(d[4] == 0.0f);
    CHECK(std::signbit(d[4]));  // -0
    CHECK(m.code(0, 4) == 0x20);
    CHECK(d[5] == -9.0f);  // -4.5
  }
  SECTION("MXFP6 E3M2: amax 110 -> X = 4") {
    const auto w = block_of(32, {110.0f, 100.0f, 104.0f, -1.0f});
    const auto m = mx_quantizer(mxfp6_e3m2).quantize(const_matrix(w.data(), 1, 32));
    CHECK(m.scale(0, 0) == 4.0f);
    const auto d = m.dequantize();
    CHECK(d[0] == 112.0f);  // 27.5 -> 28
    CHECK(d[1] == 96.0f);   // 25 -> 24
    CHECK(d[2] == 96.0f);   // 26: tie 24 / 28 -> 24 (even mantissa)
    CHECK(d[3] == -1.0f);   // -0.25 exact
  }
  SECTION("MXFP8 E4M3: amax 1000 -> X = 2, 500 saturates to 448") {
    const auto w = block_of(32, {1000.0f, -3.0f, -1000.0f});
    const auto m = mx_quantizer(mxfp8_e4m3).quantize(const_matrix(w.data(), 1, 32));
    CHECK(m.scale(0, 0) == 2.0f);
    CHECK(m.code(0, 0) == 0x7E);
    CHECK(m.code(0, 1) == 0xBC);
    CHECK(m.code(0, 2) == 0xFE);
    CHECK(m.dequantize(0, 0) == 896.0f);
  }
  SECTION("MXFP8 E5M2: amax 1e6 -> X = 16, saturates to 57344 (no Inf)") {
    const auto w = block_of(32, {1e6f, -1e6f, 1.0f});
    const auto m = mx_quantizer(mxfp8_e5m2).quantize(const_matrix(w.data(), 1, 32));
    CHECK(m.scale(0, 0) == 16.0f);
    CHECK(m.code(0, 0) == 0x7B);
    CHECK(m.code(0, 1) == 0xFB);
    CHECK(m.dequantize(0, 2) == 1.0f);
  }
  SECTION("MXINT8: amax in [1, 2) -> X = 1, codes round(64 v), clamp ±127") {
    const auto w = block_of(32, {1.99f, -1.99f, 0.3f, 0.5f / 64, 1.5f / 64, -0.5f});
    const auto m = mx_quantizer(mxint8).quantize(const_matrix(w.data(), 1, 32));
    CHECK(m.scale_code(0, 0) == 127);
    CHECK(m.code(0, 0) == 127);
    CHECK(static_cast<std::int8_t>(m.code(0, 1)) == -127);
    CHECK(m.code(0, 2) == 19);  // 19.2
    CHECK(m.code(0, 3) == 0);   // 0.5: tie -> 0
    CHECK(m.code(0, 4) == 2);   // 1.5: tie -> 2
    CHECK(static_cast<std::int8_t>(m.code(0, 5)) == -32);
    CHECK(m.dequantize(0, 2) == 19.0f / 64.0f);
  }
}

TEST_CASE("MX scale: all-zero block, E8M0 clamp at 2^-127, largest floats", "[mx][saturation]") {
  const std::vector<float> zero(32, 0.0f);
  for (const auto& f : {mxfp4, mxfp6_e2m3, mxfp6_e3m2, mxfp8_e4m3, mxfp8_e5m2, mxint8}) {
    INFO(f.name());
    const auto m = mx_quantizer(f).quantize(const_matrix(zero.data(), 1, 32));
    // microxcaling: amax 0 counts as 2^-126, minus emax, clamped at -127.
    CHECK(m.scale_code(0, 0) == (f == mxint8 ? 1 : 0));
    for (std::size_t c = 0; c < 32; ++c) {
      CHECK(m.code(0, c) == 0);
      CHECK(m.dequantize(0, c) == 0.0f);
    }
  }
  // amax 2^-140 would need X = 2^-142: clamped to 2^-127, every element rounds to 0.
  const auto tiny = block_of(32, {std::ldexp(1.0f, -140), -std::ldexp(1.0f, -141)});
  const auto t = mx_quantizer(mxfp4).quantize(const_matrix(tiny.data(), 1, 32));
  CHECK(t.scale_code(0, 0) == 0);
  CHECK(t.dequantize(0, 0) == 0.0f);
  // amax 2^-125 with MXFP8 E4M3: X = 2^-127 (clamped from 2^-133), element 2^2 exact.
  const auto small = block_of(32, {std::ldexp(1.0f, -125)});
  const auto s = mx_quantizer(mxfp8_e4m3).quantize(const_matrix(small.data(), 1, 32));
  CHECK(s.scale_code(0, 0) == 0);
  CHECK(s.dequantize(0, 0) == std::ldexp(1.0f, -125));
  // FLT_MAX: floor(log2) = 127.
  const auto big = block_of(32, {std::numeric_limits<float>::max(), 1.0f});
  CHECK(mx_quantizer(mxfp4).quantize(const_matrix(big.data(), 1, 32)).scale_code(0, 0) == 127 + 125);
  const auto bi = mx_quantizer(mxint8).quantize(const_matrix(big.data(), 1, 32));
  CHECK(bi.scale_code(0, 0) == 254);
  CHECK(bi.dequantize(0, 0) == std::ldexp(127.0f, 121));
  CHECK(mx_quantizer::scale_exponent(3.0f, mxfp4) == -1);
  CHECK(mx_quantizer::scale_exponent(std::ldexp(1.0f, -149), mxint8) == -127);
}

TEST_CASE("MX random blocks: codes are the brute-force nearest of V / X, scale from floor(log2 amax)",
          "[mx][property]") {
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 21);
  std::uniform_int_distribution<int> octave(-20, 20);
  const std::size_t rows = 6, cols = 128;
  std::vector<float> w = test::normal(rows * cols, 22);
  for (std::size_t b = 0; b < w.size() / 32; ++b) {
    const float f = std::ldexp(1.0f, octave(rng));
    for (std::size_t i = 0; i < 32; ++i) w[b * 32 + i] *= f;
  }
  w[5] = 0.0f;
  for (const auto& f : {mxfp4, mxfp6_e2m3, mxfp6_e3m2, mxfp8_e4m3, mxfp8_e5m2, mxint8}) {
    INFO(f.name());
    const auto m = mx_quantizer(f).quantize(const_matrix(w.data(), rows, cols));
    CHECK(m.codes.bytes.size() == (f == mxfp4 ? rows * cols / 2 : rows * cols));
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t b = 0; b < cols / 32; ++b) {
        float amax = 0;
        for (std::size_t c = b * 32; c < b * 32 + 32; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
        int e2 = 0;
        std::frexp(amax, &e2);  // amax = f·2^e2, f in [0.5, 1)
        const int x = e2 - 1 - f.emax();
        REQUIRE(m.scale_code(r, b) == x + 127);
        for (std::size_t c = b * 32; c < b * 32 + 32; ++c) {
          const float v = w[r * cols + c];
          const float expect = nearest_element(f, std::ldexp(v, -x));
          INFO("v = " << v << " at (" << r << ", " << c << ")");
          CHECK(f.decode(m.code(r, c)) == expect);
          CHECK(m.dequantize(r, c) == std::ldexp(expect, x));
        }
      }
  }
}

TEST_CASE("MX bad input: NaN/Inf rejected with the block index, K % 32, empty", "[mx][errors]") {
  std::vector<float> w(2 * 64, 0.5f);
  const mx_quantizer q(mxfp4);
  w[64 + 40] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 2, 64)),
                    Catch::Contains("weights(1, 40) = nan") && Catch::Contains("block 1 of row 1"));
  w[64 + 40] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 2, 64)), Catch::Contains("weights(1, 40) = inf"));
  w[64 + 40] = 0.5f;
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 2, 48)), Catch::Contains("K = 48"));
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 0, 64)), Catch::Contains("must not be empty"));
  CHECK_THROWS_WITH(q.quantize(const_matrix(nullptr, 1, 32)), Catch::Contains("null"));
  CHECK_NOTHROW(q.quantize(const_matrix(w.data(), 2, 64)));
}

// ---------------------------------------------------------------------------------------------
// NVFP4

TEST_CASE("NVFP4 hand-computed blocks without tensor scale", "[nvfp4]") {
  const nvfp4_quantizer q({false, nvfp4_scale_floor::min_normal});
  // Block 0: amax 6 -> s = 1. Block 1: amax 10 -> 10/6 = 1.667 -> E4M3 1.625.
  auto w = block_of(32, {6.0f, 3.0f, -1.5f, 0.75f, 0.2f});
  w[16] = 10.0f;
  w[17] = 5.0f;
  w[18] = -0.8125f;
  const auto m = q.quantize(const_matrix(w.data(), 1, 32));
  CHECK(m.tensor_scale == 1.0f);
  CHECK(m.block_scale(0, 0) == 1.0f);
  CHECK(m.scales[0] == 0x38);
  CHECK(m.code(0, 0) == 0x7);
  CHECK(m.code(0, 1) == 0x5);
  CHECK(m.code(0, 2) == 0xB);
  CHECK(m.code(0, 3) == 0x2);  // 0.75: tie 0.5 / 1 -> 1 (even code)
  CHECK(m.code(0, 4) == 0x0);
  CHECK(m.block_scale(0, 1) == 1.625f);
  CHECK(m.dequantize(0, 16) == 9.75f);     // 6.15 -> 6 (saturate)
  CHECK(m.dequantize(0, 17) == 4.875f);    // 3.08 -> 3
  CHECK(m.dequantize(0, 18) == -0.8125f);  // -0.5 exact
  CHECK(m.codes.bytes.size() == 16);
}

TEST_CASE("NVFP4 with the fp32 tensor scale", "[nvfp4]") {
  // Tensor amax 168 -> s_t = 168 / 2688 = 2^-4 exactly.
  auto w = block_of(32, {168.0f, -84.0f});
  w[16] = 1.0f;
  w[17] = 0.5f;
  const auto m = nvfp4_quantizer().quantize(const_matrix(w.data(), 1, 32));
  CHECK(m.tensor_scale == 0.0625f);
  CHECK(m.block_scale(0, 0) == 448.0f);  // 168 / (6 · 2^-4)
  CHECK(m.dequantize(0, 0) == 168.0f);
  CHECK(m.dequantize(0, 1) == -84.0f);
  CHECK(m.block_scale(0, 1) == 2.75f);  // 1 / 0.375 = 2.667 -> E4M3 2.75
  CHECK(m.effective_scale(0, 1) == 0.171875f);
  CHECK(m.dequantize(0, 16) == 1.03125f);   // 5.82 -> 6
  CHECK(m.dequantize(0, 17) == 0.515625f);  // 2.91 -> 3
}

TEST_CASE("NVFP4 corner cases: tiny, huge and all-zero blocks; all-zero tensor", "[nvfp4][saturation]") {
  // amax 0.02: 0.02 / 6 = 0.00333 is below E4M3's min normal.
  const auto w = block_of(16, {0.02f});
  const auto n = nvfp4_quantizer({false, nvfp4_scale_floor::min_normal}).quantize(const_matrix(w.data(), 1, 16));
  CHECK(n.scales[0] == 0x08);  // clamped to 2^-6
  CHECK(n.code(0, 0) == 0x3);  // 0.02 · 64 = 1.28 -> 1.5
  const auto s = nvfp4_quantizer({false, nvfp4_scale_floor::min_subnormal}).quantize(const_matrix(w.data(), 1, 16));
  CHECK(s.scales[0] == 0x02);  // 0.00333 / 2^-9 = 1.71 -> 2 · 2^-9
  CHECK(s.code(0, 0) == 0x7);  // 0.02 · 256 = 5.12 -> 6
  const auto w2 = block_of(16, {0.001f});
  CHECK(nvfp4_quantizer({false, nvfp4_scale_floor::min_subnormal}).quantize(const_matrix(w2.data(), 1, 16)).scales[0] ==
        0x01);  // never a zero scale
  // amax 6000 without tensor scale: 1000 -> clamp 448, elements saturate at 6 · 448.
  const auto h = block_of(16, {6000.0f, -100.0f});
  const auto hm = nvfp4_quantizer({false}).quantize(const_matrix(h.data(), 1, 16));
  CHECK(hm.block_scale(0, 0) == 448.0f);
  CHECK(hm.dequantize(0, 0) == 2688.0f);
  CHECK(hm.dequantize(0, 1) == 0.0f);  // -0.22 -> -0
  // All-zero block next to a non-zero one: scale 1.0 (0x38), codes 0.
  auto z = block_of(32, {});
  z[20] = 168.0f;  // s_t = 2^-4, d = 28
  const auto zm = nvfp4_quantizer().quantize(const_matrix(z.data(), 1, 32));
  CHECK(zm.scales[0] == 0x38);
  for (std::size_t c = 0; c < 16; ++c) CHECK(zm.dequantize(0, c) == 0.0f);
  CHECK(zm.dequantize(0, 20) == 168.0f);
  // All-zero tensor: tensor scale 1.
  const std::vector<float> zero(16, 0.0f);
  const auto zz = nvfp4_quantizer().quantize(const_matrix(zero.data(), 1, 16));
  CHECK(zz.tensor_scale == 1.0f);
  CHECK(zz.dequantize(0, 3) == 0.0f);
  // Tiny tensor: the tensor scale is floored at FLT_MIN, nothing becomes NaN.
  const auto t = block_of(16, {1e-44f, -5e-45f});
  const auto tm = nvfp4_quantizer().quantize(const_matrix(t.data(), 1, 16));
  CHECK(tm.tensor_scale == std::numeric_limits<float>::min());
  for (float v : tm.dequantize()) CHECK(std::isfinite(v));
}

TEST_CASE("NVFP4 random matrix: every code is the nearest E2M1 of x / d", "[nvfp4][property]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 8, cols = 64;
  const auto w = test::heavy_tailed(rows * cols, 31);
  for (bool ts : {true, false}) {
    const auto m = nvfp4_quantizer({ts}).quantize(const_matrix(w.data(), rows, cols));
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        const float d = m.effective_scale(r, c / 16);
        const float expect = nearest_element(mxfp4, w[r * cols + c] / d);
        CHECK(e2m1.decode(m.code(r, c)) == expect);
        CHECK(m.dequantize(r, c) == expect * d);
      }
  }
}

TEST_CASE("NVFP4 bad input", "[nvfp4][errors]") {
  std::vector<float> w(48, 1.0f);
  const nvfp4_quantizer q;
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 2, 24)), Catch::Contains("K = 24"));
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 0, 16)), Catch::Contains("must not be empty"));
  w[37] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 3, 16)),
                    Catch::Contains("weights(2, 5) = -inf") && Catch::Contains("block 0 of row 2"));
}

// ---------------------------------------------------------------------------------------------
// BitMoD

TEST_CASE("BitMoD hand-computed groups: extra resolution (+5) and extra asymmetry (-8)", "[bitmod]") {
  const bitmod_quantizer q({4, {5.0f, -5.0f, 8.0f, -8.0f}});
  const std::vector<float> w = {6.0f, 5.0f, 0.0f, -0.1f, -8.0f, 1.0f, 0.0f, 0.0f};
  const auto m = q.quantize(const_matrix(w.data(), 1, 8));
  // Group 0: +5 with s = 1 reproduces it exactly (plain E2M1 would give 4).
  CHECK(m.extra_value(0) == 5.0f);
  CHECK(m.scales[0] == 1.0f);
  CHECK(m.code(0, 0) == 0x7);
  CHECK(m.code(0, 1) == bitmod_matrix::extra_code);
  CHECK(m.code(0, 3) == 0x0);  // -0.1 -> -0 is stored as +0, not as the extra code
  CHECK(m.dequantize(0, 1) == 5.0f);
  CHECK(m.dequantize(0, 3) == 0.0f);
  // Group 1: -8 with s = 8 / 8 = 1 is exact; ±5 (s = 4/3) and +8 are not.
  CHECK(m.extra_value(1) == -8.0f);
  CHECK(m.extra_index[1] == 3);
  CHECK(m.dequantize(0, 4) == -8.0f);
  CHECK(m.dequantize(0, 5) == 1.0f);
  // All-zero group.
  const std::vector<float> z(4, 0.0f);
  const auto zm = bitmod_quantizer({4}).quantize(const_matrix(z.data(), 1, 4));
  CHECK(zm.scales[0] == 0.0f);
  CHECK(zm.dequantize(0, 2) == 0.0f);
}

TEST_CASE("BitMoD is never worse than plain E2M1 (absmax, same groups)", "[bitmod][property]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 16, cols = 512, g = 128;
  for (int dist = 0; dist < 2; ++dist) {
    const auto w = dist == 0 ? test::normal(rows * cols, 41) : test::heavy_tailed(rows * cols, 42);
    const auto m = bitmod_quantizer({g}).quantize(const_matrix(w.data(), rows, cols));
    const auto d = m.dequantize();
    double total_b = 0, total_p = 0;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c0 = 0; c0 < cols; c0 += g) {
        float amax = 0;
        for (std::size_t c = c0; c < c0 + g; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
        const float s = amax / 6.0f;
        std::vector<float> plain(g);
        for (std::size_t c = c0; c < c0 + g; ++c) plain[c - c0] = s * e2m1.decode(e2m1.encode(w[r * cols + c] / s));
        const std::span<const float> x(w.data() + r * cols + c0, g);
        const double eb = sse(x, std::span<const float>(d.data() + r * cols + c0, g));
        const double ep = sse(x, plain);
        CHECK(eb <= ep);
        total_b += eb;
        total_p += ep;
      }
    CHECK(total_b < 0.95 * total_p);
  }
}

TEST_CASE("BitMoD bad input and options", "[bitmod][errors]") {
  std::vector<float> w(256, 1.0f);
  const bitmod_quantizer q;
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 2, 100)),
                    Catch::Contains("group = 128") && Catch::Contains("K = 100"));
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 0, 128)), Catch::Contains("must not be empty"));
  w[130] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(q.quantize(const_matrix(w.data(), 2, 128)), Catch::Contains("weights(1, 2) = nan"));
  CHECK_THROWS_WITH(bitmod_quantizer({128, {4.0f}}), Catch::Contains("menu[0] = 4"));
  CHECK_THROWS_WITH(bitmod_quantizer({128, {5.0f, 0.0f}}), Catch::Contains("menu[1] = 0"));
  CHECK_THROWS_WITH(bitmod_quantizer({128, {}}), Catch::Contains("menu.size() = 0"));
  CHECK_THROWS_WITH(bitmod_quantizer({0}), Catch::Contains("group = 0"));
}

TEST_CASE("BitMoD named menus: the artifact's mixed_bitmod (default) and the development repo's mixed", "[bitmod]") {
  CHECK(bitmod_menus::er_ea() == std::vector<float>{5.0f, -5.0f, 8.0f, -8.0f});
  CHECK(bitmod_menus::sp_sr() == std::vector<float>{2.5f, -2.5f, 8.0f, -8.0f});
  CHECK(bitmod_options{}.menu == bitmod_menus::er_ea());
  CHECK(bitmod_options{}.round == rounding::half_even);
  // sp_sr: +2.5 (the doubled tables' 5) with the E2M1 scale amax/6 is exact where E2M1 is not.
  const std::vector<float> w = {6.0f, 2.5f, 2.5f, -1.0f, 0.0f, 0.5f, 4.0f, 3.0f};
  const auto m = bitmod_quantizer({8, bitmod_menus::sp_sr()}).quantize(const_matrix(w.data(), 1, 8));
  CHECK(m.extra_value(0) == 2.5f);
  CHECK(m.scales[0] == 1.0f);
  CHECK(m.code(0, 1) == bitmod_matrix::extra_code);
  CHECK(m.dequantize() == w);
  // The same group under the default menu cannot represent 2.5 (±5 / ±8 levels only).
  const auto d = bitmod_quantizer({8}).quantize(const_matrix(w.data(), 1, 8)).dequantize();
  CHECK(d[1] != 2.5f);
}

TEST_CASE("BitMoD element ties: RNE (default) against the reference's lower level", "[bitmod][ties]") {
  // Menu {+5} and amax 6: s = 1, so x / s = x and every tie below is exact.
  //   3.5 (3 | 4), -2.5 (-3 | -2), 0.75 (0.5 | 1): E2M1 ties;  5.5 (5 | 6), 4.5 (4 | 5): ties with the extra level.
  const std::vector<float> w = {6.0f, 3.5f, -2.5f, 0.75f, 5.5f, 4.5f, 0.0f, -0.0f};
  auto levels = [&](rounding r) {
    const auto m = bitmod_quantizer({8, {5.0f}, r}).quantize(const_matrix(w.data(), 1, 8));
    REQUIRE(m.scales[0] == 1.0f);
    return m.dequantize();
  };
  CHECK(levels(rounding::half_even) == std::vector<float>{6, 4, -2, 1, 6, 4, 0, 0});
  CHECK(levels(rounding::half_down) == std::vector<float>{6, 3, -3, 0.5f, 5, 4, 0, 0});
  CHECK(levels(rounding::half_up) == std::vector<float>{6, 4, -2, 1, 6, 5, 0, 0});
  CHECK(levels(rounding::half_away) == std::vector<float>{6, 4, -3, 1, 6, 5, 0, 0});
  CHECK_THROWS_WITH(bitmod_quantizer({8, {5.0f}, rounding::floor}), Catch::Contains("round = floor"));
}

namespace {

/// The reference's rule, restated independently: per group and menu value v, levels = E2M1 ∪ {v}
/// ascending, t = x / s assigned to level i when mid_{i−1} < t <= mid_i; the group keeps the first
/// menu value of least MSE. Returns the dequantized matrix.
std::vector<float> bitmod_reference_rule(const std::vector<float>& w, std::size_t rows, std::size_t cols,
                                         std::size_t group, const std::vector<float>& menu) {
  std::vector<float> out(w.size());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c0 = 0; c0 < cols; c0 += group) {
      float amax = 0.0f;
      for (std::size_t c = c0; c < c0 + group; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      if (amax == 0.0f) continue;
      double best = std::numeric_limits<double>::infinity();
      for (float v : menu) {
        std::vector<double> lv = {-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 6, v};
        std::sort(lv.begin(), lv.end());
        const float s = amax / std::max(6.0f, std::fabs(v));
        std::vector<float> q(group);
        double mse = 0.0;
        for (std::size_t c = c0; c < c0 + group; ++c) {
          const double t = static_cast<double>(w[r * cols + c] / s);
          std::size_t i = 0;
          while (i + 1 < lv.size() && t > (lv[i] + lv[i + 1]) / 2) ++i;
          q[c - c0] = s * static_cast<float>(lv[i]);
          const double e = double(w[r * cols + c]) - double(q[c - c0]);
          mse += e * e;
        }
        if (mse < best) {
          best = mse;
          std::copy(q.begin(), q.end(), out.begin() + static_cast<std::ptrdiff_t>(r * cols + c0));
        }
      }
    }
  return out;
}

}  // namespace

TEST_CASE("BitMoD with the reference's ties equals the reference's rule on random and tie-heavy data",
          "[bitmod][ties][property]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 8, cols = 256, g = 128;
  for (const auto& menu : {bitmod_menus::er_ea(), bitmod_menus::sp_sr()})
    for (int dist = 0; dist < 3; ++dist) {
      std::vector<float> w = dist == 0 ? test::normal(rows * cols, 51) : test::heavy_tailed(rows * cols, 52);
      if (dist == 2)  // every element a multiple of 1/4 of amax/6 = 1: many exact midpoints
        for (std::size_t i = 0; i < w.size(); ++i)
          w[i] = i % g == 0 ? 6.0f : std::clamp(std::round(w[i] * 8.0f) / 4.0f, -6.0f, 6.0f);
      const auto got = bitmod_quantizer({g, menu, rounding::half_down}).quantize(const_matrix(w.data(), rows, cols));
      const auto want = bitmod_reference_rule(w, rows, cols, g, menu);
      INFO("menu[0] = " << menu[0] << ", distribution " << dist);
      CHECK(got.dequantize() == want);
    }
}

// ---------------------------------------------------------------------------------------------
// SQNR of every format on 256 x 4096 N(0,1) and Student-t(3) matrices.

TEST_CASE("SQNR table: MX, NVFP4, LLM-FP4, BitMoD on N(0,1) and Student-t(3)", "[mx][sqnr]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 256, cols = 4096;
  const std::vector<float> data[2] = {test::normal(rows * cols, 101), test::heavy_tailed(rows * cols, 102)};
  const char* names[] = {"MXFP4 (E2M1, k=32)",   "MXFP6 E2M3",
                         "MXFP6 E3M2",           "MXFP8 E4M3",
                         "MXFP8 E5M2",           "MXINT8",
                         "NVFP4 (tensor scale)", "NVFP4 (no tensor scale)",
                         "E2M1 absmax g128",     "LLM-FP4 E2M1 per-row",
                         "BitMoD FP4 g128"};
  constexpr int n = 11;
  double db[2][n];
  for (int d = 0; d < 2; ++d) {
    const const_matrix W(data[d].data(), rows, cols);
    const std::span<const float> x(data[d]);
    int i = 0;
    for (const auto& f : {mxfp4, mxfp6_e2m3, mxfp6_e3m2, mxfp8_e4m3, mxfp8_e5m2, mxint8})
      db[d][i++] = sqnr_db(x, mx_quantizer(f).quantize(W).dequantize());
    db[d][i++] = sqnr_db(x, nvfp4_quantizer({true}).quantize(W).dequantize());
    db[d][i++] = sqnr_db(x, nvfp4_quantizer({false}).quantize(W).dequantize());
    minifloat_quantizer::options o;
    o.rule = minifloat_quantizer::scale_rule::absmax;
    o.gran = granularity::per_group(128);
    db[d][i++] = sqnr_db(x, minifloat_quantizer(o).quantize(W).dequantize());
    db[d][i++] = sqnr_db(x, minifloat_quantizer().quantize(W).dequantize());
    db[d][i++] = sqnr_db(x, bitmod_quantizer({128}).quantize(W).dequantize());
  }
  std::printf("\nSQNR (dB), %zu x %zu, seed %llu\n%-26s %10s %14s\n", rows, cols,
              static_cast<unsigned long long>(test::seed()), "format", "N(0,1)", "Student-t(3)");
  for (int i = 0; i < n; ++i) std::printf("%-26s %10.3f %14.3f\n", names[i], db[0][i], db[1][i]);
  for (int d = 0; d < 2; ++d) {
    INFO("distribution " << d);
    CHECK(db[d][1] > db[d][0] + 5);  // MXFP6 E2M3 > MXFP4
    CHECK(db[d][3] > db[d][4] + 3);  // E4M3 (3 mantissa bits) > E5M2 (2)
    CHECK(db[d][1] > db[d][2] + 3);  // E2M3 > E3M2
    // Within a block only the mantissa width matters much: E2M3 ~ E4M3 and E3M2 ~ E5M2.
    CHECK(std::fabs(db[d][1] - db[d][3]) < 1.0);
    CHECK(std::fabs(db[d][2] - db[d][4]) < 0.5);
    CHECK(db[d][5] > db[d][3]);    // MXINT8 > MXFP8 E4M3
    CHECK(db[d][6] > db[d][0]);    // NVFP4 > MXFP4
    CHECK(db[d][10] >= db[d][8]);  // BitMoD >= plain E2M1 g128
  }
  CHECK(db[0][9] > 15.0);  // LLM-FP4 per row on Gaussian rows
  // Ranges measured on the default seed, with room for other seeds.
  CHECK(db[0][0] == Approx(18.8).margin(1.0));
  CHECK(db[0][5] == Approx(41.6).margin(1.5));
}
