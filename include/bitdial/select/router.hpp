// bitdial/select/router.hpp — per-token slice counts (MoBiQuant): a router decides, from a
// token's activations, how many residual slices (or how many bits) that token is served with.
//
// The default statistic_router uses the crest factor c(x) = max|x| / rms(x): tokens with
// activation outliers are the precision-sensitive ones (MoBiQuant's token-aware routing; the
// outlier observations of LLM.int8() and SmoothQuant). With m = n_max − n_min thresholds
// t_1 ≤ … ≤ t_m the count is n(x) = n_min + #{j : c(x) ≥ t_j}.
//
// Calibration to a target average count n̄: thresholds sit at quantiles u_j = (j/(m+1))^α of
// the calibration tokens' statistics, so the expected count is
//     E[n] = n_min + Σ_j (1 − u_j),
// increasing in α (α → 0: every threshold at the top, n_min; α → ∞: at the bottom, n_max; α = 1
// spreads tokens evenly over all counts). α is found by bisection so that E[n] = n̄ on the
// calibration set, up to the granularity of its empirical quantiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "bitdial/core/matrix.hpp"

namespace bitdial {

/// Interface: a slice count (or width) in [min_count(), max_count()] for one token.
class token_router {
 public:
  virtual ~token_router() = default;
  virtual int route(std::span<const float> token) const = 0;
  virtual int min_count() const noexcept = 0;
  virtual int max_count() const noexcept = 0;

  /// Counts for every token of a batch.
  std::vector<int> route_all(const_matrix tokens) const {
    detail::check_view(tokens, "token_router::route_all", "tokens");
    std::vector<int> n(tokens.rows);
    for (std::size_t t = 0; t < tokens.rows; ++t) n[t] = route(tokens.row(t));
    return n;
  }
};

/// max|x| / rms(x); 1 for an all-equal-magnitude token, 0 for an all-zero token.
inline double crest_factor(std::span<const float> x) noexcept {
  double amax = 0, ss = 0;
  for (float v : x) {
    amax = std::max(amax, double(std::fabs(v)));
    ss += double(v) * double(v);
  }
  return ss > 0 ? amax / std::sqrt(ss / double(x.size())) : 0.0;
}

class statistic_router final : public token_router {
 public:
  statistic_router(int n_min, int n_max, std::vector<double> thresholds)
      : n_min_(n_min), n_max_(n_max), t_(std::move(thresholds)) {
    BITDIAL_REQUIRE(n_min >= 1 && n_min <= n_max, "statistic_router: counts = [", n_min, ", ", n_max,
                    "]: need 1 <= n_min <= n_max");
    BITDIAL_REQUIRE(t_.size() == std::size_t(n_max - n_min), "statistic_router: thresholds.size() = ", t_.size(),
                    ": expected n_max - n_min = ", n_max - n_min);
    for (std::size_t j = 0; j < t_.size(); ++j)
      BITDIAL_REQUIRE(!std::isnan(t_[j]), "statistic_router: thresholds[", j,
                      "] = nan: must be a number (±inf allowed)");
    BITDIAL_REQUIRE(std::is_sorted(t_.begin(), t_.end()), "statistic_router: thresholds: must be non-decreasing");
  }

  /// Thresholds that give `target_average` slices on average over the calibration tokens.
  static statistic_router calibrate(const_matrix tokens, int n_min, int n_max, double target_average) {
    constexpr const char* where = "statistic_router::calibrate";
    detail::check_view(tokens, where, "tokens");
    detail::check_finite(tokens, where, "tokens");
    BITDIAL_REQUIRE(n_min >= 1 && n_min <= n_max, where, ": counts = [", n_min, ", ", n_max,
                    "]: need 1 <= n_min <= n_max");
    BITDIAL_REQUIRE(target_average >= n_min && target_average <= n_max, where, ": target_average = ", target_average,
                    ": must be in [", n_min, ", ", n_max, "]");
    const int m = n_max - n_min;
    std::vector<double> stats(tokens.rows);
    for (std::size_t t = 0; t < tokens.rows; ++t) stats[t] = crest_factor(tokens.row(t));
    std::sort(stats.begin(), stats.end());
    auto thresholds_for = [&](double alpha) {
      std::vector<double> th(static_cast<std::size_t>(m));
      for (int j = 1; j <= m; ++j) {
        const double u = std::pow(double(j) / double(m + 1), alpha);
        const auto idx = static_cast<std::size_t>(std::floor(u * double(stats.size())));
        th[j - 1] = idx >= stats.size() ? std::nextafter(stats.back(), INFINITY) : stats[idx];
      }
      std::sort(th.begin(), th.end());
      return th;
    };
    auto average_for = [&](const std::vector<double>& th) {
      double s = 0;
      for (double c : stats) s += double(std::upper_bound(th.begin(), th.end(), c) - th.begin());
      return n_min + s / double(stats.size());
    };
    if (m == 0) return statistic_router(n_min, n_max, {});
    if (target_average >= n_max) return statistic_router(n_min, n_max, std::vector<double>(m, -INFINITY));
    if (target_average <= n_min) return statistic_router(n_min, n_max, std::vector<double>(m, INFINITY));
    double lo = -12, hi = 12;  // log α
    for (int it = 0; it < 100; ++it) {
      const double mid = 0.5 * (lo + hi);
      (average_for(thresholds_for(std::exp(mid))) < target_average ? lo : hi) = mid;
    }
    return statistic_router(n_min, n_max, thresholds_for(std::exp(hi)));
  }

  /// Throws for an empty token or one with NaN/Inf (crest_factor would drop a NaN from max|x| and
  /// turn the sum of squares into NaN, i.e. report 0 and silently route the token to n_min).
  int route(std::span<const float> token) const override {
    detail::check_finite(token, "statistic_router::route", "token");
    const double c = crest_factor(token);
    return n_min_ + static_cast<int>(std::upper_bound(t_.begin(), t_.end(), c) - t_.begin());
  }
  int min_count() const noexcept override { return n_min_; }
  int max_count() const noexcept override { return n_max_; }
  const std::vector<double>& thresholds() const noexcept { return t_; }

 private:
  int n_min_, n_max_;
  std::vector<double> t_;
};

}  // namespace bitdial
