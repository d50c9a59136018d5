// bitdial/quant/uniform.hpp — uniform integer quantizers: symmetric, asymmetric, mid-rise (SEMANTICS.md §1).
//
// Every quantizer here maps one scale group (per tensor, per row = output channel, or per group of G
// consecutive K-elements, see `granularity`) onto an evenly spaced grid. x / s is evaluated in float
// (as torch.round(x / s) in fp32), clamped to the code range and rounded exactly (clamp and round
// commute because the bounds are integers; independent of the FPU rounding mode); the default tie rule
// is RNE. An all-zero group has s = 0, codes 0 (mid-rise: j = 0) and dequantizes to 0, never NaN.
//
// uniform_symmetric — signed codes, x̂ = s·q:
//   q = clamp(round(x / s), qmin, qmax)
//   full range       [-2^(b-1), 2^(b-1)-1]
//   restricted range [-(2^(b-1)-1), 2^(b-1)-1]   (ggml q8_0 style, s = amax/127)
//   Scale rule (absmax): s = amax / (2^(b-1)-1) for both ranges, so the largest magnitude maps to
//   ±qmax exactly; the full range only adds the code -2^(b-1), which the absmax scale never
//   produces but clipped (MSE) scales do. For b = 1 (2^(b-1)-1 = 0) the full-range grid is {-s, 0}
//   with s = amax (the formula taken literally; use mid-rise for a useful 1-bit grid), and the
//   restricted range is rejected (a single level).
//
// uniform_asymmetric — unsigned codes with a zero point, x̂ = s·(q - z):
//   min' = min(min x, 0), max' = max(max x, 0)      (so 0 is inside the range and exactly representable)
//   s = (max' - min') / (2^b - 1)                   (computed in double, stored as float)
//   z = clamp(round(-min' / s), 0, 2^b - 1)         (-min'/s in float; same tie rule as the codes)
//   q = clamp(round(x / s) + z, 0, 2^b - 1)
//   x = 0 gives q = z and x̂ = 0 exactly. All-zero group: s = 0, z = 0, q = 0.
//   This is the "minmax" affine scheme of PyTorch's MinMaxObserver / gemmlowp (quint8 with zero point).
//
// uniform_midrise — "bipolar" grid without a zero level (T-MAC's ±1 plane encoding, APT-LLM's
// bipolar-INT):
//   levels  x̂ = s·(2j + 1)/2,  j ∈ [-2^(b-1), 2^(b-1)-1]   (s is the step between levels)
//   code    j = clamp(floor(x / s), -2^(b-1), 2^(b-1)-1)
//   floor(x/s) picks the nearest level because level j is the midpoint of the cell [s·j, s·(j+1)).
//   Tie rule: x exactly on a cell boundary s·j (equidistant from levels j-1 and j) goes to the
//   UPPER level j (ties toward +inf); in particular x = 0 gives j = 0, x̂ = +s/2, i.e. sign(0) = +1
//   as in BitStack and residual binarization. Ties cost nothing in error: both levels are equally far.
//   Scale rule (absmax): s = 2·amax / (2^b - 1), so ±amax are the outermost levels ±s·(2^b-1)/2.
//   Bit-plane form: with the offset code u = j + 2^(b-1) ∈ [0, 2^b) and its bits u_i,
//     2j + 1 = Σ_{i<b} 2^i·(2·u_i - 1),
//   so x̂ = (s/2)·Σ_i 2^i·(±1)_i: every plane of u is a ±1 vector — the form T-MAC's kernels consume.
//
// Every quantizer offers quantize(w) (absmax / minmax scales) and quantize_with_scales(w, …) with
// caller-chosen scales (e.g. from the MSE search in quant/calibrate.hpp), one per group.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"

namespace bitdial {

enum class int_range : std::uint8_t { full, restricted };

/// Per-group scales and zero points of an asymmetric quantizer (x̂ = s·(q - z)).
struct affine_params {
  std::vector<float> scales;
  std::vector<std::int32_t> zero_points;
};

namespace detail {

inline constexpr std::size_t all_rows = static_cast<std::size_t>(-1);

/// Calls f(group_index, row, col_begin, col_end) for every scale group of a rows x cols matrix;
/// for per_tensor the single group spans all rows (row = all_rows).
template <class F>
void for_each_group(std::size_t rows, std::size_t cols, granularity g, F&& f) {
  if (g.k == granularity::kind::per_tensor) {
    f(std::size_t{0}, all_rows, std::size_t{0}, cols);
    return;
  }
  const std::size_t len = g.group_len(cols);
  std::size_t idx = 0;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; c += len) f(idx++, r, c, c + len);
}

/// Calls f(x) for every element of a group (row == all_rows: every row).
template <class F>
void for_each_in_group(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1, F&& f) {
  const std::size_t r0 = row == all_rows ? 0 : row;
  const std::size_t r1 = row == all_rows ? w.rows : row + 1;
  for (std::size_t r = r0; r < r1; ++r)
    for (std::size_t c = c0; c < c1; ++c) f(w(r, c));
}

/// Largest |x| of a group (row == all_rows: every row).
inline float group_absmax(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1) {
  float m = 0.0f;
  for_each_in_group(w, row, c0, c1, [&](float x) { m = std::max(m, std::fabs(x)); });
  return m;
}

/// Smallest and largest x of a group.
struct min_max {
  float min = 0.0f;
  float max = 0.0f;
};
inline min_max group_min_max(const_matrix w, std::size_t row, std::size_t c0, std::size_t c1) {
  min_max m{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  for_each_in_group(w, row, c0, c1, [&](float x) {
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  });
  return m;
}

inline void check_quantize_input(const_matrix w, granularity g, const char* where) {
  check_view(w, where, "weights");
  g.validate(w.cols, where);
  check_finite(w, where, "weights");
}

/// One finite, non-negative scale per group.
inline void check_scales(std::span<const float> scales, std::size_t expected, const char* where) {
  BITDIAL_REQUIRE(scales.size() == expected, where, ": scales.size() = ", scales.size(), ": expected ", expected);
  for (std::size_t i = 0; i < scales.size(); ++i)
    BITDIAL_REQUIRE(std::isfinite(scales[i]) && scales[i] >= 0.0f, where, ": scales[", i, "] = ", scales[i],
                    ": must be finite and >= 0");
}

/// Fills a rows x cols row-major code array: codes[r*cols + c] = code_of(w(r, c), group index).
template <class Code, class CodeOf>
void encode_groups(const_matrix w, granularity g, std::vector<Code>& codes, CodeOf&& code_of) {
  codes.resize(w.rows * w.cols);
  const std::size_t len = g.group_len(w.cols);
  const std::size_t per_row = g.groups_per_row(w.cols);
  for (std::size_t r = 0; r < w.rows; ++r) {
    const float* src = w.data + r * w.stride;
    Code* dst = codes.data() + r * w.cols;
    for (std::size_t gi = 0; gi < per_row; ++gi) {
      const std::size_t idx = g.k == granularity::kind::per_tensor ? 0 : r * per_row + gi;
      for (std::size_t c = gi * len; c < (gi + 1) * len; ++c) dst[c] = static_cast<Code>(code_of(src[c], idx));
    }
  }
}

/// round(v) under rule r for |v| <= 2^22, exact, branch-free and independent of the FPU rounding
/// mode. It works on the magnitude a = |v|, where d = a - floor(a) is exact (for negative v, v - floor(v)
/// is not: -0.49999997f + 1 rounds to 0.5f), and the tie test is d == 1/2. floor(v + 1/2) is not exact
/// either (0.49999997f + 0.5f rounds to 1). Callers clamp v to their (integer) code range first: clamp
/// and round commute when the bounds are integers.
struct split_small {
  std::int32_t floor;     // floor(|v|)
  std::int32_t above;     // fraction of |v| > 1/2
  std::int32_t tie;       // fraction of |v| == 1/2
  std::int32_t negative;  // v < 0
};
inline split_small split_magnitude(float v) noexcept {
  const float a = std::fabs(v);
  const float f = std::floor(a);
  const float d = a - f;
  return {static_cast<std::int32_t>(f), static_cast<std::int32_t>(d > 0.5f), static_cast<std::int32_t>(d == 0.5f),
          static_cast<std::int32_t>(v < 0.0f)};
}
/// m with the sign of v: (m XOR -neg) + neg.
inline std::int32_t with_sign(std::int32_t m, std::int32_t negative) noexcept { return (m ^ -negative) + negative; }
inline std::int32_t round_half_even_small(float v) noexcept {
  const split_small p = split_magnitude(v);
  return with_sign(p.floor + p.above + (p.tie & p.floor & 1), p.negative);
}
inline std::int32_t round_half_away_small(float v) noexcept {
  const split_small p = split_magnitude(v);
  return with_sign(p.floor + p.above + p.tie, p.negative);
}
inline std::int32_t round_half_up_small(float v) noexcept {
  const split_small p = split_magnitude(v);  // a tie goes up in magnitude only when v >= 0
  return with_sign(p.floor + p.above + (p.tie & (p.negative ^ 1)), p.negative);
}
inline std::int32_t round_small(float v, rounding r) noexcept {
  switch (r) {
    case rounding::half_even:
      return round_half_even_small(v);
    case rounding::half_away:
      return round_half_away_small(v);
    case rounding::half_up:
      return round_half_up_small(v);
    case rounding::floor:
      return static_cast<std::int32_t>(std::floor(v));  // |v| <= 2^22: exact
    case rounding::half_down: {
      const split_small p = split_magnitude(v);  // a tie goes up in magnitude only when v < 0
      return with_sign(p.floor + p.above + (p.tie & p.negative), p.negative);
    }
  }
  return round_half_even_small(v);
}

/// A float scale from a double, rejecting overflow (a huge range over few levels).
inline float checked_scale(double s, const char* where, const char* what, double value) {
  BITDIAL_REQUIRE(s <= static_cast<double>(std::numeric_limits<float>::max()), where, ": ", what, " = ", value,
                  ": scale overflows float");
  return static_cast<float>(s);
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

  /// Scale for a group whose largest magnitude is amax (0 for an all-zero group), at most
  /// max_finite_step(|qmin|): near FLT_MAX, amax / qmax times the code qmin would overflow float.
  float scale_for(float amax) const noexcept {
    const std::int32_t top = bits() == 1 ? 1 : qmax();
    return std::min(amax / static_cast<float>(top), detail::max_finite_step(largest_code()));
  }
  /// Largest code magnitude, max(|qmin|, qmax).
  double largest_code() const noexcept { return static_cast<double>(std::max(-qmin(), qmax())); }

  /// Code of x under scale s: clamp(round(x / s), qmin, qmax); 0 when s == 0.
  std::int32_t code(float x, float s) const noexcept {
    if (s == 0.0f) return 0;
    return detail::round_small(std::clamp(x / s, float(qmin()), float(qmax())), opt_.round);
  }

  /// Absmax scales, one per group of the configured granularity.
  std::vector<float> absmax_scales(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_symmetric::absmax_scales");
    return absmax_scales_unchecked(w);
  }

  quantized_matrix<std::int8_t> quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_symmetric::quantize");
    return encode(w, absmax_scales_unchecked(w));
  }

  /// Quantizes with caller-chosen scales (e.g. from an MSE clipping search), one per group.
  quantized_matrix<std::int8_t> quantize_with_scales(const_matrix w, std::span<const float> scales) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_symmetric::quantize_with_scales");
    detail::check_scales(scales, opt_.gran.count(w.rows, w.cols), "uniform_symmetric::quantize_with_scales");
    for (std::size_t i = 0; i < scales.size(); ++i)
      detail::check_scale_levels(scales[i], largest_code(), i, "uniform_symmetric::quantize_with_scales");
    return encode(w, std::vector<float>(scales.begin(), scales.end()));
  }

 private:
  void validate() const {
    BITDIAL_REQUIRE(!(bits() == 1 && opt_.range == int_range::restricted),
                    "uniform_symmetric: bits = 1 with restricted range: a single level cannot quantize");
  }
  std::vector<float> absmax_scales_unchecked(const_matrix w) const {
    std::vector<float> s(opt_.gran.count(w.rows, w.cols));
    detail::for_each_group(w.rows, w.cols, opt_.gran,
                           [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
                             s[g] = scale_for(detail::group_absmax(w, row, c0, c1));
                           });
    return s;
  }
  quantized_matrix<std::int8_t> encode(const_matrix w, std::vector<float> scales) const {
    quantized_matrix<std::int8_t> out;
    out.rows = w.rows;
    out.cols = w.cols;
    out.bits = bits();
    out.gran = opt_.gran;
    out.scales = std::move(scales);
    detail::encode_groups(w, opt_.gran, out.codes, [&](float x, std::size_t g) { return code(x, out.scales[g]); });
    return out;
  }

  bit_width<Bits> bits_;
  options opt_;
};

/// Asymmetric unsigned uniform quantizer with minmax scales and an exact zero.
template <int Bits = dynamic_bits>
class uniform_asymmetric {
 public:
  struct options {
    granularity gran = granularity::per_row();
    rounding round = rounding::half_even;
  };
  /// Scale and zero point of one group.
  struct group_params {
    float scale = 0.0f;
    std::int32_t zero_point = 0;
  };

  explicit uniform_asymmetric(options o = {}) requires(Bits != dynamic_bits) : bits_(), opt_(o) {}
  explicit uniform_asymmetric(int bits, options o = {}) : bits_(bits), opt_(o) {}

  int bits() const noexcept { return bits_.value(); }
  const options& opts() const noexcept { return opt_; }
  static constexpr std::int32_t qmin() noexcept { return 0; }
  std::int32_t qmax() const noexcept { return unsigned_max(bits()); }

  /// Minmax parameters of a group with the given extremes (min forced <= 0 <= max). Near FLT_MAX
  /// (a range of up to 2·FLT_MAX) the scale is lowered until every level s·(q − z) is finite: the
  /// extremes are then clipped by at most a few ulps of the scale.
  group_params params_for(float min, float max) const {
    const double lo = std::min(static_cast<double>(min), 0.0);
    const double hi = std::max(static_cast<double>(max), 0.0);
    if (hi == lo) return {};
    float s = static_cast<float>(std::min((hi - lo) / qmax(), double(std::numeric_limits<float>::max())));
    const std::int32_t z = zero_point_for(static_cast<float>(lo), s);
    s = std::min(s, detail::max_finite_step(largest_level(z)));
    return {s, z};
  }
  /// Largest |q − z| over the codes: max(z, qmax − z).
  double largest_level(std::int32_t z) const noexcept { return static_cast<double>(std::max(z, qmax() - z)); }

  /// z = clamp(round(-min / s), 0, 2^b - 1) for a scale s chosen by the caller (0 when s == 0).
  std::int32_t zero_point_for(float min, float s) const noexcept {
    if (s == 0.0f) return 0;
    const double z = round_with(opt_.round, static_cast<double>(-std::min(min, 0.0f) / s));
    return static_cast<std::int32_t>(std::clamp(z, 0.0, double(qmax())));
  }

  /// Code of x: clamp(round(x / s) + z, 0, 2^b - 1); z when s == 0.
  std::int32_t code(float x, float s, std::int32_t z) const noexcept {
    if (s == 0.0f) return z;
    return detail::round_small(std::clamp(x / s, float(-z), float(qmax() - z)), opt_.round) + z;
  }

  /// Minmax scales and zero points, one per group.
  affine_params minmax_params(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_asymmetric::minmax_params");
    return minmax_params_unchecked(w);
  }

  quantized_matrix<std::uint8_t> quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_asymmetric::quantize");
    return encode(w, minmax_params_unchecked(w));
  }

  /// Quantizes with caller-chosen scales and zero points (z in [0, 2^b - 1]), one per group.
  quantized_matrix<std::uint8_t> quantize_with_scales(const_matrix w, std::span<const float> scales,
                                                      std::span<const std::int32_t> zero_points) const {
    constexpr const char* where = "uniform_asymmetric::quantize_with_scales";
    detail::check_quantize_input(w, opt_.gran, where);
    const std::size_t n = opt_.gran.count(w.rows, w.cols);
    detail::check_scales(scales, n, where);
    BITDIAL_REQUIRE(zero_points.size() == n, where, ": zero_points.size() = ", zero_points.size(), ": expected ", n);
    for (std::size_t i = 0; i < n; ++i) {
      BITDIAL_REQUIRE(zero_points[i] >= 0 && zero_points[i] <= qmax(), where, ": zero_points[", i,
                      "] = ", zero_points[i], ": must be in 0..", qmax());
      detail::check_scale_levels(scales[i], largest_level(zero_points[i]), i, where);
    }
    return encode(w, affine_params{{scales.begin(), scales.end()}, {zero_points.begin(), zero_points.end()}});
  }
  quantized_matrix<std::uint8_t> quantize_with_scales(const_matrix w, const affine_params& p) const {
    return quantize_with_scales(w, p.scales, p.zero_points);
  }

 private:
  affine_params minmax_params_unchecked(const_matrix w) const {
    const std::size_t n = opt_.gran.count(w.rows, w.cols);
    affine_params p{std::vector<float>(n), std::vector<std::int32_t>(n)};
    detail::for_each_group(w.rows, w.cols, opt_.gran,
                           [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
                             const detail::min_max m = detail::group_min_max(w, row, c0, c1);
                             const group_params gp = params_for(m.min, m.max);
                             p.scales[g] = gp.scale;
                             p.zero_points[g] = gp.zero_point;
                           });
    return p;
  }
  quantized_matrix<std::uint8_t> encode(const_matrix w, affine_params p) const {
    quantized_matrix<std::uint8_t> out;
    out.rows = w.rows;
    out.cols = w.cols;
    out.bits = bits();
    out.gran = opt_.gran;
    out.scales = std::move(p.scales);
    out.zero_points = std::move(p.zero_points);
    detail::encode_groups(w, opt_.gran, out.codes,
                          [&](float x, std::size_t g) { return code(x, out.scales[g], out.zero_points[g]); });
    return out;
  }

  bit_width<Bits> bits_;
  options opt_;
};

/// Codes of a mid-rise quantizer: x̂(r, c) = scales[g]·(2j + 1)/2 with j = code(r, c).
struct midrise_matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  int bits = 1;
  granularity gran;
  std::vector<std::int8_t> codes;  // j in [-2^(b-1), 2^(b-1)-1], rows * cols, row-major
  std::vector<float> scales;       // step s per group, gran.count(rows, cols)

  std::int32_t code(std::size_t r, std::size_t c) const noexcept { return codes[r * cols + c]; }
  /// u = j + 2^(b-1) in [0, 2^b): its bit-planes are the ±1 planes (bit 1 -> +1, bit 0 -> -1).
  std::uint8_t offset_code(std::size_t r, std::size_t c) const noexcept {
    return static_cast<std::uint8_t>(code(r, c) - signed_min(bits));
  }
  std::size_t scale_index(std::size_t r, std::size_t c) const noexcept { return gran.index(r, c, cols); }
  /// s·(j + 1/2), with j + 1/2 exact in float; an all-zero group (s = 0) gives 0.
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    return scales[scale_index(r, c)] * (static_cast<float>(code(r, c)) + 0.5f);
  }
  std::vector<float> dequantize() const {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = dequantize(r, c);
    return out;
  }
};

/// Mid-rise ("bipolar") uniform quantizer: no zero level, 2^b levels symmetric about 0.
template <int Bits = dynamic_bits>
class uniform_midrise {
 public:
  struct options {
    granularity gran = granularity::per_row();
  };

  explicit uniform_midrise(options o = {}) requires(Bits != dynamic_bits) : bits_(), opt_(o) {}
  explicit uniform_midrise(int bits, options o = {}) : bits_(bits), opt_(o) {}

  int bits() const noexcept { return bits_.value(); }
  const options& opts() const noexcept { return opt_; }
  std::int32_t jmin() const noexcept { return signed_min(bits()); }
  std::int32_t jmax() const noexcept { return signed_max(bits()); }

  /// Step that puts the outermost levels at ±amax: s = 2·amax / (2^b - 1), at most
  /// max_finite_step((2^b − 1)/2) so that the levels stay finite (binds only near FLT_MAX).
  float scale_for(float amax) const {
    const double s = 2.0 * static_cast<double>(amax) / unsigned_max(bits());
    return static_cast<float>(std::min(s, static_cast<double>(detail::max_finite_step(largest_level()))));
  }
  /// Largest level multiplier |j + 1/2| = (2^b − 1)/2.
  double largest_level() const noexcept { return unsigned_max(bits()) / 2.0; }

  /// Code of x under step s: clamp(floor(x / s), jmin, jmax) — ties (x = s·j) go up; 0 when s == 0.
  std::int32_t code(float x, float s) const noexcept {
    if (s == 0.0f) return 0;
    const float j = std::floor(x / s);
    return static_cast<std::int32_t>(std::clamp(j, float(jmin()), float(jmax())));
  }

  /// Level of code j under step s: s·(2j + 1)/2.
  static float level(std::int32_t j, float s) noexcept { return s * (static_cast<float>(j) + 0.5f); }

  /// Absmax steps, one per group.
  std::vector<float> absmax_scales(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_midrise::absmax_scales");
    return absmax_scales_unchecked(w);
  }

  midrise_matrix quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_midrise::quantize");
    return encode(w, absmax_scales_unchecked(w));
  }

  /// Quantizes with caller-chosen steps (e.g. from the MSE search), one per group.
  midrise_matrix quantize_with_scales(const_matrix w, std::span<const float> scales) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_midrise::quantize_with_scales");
    detail::check_scales(scales, opt_.gran.count(w.rows, w.cols), "uniform_midrise::quantize_with_scales");
    for (std::size_t i = 0; i < scales.size(); ++i)
      detail::check_scale_levels(scales[i], largest_level(), i, "uniform_midrise::quantize_with_scales");
    return encode(w, std::vector<float>(scales.begin(), scales.end()));
  }

 private:
  std::vector<float> absmax_scales_unchecked(const_matrix w) const {
    std::vector<float> s(opt_.gran.count(w.rows, w.cols));
    detail::for_each_group(w.rows, w.cols, opt_.gran,
                           [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
                             s[g] = scale_for(detail::group_absmax(w, row, c0, c1));
                           });
    return s;
  }
  midrise_matrix encode(const_matrix w, std::vector<float> scales) const {
    midrise_matrix out;
    out.rows = w.rows;
    out.cols = w.cols;
    out.bits = bits();
    out.gran = opt_.gran;
    out.scales = std::move(scales);
    detail::encode_groups(w, opt_.gran, out.codes, [&](float x, std::size_t g) { return code(x, out.scales[g]); });
    return out;
  }

  bit_width<Bits> bits_;
  options opt_;
};

}  // namespace bitdial
