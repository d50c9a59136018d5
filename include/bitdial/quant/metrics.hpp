// bitdial/quant/metrics.hpp — quantization error measures: MSE, relative MSE, SQNR in dB.
//
//   mse(x, x̂)          = Σ (x - x̂)² / n
//   relative_mse(x, x̂) = Σ (x - x̂)² / Σ x²              (0 when both sums are 0)
//   sqnr_db(x, x̂)      = 10·log10(Σ x² / Σ (x - x̂)²)     (+inf for an exact reconstruction)
// Sums are accumulated in double (finite for any float input). The first argument is the reference
// signal. NaN or ±inf in either argument is rejected by name: a NaN would make every measure NaN and
// an infinity would report a meaningless 0 dB or −inf dB.
#pragma once

#include <cmath>
#include <limits>
#include <span>

#include "bitdial/core/error.hpp"

namespace bitdial {

namespace detail {

struct error_sums {
  double signal = 0.0;  // Σ x²
  double noise = 0.0;   // Σ (x - x̂)²
};

inline error_sums error_sums_of(std::span<const float> x, std::span<const float> xhat, const char* where) {
  BITDIAL_REQUIRE(!x.empty(), where, ": reference.size() = 0: must not be empty");
  BITDIAL_REQUIRE(x.size() == xhat.size(), where, ": approximation.size() = ", xhat.size(),
                  ": differs from reference.size() = ", x.size());
  error_sums s;
  for (std::size_t i = 0; i < x.size(); ++i) {
    BITDIAL_REQUIRE(std::isfinite(x[i]), where, ": reference[", i, "] = ", x[i], ": must be finite");
    BITDIAL_REQUIRE(std::isfinite(xhat[i]), where, ": approximation[", i, "] = ", xhat[i], ": must be finite");
    const double d = static_cast<double>(x[i]) - static_cast<double>(xhat[i]);
    s.signal += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    s.noise += d * d;
  }
  return s;
}

}  // namespace detail

/// Mean squared error Σ (x - x̂)² / n.
inline double mse(std::span<const float> reference, std::span<const float> approximation) {
  return detail::error_sums_of(reference, approximation, "mse").noise / static_cast<double>(reference.size());
}

/// Σ (x - x̂)² / Σ x²; 0 when the error is 0, +inf when only the reference is 0.
inline double relative_mse(std::span<const float> reference, std::span<const float> approximation) {
  const auto s = detail::error_sums_of(reference, approximation, "relative_mse");
  if (s.noise == 0.0) return 0.0;
  return s.signal == 0.0 ? std::numeric_limits<double>::infinity() : s.noise / s.signal;
}

/// Signal-to-quantization-noise ratio 10·log10(Σ x² / Σ (x - x̂)²) in dB; +inf when exact.
inline double sqnr_db(std::span<const float> reference, std::span<const float> approximation) {
  const auto s = detail::error_sums_of(reference, approximation, "sqnr_db");
  if (s.noise == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(s.signal / s.noise);
}

}  // namespace bitdial
