// bitdial/select/fit.hpp — fitted per-width reconstruction (SEMANTICS §3b): for every servable
// width b < B and serve rule, the per-row least-squares affine map from the literal served term to
// the weight, stored with the stack and served by default (select/plane_view.hpp).
//
// Why: the served codes are fixed by the stored planes, but the literal rules give them values on
// the master's full range (truncation at b ≤ 2 keeps the master's range, the 1-bit truncated grid is
// {−s·2^(B−1), 0} + midpoint, round-half-up moves every tie the same way). Refitting the values
// costs nothing at serve time: α_r folds into the group scale, β_r into the Σx term the epilogue
// already has for midpoints and zero points.
//
// The fit, per row r, width b, rule (k = B − b; s_g, z_g the master's group scale and zero point,
// o the stack's code offset; t_c = q_b(c) + (o/2 − z_g)/2^k the literal served term, midpoint left out):
//   minimise Σ_c (w_c − s_g·(A·t_c + C))²  over A, C       (2×2 normal equations, in double)
//   β_r = clamp(RNE(256·C/A), −32768, 32767)               (1/256 of a served step, int16)
//   α_r = Σ w·s(t + β_r/256) / Σ (s(t + β_r/256))²          (exact least squares given β_r), to float
// so x̂_c = s_g·α_r·(t_c + β_r/256). Degenerate rows: all scales 0 or all targets 0 → α = β = 0
// (zeros are served); a constant served term t_c = t0 ≠ 0 → β = 0, α = the best constant / t0;
// t_c = 0 throughout → β = 1 step, α = the best constant. The target w is the float weight matrix
// the master was quantized from, or, for a master imported as codes, the master's own full-width
// values (then the fit is the best affine map of the truncated code to the master). A master with
// float offsets μ_g (value s·(q − z) + μ) fits w − μ_g: the offset is served unchanged at every width.
// A (rule, width) whose fitted values could overflow float (scales within a few powers of two of
// FLT_MAX) is not stored: its views serve the literal rule, which stays finite.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "bitdial/core/matrix.hpp"
#include "bitdial/core/parallel.hpp"
#include "bitdial/format/bit_planes.hpp"
#include "bitdial/select/plane_view.hpp"

namespace bitdial {

/// Which rules fit_reconstruction fits (double rounding only for signed masters).
struct fit_options {
  bool truncate = true;
  bool round_half_up = true;
  bool round_half_even = true;
  thread_pool* pool = nullptr;  // null: thread_pool::global()
};

namespace detail {

struct row_fit {
  float alpha = 0.0f;
  std::int16_t beta = 0;
};

/// The least-squares fit of one row (see the header comment). sums over the row's elements of
/// p = s·t, v = s and the target w.
struct fit_sums {
  double pp = 0, pv = 0, vv = 0, wp = 0, wv = 0;
  void add(double w, double s, double t) noexcept {
    const double p = s * t;
    pp += p * p, pv += p * s, vv += s * s, wp += w * p, wv += w * s;
  }
};

inline row_fit solve_row_fit(const fit_sums& f, double t_const, bool t_constant) noexcept {
  row_fit out;
  if (f.vv == 0.0) return out;  // every scale 0: the row serves zeros
  const double det = f.pp * f.vv - f.pv * f.pv;
  double beta = 0.0;  // in served steps
  if (t_constant || !(det > 1e-12 * f.pp * f.vv)) {
    // One level per group: the best constant c·s_g, c = Σws / Σss.
    const double c = f.wv / f.vv;
    if (c == 0.0) return out;
    if (t_const != 0.0) {
      out.alpha = static_cast<float>(c / t_const);
      return out;
    }
    out.beta = 256;
    out.alpha = static_cast<float>(c);
    return out;
  }
  const double A = (f.wp * f.vv - f.wv * f.pv) / det;
  const double C = (f.pp * f.wv - f.pv * f.wp) / det;
  if (A != 0.0) beta = C / A;
  const double bq = std::nearbyint(std::clamp(256.0 * beta, -32768.0, 32767.0));
  out.beta = static_cast<std::int16_t>(bq);
  // α given the stored β: Σ w·(p + β v) / Σ (p + β v)².
  const double b = bq / 256.0;
  const double num = f.wp + b * f.wv;
  const double den = f.pp + 2 * b * f.pv + b * b * f.vv;
  out.alpha = den > 0.0 ? static_cast<float>(num / den) : 0.0f;
  if (out.alpha == 0.0f) out.beta = 0;
  return out;
}

inline void fit_reconstruction_impl(bit_plane_stack& s, const float* w, std::size_t ldw, const fit_options& o) {
  const std::size_t M = s.rows(), K = s.cols();
  const int B = s.master_bits();
  std::vector<rounding> rules;
  if (o.truncate) rules.push_back(rounding::floor);
  if (s.is_signed() && o.round_half_up) rules.push_back(rounding::half_up);
  if (s.is_signed() && o.round_half_even) rules.push_back(rounding::half_even);
  if (rules.empty() || B < 2) return;
  const std::size_t widths = static_cast<std::size_t>(B - 1);
  // [rule][b − 1][row]
  std::vector<float> alpha(rules.size() * widths * M);
  std::vector<std::int16_t> beta(alpha.size());
  const auto scales = s.scales();
  const auto zps = s.zero_points();
  const auto mus = s.offsets();
  const std::int32_t o2 = s.code_offset2();
  thread_pool& pool = o.pool ? *o.pool : thread_pool::global();
  parallel_for(
      M, pool.size() * 4,
      [&](std::size_t r0, std::size_t r1) {
        std::vector<std::int32_t> q(K);
        std::vector<float> sc(K), tgt(K);
        std::vector<double> zoff(K);  // (o/2 − z_g) per element, in master steps
        for (std::size_t r = r0; r < r1; ++r) {
          for (std::size_t c = 0; c < K; ++c) {
            q[c] = s.code(r, c);
            const std::size_t g = s.gran().index(r, c, K);
            sc[c] = scales[g];
            zoff[c] = o2 / 2.0 - (zps.empty() ? 0.0 : double(zps[g]));
            // The target of s·(A·t + C): the weight less the group's float offset μ, if any.
            tgt[c] = w ? static_cast<float>(double(w[r * ldw + c]) - (mus.empty() ? 0.0 : double(mus[g])))
                       : static_cast<float>(sc[c] * (q[c] + zoff[c]));
          }
          for (std::size_t ri = 0; ri < rules.size(); ++ri)
            for (int b = 1; b < B; ++b) {
              const int k = B - b;
              const double step = std::ldexp(1.0, k);
              fit_sums f;
              double t0 = 0.0;
              bool constant = true;
              for (std::size_t c = 0; c < K; ++c) {
                const double t = plane_view::serve(q[c], k, b, rules[ri]) + zoff[c] / step;
                if (c == 0) t0 = t;
                constant = constant && t == t0;
                f.add(tgt[c], sc[c], t);
              }
              const row_fit rf = solve_row_fit(f, t0, constant);
              const std::size_t at = (ri * widths + static_cast<std::size_t>(b - 1)) * M + r;
              alpha[at] = rf.alpha;
              beta[at] = rf.beta;
            }
        }
      },
      pool);
  float smax = 0.0f;
  for (float v : scales) smax = std::max(smax, v);
  for (std::size_t ri = 0; ri < rules.size(); ++ri)
    for (int b = 1; b < B; ++b) {
      const std::size_t at = (ri * widths + static_cast<std::size_t>(b - 1)) * M;
      // bit_plane_stack::set_fit's bound on the served values: a fit whose values could overflow
      // float (scales within ~2^-(b+8) of FLT_MAX) is not stored; its views serve the literal rule.
      const double term = std::ldexp(1.0, b + 1) + 2.0 + 128.0;
      bool finite = true;
      for (std::size_t r = 0; r < M; ++r)
        finite = finite && std::isfinite(alpha[at + r]) &&
                 std::fabs(double(alpha[at + r])) * smax * term <= double(std::numeric_limits<float>::max());
      if (!finite) continue;
      s.set_fit(fit_index(rules[ri]), b, std::span<const float>(alpha.data() + at, M),
                std::span<const std::int16_t>(beta.data() + at, M));
    }
}

}  // namespace detail

/// Fits and stores, for every width b < B and rule, the per-row affine reconstruction (header
/// comment) against `weights`, the float matrix the master was quantized from (rows × cols).
/// Views then serve it by default (reconstruction::automatic); the literal rules stay selectable.
inline void fit_reconstruction(bit_plane_stack& s, const_matrix weights, const fit_options& o = {}) {
  BITDIAL_REQUIRE(s.rows() > 0, "fit_reconstruction: the stack is empty");
  BITDIAL_REQUIRE(weights.data != nullptr && weights.rows == s.rows() && weights.cols == s.cols(),
                  "fit_reconstruction: weights shape = ", weights.rows, "x", weights.cols, ": expected ", s.rows(), "x",
                  s.cols(), " (the stack's)");
  for (std::size_t r = 0; r < weights.rows; ++r)
    for (std::size_t c = 0; c < weights.cols; ++c)
      BITDIAL_REQUIRE(std::isfinite(weights(r, c)), "fit_reconstruction: weights(", r, ", ", c, ") = ", weights(r, c),
                      ": not finite");
  detail::fit_reconstruction_impl(s, weights.data, weights.stride, o);
}

/// As above, against the master's own full-width values (for masters imported as codes).
inline void fit_reconstruction(bit_plane_stack& s, const fit_options& o = {}) {
  BITDIAL_REQUIRE(s.rows() > 0, "fit_reconstruction: the stack is empty");
  detail::fit_reconstruction_impl(s, nullptr, 0, o);
}

}  // namespace bitdial
