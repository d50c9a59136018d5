// bitdial/quant/bitmod.hpp — BitMoD FP4: E2M1 whose redundant −0 code carries one extra value per
// group, chosen from a small menu by MSE (SEMANTICS.md §6).
//
// Reference: Chen et al., "BitMoD: Bit-serial Mixture-of-Datatype LLM Acceleration", HPCA 2025, and
// its code (abdelfattah-lab/BitMoD-HPCA-25, bitmod_quant "mixed_bitmod"). E2M1 has two encodings of
// zero; BitMoD gives the −0 code (0b1000) a special value instead. The paper's 4-bit menu, in units
// of the E2M1 grid {0, ±0.5, …, ±4, ±6}:
//   ±5  "extra resolution" (FP4-ER: a level between 4 and 6),
//   ±8  "extra asymmetry"  (FP4-EA: one extra level beyond 6 on one side).
// (The reference code writes the same grids doubled, {…, 8, 12} with extras ±10 / ±16.)
// Default menu order {+5, −5, +8, −8}, as the reference's datatype list.
//
// Per group of G consecutive K-elements of a row (default G = 128, must divide K), for each menu value v:
//   s_v  = amax / max(6, |v|)          (the reference: rmax / max |level|)
//   code = e2m1.encode(x / s_v) (RNE, saturating; −0 stored as +0) unless the extra level is strictly nearer:
//          |x − fp32(s_v·v)| < |x − fp32(s_v·e2m1(code))|  → code 0b1000. Ties keep the E2M1 level
//          (the reference breaks ties toward −inf; ties have measure zero on real data).
//   SSE_v = Σ (x − x̂)² in double.
// The group keeps the v with the smallest SSE (the earliest menu entry on ties). Since v = ±5 uses
// the plain E2M1 scale amax/6 and only ever moves an element to a strictly nearer level, BitMoD's
// error per group is never above plain E2M1 with absmax scale (tested).
// x̂ = s_g · level(code), level(0b1000) = v_g, otherwise the E2M1 value. All-zero group: s = 0,
// menu index 0, codes +0, x̂ = 0. NaN/Inf rejected at the API.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/quant/minifloat.hpp"
#include "bitdial/quant/mx.hpp"

namespace bitdial {

struct bitmod_matrix {
  static constexpr std::uint8_t extra_code = 0x8;  // E2M1's −0
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t group = 128;
  packed_codes codes;                     // E2M1 codes, rows * cols, two per byte
  std::vector<float> scales;              // rows * (cols / group)
  std::vector<std::uint8_t> extra_index;  // menu index per group
  std::vector<float> menu;

  std::size_t groups_per_row() const noexcept { return cols / group; }
  std::size_t group_index(std::size_t r, std::size_t c) const noexcept { return r * groups_per_row() + c / group; }
  std::uint8_t code(std::size_t r, std::size_t c) const noexcept { return codes.get(r * cols + c); }
  float extra_value(std::size_t g) const noexcept { return menu[extra_index[g]]; }
  /// Grid level of a code in group g (before the scale).
  float level(std::size_t g, std::uint8_t code) const noexcept {
    return code == extra_code ? extra_value(g) : e2m1.decode(code);
  }
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    const std::size_t g = group_index(r, c);
    return scales[g] * level(g, code(r, c));
  }
  std::vector<float> dequantize() const {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = dequantize(r, c);
    return out;
  }
};

struct bitmod_options {
  std::size_t group = 128;
  std::vector<float> menu = {5.0f, -5.0f, 8.0f, -8.0f};
};

class bitmod_quantizer {
 public:
  using options = bitmod_options;

  explicit bitmod_quantizer(options o = {}) : opt_(std::move(o)) {
    BITDIAL_REQUIRE(opt_.group > 0, "bitmod_quantizer: group = 0: group size must be positive");
    BITDIAL_REQUIRE(!opt_.menu.empty() && opt_.menu.size() <= 16, "bitmod_quantizer: menu.size() = ", opt_.menu.size(),
                    ": must be in 1..16");
    for (std::size_t i = 0; i < opt_.menu.size(); ++i) {
      const float v = opt_.menu[i];
      BITDIAL_REQUIRE(std::isfinite(v) && v != 0.0f, "bitmod_quantizer: menu[", i, "] = ", v,
                      ": must be finite and non-zero");
      BITDIAL_REQUIRE(e2m1.decode(e2m1.encode(v)) != v, "bitmod_quantizer: menu[", i, "] = ", v,
                      ": is already an E2M1 value");
    }
  }

  const options& opts() const noexcept { return opt_; }

  bitmod_matrix quantize(const_matrix w) const {
    const char* where = "bitmod_quantizer::quantize";
    detail::check_view(w, where, "weights");
    granularity::per_group(opt_.group).validate(w.cols, where);
    detail::check_finite(w, where, "weights");
    bitmod_matrix out;
    out.rows = w.rows;
    out.cols = w.cols;
    out.group = opt_.group;
    out.menu = opt_.menu;
    out.codes = packed_codes(4, w.rows * w.cols);
    out.scales.resize(w.rows * out.groups_per_row());
    out.extra_index.resize(out.scales.size());
    std::vector<std::uint8_t> best_codes(opt_.group), codes(opt_.group);
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t gi = 0; gi < out.groups_per_row(); ++gi) {
        const std::span<const float> x = w.row(r).subspan(gi * opt_.group, opt_.group);
        float amax = 0.0f;
        for (float v : x) amax = std::max(amax, std::fabs(v));
        const std::size_t g = r * out.groups_per_row() + gi;
        out.scales[g] = 0.0f;
        out.extra_index[g] = 0;
        std::fill(best_codes.begin(), best_codes.end(), std::uint8_t{0});
        if (amax > 0.0f) {
          double best = -1.0;
          for (std::size_t m = 0; m < opt_.menu.size(); ++m) {
            const float s = amax / std::max(6.0f, std::fabs(opt_.menu[m]));
            if (s == 0.0f) continue;  // a denormal amax underflows: x / 0 would be NaN; keep the zero group
            const double e = encode_group(x, s, opt_.menu[m], codes);
            if (best < 0.0 || e < best) {
              best = e;
              out.scales[g] = s;
              out.extra_index[g] = static_cast<std::uint8_t>(m);
              best_codes.swap(codes);
            }
          }
        }
        for (std::size_t i = 0; i < opt_.group; ++i) out.codes.set(r * w.cols + gi * opt_.group + i, best_codes[i]);
      }
    return out;
  }

  /// Codes of one group under scale s and extra level v; returns the sum of squared errors.
  static double encode_group(std::span<const float> x, float s, float v, std::vector<std::uint8_t>& codes) {
    const double extra = static_cast<double>(s * v);
    double sse = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double xi = static_cast<double>(x[i]);
      std::uint8_t c = e2m1.encode(x[i] / s);
      if (c == bitmod_matrix::extra_code) c = 0;  // a negative value rounding to −0 is stored as +0
      double err = std::fabs(xi - static_cast<double>(s * e2m1.decode(c)));
      const double err_extra = std::fabs(xi - extra);
      if (err_extra < err) {
        c = bitmod_matrix::extra_code;
        err = err_extra;
      }
      codes[i] = c;
      sse += err * err;
    }
    return sse;
  }

 private:
  options opt_;
};

}  // namespace bitdial
