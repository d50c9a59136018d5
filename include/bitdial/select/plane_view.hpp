// bitdial/select/plane_view.hpp — "this stored master at width b": a non-owning, O(1) description
// of a bit-plane stack served under one derivation rule, and the exact b-bit semantics it denotes.
//
// With B = master bits, b = served bits, k = B − b and q the master code (SEMANTICS.md §2–3):
//
//   truncate          q_b = q >> k                        (arithmetic shift; floor)
//                     x̂ = s·(2^k·q_b + m_k + o/2 − z),  m_k = (2^k − 1)/2 (midpoint, default) or 0
//                     (floor); o = the stack's code_offset2 (mid-rise grids), usually 0
//   round_half_up     q_b = clamp((q >> k) + bit_{k−1}(q), −2^(b−1), 2^(b−1) − 1),  x̂ = (s·2^k)·q_b
//   round_half_even   q_b = clamp(RNE(q / 2^k), −2^(b−1), 2^(b−1) − 1),             x̂ = (s·2^k)·q_b
//
// s and z are the master's per-group scale and zero point (z = 0 for signed masters). Double rounding
// is defined for signed masters only. Every product above has an exact inner term (an integer or
// half-integer below 2^9 times a power of two), so x̂ is one float rounding of the exact real and is
// bit-identical however a kernel orders the factors.
//
// Planes a kernel must read per width (what the cost of a view is):
//   truncate          b planes (the top b)
//   round_half_up     b + 1 planes for b < B: the top b plus plane k−1; the clamp is the AND of those
//                     planes (q_b overflows only when the top b bits are 0 1…1 and bit k−1 is set)
//   round_half_even   all B planes for b < B: a tie (bit k−1 set, bits k−2..0 clear) is only visible
//                     in the low planes. Served as RHU minus a tie plane with weight −1 when bit k is 0.
//
// Fitted reconstruction (SEMANTICS §3b, the default wherever the stack carries a fit for the view's
// rule and width — select/fit.hpp computes it): the served codes stay those of the rule, their values
// are the per-row least-squares affine map of the literal served term t = q_b + (o/2 − z)/2^k:
//   x̂ = (s·α_r) · (t + β_r/256)     α_r float, β_r int16 (1/256 of a served step), per row and width
// The literal rules are the special case α_r = 2^k without β (offset256 carries m_k). Every
// value is computed in one form, used by the reference kernel, every ISA's epilogue and dequantize:
//   x̂ = float(s·α_r) · (float(256·q_b + off_r,g) · 2^−8),   off_r,g = (2m_k + o − 2z)·2^(7−k) + β_r
// (m_k only for literal truncate-midpoint, β_r only when fitted; integer, exact). For the literal
// rules α_r = 2^k and the result equals s·(2^k·q_b + m_k + o/2 − z) rounded once (the scalings are by
// powers of two), i.e. the literal value bit for bit.
//
// A view holds a pointer to its stack: like std::string_view, it must not outlive it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitdial/core/rounding.hpp"
#include "bitdial/format/bit_planes.hpp"

/// Makes the compiler materialise x: no multiply-add contraction can reach across it. On aarch64,
/// where FMA is in the base architecture and GCC contracts a·b + c by default, this is what keeps
/// the floats of an inlined epilogue identical at every call site ("w": an FP/SIMD register).
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define BITDIAL_ROUNDED(x) __asm__("" : "+x"(x))
#elif defined(__GNUC__) && defined(__aarch64__)
#define BITDIAL_ROUNDED(x) __asm__("" : "+w"(x))
#else
#define BITDIAL_ROUNDED(x) ((void)0)
#endif

namespace bitdial {

/// How a b-bit view is derived from the B-bit master.
enum class serve_rule : std::uint8_t { truncate, round_half_up, round_half_even };
/// Values of the served codes: the literal rules of §2–3 (midpoint or floor for truncated codes;
/// double rounding has one literal value), the fitted per-width map of §3b, or `automatic`: fitted
/// when the stack stores a fit for the rule and width, else midpoint. The full width always serves
/// the master itself.
enum class reconstruction : std::uint8_t { midpoint, floor, fitted, automatic };

inline const char* to_string(reconstruction r) noexcept {
  switch (r) {
    case reconstruction::midpoint:
      return "midpoint";
    case reconstruction::floor:
      return "floor";
    case reconstruction::fitted:
      return "fitted";
    case reconstruction::automatic:
      return "automatic";
  }
  return "?";
}

inline const char* to_string(serve_rule r) noexcept {
  switch (r) {
    case serve_rule::truncate:
      return "truncate";
    case serve_rule::round_half_up:
      return "round_half_up";
    case serve_rule::round_half_even:
      return "round_half_even";
  }
  return "?";
}

struct plane_view {
  const bit_plane_stack* stack = nullptr;
  int bits = 8;
  serve_rule rule = serve_rule::truncate;
  reconstruction recon = reconstruction::midpoint;
  std::size_t row_begin = 0;  // rows [row_begin, row_end) of the stack; a shard copies nothing
  std::size_t row_end = 0;
  const float* scale_override = nullptr;     // null: the stack's scales; else one per scale group
                                             // (low-rank slices reuse one sign plane with many scales)
  const float* fit_alpha = nullptr;          // fitted views: α per stack row (else null: literal)
  const std::int16_t* fit_offset = nullptr;  // fitted views: β per stack row, 1/256 served step

  /// Scale of scale group g (the stack's, or the override's).
  float scale(std::size_t g) const noexcept { return scale_override ? scale_override[g] : stack->scales()[g]; }

  int master_bits() const noexcept { return stack->master_bits(); }
  int shift() const noexcept { return stack->master_bits() - bits; }
  std::size_t rows() const noexcept { return row_end - row_begin; }
  std::size_t cols() const noexcept { return stack->cols(); }

  /// Served b-bit code of master code q under `rule`, k = B − b (the table in the header comment).
  static constexpr std::int32_t serve(std::int32_t q, int k, int bits, serve_rule rule) noexcept {
    switch (rule) {
      case serve_rule::truncate:
        return q >> k;
      case serve_rule::round_half_up:
        return clamp_i32(shift_round(q, k, rounding::half_up), signed_min(bits), signed_max(bits));
      case serve_rule::round_half_even:
        return clamp_i32(shift_round(q, k, rounding::half_even), signed_min(bits), signed_max(bits));
    }
    return 0;
  }

  /// Served b-bit code of element (r, c); r counts from row_begin.
  std::int32_t code(std::size_t r, std::size_t c) const noexcept {
    return serve(stack->code(row_begin + r, c), shift(), bits, rule);
  }

  /// Twice the literal reconstruction offset in units of the master step: x̂ = s·(2^k·q_b + offset2/2)
  /// under the literal rules. Integer: 2·m_k + o − 2·z.
  std::int64_t offset2(std::size_t group_index) const noexcept {
    const std::int64_t z = stack->zero_points().empty() ? 0 : stack->zero_points()[group_index];
    const std::int64_t mid =
        (rule == serve_rule::truncate && recon == reconstruction::midpoint) ? (std::int64_t{1} << shift()) - 1 : 0;
    return mid + stack->code_offset2() - 2 * z;
  }

  /// Whether the view serves a fitted map (§3b) rather than a literal rule.
  bool fitted() const noexcept { return fit_alpha != nullptr; }

  /// Row factor α_r of stack row `row`: the fit's, or 2^k for the literal rules (exact).
  float multiplier(std::size_t row) const noexcept {
    return fit_alpha ? fit_alpha[row] : static_cast<float>(std::int64_t{1} << shift());
  }

  /// Offset of stack row `row`, scale group `group_index`, in 1/256 of a served step (exact integer):
  /// (2·m_k + o − 2z)·2^(7−k) + β_r, m_k for literal truncate-midpoint only, β_r for fitted views.
  std::int64_t offset256(std::size_t group_index, std::size_t row) const noexcept {
    const std::int64_t z = stack->zero_points().empty() ? 0 : stack->zero_points()[group_index];
    const std::int64_t mid = (!fitted() && rule == serve_rule::truncate && recon == reconstruction::midpoint)
                                 ? (std::int64_t{1} << shift()) - 1
                                 : 0;
    const std::int64_t lit = (mid + stack->code_offset2() - 2 * z) * (std::int64_t{1} << (7 - shift()));
    return fit_offset ? lit + fit_offset[row] : lit;
  }

  /// Exact b-bit dequantized value of element (r, c) (see the header comment).
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    const std::size_t row = row_begin + r;
    const std::size_t g = stack->gran().index(row, c, cols());
    float s = scale(g) * multiplier(row);
    BITDIAL_ROUNDED(s);
    const std::int64_t t = std::int64_t{code(r, c)} * 256 + offset256(g, row);
    return s * (static_cast<float>(t) * 0x1p-8f);
  }

  /// Planes a kernel reads for this view (see the table in the header comment).
  int planes_used() const noexcept {
    if (bits == master_bits()) return bits;
    switch (rule) {
      case serve_rule::truncate:
        return bits;
      case serve_rule::round_half_up:
        return bits + 1;
      case serve_rule::round_half_even:
        return master_bits();
    }
    return master_bits();
  }
  /// Weight bytes a kernel reads for the rows of this view (whole row blocks).
  std::size_t bytes_read() const noexcept {
    const tile32x16& g = stack->layout();
    if (rows() == 0) return 0;
    const std::size_t blocks = (row_end - 1) / tile32x16::rows_per_block - row_begin / tile32x16::rows_per_block + 1;
    return blocks * static_cast<std::size_t>(planes_used()) * g.plane_bytes();
  }
};

namespace detail {

inline plane_view make_view(const bit_plane_stack& s, int bits, serve_rule rule, reconstruction recon,
                            std::size_t row_begin, std::size_t row_end, const char* where) {
  BITDIAL_REQUIRE(s.rows() > 0, where, ": the stack is empty");
  BITDIAL_REQUIRE(bits >= 1 && bits <= s.master_bits(), where, ": bits = ", bits, ": must be in 1..", s.master_bits(),
                  " (the master width)");
  BITDIAL_REQUIRE(rule == serve_rule::truncate || s.is_signed(), where, ": rule = ", to_string(rule),
                  ": double rounding needs a signed master");
  BITDIAL_REQUIRE(row_begin < row_end && row_end <= s.rows(), where, ": rows = [", row_begin, ", ", row_end,
                  "): must be a non-empty range inside [0, ", s.rows(), ")");
  const int ri = static_cast<int>(rule);
  const bool full = bits == s.master_bits();
  BITDIAL_REQUIRE(recon != reconstruction::fitted || full || s.has_fit(ri, bits), where,
                  ": reconstruction = fitted: ", "the stack stores no fit for rule ", to_string(rule),
                  " at bits = ", bits, " (fit it with fit_reconstruction)");
  plane_view v{&s, bits, rule, recon, row_begin, row_end};
  const bool want_fit = recon == reconstruction::fitted || recon == reconstruction::automatic;
  // Fitted double rounding at b = B − 1 serves the truncated codes with their fit: its RHU / RNE
  // codes read all B planes, and the second rounding costs there (measured: fitted RHU 0.1–0.3 dB,
  // fitted RNE 2–3 dB below fitted truncation at b = 7), so truncation is both cheaper and better.
  if (!full && want_fit && rule != serve_rule::truncate && bits == s.master_bits() - 1 && s.has_fit(ri, bits) &&
      s.has_fit(static_cast<int>(serve_rule::truncate), bits)) {
    v.rule = serve_rule::truncate;
    v.recon = reconstruction::fitted;
    v.fit_alpha = s.fit_alpha(0, bits);
    v.fit_offset = s.fit_offset(0, bits);
    return v;
  }
  if (!full && want_fit && s.has_fit(ri, bits)) {
    v.recon = reconstruction::fitted;
    v.fit_alpha = s.fit_alpha(ri, bits);
    v.fit_offset = s.fit_offset(ri, bits);
  } else if (recon == reconstruction::fitted || recon == reconstruction::automatic) {
    v.recon = reconstruction::midpoint;  // full width (k = 0: no midpoint) or no fit stored
  }
  return v;
}

}  // namespace detail

/// The b-bit view of a whole stack.
inline plane_view view(const bit_plane_stack& s, int bits, serve_rule rule = serve_rule::truncate,
                       reconstruction recon = reconstruction::automatic) {
  return detail::make_view(s, bits, rule, recon, 0, s.rows(), "view");
}

/// Rows [row_begin, row_end) of a view (tensor-parallel shards). Copies nothing.
inline plane_view shard(const plane_view& v, std::size_t row_begin, std::size_t row_end) {
  BITDIAL_REQUIRE(row_begin < row_end && row_end <= v.rows(), "shard: rows = [", row_begin, ", ", row_end,
                  "): must be a non-empty range inside [0, ", v.rows(), ")");
  plane_view s = v;
  s.row_begin = v.row_begin + row_begin;
  s.row_end = v.row_begin + row_end;
  return s;
}

}  // namespace bitdial
