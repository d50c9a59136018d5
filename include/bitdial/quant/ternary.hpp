// bitdial/quant/ternary.hpp — ternary weight quantizers: BitNet b1.58 absmean, TWN, Tequila-style threshold
// (SEMANTICS.md §5).
//
// All three return quantized_matrix<int8_t> with bits = 2, codes in {−1, 0, +1} and one float scale
// per group (per tensor, per row or per group of G consecutive K-elements): Ŵ = scale·code.
// Group means are accumulated in double and rounded to float; W/γ and the comparisons are in float.
//
// bitnet_ternary — BitNet b1.58, matching the microsoft/BitNet reference weight quantizer:
//     γ = max(mean|W|, 1e-5)            (per tensor by default; per row / per group as options)
//     q = clamp(RNE(W / γ), −1, 1),  Ŵ = γ·q
//   Ties: W/γ = ±0.5 exactly rounds to 0 (RNE), ±1.5 and ±2.5 round to ±2 and clamp to ±1. So the
//   rule equals a strict threshold at γ/2: q = (W > γ/2) − (W < −γ/2). The reference evaluates
//   W·(1/γ); we divide as the formula says — identical whenever γ is a power of two. An all-zero
//   group gets γ = 1e-5, codes 0 and Ŵ = 0.
//
// twn_ternary — Ternary Weight Networks (Li, Zhang & Liu 2016), approximate threshold rule:
//     Δ = 0.7·mean|W|        (ratio configurable; Δ = fl(ratio·mean) with the product in double)
//     q = (W > Δ) − (W < −Δ)  (strict: W = ±Δ exactly gives 0)
//     α = mean |W| over the elements with q ≠ 0;  α = 0 when every code is 0 (no division by zero)
//     Ŵ = α·q
//
// tequila_ternary — the threshold rule of Tequila (trapping-free ternary quantization for LLMs):
//     γ = mean|W| per group of 128 (group size configurable), Δ = γ/2
//   The default group of 128 (SEMANTICS §5) differs from BitNet's and TWN's per-tensor default on
//   purpose; a K that 128 does not divide is rejected with the fix in the message (pass per_row(),
//   per_tensor() or a group size dividing K) rather than silently served at another granularity.
//     q = (W ≥ Δ) − (W ≤ −Δ)  (inclusive: W = ±Δ exactly gives ±1),  Ŵ = γ·q
//   All-zero group: γ = Δ = 0 and every code is 0 (0 ≥ 0 and 0 ≤ −0 cancel).
//   Dead-zone weights (q = 0) need not be lost: their contribution to y = W·x has the input-independent
//   expectation  bias_r = Σ_{c : q(r,c) = 0} W(r, c)·E[x_c],  which ternary_deadzone_bias computes from a
//   mean-activation vector, so y ≈ Ŵ·x + bias (exact in expectation for the dead-zone part).
//
// Tie rules differ on purpose: at |W| equal to the threshold BitNet (RNE at 0.5) and TWN (strict)
// give 0, Tequila (inclusive) gives ±1.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"
#include "bitdial/quant/uniform.hpp"

namespace bitdial {

namespace detail {

/// Calls f(r, c, x) for every element of a group (row == npos: every row).
template <class F>
void ternary_for_each(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1, F&& f) {
  const bool all = row == static_cast<std::size_t>(-1);
  const std::size_t r0 = all ? 0 : row, r1 = all ? w.rows : row + 1;
  for (std::size_t r = r0; r < r1; ++r)
    for (std::size_t c = c0; c < c1; ++c) f(r, c, w(r, c));
}

/// mean|x| of a group, summed in double, rounded to float.
inline float ternary_abs_mean(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1) {
  double sum = 0.0;
  std::size_t n = 0;
  ternary_for_each(w, row, c0, c1, [&](std::size_t, std::size_t, float x) {
    sum += std::fabs(static_cast<double>(x));
    ++n;
  });
  return static_cast<float>(sum / static_cast<double>(n));
}

inline quantized_matrix<std::int8_t> ternary_shell(const_matrix w, granularity g) {
  quantized_matrix<std::int8_t> out;
  out.rows = w.rows;
  out.cols = w.cols;
  out.bits = 2;
  out.gran = g;
  out.codes.assign(w.rows * w.cols, 0);
  out.scales.assign(g.count(w.rows, w.cols), 0.0f);
  return out;
}

}  // namespace detail

/// BitNet b1.58 absmean ternary quantizer.
class bitnet_ternary {
 public:
  static constexpr float gamma_floor = 1e-5f;
  struct options {
    granularity gran = granularity::per_tensor();
  };

  bitnet_ternary() : bitnet_ternary(options{}) {}
  explicit bitnet_ternary(options o) : opt_(o) {}
  const options& opts() const noexcept { return opt_; }

  /// γ = max(mean|W|, 1e-5).
  static float scale_for(float mean_abs) noexcept { return std::max(mean_abs, gamma_floor); }
  /// clamp(RNE(w / γ), −1, 1) with w / γ in float.
  static std::int8_t code(float w, float gamma) noexcept {
    const double q = round_half_even(static_cast<double>(w / gamma));
    return static_cast<std::int8_t>(std::clamp(q, -1.0, 1.0));
  }

  quantized_matrix<std::int8_t> quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "bitnet_ternary::quantize");
    auto out = detail::ternary_shell(w, opt_.gran);
    detail::for_each_group(w.rows, w.cols, opt_.gran,
                           [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
                             const float gamma = scale_for(detail::ternary_abs_mean(w, row, c0, c1));
                             out.scales[g] = gamma;
                             detail::ternary_for_each(w, row, c0, c1, [&](std::size_t r, std::size_t c, float x) {
                               out.codes[r * w.cols + c] = code(x, gamma);
                             });
                           });
    return out;
  }

 private:
  options opt_;
};

/// Ternary Weight Networks: strict threshold 0.7·mean|W|, scale = mean |W| of the kept weights.
class twn_ternary {
 public:
  struct options {
    granularity gran = granularity::per_tensor();
    float threshold_ratio = 0.7f;
  };

  twn_ternary() : twn_ternary(options{}) {}
  explicit twn_ternary(options o) : opt_(o) {
    BITDIAL_REQUIRE(std::isfinite(opt_.threshold_ratio) && opt_.threshold_ratio >= 0.0f,
                    "twn_ternary: threshold_ratio = ", opt_.threshold_ratio, ": must be finite and >= 0");
  }
  const options& opts() const noexcept { return opt_; }

  /// Δ = fl(ratio·mean|W|), the product in double.
  float threshold(float mean_abs) const noexcept {
    return static_cast<float>(static_cast<double>(opt_.threshold_ratio) * static_cast<double>(mean_abs));
  }
  /// (w > Δ) − (w < −Δ).
  static std::int8_t code(float w, float delta) noexcept {
    return static_cast<std::int8_t>(static_cast<int>(w > delta) - static_cast<int>(w < -delta));
  }

  quantized_matrix<std::int8_t> quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "twn_ternary::quantize");
    auto out = detail::ternary_shell(w, opt_.gran);
    detail::for_each_group(
        w.rows, w.cols, opt_.gran, [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
          const float delta = threshold(detail::ternary_abs_mean(w, row, c0, c1));
          double kept_sum = 0.0;
          std::size_t kept = 0;
          detail::ternary_for_each(w, row, c0, c1, [&](std::size_t r, std::size_t c, float x) {
            const std::int8_t q = code(x, delta);
            out.codes[r * w.cols + c] = q;
            if (q != 0) {
              kept_sum += std::fabs(static_cast<double>(x));
              ++kept;
            }
          });
          out.scales[g] = kept == 0 ? 0.0f : static_cast<float>(kept_sum / static_cast<double>(kept));
        });
    return out;
  }

 private:
  options opt_;
};

/// Tequila-style ternary: inclusive threshold γ/2 with γ = mean|W| per group of 128.
class tequila_ternary {
 public:
  struct options {
    granularity gran = granularity::per_group(128);
  };

  tequila_ternary() : tequila_ternary(options{}) {}
  explicit tequila_ternary(options o) : opt_(o) {}
  const options& opts() const noexcept { return opt_; }

  /// (w ≥ Δ) − (w ≤ −Δ).
  static std::int8_t code(float w, float delta) noexcept {
    return static_cast<std::int8_t>(static_cast<int>(w >= delta) - static_cast<int>(w <= -delta));
  }

  quantized_matrix<std::int8_t> quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "tequila_ternary::quantize");
    auto out = detail::ternary_shell(w, opt_.gran);
    detail::for_each_group(w.rows, w.cols, opt_.gran,
                           [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
                             const float gamma = detail::ternary_abs_mean(w, row, c0, c1);
                             const float delta = gamma / 2.0f;
                             out.scales[g] = gamma;
                             detail::ternary_for_each(w, row, c0, c1, [&](std::size_t r, std::size_t c, float x) {
                               out.codes[r * w.cols + c] = code(x, delta);
                             });
                           });
    return out;
  }

 private:
  options opt_;
};

/// Input-independent bias of the dead-zone weights: bias_r = Σ_{c : q(r,c) = 0} W(r, c)·mean_x[c]
/// (accumulated in double). Works for any ternary quantization q of w.
inline std::vector<float> ternary_deadzone_bias(const_matrix w, const quantized_matrix<std::int8_t>& q,
                                                std::span<const float> mean_x) {
  constexpr const char* where = "ternary_deadzone_bias";
  detail::check_view(w, where, "weights");
  detail::check_finite(w, where, "weights");
  BITDIAL_REQUIRE(q.rows == w.rows && q.cols == w.cols && q.codes.size() == w.rows * w.cols, where,
                  ": codes shape = ", q.rows, "x", q.cols, ": differs from weights ", w.rows, "x", w.cols);
  BITDIAL_REQUIRE(mean_x.size() == w.cols, where, ": mean_x.size() = ", mean_x.size(), ": must equal K = ", w.cols);
  detail::check_finite(mean_x, where, "mean_x");
  std::vector<float> bias(w.rows);
  for (std::size_t r = 0; r < w.rows; ++r) {
    double acc = 0.0;
    for (std::size_t c = 0; c < w.cols; ++c) {
      const std::int32_t code = q.code(r, c);
      BITDIAL_REQUIRE(code >= -1 && code <= 1, where, ": code(", r, ", ", c, ") = ", code, ": not ternary");
      if (code == 0) acc += static_cast<double>(w(r, c)) * static_cast<double>(mean_x[c]);
    }
    bias[r] = static_cast<float>(acc);
  }
  return bias;
}

}  // namespace bitdial
