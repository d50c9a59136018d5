// bitdial/core/matrix.hpp — non-owning row-major matrix views, scale granularity, and the
// quantized-matrix container every integer quantizer returns.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/rounding.hpp"

namespace bitdial {

/// Row-major view: element (r, c) at data[r * stride + c]. Copies nothing.
template <class T>
struct matrix_view {
  T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;  // elements between row starts; >= cols

  constexpr matrix_view() = default;
  constexpr matrix_view(T* d, std::size_t r, std::size_t c) : data(d), rows(r), cols(c), stride(c) {}
  constexpr matrix_view(T* d, std::size_t r, std::size_t c, std::size_t s) : data(d), rows(r), cols(c), stride(s) {}
  /// Implicit T -> const T.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  constexpr matrix_view(const matrix_view<U>& o) : data(o.data), rows(o.rows), cols(o.cols), stride(o.stride) {}

  constexpr T& operator()(std::size_t r, std::size_t c) const noexcept { return data[r * stride + c]; }
  constexpr std::span<T> row(std::size_t r) const noexcept { return {data + r * stride, cols}; }
  constexpr std::size_t size() const noexcept { return rows * cols; }
  constexpr bool empty() const noexcept { return rows == 0 || cols == 0; }
};

using const_matrix = matrix_view<const float>;

namespace detail {

/// The largest float step s for which s·m is finite for every level multiplier |m| <= m_max, i.e.
/// s·m_max <= FLT_MAX exactly (then the float product cannot round to inf). Quantizers clamp their
/// scales to it so that no finite input dequantizes to ±inf; it binds only within a factor
/// m_max / (largest code) of FLT_MAX.
inline float max_finite_step(double m_max) noexcept {
  constexpr double fmax = static_cast<double>(std::numeric_limits<float>::max());
  if (m_max <= 1.0) return std::numeric_limits<float>::max();
  float s = static_cast<float>(fmax / m_max);
  while (static_cast<double>(s) * m_max > fmax) s = std::nextafter(s, 0.0f);
  return s;
}

/// Rejects a caller-chosen scale whose largest level s·m_max overflows float.
inline void check_scale_levels(float s, double m_max, std::size_t i, const char* where) {
  BITDIAL_REQUIRE(s <= max_finite_step(m_max), where, ": scales[", i, "] = ", s, ": times the largest code ", m_max,
                  " overflows float (dequantized values would be infinite)");
}

/// Multiplies sizes, failing cleanly instead of wrapping.
inline std::size_t checked_mul(std::size_t a, std::size_t b, const char* where, const char* what) {
  BITDIAL_REQUIRE(b == 0 || a <= std::numeric_limits<std::size_t>::max() / b, where, ": ", what, " = ", a, " x ", b,
                  ": size overflows");
  return a * b;
}

inline void check_view(const_matrix m, const char* where, const char* name) {
  BITDIAL_REQUIRE(m.rows > 0 && m.cols > 0, where, ": ", name, " shape = ", m.rows, "x", m.cols, ": must not be empty");
  BITDIAL_REQUIRE(m.data != nullptr, where, ": ", name, ".data = null");
  BITDIAL_REQUIRE(m.stride >= m.cols, where, ": ", name, ".stride = ", m.stride, ": less than cols = ", m.cols);
  checked_mul(m.rows, m.stride, where, name);
}

/// True when every value is finite: Σ 0·x_i is NaN exactly when some x_i is NaN or ±Inf. Several
/// independent sums let the compiler vectorise the loop without reassociation.
inline bool all_finite(const float* x, std::size_t n) noexcept {
  float acc[8] = {};
  const std::size_t end8 = n - n % 8;
  std::size_t i = 0;
  for (; i < end8; i += 8)
    for (std::size_t j = 0; j < 8; ++j) acc[j] += 0.0f * x[i + j];
  for (; i < n; ++i) acc[0] += 0.0f * x[i];
  float total = 0.0f;
  for (float a : acc) total += a;
  return total == 0.0f;
}

/// Rejects NaN/Inf with the position of the first offender.
inline void check_finite(const_matrix m, const char* where, const char* name) {
  bool ok = true;
  for (std::size_t r = 0; r < m.rows && ok; ++r) ok = all_finite(m.data + r * m.stride, m.cols);
  if (ok) return;
  for (std::size_t r = 0; r < m.rows; ++r)
    for (std::size_t c = 0; c < m.cols; ++c)
      BITDIAL_REQUIRE(std::isfinite(m(r, c)), where, ": ", name, "(", r, ", ", c, ") = ", m(r, c), ": must be finite");
}

inline void check_finite(std::span<const float> v, const char* where, const char* name) {
  BITDIAL_REQUIRE(!v.empty(), where, ": ", name, ": empty span");
  if (all_finite(v.data(), v.size())) return;
  for (std::size_t i = 0; i < v.size(); ++i)
    BITDIAL_REQUIRE(std::isfinite(v[i]), where, ": ", name, "[", i, "] = ", v[i], ": must be finite");
}

}  // namespace detail

/// Which elements share one scale (and zero point).
///   per_tensor: one for the whole matrix; per_row: one per output channel;
///   per_group: one per G consecutive elements of a row (G must divide cols).
struct granularity {
  enum class kind : std::uint8_t { per_tensor, per_row, per_group };
  kind k = kind::per_row;
  std::size_t group = 0;  // only for per_group

  static constexpr granularity per_tensor() noexcept { return {kind::per_tensor, 0}; }
  static constexpr granularity per_row() noexcept { return {kind::per_row, 0}; }
  static constexpr granularity per_group(std::size_t g) noexcept { return {kind::per_group, g}; }

  /// Elements of one row that share a scale, given the row length.
  constexpr std::size_t group_len(std::size_t cols) const noexcept { return k == kind::per_group ? group : cols; }
  constexpr std::size_t groups_per_row(std::size_t cols) const noexcept {
    return k == kind::per_group ? cols / group : 1;
  }
  constexpr std::size_t count(std::size_t rows, std::size_t cols) const noexcept {
    return k == kind::per_tensor ? 1 : rows * groups_per_row(cols);
  }
  /// Index of the scale that element (r, c) uses.
  constexpr std::size_t index(std::size_t r, std::size_t c, std::size_t cols) const noexcept {
    switch (k) {
      case kind::per_tensor:
        return 0;
      case kind::per_row:
        return r;
      case kind::per_group:
        return r * (cols / group) + c / group;
    }
    return 0;
  }

  void validate(std::size_t cols, const char* where) const {
    if (k != kind::per_group) return;
    BITDIAL_REQUIRE(group > 0, where, ": group = 0: group size must be positive");
    BITDIAL_REQUIRE(cols % group == 0, where, ": group = ", group, ": does not divide K = ", cols,
                    " (pass a group size that divides K, or granularity::per_row() / per_tensor())");
  }
  friend constexpr bool operator==(const granularity&, const granularity&) = default;
};

/// Integer codes plus the affine parameters that give them meaning:
///   x̂(r, c) = scales[g] * (codes(r, c) - zero_points[g]) + offsets[g],  g = gran.index(r, c, cols)
/// (the product rounded to float, then the offset added). `zero_points` is empty for symmetric
/// quantizers; `offsets` is empty except for masters imported from formats that store a float
/// minimum per group (ggml's Q4_1/Q5_1 and k-quants: value = d·q − m). Code is int8_t (signed) or
/// uint8_t (unsigned).
template <class Code>
struct quantized_matrix {
  static_assert(std::is_integral_v<Code> && sizeof(Code) == 1, "bitdial: codes are 8-bit integers");
  std::size_t rows = 0;
  std::size_t cols = 0;
  int bits = 8;
  granularity gran;
  std::vector<Code> codes;                // rows * cols, row-major
  std::vector<float> scales;              // gran.count(rows, cols)
  std::vector<std::int32_t> zero_points;  // empty, or gran.count(rows, cols)
  std::vector<float> offsets = {};        // empty, or gran.count(rows, cols)

  std::int32_t code(std::size_t r, std::size_t c) const noexcept { return codes[r * cols + c]; }
  std::size_t scale_index(std::size_t r, std::size_t c) const noexcept { return gran.index(r, c, cols); }
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    const std::size_t g = scale_index(r, c);
    const std::int32_t z = zero_points.empty() ? 0 : zero_points[g];
    const float v = scales[g] * static_cast<float>(code(r, c) - z);
    if (offsets.empty()) return v;
    float rounded = v;
    BITDIAL_ROUNDED(rounded);  // the product is rounded before the offset is added (no contraction)
    return rounded + offsets[g];
  }
  /// Dequantizes the whole matrix (row-major).
  std::vector<float> dequantize() const {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = dequantize(r, c);
    return out;
  }
};

}  // namespace bitdial
