// bitdial/quant/truncation.hpp — serve a B-bit master at b <= B by its top b planes; truncation-ready masters
// (SEMANTICS.md §3).
//
// Seed: TruncQuant (truncation-ready quantization). k = B - b.
//
// Serving. The b-bit code is the top b planes of the master, nothing else:
//     q_b = q >> k          (arithmetic shift = floor(q / 2^k) for signed masters; for unsigned
//                            masters the same expression is a plain shift)
// Reconstruction is an option (bitdial::reconstruction, core/reconstruction.hpp — the same enum the
// plane views take):
//     midpoint (default):  x̂_b = s·(2^k·q_b + (2^k - 1)/2 - z)
//     floor:               x̂_b = s·(2^k·q_b - z)
//     automatic            = midpoint (this server stores no fits); fitted is rejected by name.
// with the master's scale s and zero point z (z = 0 for symmetric masters). Master codes
// 2^k·j .. 2^k·j + 2^k - 1 all truncate to j; the midpoint form returns the centre of that run, so over
// uniformly spread codes its error has mean zero, while floor is biased by -s·(2^k - 1)/2.
// The midpoint form is not s_b·(q_b - z_b) with an integer z_b, so the served result has its own type,
// truncated_matrix: codes q_b, scales s_b = s·2^k, and the reconstruction offset (2^k - 1)/2 (or 0) in
// master units. Equivalently x̂_b = s_b·(q_b + c_g) with c_g = (offset - z_g)/2^k, a dyadic constant per
// scale group; in a GEMV the correction is that constant times the group's Σx:
//     y_r = Σ_g s_b[g]·(Σ_{c∈g} q_b(r,c)·x_c + c_g·Σ_{c∈g} x_c),
// i.e. one per-row (per-group) multiply-add on a Σx the kernel computes once per input vector.
// Every quantity is exact in float (s·2^k is a power-of-two product, required finite; q_b + c_g has at
// most 17 significant bits), so x̂_b is the correctly rounded float of the exact product
// s·(2^k·q_b + offset - z).
//
// Truncation-ready masters (truncation_ready). Derivation, for a signed master with
// q = clamp(RNE(x/s), -2^(B-1), 2^(B-1)-1) served with midpoint reconstruction:
//  1. The b-bit levels are L_j = s·(2^k·j + (2^k - 1)/2), j in [-2^(b-1), 2^(b-1)-1]: a uniform grid of
//     step Δ_b = s·2^k (a mid-rise grid shifted by -s/2, i.e. by 2^-(k+1) of its own step).
//  2. RNE sends x to code q exactly when x ∈ [s(q - 1/2), s(q + 1/2)], so the codes of bin j collect
//     x ∈ [s(2^k·j - 1/2), s(2^k·j + 2^k - 1/2)]. That interval's centre is L_j and its ends,
//     s(2^k·j - 1/2), are exactly the midpoints between neighbouring levels L_{j-1}, L_j. Clamping sends
//     x beyond either end of the range to the extreme code, whose bin holds the extreme level.
//  3. Hence an RNE master truncated with midpoint reconstruction is nearest-level quantization onto
//     every b-bit grid at once: the bins are already centred, and no choice of the individual codes
//     (floor with an offset, or any other) can lower the error at any width. Codes stay RNE.
//  4. What remains free is the grid: the scale s, shared by all widths. The absmax scale
//     s = amax/(2^(B-1)-1) puts the outermost b-bit level near amax·(1 - 2^-b), far beyond the
//     MSE-optimal clipping at low widths (Max 1960: the 4-level optimum for N(0,1) has step 0.9957,
//     outer level 1.49, while amax of 4096 Gaussian samples is about 3.5–4). So per scale group choose
//         s* = argmin_s  J(s),   J(s) = Σ_{b=1..B} w_b · ln MSE_b(s),
//     MSE_b(s) the group's mean squared truncated-midpoint error at width b. The logarithm makes a
//     relative improvement count the same at every width (minimising J maximises the w-weighted mean
//     SQNR in dB of the group); a plain Σ MSE_b would be decided by b = 1 alone, whose MSE is ~10^4
//     times that of b = 8. Clipping raises the 8-bit error, so J trades high widths against low ones;
//     set w_b to serve a chosen subset of widths (e.g. only b ∈ {2, 4, 8}).
//  5. Search: s = α·s_absmax with α on a log-spaced grid over [min_clip, 1] (coarse_steps points),
//     then refine_steps points between the two neighbours of the best one (α = 1 is always a
//     candidate, so J never ends above its absmax value). By 3, MSE_b(s) is the nearest-level error
//     of a known grid, so J is evaluated from the group sorted once with prefix sums of x and x²:
//     2^B binary searches locate the master-code edges s(q - 1/2), and each b-bit bin contributes
//     Σx² - 2L·Σx + L²·count — O(2^B·log n) per candidate instead of O(n·B). α > 1 only moves
//     levels outward and is not searched.
//     The final codes are uniform_symmetric's (quant/uniform.hpp) for the chosen scales, so the result
//     is an ordinary symmetric B-bit master, servable by double rounding and used directly at B bits.
//     An all-zero group keeps scale 0.
//  6. Limits. One scale ties every width's grid to the others (the b-bit outer level is about half
//     the (b+1)-bit one), so no master is best at all widths; J picks the trade-off. Measured in
//     tests/test_truncation.cpp (256x4096, per row, equal weights): N(0,1) gains 1.0–1.4 dB over an
//     absmax master at b <= 5 and loses 2.1 dB at b = 8 (mean +0.53 dB); Student-t(3) gains 7–9 dB
//     at b <= 4 and gives up 8-bit SQNR 27.2 -> 11.5 dB (mean +1.0 dB). A direct b-bit quantization
//     with its own MSE-clipped scale stays 1–3 dB better at b = 1..4 on N(0,1).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/parallel.hpp"
#include "bitdial/core/reconstruction.hpp"
#include "bitdial/core/rounding.hpp"
#include "bitdial/quant/double_rounding.hpp"  // detail::check_master and friends
#include "bitdial/quant/uniform.hpp"

namespace bitdial {

/// A master served at b bits by truncation:
///   x̂(r, c) = scales[g] · (codes(r, c) + code_offset(g)),   g = gran.index(r, c, cols)
///           = (scales[g] / 2^shift) · (2^shift · codes(r, c) + offset - zero_points[g])
template <class Code>
struct truncated_matrix {
  static_assert(std::is_integral_v<Code> && sizeof(Code) == 1, "bitdial: codes are 8-bit integers");
  std::size_t rows = 0;
  std::size_t cols = 0;
  int bits = 8;         // served width b
  int master_bits = 8;  // B
  granularity gran;
  reconstruction recon = reconstruction::midpoint;
  std::vector<Code> codes;                // q_b = q >> (B - b), rows * cols, row-major
  std::vector<float> scales;              // s_b = s · 2^(B-b), gran.count(rows, cols)
  std::vector<std::int32_t> zero_points;  // the master's, in master units; empty for symmetric masters
  float offset = 0.0f;                    // (2^(B-b) - 1)/2 for midpoint, 0 for floor, in master units

  int shift() const noexcept { return master_bits - bits; }
  std::int32_t code(std::size_t r, std::size_t c) const noexcept { return codes[r * cols + c]; }
  std::size_t scale_index(std::size_t r, std::size_t c) const noexcept { return gran.index(r, c, cols); }
  /// Additive constant in served-code units, c_g = (offset - z_g) / 2^shift (exact in float).
  float code_offset(std::size_t g) const noexcept {
    const std::int32_t z = zero_points.empty() ? 0 : zero_points[g];
    return std::ldexp(offset - static_cast<float>(z), -shift());
  }
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    const std::size_t g = scale_index(r, c);
    return scales[g] * (static_cast<float>(code(r, c)) + code_offset(g));
  }
  std::vector<float> dequantize() const {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = dequantize(r, c);
    return out;
  }
};

/// Truncation server for masters of `MasterBits` bits (dynamic_bits: chosen at construction),
/// signed (int8_t codes) or unsigned (uint8_t codes, zero points allowed).
template <int MasterBits = 8>
class truncation {
  static_assert(MasterBits == dynamic_bits || (MasterBits >= 2 && MasterBits <= max_bits),
                "bitdial: truncation master width must be in 2..8");

 public:
  struct options {
    reconstruction recon = reconstruction::midpoint;
  };

  explicit truncation(options o = {}) requires(MasterBits != dynamic_bits) : bits_(), opt_(o) { validate(); }
  explicit truncation(int master_bits, options o = {})
      : bits_(detail::checked_master_bits(master_bits, "truncation")), opt_(o) {
    validate();
  }

  int master_bits() const noexcept { return bits_.value(); }
  const options& opts() const noexcept { return opt_; }

  /// q_b = q >> (B - b) for this server's master width B = MasterBits. q may be a signed
  /// [-2^(B-1), 2^(B-1)-1] or unsigned [0, 2^B - 1] B-bit code. Throws for b outside 1..B or q outside
  /// both ranges (in a constant expression: does not compile).
  static constexpr std::int32_t serve_code(std::int32_t q, int b) requires(MasterBits != dynamic_bits) {
    return serve_code_unchecked_width(q, MasterBits, b);
  }
  /// The same for a master width chosen at run time (truncation<dynamic_bits>).
  static constexpr std::int32_t serve_code(std::int32_t q, int master_bits,
                                           int b) requires(MasterBits == dynamic_bits) {
    return serve_code_unchecked_width(q, master_bits, b);
  }
  /// Deprecated: the master width is the template argument; a different `master_bits` throws.
  [[deprecated("the master width is the template argument: call serve_code(q, b)")]] static constexpr std::int32_t
  serve_code(std::int32_t q, int master_bits, int b) requires(MasterBits != dynamic_bits) {
    BITDIAL_REQUIRE(master_bits == MasterBits, "truncation::serve_code: master_bits = ", master_bits,
                    ": this server is truncation<", MasterBits, ">");
    return serve_code_unchecked_width(q, MasterBits, b);
  }

  /// Reconstruction of a served code in master units (before the scale and zero point):
  /// 2^k·q_b + (2^k - 1)/2 (midpoint, automatic) or 2^k·q_b (floor), k = B - b, B = MasterBits.
  static constexpr double reconstruct(std::int32_t q_b, int b, reconstruction r) requires(MasterBits != dynamic_bits) {
    return reconstruct_impl(q_b, MasterBits, b, r);
  }
  /// The same for a master width chosen at run time (truncation<dynamic_bits>).
  static constexpr double reconstruct(std::int32_t q_b, int master_bits, int b,
                                      reconstruction r) requires(MasterBits == dynamic_bits) {
    return reconstruct_impl(q_b, master_bits, b, r);
  }
  /// Deprecated: the master width is the template argument; a different `master_bits` throws.
  [[deprecated("the master width is the template argument: call reconstruct(q_b, b, r)")]] static constexpr double
  reconstruct(std::int32_t q_b, int master_bits, int b, reconstruction r) requires(MasterBits != dynamic_bits) {
    BITDIAL_REQUIRE(master_bits == MasterBits, "truncation::reconstruct: master_bits = ", master_bits,
                    ": this server is truncation<", MasterBits, ">");
    return reconstruct_impl(q_b, MasterBits, b, r);
  }

  /// The b-bit view: top b planes of every code, scales s·2^(B-b), offset per the reconstruction.
  template <class Code>
  truncated_matrix<Code> derive(const quantized_matrix<Code>& master, int b) const {
    constexpr const char* where = "truncation::derive";
    detail::check_master(master, master_bits(), true, where);
    detail::check_served_bits(b, master_bits(), where);
    const int k = master_bits() - b;
    truncated_matrix<Code> out;
    out.rows = master.rows;
    out.cols = master.cols;
    out.bits = b;
    out.master_bits = master_bits();
    out.gran = master.gran;
    out.recon = opt_.recon == reconstruction::floor ? reconstruction::floor : reconstruction::midpoint;
    out.zero_points = master.zero_points;
    out.offset = opt_.recon != reconstruction::floor ? static_cast<float>((std::int32_t{1} << k) - 1) * 0.5f : 0.0f;
    out.scales.resize(master.scales.size());
    for (std::size_t g = 0; g < master.scales.size(); ++g)
      out.scales[g] = detail::checked_served_scale(master.scales[g], k, g, where);
    out.codes.resize(master.codes.size());
    for (std::size_t i = 0; i < master.codes.size(); ++i)
      out.codes[i] = static_cast<Code>(static_cast<std::int32_t>(master.codes[i]) >> k);
    return out;
  }

  /// x̂_b for the whole matrix (row-major); equals derive(master, b).dequantize().
  template <class Code>
  std::vector<float> dequantize(const quantized_matrix<Code>& master, int b) const {
    return derive(master, b).dequantize();
  }

 private:
  void validate() const {
    BITDIAL_REQUIRE(opt_.recon != reconstruction::fitted, "truncation: recon = fitted: ",
                    "a truncation server stores no fits (serve a bit-plane stack with fit_reconstruction)");
  }

  static constexpr std::int32_t serve_code_unchecked_width(std::int32_t q, int master_bits, int b) {
    BITDIAL_REQUIRE(master_bits >= 2 && master_bits <= max_bits, "truncation::serve_code: master_bits = ", master_bits,
                    ": must be in 2..8");
    BITDIAL_REQUIRE(b >= 1 && b <= master_bits, "truncation::serve_code: b = ", b, ": must be in 1..", master_bits,
                    " (the master width)");
    BITDIAL_REQUIRE(q >= signed_min(master_bits) && q <= unsigned_max(master_bits), "truncation::serve_code: q = ", q,
                    ": not a ", master_bits, "-bit code");
    return q >> (master_bits - b);
  }
  static constexpr double reconstruct_impl(std::int32_t q_b, int master_bits, int b, reconstruction r) {
    BITDIAL_REQUIRE(master_bits >= 2 && master_bits <= max_bits, "truncation::reconstruct: master_bits = ", master_bits,
                    ": must be in 2..8");
    BITDIAL_REQUIRE(b >= 1 && b <= master_bits, "truncation::reconstruct: b = ", b, ": must be in 1..", master_bits,
                    " (the master width)");
    BITDIAL_REQUIRE(r != reconstruction::fitted, "truncation::reconstruct: r = fitted: ",
                    "a truncation server stores no fits (serve a bit-plane stack with fit_reconstruction)");
    const std::int32_t step = std::int32_t{1} << (master_bits - b);
    return double(step) * q_b + (r != reconstruction::floor ? (step - 1) / 2.0 : 0.0);
  }

  bit_width<MasterBits> bits_;
  options opt_;
};

/// Symmetric signed B-bit master quantizer whose truncated views (midpoint reconstruction) are good
/// at every width: RNE codes with a per-group scale minimising Σ_b w_b · ln MSE_b (see the header).
template <int MasterBits = 8>
class truncation_ready {
  static_assert(MasterBits == dynamic_bits || (MasterBits >= 2 && MasterBits <= max_bits),
                "bitdial: truncation_ready master width must be in 2..8");

 public:
  struct options {
    granularity gran = granularity::per_row();
    /// w_b at index b - 1; widths above the master width are ignored. Finite, >= 0, one > 0.
    std::array<double, max_bits> width_weights{1, 1, 1, 1, 1, 1, 1, 1};
    int coarse_steps = 64;       // log-spaced α over [min_clip, 1]
    int refine_steps = 24;       // between the neighbours of the best coarse α
    double min_clip = 1.0 / 64;  // smallest α = s / s_absmax searched, in (0, 1]
  };

  explicit truncation_ready(options o = {}) requires(MasterBits != dynamic_bits) : bits_(), opt_(o) { validate(); }
  explicit truncation_ready(int master_bits, options o = {})
      : bits_(detail::checked_master_bits(master_bits, "truncation_ready")), opt_(o) {
    validate();
  }

  int master_bits() const noexcept { return bits_.value(); }
  const options& opts() const noexcept { return opt_; }

  /// J(s) = Σ_b w_b · ln MSE_b(s) for one group (the search's objective; s = 0 only for all-zero data).
  double objective(std::span<const float> group, float s) const {
    detail::check_finite(group, "truncation_ready::objective", "group");
    BITDIAL_REQUIRE(std::isfinite(s) && s >= 0.0f, "truncation_ready::objective: s = ", s, ": must be finite and >= 0");
    if (s == 0.0f) {  // every code 0, every reconstruction 0
      double energy = 0.0;
      for (float v : group) energy += double(v) * v;
      double total = 0.0;
      for (int b = 1; b <= master_bits(); ++b)
        if (opt_.width_weights[b - 1] > 0.0)
          total += opt_.width_weights[b - 1] *
                   std::log(energy / double(group.size()) * (1.0 + 1e-12) + std::numeric_limits<double>::min());
      return total;
    }
    return objective_unchecked(sorted_group(group), s);
  }

  /// The scale the search picks for one group (0 for an all-zero group).
  float search_scale(std::span<const float> group) const {
    detail::check_finite(group, "truncation_ready::search_scale", "group");
    return search_unchecked(group);
  }

  /// Searches every group's scale — independently, so rows are spread over `pool` (null: the
  /// process-wide pool; the result does not depend on the thread count) — then quantizes with RNE.
  quantized_matrix<std::int8_t> quantize(const_matrix w, thread_pool* pool = nullptr) const {
    detail::check_quantize_input(w, opt_.gran, "truncation_ready::quantize");
    std::vector<float> scales(opt_.gran.count(w.rows, w.cols));
    auto search_rows = [&](std::size_t row_begin, std::size_t row_end) {
      std::vector<float> buf;
      detail::for_each_group(w.rows, w.cols, opt_.gran,
                             [&](std::size_t g, std::size_t row, std::size_t c0, std::size_t c1) {
                               const bool tensor = row == static_cast<std::size_t>(-1);
                               if (!tensor && (row < row_begin || row >= row_end)) return;
                               const std::size_t r0 = tensor ? 0 : row, r1 = tensor ? w.rows : row + 1;
                               buf.clear();
                               for (std::size_t r = r0; r < r1; ++r)
                                 for (std::size_t c = c0; c < c1; ++c) buf.push_back(w(r, c));
                               scales[g] = search_unchecked(buf);
                             });
    };
    if (opt_.gran.k == granularity::kind::per_tensor || w.rows < 2) {
      search_rows(0, w.rows);
    } else {
      thread_pool& tp = pool ? *pool : thread_pool::global();
      parallel_for(w.rows, std::min<std::size_t>(w.rows, 8 * tp.size()), search_rows, tp);
    }
    return master_quantizer().quantize_with_scales(w, scales);
  }

 private:
  uniform_symmetric<dynamic_bits> master_quantizer() const {
    return uniform_symmetric<dynamic_bits>(master_bits(), {opt_.gran, int_range::full, rounding::half_even});
  }

  void validate() const {
    constexpr const char* where = "truncation_ready";
    double total = 0.0;
    for (int b = 1; b <= max_bits; ++b) {
      const double wb = opt_.width_weights[b - 1];
      BITDIAL_REQUIRE(std::isfinite(wb) && wb >= 0.0, where, ": width_weights[", b - 1, "] = ", wb,
                      ": must be finite and >= 0");
      if (b <= master_bits()) total += wb;
    }
    BITDIAL_REQUIRE(total > 0.0, where, ": width_weights: no positive weight for a width in 1..", master_bits());
    BITDIAL_REQUIRE(opt_.coarse_steps >= 2 && opt_.coarse_steps <= 4096, where, ": coarse_steps = ", opt_.coarse_steps,
                    ": must be in 2..4096");
    BITDIAL_REQUIRE(opt_.refine_steps >= 0 && opt_.refine_steps <= 4096, where, ": refine_steps = ", opt_.refine_steps,
                    ": must be in 0..4096");
    BITDIAL_REQUIRE(std::isfinite(opt_.min_clip) && opt_.min_clip > 0.0 && opt_.min_clip <= 1.0, where,
                    ": min_clip = ", opt_.min_clip, ": must be in (0, 1]");
  }

  /// One group, sorted, with prefix sums of x and x² (double): the error of any bin of codes is
  /// then O(1) and one evaluation of J costs 2^B binary searches plus Σ_b 2^b cell sums.
  struct sorted_group {
    std::vector<float> x;
    std::vector<double> p1, p2;  // p[i] = Σ_{t<i} x_t, Σ_{t<i} x_t²

    explicit sorted_group(std::span<const float> v) : x(v.begin(), v.end()), p1(v.size() + 1), p2(v.size() + 1) {
      std::sort(x.begin(), x.end());
      for (std::size_t i = 0; i < x.size(); ++i) {
        p1[i + 1] = p1[i] + double(x[i]);
        p2[i + 1] = p2[i] + double(x[i]) * x[i];
      }
    }
    /// Σ (x_t - level)² over sorted positions [lo, hi).
    double cell_sse(std::size_t lo, std::size_t hi, double level) const noexcept {
      const double v = (p2[hi] - p2[lo]) - 2.0 * level * (p1[hi] - p1[lo]) + level * level * double(hi - lo);
      return std::max(v, 0.0);
    }
  };

  /// J(s) by bins: master code q collects x ∈ [s(q - 1/2), s(q + 1/2)) (the extreme codes also the
  /// clamped tails), width b's bin j is codes 2^k·j .. 2^k·j + 2^k - 1 with level s·(2^k·j + (2^k-1)/2).
  /// Equals the error of the codes uniform_symmetric produces except for values within float rounding
  /// of a bin edge (x / s is rounded to float there), which moves neither the argmin nor the result.
  double objective_unchecked(const sorted_group& g, float s) const {
    const int B = master_bits();
    const std::size_t n = g.x.size();
    const std::int32_t qmin = signed_min(B), qmax = signed_max(B);
    // first[q - qmin] = first sorted position whose code is >= q
    std::array<std::size_t, 257> first{};
    first[0] = 0;
    first[std::size_t(qmax - qmin + 1)] = n;
    for (std::int32_t q = qmin + 1; q <= qmax; ++q) {
      const double edge = double(s) * (double(q) - 0.5);
      const std::size_t lo = first[std::size_t(q - 1 - qmin)];
      first[std::size_t(q - qmin)] =
          static_cast<std::size_t>(std::lower_bound(g.x.begin() + static_cast<std::ptrdiff_t>(lo), g.x.end(), edge,
                                                    [](float a, double e) { return double(a) < e; }) -
                                   g.x.begin());
    }
    const double energy = g.p2[n];
    // The floor keeps ln finite when a width is exact; relative to the energy, so it is scale-free.
    const double floor_mse = energy / double(n) * 1e-12 + std::numeric_limits<double>::min();
    double j_total = 0.0;
    for (int b = 1; b <= B; ++b) {
      const double wb = opt_.width_weights[b - 1];
      if (wb <= 0.0) continue;
      const std::int32_t step = std::int32_t{1} << (B - b);
      double sse = 0.0;
      for (std::int32_t jb = signed_min(b); jb <= signed_max(b); ++jb) {
        const std::int32_t q0 = jb * step;
        const double level = double(s) * (double(q0) + double(step - 1) * 0.5);  // s·(2^k·j + (2^k-1)/2)
        sse += g.cell_sse(first[std::size_t(q0 - qmin)], first[std::size_t(q0 + step - qmin)], level);
      }
      j_total += wb * std::log(sse / double(n) + floor_mse);
    }
    return j_total;
  }

  float search_unchecked(std::span<const float> values) const {
    float amax = 0.0f;
    for (float v : values) amax = std::max(amax, std::fabs(v));
    if (amax == 0.0f) return 0.0f;
    const sorted_group g(values);
    const float s_absmax = master_quantizer().scale_for(amax);
    const double log_lo = std::log(opt_.min_clip);
    const int n = opt_.coarse_steps;
    // t in [0, 1] -> α = min_clip^(1 - t); t = 1 is the absmax scale itself
    auto scale_at = [&](double t) { return static_cast<float>(s_absmax * std::exp(log_lo * (1.0 - t))); };
    float best_s = s_absmax;
    double best_j = objective_unchecked(g, s_absmax);
    int best_i = n - 1;
    for (int i = 0; i + 1 < n; ++i) {
      const float s = scale_at(double(i) / (n - 1));
      if (!(s > 0.0f)) continue;
      const double j = objective_unchecked(g, s);
      if (j < best_j) best_j = j, best_s = s, best_i = i;
    }
    const double t0 = double(std::max(best_i - 1, 0)) / (n - 1);
    const double t1 = double(std::min(best_i + 1, n - 1)) / (n - 1);
    for (int i = 1; i <= opt_.refine_steps; ++i) {
      const float s = scale_at(t0 + (t1 - t0) * i / (opt_.refine_steps + 1));
      if (!(s > 0.0f)) continue;
      const double j = objective_unchecked(g, s);
      if (j < best_j) best_j = j, best_s = s;
    }
    return best_s;
  }

  bit_width<MasterBits> bits_;
  options opt_;
};

}  // namespace bitdial
