// bitdial/quant/bitmod.hpp — BitMoD FP4: E2M1 whose redundant −0 code carries one extra value per
// group, chosen from a small menu by MSE (SEMANTICS.md §6).
//
// Reference: Chen et al., "BitMoD: Bit-serial Mixture-of-Datatype LLM Acceleration", HPCA 2025. E2M1
// has two encodings of zero; BitMoD gives the −0 code (0b1000) a special value instead, one per group
// of G consecutive K-elements (default G = 128, must divide K), chosen from a small menu by MSE.
// Menus are written in units of the E2M1 grid {0, ±0.5, ±1, ±1.5, ±2, ±3, ±4, ±6}; both public
// implementations write the same grids doubled ({…, 8, 12}), so their extras are twice ours:
//   bitmod_menus::er_ea()  {+5, −5, +8, −8} (default) — the paper's FP4-ER (extra resolution: a level
//       between 4 and 6) and FP4-EA (extra asymmetry: one level beyond 6 on one side); the paper's
//       artifact, abdelfattah-lab/BitMoD-HPCA-25 bitmod_quant/quant_utils/quant_weight.py, datatype
//       "mixed_bitmod" = [fp4_er_pos, fp4_er_neg, fp4_ea_pos, fp4_ea_neg], extras ±10 and ±16 doubled.
//   bitmod_menus::sp_sr()  {+2.5, −2.5, +8, −8} — the development repository yc2367/BitMoD,
//       wiki_c4_ppl/quant_utils/quant_weight.py, whose search_datatype defaults to "mixed" =
//       [fp4_sp_pos, fp4_sp_neg, fp4_sr_pos, fp4_sr_neg], extras ±5 and ±16 doubled.
// Both lists are searched in the order given; the default follows the artifact and the paper.
//
// For each menu value v:
//   s_v  = amax / max(6, |v|)          (both references: rmax / max |level|)
//   code = the nearest level of x / s_v among the 15 E2M1 values and v, −0 stored as +0.
//   SSE_v = Σ (x − x̂)² in double.
// The group keeps the v with the smallest SSE (the earliest menu entry on ties, as the references'
// strict `<` update). Ties of an element between two levels follow options.round:
//   half_even (default): E2M1 rounds to nearest even (e2m1.encode), and the extra level is taken only
//       when strictly nearer, compared in x's units: |x − fp32(s_v·v)| < |x − fp32(s_v·e2m1(code))|.
//       Since v = ±5 uses the plain E2M1 scale amax/6 and only ever moves an element to a strictly
//       nearer level, the error per group is never above plain E2M1 with absmax scale (tested).
//   half_down: the reference's rule — t = x / s_v (float) goes to the nearest level, and a t exactly
//       halfway takes the lower level (both references assign level i to mid_{i−1} < t <= mid_i).
//       The references compute t in float16; this computes it in float.
//   half_up / half_away: the same search, a tie takes the higher / larger-magnitude level.
// floor is rejected by name. x̂ = s_g · level(code), level(0b1000) = v_g, otherwise the E2M1 value.
// All-zero group: s = 0, menu index 0, codes +0, x̂ = 0. NaN/Inf rejected at the API. No finite input
// dequantizes to ±inf: the largest level is s_v·t, t = max(6, |v|), and fl(fl(amax / t)·t) stays
// finite (checked for the 2·10^6 largest floats and t in 6..16: never above FLT_MAX); for any other
// menu value s_v is lowered by ulps should it not, a guard that check never saw bind.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"
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

/// Named menus of extra values (E2M1 units; see the header comment for their sources).
struct bitmod_menus {
  /// The paper's FP4-ER and FP4-EA extras, as the HPCA 2025 artifact's "mixed_bitmod" (the default).
  static std::vector<float> er_ea() { return {5.0f, -5.0f, 8.0f, -8.0f}; }
  /// The development repository's default "mixed" list: FP4-SP ±2.5 and FP4-SR ±8.
  static std::vector<float> sp_sr() { return {2.5f, -2.5f, 8.0f, -8.0f}; }
};

struct bitmod_options {
  std::size_t group = 128;
  std::vector<float> menu = bitmod_menus::er_ea();
  /// Element ties: half_even (E2M1 RNE, the extra level only when strictly nearer) or the
  /// reference's half_down (a tie takes the lower level); half_up / half_away also accepted.
  rounding round = rounding::half_even;
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
    detail::require_nearest(opt_.round, "bitmod_quantizer");
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
            const float top = std::max(6.0f, std::fabs(opt_.menu[m]));
            float s = amax / top;
            if (s == 0.0f) continue;  // a denormal amax underflows: x / 0 would be NaN; keep the zero group
            while (std::isinf(s * top)) s = std::nextafter(s, 0.0f);  // guard: keep the largest level finite
            const double e = opt_.round == rounding::half_even
                                 ? encode_group(x, s, opt_.menu[m], codes)
                                 : encode_group_nearest(x, s, opt_.menu[m], opt_.round, codes);
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

  /// Codes of one group under scale s and extra level v with a directed tie rule (half_down: the
  /// reference's lower level; half_up; half_away), nearest in t = x / s; returns the SSE.
  static double encode_group_nearest(std::span<const float> x, float s, float v, rounding r,
                                     std::vector<std::uint8_t>& codes) {
    // The 15 E2M1 values and v, with their codes, in increasing order of value.
    std::array<std::pair<float, std::uint8_t>, 16> levels{};
    std::size_t n = 0;
    for (std::uint8_t c = 0; c < 16; ++c)
      if (c != bitmod_matrix::extra_code) levels[n++] = {e2m1.decode(c), c};
    levels[n++] = {v, bitmod_matrix::extra_code};
    std::sort(levels.begin(), levels.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    double sse = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double t = static_cast<double>(x[i] / s);
      std::size_t best = 0;
      double best_d = std::fabs(t - levels[0].first);
      for (std::size_t j = 1; j < n; ++j) {
        const double d = std::fabs(t - levels[j].first);  // exact: levels are short dyadics
        // Ascending levels: on a tie the later (higher) one replaces the earlier only for half_up,
        // or for half_away when it is the larger magnitude (both above zero).
        const bool take =
            d < best_d ||
            (d == best_d && (r == rounding::half_up || (r == rounding::half_away && levels[j].first > 0.0f)));
        if (take) best = j, best_d = d;
      }
      const std::uint8_t c = levels[best].second;
      codes[i] = c;
      const double err = static_cast<double>(x[i]) - static_cast<double>(s * levels[best].first);
      sse += err * err;
    }
    return sse;
  }

 private:
  options opt_;
};

}  // namespace bitdial
