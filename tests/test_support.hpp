// Helpers shared by the bitdial test suites: seeded random data with the seed reported.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

namespace bitdial::test {

/// Seed for a test's random data; override with BITDIAL_TEST_SEED. Logged so failures replay.
inline std::uint64_t seed() {
  static const std::uint64_t s = []() -> std::uint64_t {
    if (const char* e = std::getenv("BITDIAL_TEST_SEED")) return std::strtoull(e, nullptr, 10);
    return static_cast<unsigned long long>(20261123);
  }();
  return s;
}

inline std::vector<float> normal(std::size_t n, std::uint64_t salt = 0, float sigma = 1.0f) {
  std::mt19937_64 rng(seed() + salt);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

/// Heavy-tailed sample: Student-t with 3 degrees of freedom.
inline std::vector<float> heavy_tailed(std::size_t n, std::uint64_t salt = 0) {
  std::mt19937_64 rng(seed() + salt);
  std::student_t_distribution<float> d(3.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace bitdial::test

#define BITDIAL_LOG_SEED() INFO("seed = " << ::bitdial::test::seed() << " (set BITDIAL_TEST_SEED to replay)")
