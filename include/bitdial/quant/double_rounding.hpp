// bitdial/quant/double_rounding.hpp — serve a signed B-bit master at any b <= B by rounding its codes (SEMANTICS.md
// §2).
//
// Seed: "Nearly Lossless Adaptive Bit Switching" (double rounding). One signed master is stored,
// q8 in [-2^(B-1), 2^(B-1)-1] with a scale s8 per tensor / output channel / group (B = 8 usually,
// any B in 2..8 is accepted). The b-bit model, k = B - b, is
//
//     q_b = clamp(round(q8 / 2^k), -2^(b-1), 2^(b-1)-1),   s_b = s8 · 2^k,   x̂_b = s_b · q_b.
//
// round(q8 / 2^k) is computed exactly in integers by bitdial::shift_round (core/rounding.hpp):
//   half_up (RHU, the default):  (q8 >> k) + bit_{k-1}(q8)   — arithmetic shift, exact for two's
//       complement. The b-bit view therefore needs only the top b bit-planes plus plane k-1 (b + 1
//       planes), and the saturation is visible in those same planes: the sum overflows only when the
//       top b planes hold 2^(b-1)-1 (0 then ones) and plane k-1 is set. The lower clamp never binds,
//       since q8 >= -2^(B-1) gives q8 / 2^k >= -2^(b-1) and every tie rule is monotone.
//   half_even (RNE): what a model fine-tuned with torch.round expects; an exact tie (the low k bits
//       equal 2^(k-1)) goes to the even quotient, so it also reads planes 0..k-2.
//   The default differs from every other quantizer's RNE for that cost (b + 1 planes instead of B);
//   the paper (arXiv 2502.01199) names no tie rule in what we could read, and its repository
//   (haiduo/Double-Rounding) publishes no quantizer code to check against.
// Examples (B = 8, b = 4, k = 4): q8 = 127 -> 7.9375 -> 8 -> clamp 7; q8 = 8 -> 0.5 -> RNE 0, RHU 1;
// q8 = 40 -> 2.5 -> RNE 2, RHU 3; q8 = -100 -> -6.25 -> -6 (truncation, quant/truncation.hpp, gives -7).
//
// s_b = s8 · 2^k is exact in float (a power-of-two product) and is required to be finite, so the
// dequantized x̂_b = s_b · q_b is the correctly rounded float of the exact product s8 · 2^k · q_b.
// At b = B (k = 0) the served matrix is the master itself.
//
// Cost of rounding twice: x̂_b - x = (s8·q8 - x) + s8·(2^k·q_b - q8). In the granular region the first
// term is uniform with variance s8²/12 and the second takes the 2^k residues of q8 with variance
// s8²·(4^k/12 + 1/6) (ties count ±2^(k-1)), so MSE ≈ s_b²/12 · (1 + 3/4^k): 2.4 dB worse than a
// single rounding onto the same b-bit grid at k = 1, 0.75 dB at k = 2, 0.2 dB at k = 3. RHU and RNE
// move a tie by the same distance, so they have the same MSE on smooth data; RHU moves every tied
// code up by 2^(k-1)·s8 (a bias in GEMV sums), RNE alternates the direction.
//
// quantize_master builds the master with uniform_symmetric (quant/uniform.hpp): absmax scale per
// group, full signed range, RNE.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"
#include "bitdial/quant/uniform.hpp"

namespace bitdial {

namespace detail {

/// Master widths served by double rounding and truncation: 2..8 (a 1-bit master has nothing to drop).
inline int checked_master_bits(int master_bits, const char* where) {
  BITDIAL_REQUIRE(master_bits >= 2 && master_bits <= max_bits, where, ": master_bits = ", master_bits,
                  ": must be in 2..8");
  return master_bits;
}

/// A served width b must lie in 1..B.
inline void check_served_bits(int b, int master_bits, const char* where) {
  BITDIAL_REQUIRE(b >= 1 && b <= master_bits, where, ": b = ", b, ": must be in 1..", master_bits,
                  " (the master width)");
}

/// Validates a stored master against the width the server expects: shape, sizes, code range,
/// scales (finite, >= 0) and zero points (forbidden unless `allow_zero_points`).
template <class Code>
void check_master(const quantized_matrix<Code>& m, int master_bits, bool allow_zero_points, const char* where) {
  BITDIAL_REQUIRE(m.rows > 0 && m.cols > 0, where, ": master shape = ", m.rows, "x", m.cols, ": must not be empty");
  BITDIAL_REQUIRE(m.bits == master_bits, where, ": master.bits = ", m.bits, ": this server expects ", master_bits,
                  "-bit masters");
  m.gran.validate(m.cols, where);
  const std::size_t n = checked_mul(m.rows, m.cols, where, "master shape");
  BITDIAL_REQUIRE(m.codes.size() == n, where, ": master.codes.size() = ", m.codes.size(), ": expected ", n);
  const std::size_t groups = m.gran.count(m.rows, m.cols);
  BITDIAL_REQUIRE(m.scales.size() == groups, where, ": master.scales.size() = ", m.scales.size(), ": expected ",
                  groups);
  if (allow_zero_points) {
    BITDIAL_REQUIRE(m.zero_points.empty() || m.zero_points.size() == groups, where,
                    ": master.zero_points.size() = ", m.zero_points.size(), ": expected 0 or ", groups);
  } else {
    BITDIAL_REQUIRE(m.zero_points.empty(), where, ": master.zero_points.size() = ", m.zero_points.size(),
                    ": a symmetric master has no zero points");
  }
  const bool is_signed = std::is_signed_v<Code>;
  const std::int32_t lo = is_signed ? signed_min(master_bits) : 0;
  const std::int32_t hi = is_signed ? signed_max(master_bits) : unsigned_max(master_bits);
  for (std::size_t i = 0; i < n; ++i)
    BITDIAL_REQUIRE(m.codes[i] >= lo && m.codes[i] <= hi, where, ": master.codes[", i, "] = ", std::int32_t{m.codes[i]},
                    ": outside the ", master_bits, "-bit ", is_signed ? "signed" : "unsigned", " range [", lo, ", ", hi,
                    "]");
  for (std::size_t g = 0; g < groups; ++g)
    BITDIAL_REQUIRE(std::isfinite(m.scales[g]) && m.scales[g] >= 0.0f, where, ": master.scales[", g,
                    "] = ", m.scales[g], ": must be finite and >= 0");
}

/// s · 2^k, required finite (s finite and >= 0 already checked).
inline float checked_served_scale(float s, int k, std::size_t g, const char* where) {
  const float sb = std::ldexp(s, k);
  BITDIAL_REQUIRE(std::isfinite(sb), where, ": master.scales[", g, "] = ", s, ": times 2^", k, " overflows float");
  return sb;
}

/// q_b for validated arguments (k = B - b).
constexpr std::int32_t double_round_code(std::int32_t q8, int k, int b, rounding r) noexcept {
  return clamp_i32(shift_round(q8, k, r), signed_min(b), signed_max(b));
}

}  // namespace detail

/// Double-rounding server for symmetric signed masters of `MasterBits` bits (dynamic_bits: chosen
/// at construction). The served width b is a run-time argument: switching widths costs nothing.
template <int MasterBits = 8>
class double_rounding {
  static_assert(MasterBits == dynamic_bits || (MasterBits >= 2 && MasterBits <= max_bits),
                "bitdial: double_rounding master width must be in 2..8");

 public:
  struct options {
    rounding round = rounding::half_up;  // RHU: servable from b + 1 bit-planes
  };

  explicit double_rounding(options o = {}) requires(MasterBits != dynamic_bits) : bits_(), opt_(o) {}
  explicit double_rounding(int master_bits, options o = {})
      : bits_(detail::checked_master_bits(master_bits, "double_rounding")), opt_(o) {}

  int master_bits() const noexcept { return bits_.value(); }
  const options& opts() const noexcept { return opt_; }

  /// q_b = clamp(round(q8 / 2^(B-b)), -2^(b-1), 2^(b-1)-1) under rule r, B = MasterBits. Throws for
  /// b outside 1..B or q8 outside the signed B-bit range (in a constant expression: does not compile).
  static constexpr std::int32_t serve_code(std::int32_t q8, int b, rounding r) requires(MasterBits != dynamic_bits) {
    return serve_code_impl(q8, MasterBits, b, r);
  }
  /// The same for a master width chosen at run time (double_rounding<dynamic_bits>).
  static constexpr std::int32_t serve_code(std::int32_t q8, int master_bits, int b,
                                           rounding r) requires(MasterBits == dynamic_bits) {
    return serve_code_impl(q8, master_bits, b, r);
  }
  /// Deprecated: the master width is the template argument; a different `master_bits` throws
  /// (double_rounding<4>::serve_code(q, 8, …) used to be accepted silently).
  [[deprecated("the master width is the template argument: call serve_code(q8, b, r)")]] static constexpr std::int32_t
  serve_code(std::int32_t q8, int master_bits, int b, rounding r) requires(MasterBits != dynamic_bits) {
    BITDIAL_REQUIRE(master_bits == MasterBits, "double_rounding::serve_code: master_bits = ", master_bits,
                    ": this server is double_rounding<", MasterBits, ">");
    return serve_code_impl(q8, MasterBits, b, r);
  }

  /// The RHU code written as a bit-plane reader sees it: the top b planes as a signed b-bit number,
  /// plus plane k-1, saturating when the top planes already hold 2^(b-1)-1. Equals
  /// serve_code(q8, b, rounding::half_up) for every valid input (tested exhaustively).
  static constexpr std::int32_t serve_code_from_planes(std::int32_t q8, int b) requires(MasterBits != dynamic_bits) {
    return from_planes_impl(q8, MasterBits, b);
  }
  /// The same for a master width chosen at run time (double_rounding<dynamic_bits>).
  static constexpr std::int32_t serve_code_from_planes(std::int32_t q8, int master_bits,
                                                       int b) requires(MasterBits == dynamic_bits) {
    return from_planes_impl(q8, master_bits, b);
  }
  /// Deprecated: the master width is the template argument; a different `master_bits` throws.
  [[deprecated(
      "the master width is the template argument: call serve_code_from_planes(q8, b)")]] static constexpr std::int32_t
  serve_code_from_planes(std::int32_t q8, int master_bits, int b) requires(MasterBits != dynamic_bits) {
    BITDIAL_REQUIRE(master_bits == MasterBits, "double_rounding::serve_code_from_planes: master_bits = ", master_bits,
                    ": this server is double_rounding<", MasterBits, ">");
    return from_planes_impl(q8, MasterBits, b);
  }

  /// The stored master: uniform_symmetric at B bits (absmax per group, full range, RNE).
  quantized_matrix<std::int8_t> quantize_master(const_matrix w, granularity g = granularity::per_row()) const {
    detail::check_quantize_input(w, g, "double_rounding::quantize_master");
    const uniform_symmetric<dynamic_bits> q(master_bits(), {g, int_range::full, rounding::half_even});
    return q.quantize(w);
  }

  /// The b-bit model: codes q_b and scales s_b = s8 · 2^(B-b), same granularity, no zero points.
  quantized_matrix<std::int8_t> derive(const quantized_matrix<std::int8_t>& master, int b) const {
    constexpr const char* where = "double_rounding::derive";
    detail::check_master(master, master_bits(), false, where);
    detail::check_served_bits(b, master_bits(), where);
    const int k = master_bits() - b;
    quantized_matrix<std::int8_t> out;
    out.rows = master.rows;
    out.cols = master.cols;
    out.bits = b;
    out.gran = master.gran;
    out.scales.resize(master.scales.size());
    for (std::size_t g = 0; g < master.scales.size(); ++g)
      out.scales[g] = detail::checked_served_scale(master.scales[g], k, g, where);
    out.codes.resize(master.codes.size());
    for (std::size_t i = 0; i < master.codes.size(); ++i)
      out.codes[i] = static_cast<std::int8_t>(detail::double_round_code(master.codes[i], k, b, opt_.round));
    return out;
  }

  /// x̂_b = s_b · q_b for the whole matrix (row-major); equals derive(master, b).dequantize().
  std::vector<float> dequantize(const quantized_matrix<std::int8_t>& master, int b) const {
    return derive(master, b).dequantize();
  }

 private:
  static constexpr std::int32_t serve_code_impl(std::int32_t q8, int master_bits, int b, rounding r) {
    BITDIAL_REQUIRE(master_bits >= 2 && master_bits <= max_bits,
                    "double_rounding::serve_code: master_bits = ", master_bits, ": must be in 2..8");
    BITDIAL_REQUIRE(b >= 1 && b <= master_bits, "double_rounding::serve_code: b = ", b, ": must be in 1..", master_bits,
                    " (the master width)");
    BITDIAL_REQUIRE(q8 >= signed_min(master_bits) && q8 <= signed_max(master_bits),
                    "double_rounding::serve_code: q8 = ", q8, ": outside the signed ", master_bits, "-bit range");
    return detail::double_round_code(q8, master_bits - b, b, r);
  }
  static constexpr std::int32_t from_planes_impl(std::int32_t q8, int master_bits, int b) {
    const std::int32_t rhu = serve_code_impl(q8, master_bits, b, rounding::half_up);  // validates
    const int k = master_bits - b;
    if (k == 0) return q8;
    const std::int32_t top = q8 >> k;                // planes k..B-1, sign-extended
    const std::int32_t carry = (q8 >> (k - 1)) & 1;  // plane k-1
    const std::int32_t v = (top == signed_max(b) && carry) ? top : top + carry;
    BITDIAL_ASSERT(v == rhu);
    (void)rhu;
    return v;
  }

  bit_width<MasterBits> bits_;
  options opt_;
};

}  // namespace bitdial
