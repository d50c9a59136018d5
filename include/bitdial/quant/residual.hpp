// bitdial/quant/residual.hpp — residual bit-slice stacks served as prefix sums Ŵ(n) = Σ_{j<n} slice_j (SEMANTICS.md
// §4).
//
// A slice stack stores slices 0..N-1 of a rows x cols weight matrix W; serving n slices means using
// Ŵ(n) = Σ_{j<n} slice_j, and slice j is always fitted to the residual left by the slices before it:
//     R_0 = W,   R_j = W − Ŵ(j),   slice_j ≈ R_j.
// Every stack models the concept `slice_stack`: slices(), slice_bits(j), slice_bytes(j), dequantize(n)
// (n ∈ 1..slices(); n = 0 is rejected like any count outside the stored range).
//
// 1. uniform_residual (MoBiQuant's "many-in-one recursive residual quantization": an MSB slice plus
//    residual bit slices). Slice j has b_j bits (slice_bits[j]), one scale per group. Three scale rules:
//
//    residual_scales::mse_clipped (default) — every slice is a real low-bit quantizer of what is left,
//      as MoBiQuant's first slice: for b_j ≥ 2, uniform_symmetric(b_j) of R_j with the MSE-clipped
//      scale of quant/calibrate.hpp per group, or the absmax scale where that group's squared error
//      is smaller (so no group's error grows); for b_j = 1, the least-squares binarization
//      α·sign(R_j), α = mean|R_j| per group, sign(0) = +1 (a 1-bit mid-tread grid {−s, 0} would only
//      correct negative residuals). Guarantee: ||R_{j+1}||² ≤ ||R_j||² per group (the absmax grid
//      never increases the error elementwise; the binarization reduces it by G·α²), so the prefix
//      error is non-increasing in n. All-zero groups: scale 0, codes 0 (or +1 with α = 0), value 0.
//
//    residual_scales::independent — every slice is uniform_symmetric (quant/uniform.hpp:
//      full range, absmax scale s = amax/(2^(b-1)−1), s = amax for b = 1, RNE by default) applied to
//      the residual, with its own per-group scale:
//          slice_j = uniform_symmetric(b_j).quantize(R_j),   R_j = fl(W − Σ_{k<j} s_k·q_k)
//      (the sum and the difference in double, rounded once to float). Guarantee: elementwise
//      |R_{j+1}| ≤ |R_j| in exact arithmetic — an absmax grid never clips, so an element either keeps
//      code 0 (residual unchanged) or moves to a level within s/2 ≤ |R| of it. Hence ||W − Ŵ(n)|| is
//      non-increasing in n. A 1-bit slice here has the literal grid {−s, 0} and only corrects
//      negative residuals: use power_of_two tiling or residual_binarizer for 1-bit slices.
//
//    residual_scales::power_of_two — the slices tile one uniform mid-rise grid. With B_j = b_0+…+b_j
//      and amax the group's max |W|:
//          stored scale  σ_j = amax · 2^(−B_j)        (step s_j = 2σ_j = s_0 / 2^(b_1+…+b_j),
//                                                      s_0 = amax / 2^(b_0−1))
//          digit         i_j = clamp(floor(R_j / s_j), −2^(b_j−1), 2^(b_j−1)−1)
//          code          c_j = 2·i_j + 1   (odd; stored in quantized_matrix<int8_t>, bits = b_j)
//          slice_j       = σ_j · c_j = s_j·(i_j + 1/2)   (the mid-rise level of R_j's cell)
//      The 2^(b_0) cells of slice 0 exactly tile [−amax, amax]; each later slice splits its
//      predecessor's cell [−s_{j−1}/2, s_{j−1}/2] into 2^(b_j) cells of width s_j and jumps to the
//      centre of R_j's cell. By induction R_j ∈ [−s_{j−1}/2, s_{j−1}/2], so
//          |W − Ŵ(n)| ≤ s_{n−1}/2 = amax · 2^(−B_{n−1})          (deterministic, per element)
//      and Ŵ(n) = s_{n−1}·(u + 1/2 − 2^(B_{n−1}−1)) for the integer u = clamp(floor(W/s_{n−1}) +
//      2^(B_{n−1}−1), 0, 2^(B_{n−1})−1): the prefix sum IS the (B_{n−1})-bit mid-rise quantization of W
//      with step s_{n−1}, and its slices are the digit planes of u (exact in double; floor puts a value
//      on a cell boundary in the upper cell, so sign(0) = +1 as in BitStack). Only the max error bound
//      is monotone: an element sitting exactly at a cell centre (e.g. W = 0 with slice 0 at 2 bits)
//      moves off it to ±s_j/2, so the MSE can grow on such lattice data (tested); on continuous data
//      it falls ≈ 4^(−b_j) per slice (Ŵ(1) itself can be worse than 0 when b_0 = 1 and amax ≫ the
//      typical |W|, as in heavy-tailed groups: the levels are ±amax/2). Limits: b_j ≤ 7 (odd codes up to ±(2^b−1) must
//      fit int8) and B ≤ 24 (a finer step than amax·2^−24 is below float resolution). All-zero group: σ = 0, codes 0.
//      The packable payload of a mid-rise slice is the digit u_j = i_j + 2^(b_j−1) (b_j bits), not c_j.
//
// 2. bitstack (BitStack: "any-size compression" by iterative absolute-value decomposition; the
//    quantizer `bitstack` lives in quant/bitstack.hpp, the only header here that needs Eigen's SVD,
//    so code that only serves stacks never compiles it; its result type bitstack_matrix is here):
//          S_j = sign(R_j) with sign(0) = +1,   |R_j| ≈ U_j V_jᵀ (rank r, Eigen::BDCSVD of |R_j| in double),
//          slice_j = S_j ⊙ (U_j V_jᵀ),   u_jk = √σ_k·U(:,k), v_jk = √σ_k·V(:,k)  (signs chosen so Σu ≥ 0)
//      Guarantee (Eckart–Young): R_{j+1} = S_j ⊙ (|R_j| − U_jV_jᵀ), so
//          ||R_{j+1}||_F² = ||R_j||_F² − Σ_{k<r} σ_k(|R_j|)²   ≤ ||R_j||_F²,
//      in exact arithmetic; factors are stored as float and residuals are taken against the stored
//      factors, so the identity holds to float rounding. Signs are packed 1 bit per weight
//      (bit c%64 of word c/64 of row r set ⇔ +1). Kernel form (the reference for any GEMV):
//          y = Σ_{j<n} Σ_{k<r} u_jk ⊙ (S_j · (v_jk ⊙ x))      (apply(n, x), float accumulation)
//
// 3. residual_binarizer (residual binarization, as in BiLLM / multi-step binarization):
//          α_j = mean|R_j| over the group (per row by default; per group or per tensor as options),
//          slice_j = α_j·sign(R_j), sign(0) = +1   (codes ±1, bits = 1)
//      Guarantee, per group of G elements: ||R − α·sign R||² = ||R||² − G·α² ≤ ||R||², α = mean|R|
//      being the least-squares scale of the sign pattern. Example: x = [0.9, −0.3, 0.5, −1.1]
//      → α_1 = 0.7, slice_0 = [0.7, −0.7, 0.7, −0.7]; R_1 = [0.2, 0.4, −0.2, −0.4] → α_2 = 0.3,
//      Ŵ(2) = [1.0, −0.4, 0.4, −1.0].
//
// Residuals and dequantize(n) are accumulated in double and rounded once to float. slice_bytes(j)
// is the storage cost of a slice with its codes bit-packed at slice_bits(j) bits per weight (no
// padding) plus its float parameters (scales or low-rank factors).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"
#include "bitdial/quant/calibrate.hpp"
#include "bitdial/quant/uniform.hpp"

namespace bitdial {

namespace detail {

/// Least-squares binarization α·sign(v) per group of a rows × cols matrix read through
/// value(r, c) (float or double), α = mean|v| (accumulated in double), sign(0) = +1 (codes ±1, bits 1).
template <class Value>
quantized_matrix<std::int8_t> binarize(std::size_t rows, std::size_t cols, granularity gran, Value&& value) {
  const std::size_t groups = gran.count(rows, cols);
  quantized_matrix<std::int8_t> q;
  q.rows = rows, q.cols = cols, q.bits = 1, q.gran = gran;
  q.codes.resize(rows * cols);
  std::vector<double> abs_sum(groups, 0.0);
  std::vector<std::size_t> count(groups, 0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t g = gran.index(r, c, cols);
      const double v = static_cast<double>(value(r, c));
      abs_sum[g] += std::fabs(v);
      ++count[g];
      q.codes[r * cols + c] = v >= 0.0 ? 1 : -1;
    }
  q.scales.resize(groups);
  for (std::size_t g = 0; g < groups; ++g) q.scales[g] = static_cast<float>(abs_sum[g] / static_cast<double>(count[g]));
  return q;
}

}  // namespace detail

/// A stack of slices served as prefix sums Ŵ(n) = Σ_{j<n} slice_j.
template <class S>
concept slice_stack = requires(const S& s, std::size_t j) {
  { s.rows() } -> std::convertible_to<std::size_t>;
  { s.cols() } -> std::convertible_to<std::size_t>;
  { s.slices() } -> std::convertible_to<std::size_t>;
  { s.slice_bits(j) } -> std::convertible_to<int>;
  { s.slice_bytes(j) } -> std::convertible_to<std::size_t>;
  { s.dequantize(j) } -> std::same_as<std::vector<float>>;
};

namespace detail {

inline constexpr std::size_t max_residual_slices = 64;

inline void check_slice_count(std::size_t n, std::size_t stored, const char* where) {
  BITDIAL_REQUIRE(n >= 1 && n <= stored, where, ": n = ", n, ": must be in 1..", stored, " (slices stored)");
}

inline void check_slice_index(std::size_t j, std::size_t stored, const char* where) {
  BITDIAL_REQUIRE(j < stored, where, ": j = ", j, ": must be < slices() = ", stored);
}

inline void check_requested_slices(std::size_t n, const char* where) {
  BITDIAL_REQUIRE(n >= 1 && n <= max_residual_slices, where, ": slices = ", n, ": must be in 1..", max_residual_slices);
}

inline std::size_t packed_bytes(std::size_t elements, int bits) {
  return (checked_mul(elements, static_cast<std::size_t>(bits), "packed_bytes", "elements x bits") + 7) / 8;
}

/// Copies a (possibly strided) view into a dense row-major double buffer.
inline std::vector<double> dense_double(const_matrix w) {
  std::vector<double> out(w.rows * w.cols);
  for (std::size_t r = 0; r < w.rows; ++r)
    for (std::size_t c = 0; c < w.cols; ++c) out[r * w.cols + c] = static_cast<double>(w(r, c));
  return out;
}

/// Rounds to float, saturating at ±FLT_MAX: slices of a weight near FLT_MAX can sum past it by a
/// fraction of a step, and a finite weight must not dequantize to ±inf.
inline std::vector<float> rounded_to_float(const std::vector<double>& v) {
  constexpr double fmax = static_cast<double>(std::numeric_limits<float>::max());
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(std::clamp(v[i], -fmax, fmax));
  return out;
}

}  // namespace detail

/// Average storage bits per weight of the first n slices: 8·Σ_{j<n} slice_bytes(j) / (rows·cols).
template <slice_stack S>
double bits_per_weight(const S& s, std::size_t n) {
  detail::check_slice_count(n, s.slices(), "bits_per_weight");
  double bytes = 0.0;
  for (std::size_t j = 0; j < n; ++j) bytes += static_cast<double>(s.slice_bytes(j));
  return 8.0 * bytes / (static_cast<double>(s.rows()) * static_cast<double>(s.cols()));
}

/// Grid of one slice of a quantized_slice_stack (how its int8 codes are to be read and packed).
enum class slice_grid : std::uint8_t {
  mid_tread,  // signed codes q ∈ [−2^(b−1), 2^(b−1)−1], value scale·q (uniform_symmetric)
  mid_rise,   // odd codes c = 2i+1, value scale·c; the packed payload is i + 2^(b−1)
  binary,     // codes ±1 (bits = 1), value scale·code
};

/// Slices stored as quantized_matrix<int8_t> (uniform residual slices and residual binarization):
/// slice_j(r, c) = scales_j[g]·codes_j(r, c).
class quantized_slice_stack {
 public:
  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  std::size_t slices() const noexcept { return slices_.size(); }

  const quantized_matrix<std::int8_t>& slice(std::size_t j) const {
    detail::check_slice_index(j, slices(), "quantized_slice_stack::slice");
    return slices_[j];
  }
  slice_grid grid(std::size_t j) const {
    detail::check_slice_index(j, slices(), "quantized_slice_stack::grid");
    return grids_[j];
  }
  int slice_bits(std::size_t j) const {
    detail::check_slice_index(j, slices(), "quantized_slice_stack::slice_bits");
    return slices_[j].bits;
  }
  /// Codes packed at slice_bits(j) per weight plus one float scale per group.
  std::size_t slice_bytes(std::size_t j) const {
    detail::check_slice_index(j, slices(), "quantized_slice_stack::slice_bytes");
    return detail::packed_bytes(rows_ * cols_, slices_[j].bits) + slices_[j].scales.size() * sizeof(float);
  }

  /// Ŵ(n) = Σ_{j<n} scale_j·code_j, summed in double (slice order) and rounded once to float.
  std::vector<float> dequantize(std::size_t n) const {
    detail::check_slice_count(n, slices(), "quantized_slice_stack::dequantize");
    return detail::rounded_to_float(prefix_sum(n));
  }

  /// The exact (double) prefix sum Σ_{j<n} scale_j·code_j, row-major; n may be 0.
  std::vector<double> prefix_sum(std::size_t n) const {
    BITDIAL_REQUIRE(n <= slices(), "quantized_slice_stack::prefix_sum: n = ", n, ": must be <= ", slices());
    std::vector<double> acc(rows_ * cols_, 0.0);
    for (std::size_t j = 0; j < n; ++j) add_slice(j, acc);
    return acc;
  }

 private:
  friend class uniform_residual;
  friend class residual_binarizer;

  void add_slice(std::size_t j, std::vector<double>& acc) const {
    const auto& q = slices_[j];
    for (std::size_t r = 0; r < rows_; ++r)
      for (std::size_t c = 0; c < cols_; ++c)
        acc[r * cols_ + c] += static_cast<double>(q.scales[q.scale_index(r, c)]) * static_cast<double>(q.code(r, c));
  }
  void push(quantized_matrix<std::int8_t> q, slice_grid g) {
    rows_ = q.rows;
    cols_ = q.cols;
    slices_.push_back(std::move(q));
    grids_.push_back(g);
  }

  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::vector<quantized_matrix<std::int8_t>> slices_;
  std::vector<slice_grid> grids_;
};

/// How the per-group scales of uniform residual slices are chosen (see the header comment).
enum class residual_scales : std::uint8_t { independent, power_of_two, mse_clipped };

/// Uniform residual slices (MoBiQuant style): slice 0 quantizes W, slice j its residual R_j.
class uniform_residual {
 public:
  struct options {
    granularity gran = granularity::per_row();
    residual_scales scales = residual_scales::mse_clipped;
    rounding round = rounding::half_even;  // independent / mse_clipped slices (tiling slices use floor)
  };

  explicit uniform_residual(std::vector<int> slice_bits) : uniform_residual(std::move(slice_bits), options{}) {}
  uniform_residual(std::vector<int> slice_bits, options o) : bits_(std::move(slice_bits)), opt_(o) {
    detail::check_requested_slices(bits_.size(), "uniform_residual");
    const bool tiled = opt_.scales == residual_scales::power_of_two;
    int total = 0;
    for (std::size_t j = 0; j < bits_.size(); ++j) {
      BITDIAL_REQUIRE(bits_[j] >= 1 && bits_[j] <= max_bits, "uniform_residual: slice_bits[", j, "] = ", bits_[j],
                      ": must be in 1..8");
      BITDIAL_REQUIRE(!tiled || bits_[j] <= 7, "uniform_residual: slice_bits[", j, "] = ", bits_[j],
                      ": power_of_two tiling stores odd mid-rise codes ±(2^b−1), which need b <= 7");
      total += bits_[j];
    }
    BITDIAL_REQUIRE(!tiled || total <= 24, "uniform_residual: total bits = ", total,
                    ": power_of_two tiling needs b_0+…+b_{N−1} <= 24 (finer steps are below float resolution)");
  }

  std::size_t slices() const noexcept { return bits_.size(); }
  const std::vector<int>& slice_bits() const noexcept { return bits_; }
  const options& opts() const noexcept { return opt_; }

  quantized_slice_stack quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "uniform_residual::quantize");
    switch (opt_.scales) {
      case residual_scales::power_of_two:
        return quantize_tiled(w);
      case residual_scales::mse_clipped:
        return quantize_clipped(w);
      case residual_scales::independent:
        break;
    }
    return quantize_independent(w);
  }

 private:
  /// mse_clipped (header comment, 1b): per slice and group the better of the MSE-clipped and the
  /// absmax grid for b_j ≥ 2, the least-squares binarization for b_j = 1.
  /// Slice j = slice_of(j, R_j) for R_j = fl(W − Ŵ(j)) (differences in double, rounded once).
  template <class SliceOf>
  quantized_slice_stack residual_slices(const_matrix w, SliceOf&& slice_of) const {
    quantized_slice_stack stack;
    const std::vector<double> target = detail::dense_double(w);
    std::vector<double> prefix(w.rows * w.cols, 0.0);
    std::vector<float> resid(w.rows * w.cols);
    for (std::size_t j = 0; j < bits_.size(); ++j) {
      for (std::size_t i = 0; i < resid.size(); ++i) resid[i] = static_cast<float>(target[i] - prefix[i]);
      auto [q, grid] = slice_of(j, const_matrix(resid.data(), w.rows, w.cols));
      stack.push(std::move(q), grid);
      stack.add_slice(j, prefix);
    }
    return stack;
  }

  quantized_slice_stack quantize_clipped(const_matrix w) const {
    const std::size_t groups = opt_.gran.count(w.rows, w.cols);
    return residual_slices(w, [&](std::size_t j, const_matrix R) {
      if (bits_[j] == 1)
        return std::pair{
            detail::binarize(R.rows, R.cols, opt_.gran, [&](std::size_t r, std::size_t c) { return R(r, c); }),
            slice_grid::binary};
      const uniform_symmetric<> q(bits_[j], {.gran = opt_.gran, .range = int_range::full, .round = opt_.round});
      auto a = q.quantize(R);
      const auto m = q.quantize_with_scales(R, mse_scales(q, R));
      // Per group, keep the grid with the smaller squared error (the absmax grid never increases it).
      std::vector<double> ea(groups, 0.0), em(groups, 0.0);
      for (std::size_t r = 0; r < R.rows; ++r)
        for (std::size_t c = 0; c < R.cols; ++c) {
          const std::size_t g = opt_.gran.index(r, c, R.cols), i = r * R.cols + c;
          const double da = double(R(r, c)) - double(a.scales[g]) * a.codes[i];
          const double dm = double(R(r, c)) - double(m.scales[g]) * m.codes[i];
          ea[g] += da * da, em[g] += dm * dm;
        }
      for (std::size_t r = 0; r < R.rows; ++r)
        for (std::size_t c = 0; c < R.cols; ++c) {
          const std::size_t g = opt_.gran.index(r, c, R.cols);
          if (em[g] < ea[g]) a.codes[r * R.cols + c] = m.codes[r * R.cols + c];
        }
      for (std::size_t g = 0; g < groups; ++g)
        if (em[g] < ea[g]) a.scales[g] = m.scales[g];
      return std::pair{std::move(a), slice_grid::mid_tread};
    });
  }

  quantized_slice_stack quantize_independent(const_matrix w) const {
    return residual_slices(w, [&](std::size_t j, const_matrix R) {
      const uniform_symmetric<> q(bits_[j], {.gran = opt_.gran, .range = int_range::full, .round = opt_.round});
      return std::pair{q.quantize(R), slice_grid::mid_tread};
    });
  }

  quantized_slice_stack quantize_tiled(const_matrix w) const {
    quantized_slice_stack stack;
    const std::size_t rows = w.rows, cols = w.cols;
    std::vector<float> amax(opt_.gran.count(rows, cols));
    detail::for_each_group(rows, cols, opt_.gran, [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
      amax[g] = detail::group_absmax(w, row, c0, c1);
    });
    std::vector<double> resid = detail::dense_double(w);
    int total = 0;
    for (std::size_t j = 0; j < bits_.size(); ++j) {
      const int b = bits_[j];
      total += b;
      quantized_matrix<std::int8_t> q;
      q.rows = rows;
      q.cols = cols;
      q.bits = b;
      q.gran = opt_.gran;
      q.scales.resize(amax.size());
      for (std::size_t g = 0; g < amax.size(); ++g) q.scales[g] = std::ldexp(amax[g], -total);
      q.codes.resize(rows * cols);
      const double lo = signed_min(b), hi = signed_max(b);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
          const std::size_t i = r * cols + c;
          const double sigma = q.scales[q.scale_index(r, c)];
          if (sigma == 0.0) {
            q.codes[i] = 0;
            continue;
          }
          const double digit = std::clamp(std::floor(resid[i] / (2.0 * sigma)), lo, hi);
          const auto code = static_cast<std::int32_t>(2.0 * digit + 1.0);
          q.codes[i] = static_cast<std::int8_t>(code);
          resid[i] -= sigma * static_cast<double>(code);
        }
      stack.push(std::move(q), slice_grid::mid_rise);
    }
    return stack;
  }

  std::vector<int> bits_;
  options opt_;
};

/// Residual binarization: slice_j = α_j·sign(R_j), α_j = mean|R_j| per group, sign(0) = +1.
class residual_binarizer {
 public:
  struct options {
    granularity gran = granularity::per_row();
  };

  explicit residual_binarizer(std::size_t slices) : residual_binarizer(slices, options{}) {}
  residual_binarizer(std::size_t slices, options o) : slices_(slices), opt_(o) {
    detail::check_requested_slices(slices_, "residual_binarizer");
  }

  std::size_t slices() const noexcept { return slices_; }
  const options& opts() const noexcept { return opt_; }

  quantized_slice_stack quantize(const_matrix w) const {
    detail::check_quantize_input(w, opt_.gran, "residual_binarizer::quantize");
    const std::size_t rows = w.rows, cols = w.cols;
    std::vector<double> resid = detail::dense_double(w);
    quantized_slice_stack stack;
    for (std::size_t j = 0; j < slices_; ++j) {
      auto q =
          detail::binarize(rows, cols, opt_.gran, [&](std::size_t r, std::size_t c) { return resid[r * cols + c]; });
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
          const std::size_t i = r * cols + c;
          resid[i] -= static_cast<double>(q.scales[q.scale_index(r, c)]) * q.codes[i];
        }
      stack.push(std::move(q), slice_grid::binary);
    }
    return stack;
  }

 private:
  std::size_t slices_;
  options opt_;
};

/// BitStack slices: packed signs S_j and rank-r float factors U_j (rows x r), V_j (cols x r).
class bitstack_matrix {
 public:
  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  std::size_t rank() const noexcept { return rank_; }
  std::size_t slices() const noexcept { return signs_.size(); }
  /// One sign bit per weight.
  int slice_bits(std::size_t j) const {
    detail::check_slice_index(j, slices(), "bitstack_matrix::slice_bits");
    return 1;
  }
  /// Packed signs (rows·cols bits) plus r·(rows + cols) float factors.
  std::size_t slice_bytes(std::size_t j) const {
    detail::check_slice_index(j, slices(), "bitstack_matrix::slice_bytes");
    return detail::packed_bytes(rows_ * cols_, 1) + rank_ * (rows_ + cols_) * sizeof(float);
  }

  /// S_j(r, c) ∈ {−1, +1}.
  int sign(std::size_t j, std::size_t r, std::size_t c) const {
    detail::check_slice_index(j, slices(), "bitstack_matrix::sign");
    BITDIAL_REQUIRE(r < rows_ && c < cols_, "bitstack_matrix::sign: (r, c) = (", r, ", ", c, "): outside ", rows_, "x",
                    cols_);
    return sign_unchecked(j, r, c);
  }
  /// Column k of U_j (length rows) and of V_j (length cols).
  std::span<const float> u(std::size_t j, std::size_t k) const {
    check_component(j, k, "bitstack_matrix::u");
    return {u_[j].data() + k * rows_, rows_};
  }
  std::span<const float> v(std::size_t j, std::size_t k) const {
    check_component(j, k, "bitstack_matrix::v");
    return {v_[j].data() + k * cols_, cols_};
  }
  /// The r largest singular values of |R_j| (double SVD, rounded to float).
  std::span<const float> singular_values(std::size_t j) const {
    detail::check_slice_index(j, slices(), "bitstack_matrix::singular_values");
    return sigma_[j];
  }

  /// Ŵ(n)(r, c) = Σ_{j<n} S_j(r, c)·Σ_k u_jk(r)·v_jk(c), in double, rounded once to float.
  std::vector<float> dequantize(std::size_t n) const {
    detail::check_slice_count(n, slices(), "bitstack_matrix::dequantize");
    return detail::rounded_to_float(prefix_sum(n));
  }

  /// Reference kernel: y = Σ_{j<n} Σ_{k<r} u_jk ⊙ (S_j · (v_jk ⊙ x)), float arithmetic, this order.
  std::vector<float> apply(std::size_t n, std::span<const float> x) const {
    detail::check_slice_count(n, slices(), "bitstack_matrix::apply");
    BITDIAL_REQUIRE(x.size() == cols_, "bitstack_matrix::apply: x.size() = ", x.size(), ": must equal cols = ", cols_);
    detail::check_finite(x, "bitstack_matrix::apply", "x");
    std::vector<float> y(rows_, 0.0f);
    std::vector<float> t(cols_);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < rank_; ++k) {
        const float* vk = v_[j].data() + k * cols_;
        const float* uk = u_[j].data() + k * rows_;
        for (std::size_t c = 0; c < cols_; ++c) t[c] = vk[c] * x[c];
        for (std::size_t r = 0; r < rows_; ++r) {
          float z = 0.0f;
          for (std::size_t c = 0; c < cols_; ++c) z += sign_unchecked(j, r, c) > 0 ? t[c] : -t[c];
          y[r] += uk[r] * z;
        }
      }
    return y;
  }

  /// The exact-as-double prefix sum, row-major; n may be 0.
  std::vector<double> prefix_sum(std::size_t n) const {
    BITDIAL_REQUIRE(n <= slices(), "bitstack_matrix::prefix_sum: n = ", n, ": must be <= ", slices());
    std::vector<double> acc(rows_ * cols_, 0.0);
    for (std::size_t j = 0; j < n; ++j) add_slice(j, acc);
    return acc;
  }

 private:
  friend class bitstack;

  int sign_unchecked(std::size_t j, std::size_t r, std::size_t c) const noexcept {
    return (signs_[j][r * words_per_row_ + c / 64] >> (c % 64)) & 1u ? 1 : -1;
  }
  void check_component(std::size_t j, std::size_t k, const char* where) const {
    detail::check_slice_index(j, slices(), where);
    BITDIAL_REQUIRE(k < rank_, where, ": k = ", k, ": must be < rank = ", rank_);
  }
  void add_slice(std::size_t j, std::vector<double>& acc) const {
    for (std::size_t r = 0; r < rows_; ++r)
      for (std::size_t c = 0; c < cols_; ++c) {
        double m = 0.0;
        for (std::size_t k = 0; k < rank_; ++k)
          m += static_cast<double>(u_[j][k * rows_ + r]) * static_cast<double>(v_[j][k * cols_ + c]);
        acc[r * cols_ + c] += sign_unchecked(j, r, c) * m;
      }
  }

  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::size_t rank_ = 0;
  std::size_t words_per_row_ = 0;
  std::vector<std::vector<std::uint64_t>> signs_;  // per slice: rows x words_per_row
  std::vector<std::vector<float>> u_;              // per slice: rank x rows (component-major)
  std::vector<std::vector<float>> v_;              // per slice: rank x cols
  std::vector<std::vector<float>> sigma_;          // per slice: rank
};

}  // namespace bitdial
