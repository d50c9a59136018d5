// bitdial/quant/uniform.hpp — uniform integer quantizers (SEMANTICS.md §1).
//
// Symmetric signed:  q = clamp(round(x / s), qmin, qmax),  x̂ = s·q
//   full range       [-2^(b-1), 2^(b-1)-1]
//   restricted range [-(2^(b-1)-1), 2^(b-1)-1]   (ggml q8_0 style, s = amax/127)
// Scale rule (absmax): s = amax / qmax_positive with qmax_positive = 2^(b-1)-1 for both ranges, so
// the largest magnitude maps to ±qmax exactly; the full range only adds the code -2^(b-1), which
// the absmax scale never produces but clipped (MSE) scales do. For b = 1 (qmax_positive = 0) the
// full-range grid is {-s, 0} with s = amax (the spec's formula taken literally; use mid-rise or
// binarization for a useful 1-bit grid), and restricted range is rejected (a single level).
// x / s is evaluated in float (as torch.round(x / s) in fp32); round is RNE unless chosen otherwise.
// An all-zero group has s = 0, codes 0 and dequantizes to 0, never NaN.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"

namespace bitdial {

enum class int_range : std::uint8_t { full, restricted };

namespace detail {

/// Calls f(group_index, row, col_begin, col_end) for every scale group of a rows x cols matrix;
/// for per_tensor the single group spans all rows (row = npos).
template <class F>
void for_each_group(std::size_t rows, std::size_t cols, granularity g, F&& f) {
  if (g.k == granularity::kind::per_tensor) {
    f(std::size_t{0}, static_cast<std::size_t>(-1), std::size_t{0}, cols);
    return;
  }
  const std::size_t len = g.group_len(cols);
  std::size_t idx = 0;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; c += len) f(idx++, r, c, c + len);
}

/// Largest |x| of a group (row == npos: every row).
inline float group_absmax(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1) {
  float m = 0.0f;
  const std::size_t r0 = row == static_cast<std::size_t>(-1) ? 0 : row;
  const std::size_t r1 = row == static_cast<std::size_t>(-1) ? w.rows : row + 1;
  for (std::size_t r = r0; r < r1; ++r)
    for (std::size_t c = c0; c < c1; ++c) m = std::max(m, std::fabs(w(r, c)));
  return m;
}

inline void check_quantize_input(const_matrix w, granularity g, const char* where) {
  check_view(w, where, "weights");
  g.validate(w.cols, where);
  check_finite(w, where, "weights");
}

}  // namespace detail

/// Symmetric signed uniform quantizer with absmax scales.
template <int Bits = dynamic_bits>
class uniform_symmetric {
 public:
  struct options {
    granularity gran = granularity::per_row();
    int_range range = int_range::full;
    rounding round = rounding::half_even;
  };

  explicit uniform_symmetric(options o = {}) requires(Bits != dynamic_bits) : bits_(), opt_(o) { validate(); }
  explicit uniform_symmetric(int bits, options o = {}) : bits_(bits), opt_(o) { validate(); }

  int bits() const noexcept { return bits_.value(); }
  const options& opts() const noexcept { return opt_; }
  std::int32_t qmin() const noexcept {
    return opt_.range == int_range::full ? signed_min(bits()) : -signed_max(bits());
  }
  std::int32_t qmax() const noexcept { return signed_max(bits()); }

  /// Scale for a group whose largest magnitude is amax (0 for an all-zero group).
  float scale_for(float amax) const noexcept {
    const std::int32_t top = bits() == 1 ? 1 : qmax();
    return amax / static_cast<float>(top);
  }

  /// Code of x under scale s: clamp(round(x / s), qmin, qmax); 0 when s == 0.
  std::int32_t code(float x, float s) const noexcept {
    if (s == 0.0f) return 0;
    const double q = round_with(opt_.round, static_cast<double>(x / s));
    return static_cast<std::int32_t>(std::clamp(q, double(qmin()), double(qmax())));
  }

  quantized_matrix<std::int8_t> quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_symmetric::quantize");
    quantized_matrix<std::int8_t> out;
    out.rows = w.rows;
    out.cols = w.cols;
    out.bits = bits();
    out.gran = opt_.gran;
    out.codes.resize(w.rows * w.cols);
    out.scales.resize(opt_.gran.count(w.rows, w.cols));
    detail::for_each_group(w.rows, w.cols, opt_.gran, [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
      out.scales[g] = scale_for(detail::group_absmax(w, row, c0, c1));
    });
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t c = 0; c < w.cols; ++c)
        out.codes[r * w.cols + c] = static_cast<std::int8_t>(code(w(r, c), out.scales[out.scale_index(r, c)]));
    return out;
  }

  /// Quantizes with caller-chosen scales (e.g. from an MSE clipping search), one per group.
  quantized_matrix<std::int8_t> quantize_with_scales(const_matrix w, std::span<const float> scales) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_symmetric::quantize_with_scales");
    BITDIAL_REQUIRE(scales.size() == opt_.gran.count(w.rows, w.cols), "uniform_symmetric::quantize_with_scales: scales.size() = ",
                    scales.size(), ": expected ", opt_.gran.count(w.rows, w.cols));
    for (std::size_t i = 0; i < scales.size(); ++i)
      BITDIAL_REQUIRE(std::isfinite(scales[i]) && scales[i] >= 0.0f, "uniform_symmetric::quantize_with_scales: scales[", i,
                      "] = ", scales[i], ": must be finite and >= 0");
    quantized_matrix<std::int8_t> out;
    out.rows = w.rows;
    out.cols = w.cols;
    out.bits = bits();
    out.gran = opt_.gran;
    out.scales.assign(scales.begin(), scales.end());
    out.codes.resize(w.rows * w.cols);
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t c = 0; c < w.cols; ++c)
        out.codes[r * w.cols + c] = static_cast<std::int8_t>(code(w(r, c), out.scales[out.scale_index(r, c)]));
    return out;
  }

 private:
  void validate() const {
    BITDIAL_REQUIRE(!(bits() == 1 && opt_.range == int_range::restricted),
                    "uniform_symmetric: bits = 1 with restricted range: a single level cannot quantize");
  }
  bit_width<Bits> bits_;
  options opt_;
};

}  // namespace bitdial
