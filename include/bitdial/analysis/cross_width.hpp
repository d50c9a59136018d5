// bitdial/analysis/cross_width.hpp — one store is eight deployed models: how far does each served
// width's output drift from the full-width output, and is that drift what quantization noise
// predicts? (The "Mind the Gap" concern: widths of one elastic model must be checked as models.)
//
// For each width b and calibration tokens x_t the report measures
//     rel_rms(b) = ‖Y_b − Y_B‖_F / ‖Y_B‖_F            (Y: kernel outputs, same activation codes)
// and compares it with the expected rms from a noise model: the served weight differs from the
// master by e = x̂_b − x̂_B, which for a b-bit view behaves like independent noise with variance
//     σ_k² = s²·(4^k − 1)/12     k = B − b, s = the master step of the element's group
// (a discrete uniform over the 2^k master codes a served code stands for, centred by the midpoint
// or by rounding). Then E‖y_b − y_B‖² = Σ_r Σ_g σ_k(r,g)² ‖x_g‖² per token. Floor reconstruction
// adds a bias, clamping adds large one-sided errors: a width whose rel_rms exceeds
// `outlier_factor` × expected is flagged, and so is every token whose own relative drift does.
#pragma once

#include <cmath>
#include <vector>

#include "bitdial/kernels/gemm.hpp"
#include "bitdial/select/elastic_weight.hpp"

namespace bitdial {

struct width_divergence {
  int bits = 0;
  std::size_t bytes_read = 0;
  double rel_rms = 0;           // ‖Y_b − Y_B‖ / ‖Y_B‖ over all tokens
  double expected_rel_rms = 0;  // the same from the noise model
  double max_token_rel = 0;     // worst token's ‖y_b − y_B‖ / ‖y_B‖
  std::size_t outlier_tokens = 0;
  bool flagged = false;
};

inline std::vector<width_divergence> cross_width_report(const elastic_weight& w, const_matrix tokens,
                                                        double outlier_factor = 3.0, const run_options& o = {}) {
  constexpr const char* where = "cross_width_report";
  detail::check_view(tokens, where, "tokens");
  BITDIAL_REQUIRE(tokens.cols == w.stack().cols(), where, ": tokens.cols = ", tokens.cols,
                  ": expected K = ", w.stack().cols());
  BITDIAL_REQUIRE(std::isfinite(outlier_factor) && outlier_factor > 0, where, ": outlier_factor = ", outlier_factor,
                  ": must be finite and > 0");
  const bit_plane_stack& s = w.stack();
  const std::size_t M = s.rows(), N = tokens.rows, K = s.cols();
  const int B = s.master_bits();
  const auto q = per_token_quantizer<8>().quantize(tokens);
  const auto x = as_tokens(q);
  std::vector<float> full(N * M), part(N * M);
  gemm(w.view(B), x, matrix_view<float>(full.data(), N, M), {}, o);

  // Σ_r Σ_g s_g² ‖x̂_g‖² per token, x̂ the dequantized activations the kernels saw.
  const std::size_t groups = s.groups_per_row(), glen = K / groups;
  std::vector<double> noise_unit(N, 0.0), ref_norm(N, 0.0);
  for (std::size_t t = 0; t < N; ++t) {
    std::vector<double> xg(groups, 0.0);
    for (std::size_t c = 0; c < K; ++c) {
      const double v = double(q.dequantize(t, c));
      xg[c / glen] += v * v;
    }
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t g = 0; g < groups; ++g) {
        const double sc = s.scales()[s.gran().index(r, g * glen, K)];
        noise_unit[t] += sc * sc * xg[g];
      }
    for (std::size_t r = 0; r < M; ++r) ref_norm[t] += double(full[t * M + r]) * full[t * M + r];
  }
  double ref_total = 0;
  for (double v : ref_norm) ref_total += v;

  std::vector<width_divergence> out;
  for (int b = B; b >= 1; --b) {
    const plane_view v = w.view(b);
    gemm(v, x, matrix_view<float>(part.data(), N, M), {}, o);
    const int k = B - b;
    const double var_k = (std::ldexp(1.0, 2 * k) - 1.0) / 12.0;
    width_divergence d;
    d.bits = b;
    d.bytes_read = v.bytes_read();
    double diff_total = 0, expected_total = 0;
    std::vector<double> token_rel(N);
    for (std::size_t t = 0; t < N; ++t) {
      double dd = 0;
      for (std::size_t r = 0; r < M; ++r) {
        const double e = double(part[t * M + r]) - full[t * M + r];
        dd += e * e;
      }
      diff_total += dd;
      expected_total += var_k * noise_unit[t];
      const double rel = ref_norm[t] > 0 ? std::sqrt(dd / ref_norm[t]) : 0.0;
      const double exp_rel = ref_norm[t] > 0 ? std::sqrt(var_k * noise_unit[t] / ref_norm[t]) : 0.0;
      d.max_token_rel = std::max(d.max_token_rel, rel);
      if (rel > outlier_factor * exp_rel && dd > 0) ++d.outlier_tokens;
    }
    d.rel_rms = ref_total > 0 ? std::sqrt(diff_total / ref_total) : 0.0;
    d.expected_rel_rms = ref_total > 0 ? std::sqrt(expected_total / ref_total) : 0.0;
    d.flagged = d.rel_rms > outlier_factor * d.expected_rel_rms && diff_total > 0;
    out.push_back(d);
  }
  return out;
}

}  // namespace bitdial
