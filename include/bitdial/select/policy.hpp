// bitdial/select/policy.hpp — who gets which width: per-layer and per-expert width maps that an
// engine switches concurrently, and a budget allocator that picks them (DP-LLM's per-layer
// precision assignment; per-expert widths for mixture-of-experts models).
#pragma once

#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <span>
#include <vector>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/error.hpp"

namespace bitdial {

/// One width per entry (layer, expert, …). Each entry is an atomic: readers on any thread see
/// either the old or the new width of an entry, never a torn value. Entries switch independently.
class width_map {
 public:
  explicit width_map(std::size_t entries, int initial_bits = max_bits)
      : n_(entries), bits_(std::make_unique<std::atomic<int>[]>(entries)) {
    BITDIAL_REQUIRE(entries > 0, "width_map: entries = 0: must be positive");
    detail::checked_bits(initial_bits, "width_map", "initial_bits");
    for (std::size_t i = 0; i < n_; ++i) bits_[i].store(initial_bits, std::memory_order_relaxed);
  }
  std::size_t size() const noexcept { return n_; }
  int get(std::size_t i) const {
    check_index(i, "width_map::get");
    return bits_[i].load(std::memory_order_acquire);
  }
  void set(std::size_t i, int b) {
    check_index(i, "width_map::set");
    detail::checked_bits(b, "width_map::set");
    bits_[i].store(b, std::memory_order_release);
  }
  void assign(std::span<const int> widths) {
    BITDIAL_REQUIRE(widths.size() == n_, "width_map::assign: widths.size() = ", widths.size(), ": expected ", n_);
    for (int b : widths) detail::checked_bits(b, "width_map::assign");
    for (std::size_t i = 0; i < n_; ++i) bits_[i].store(widths[i], std::memory_order_release);
  }
  /// Σ bits_i · weights_i / Σ weights_i (weights: parameter counts of the entries).
  double average_bits(std::span<const std::size_t> weights) const {
    BITDIAL_REQUIRE(weights.size() == n_, "width_map::average_bits: weights.size() = ", weights.size(), ": expected ",
                    n_);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      num += double(get(i)) * double(weights[i]);
      den += double(weights[i]);
    }
    BITDIAL_REQUIRE(den > 0, "width_map::average_bits: weights sum to 0");
    return num / den;
  }

 private:
  void check_index(std::size_t i, const char* where) const {
    BITDIAL_REQUIRE(i < n_, where, ": index = ", i, ": out of range (size ", n_, ")");
  }
  std::size_t n_;
  std::unique_ptr<std::atomic<int>[]> bits_;
};

using layer_widths = width_map;
using expert_widths = width_map;

/// Chooses a width per entry minimising Σ error_i(b_i) subject to Σ b_i·size_i ≤ target·Σ size_i.
/// error[i][b-1] is entry i's measured error at width b (e.g. output MSE on calibration data).
/// Greedy by error saved per added bit·parameter, from every entry at min_bits: optimal when each
/// entry's error is convex and decreasing in b, which quantization error is in practice.
inline std::vector<int> allocate_widths(std::span<const std::array<double, 8>> error,
                                        std::span<const std::size_t> sizes, double target_average_bits,
                                        int min_bits = 1, int max_bits_allowed = 8) {
  constexpr const char* where = "allocate_widths";
  BITDIAL_REQUIRE(!error.empty(), where, ": error: empty");
  BITDIAL_REQUIRE(sizes.size() == error.size(), where, ": sizes.size() = ", sizes.size(), ": expected ", error.size());
  detail::checked_bits(min_bits, where, "min_bits");
  detail::checked_bits(max_bits_allowed, where, "max_bits");
  BITDIAL_REQUIRE(min_bits <= max_bits_allowed, where, ": min_bits = ", min_bits,
                  ": exceeds max_bits = ", max_bits_allowed);
  BITDIAL_REQUIRE(std::isfinite(target_average_bits) && target_average_bits >= min_bits, where,
                  ": target_average_bits = ", target_average_bits, ": must be finite and >= min_bits = ", min_bits);
  for (std::size_t i = 0; i < error.size(); ++i)
    for (int b = 0; b < 8; ++b)
      BITDIAL_REQUIRE(std::isfinite(error[i][b]), where, ": error[", i, "][", b, "] = ", error[i][b],
                      ": must be finite");
  double total = 0;
  for (std::size_t s : sizes) total += double(s);
  BITDIAL_REQUIRE(total > 0, where, ": sizes sum to 0");
  std::vector<int> bits(error.size(), min_bits);
  double used = double(min_bits) * total;
  const double budget = target_average_bits * total;
  for (;;) {
    std::size_t best = error.size();
    double best_gain = 0;
    for (std::size_t i = 0; i < error.size(); ++i) {
      if (bits[i] >= max_bits_allowed || sizes[i] == 0 || used + double(sizes[i]) > budget + 1e-9) continue;
      const double gain = (error[i][bits[i] - 1] - error[i][bits[i]]) / double(sizes[i]);
      if (best == error.size() || gain > best_gain) best = i, best_gain = gain;
    }
    if (best == error.size()) break;
    ++bits[best];
    used += double(sizes[best]);
  }
  return bits;
}

}  // namespace bitdial
