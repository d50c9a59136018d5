// bitdial/quant/activation.hpp — per-token activation quantization to int8 and lower widths (SEMANTICS.md §5).
//
// An N x K activation matrix is quantized one token (row) at a time, a ∈ 1..8 bits.
//
// Symmetric (default) — exactly BitNet b1.58's activation rule (microsoft/BitNet reference,
// `activation_quant`: scale = 127 / max|x|.clamp(min=1e-5); (x·scale).round().clamp(-128, 127)):
//   s = Qp / max(max_k |x_k|, eps)          Qp = 2^(a-1) - 1 (127 for a = 8), eps = 1e-5, in float
//   q = clamp(RNE(x·s), -2^(a-1), 2^(a-1) - 1)   x·s is one float product, RNE is exact
//   For a = 1 (Qp = 0) Qp is taken as 1, as uniform_symmetric does: q ∈ {-1, 0}, a degenerate grid;
//   use a mid-rise (sign) encoding for real 1-bit activations.
//
// Asymmetric / unsigned option (per-token minmax with an exact zero):
//   lo = min(min x, 0), hi = max(max x, 0)
//   s = (2^a - 1) / clamp(hi - lo, eps, FLT_MAX)   (hi - lo in double, s rounded to float; the FLT_MAX
//                                                  cap only matters for |x| near FLT_MAX and keeps 1/s finite)
//   z = clamp(RNE(-lo·s), 0, 2^a - 1),  u = clamp(RNE(x·s) + z, 0, 2^a - 1)
//   Codes are STORED bias-shifted so that every width fits int8 and both modes dequantize alike:
//   q = u - 2^(a-1), zero_point = z - 2^(a-1)  (for a = 8, q has the bit pattern of u XOR 0x80).
//   An all-zero token has s = (2^a-1)/eps, z = 0 and dequantizes to 0.
//
// Result, per token t: codes q (int8, row-major), scale = 1/s (the dequantization multiplier, float;
// lowered by ulps where 1/s times the largest code would round past FLT_MAX, so that no finite token
// dequantizes to ±inf),
// zero_point (0 for symmetric), code_sum = Σ_k q_k (int32; exact for K <= 2^24). Dequantization:
//   x̂ = scale·(q - zero_point)
// BitNet dequantizes as q / s; q·(1/s) rounds twice, so it can differ from that by a few ulp
// (relative difference <= 2^-22, checked in tests/test_activation.cpp).
// A GEMV kernel computing Σ_k w_k·x̂_k uses scale·(Σ w_k q_k - zero_point·Σ w_k), and needs code_sum
// for weight-side corrections (zero point z_w or truncation midpoint): Σ_k (w_k - z_w)·q_k =
// Σ w_k q_k - z_w·code_sum.
//
// quantize_token_unchecked() is the kernel-side entry: one token, no allocation, no checks, noexcept.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/quant/uniform.hpp"  // detail::round_half_even_small

#if !defined(BITDIAL_NO_SIMD)
#include <xsimd/xsimd.hpp>
#define BITDIAL_ACTIVATION_XSIMD 1
#else
#define BITDIAL_ACTIVATION_XSIMD 0
#endif

namespace bitdial {

enum class activation_mode : std::uint8_t { symmetric, asymmetric };

/// Parameters of one quantized token.
struct token_params {
  float scale = 0.0f;           // dequantization multiplier 1/s
  std::int32_t zero_point = 0;  // in the stored (bias-shifted) code domain; 0 for symmetric
  std::int32_t code_sum = 0;    // Σ_k q_k of the stored codes
};

/// Per-token quantized activations: x̂(t, k) = scales[t]·(codes(t, k) - zero_points[t]).
struct quantized_activations {
  std::size_t rows = 0;  // tokens
  std::size_t cols = 0;  // K
  int bits = 8;
  activation_mode mode = activation_mode::symmetric;
  std::vector<std::int8_t> codes;         // rows * cols, row-major
  std::vector<float> scales;              // per token, 1/s
  std::vector<std::int32_t> zero_points;  // per token (all 0 for symmetric)
  std::vector<std::int32_t> code_sums;    // per token, Σ_k codes(t, k)

  std::int32_t code(std::size_t t, std::size_t k) const noexcept { return codes[t * cols + k]; }
  std::span<const std::int8_t> token(std::size_t t) const noexcept { return {codes.data() + t * cols, cols}; }
  float dequantize(std::size_t t, std::size_t k) const noexcept {
    return scales[t] * static_cast<float>(code(t, k) - zero_points[t]);
  }
  std::vector<float> dequantize() const {
    std::vector<float> out(rows * cols);
    for (std::size_t t = 0; t < rows; ++t)
      for (std::size_t k = 0; k < cols; ++k) out[t * cols + k] = dequantize(t, k);
    return out;
  }
};

namespace detail {

inline constexpr std::size_t max_token_len = std::size_t{1} << 24;  // keeps Σq inside int32

// GCC 12 flags the deliberately undefined pass-through operand inside its AVX-512 intrinsic
// headers when xsimd inlines them (-march with AVX-512); the operand is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

/// max_i |x_i| (0 for k = 0). xsimd batches of the build's target architecture; the maximum is
/// exact in any order.
inline float absmax(const float* x, std::size_t k) noexcept {
  float m = 0.0f;
  std::size_t i = 0;
#if BITDIAL_ACTIVATION_XSIMD
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const std::size_t simd_end = k - k % W;
  if (simd_end > 0) {
    batch acc(0.0f);
    for (; i < simd_end; i += W) acc = xsimd::max(acc, xsimd::abs(batch::load_unaligned(x + i)));
    alignas(64) float lanes[W];
    acc.store_aligned(lanes);
    for (float v : lanes) m = std::max(m, v);
  }
#endif
  for (; i < k; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

/// codes_i = RNE(clamp(x_i·s, lo, hi)) with |lo|, |hi| < 2^22; returns Σ codes. RNE is built from
/// truncation (cvttps2dq semantics) and an exact comparison of the fraction |v − trunc v|, so the
/// result does not depend on the FPU rounding mode; SIMD and scalar paths give identical codes.
inline std::int32_t quantize_scaled_rne(const float* x, std::size_t k, float s, float lo, float hi,
                                        std::int8_t* codes) noexcept {
  std::int32_t sum = 0;
  std::size_t i = 0;
#if BITDIAL_ACTIVATION_XSIMD
  using batch = xsimd::batch<float>;
  using ibatch = xsimd::batch<std::int32_t>;
  constexpr std::size_t W = batch::size;
  const batch vs(s), vlo(lo), vhi(hi), half(0.5f), one(1.0f), zero(0.0f);
  const ibatch ione(1);
  ibatch isum(0);
  alignas(64) std::int32_t lanes[W];
  const std::size_t simd_end = k - k % W;
  for (; i < simd_end; i += W) {
    const batch v = xsimd::min(xsimd::max(batch::load_unaligned(x + i) * vs, vlo), vhi);
    const ibatch t = xsimd::batch_cast<std::int32_t>(v);  // toward zero, exact for |v| < 2^31
    const batch tf = xsimd::batch_cast<float>(t);
    const batch d = xsimd::abs(v - tf);  // exact: v and tf share the binade
    const batch odd = xsimd::batch_cast<float>(t & ione);
    const auto away = (d > half) | ((d == half) & (odd != zero));
    const ibatch q = xsimd::batch_cast<std::int32_t>(tf + xsimd::select(away, xsimd::copysign(one, v), zero));
    isum += q;
    q.store_aligned(lanes);
    for (std::size_t j = 0; j < W; ++j) codes[i + j] = static_cast<std::int8_t>(lanes[j]);
  }
  sum = xsimd::hadd(isum);
#endif
  for (; i < k; ++i) {
    const std::int32_t q = round_half_even_small(std::clamp(x[i] * s, lo, hi));
    codes[i] = static_cast<std::int8_t>(q);
    sum += q;
  }
  return sum;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace detail

/// Options of per_token_quantizer (shared by every width).
struct per_token_options {
  activation_mode mode = activation_mode::symmetric;
  float eps = 1e-5f;  // lower bound of max|x| (symmetric) or of hi - lo (asymmetric)
};

/// Per-token activation quantizer; Bits == dynamic_bits takes the width at run time.
template <int Bits = dynamic_bits>
class per_token_quantizer {
 public:
  using options = per_token_options;

  explicit per_token_quantizer(options o = {}) requires(Bits != dynamic_bits) : bits_(), opt_(o) { validate(); }
  explicit per_token_quantizer(int bits, options o = {}) : bits_(bits), opt_(o) { validate(); }

  int bits() const noexcept { return bits_.value(); }
  const options& opts() const noexcept { return opt_; }

  /// One token, no checks: x and codes hold k elements, x finite, k <= 2^24.
  token_params quantize_token_unchecked(const float* x, std::size_t k, std::int8_t* codes) const noexcept {
    return opt_.mode == activation_mode::symmetric ? symmetric_token(x, k, codes) : asymmetric_token(x, k, codes);
  }

  /// One token, validated (the GEMV front door for a single activation vector).
  token_params quantize_token(std::span<const float> x, std::span<std::int8_t> codes) const {
    constexpr const char* where = "per_token_quantizer::quantize_token";
    detail::check_finite(x, where, "x");
    BITDIAL_REQUIRE(codes.size() == x.size(), where, ": codes.size() = ", codes.size(),
                    ": expected x.size() = ", x.size());
    BITDIAL_REQUIRE(x.size() <= detail::max_token_len, where, ": x.size() = ", x.size(), ": exceeds 2^24");
    return quantize_token_unchecked(x.data(), x.size(), codes.data());
  }

  /// Every row of an N x K matrix as one token.
  quantized_activations quantize(const_matrix x) const {
    constexpr const char* where = "per_token_quantizer::quantize";
    detail::check_view(x, where, "activations");
    detail::check_finite(x, where, "activations");
    BITDIAL_REQUIRE(x.cols <= detail::max_token_len, where, ": K = ", x.cols, ": exceeds 2^24");
    quantized_activations out;
    out.rows = x.rows;
    out.cols = x.cols;
    out.bits = bits();
    out.mode = opt_.mode;
    // Fresh vectors, not resize(): GCC 12 misreads resize of an empty vector as a huge memmove
    // (-Wstringop-overflow) once this is inlined into a caller.
    out.codes = std::vector<std::int8_t>(x.rows * x.cols);
    out.scales = std::vector<float>(x.rows);
    out.zero_points = std::vector<std::int32_t>(x.rows);
    out.code_sums = std::vector<std::int32_t>(x.rows);
    for (std::size_t t = 0; t < x.rows; ++t) {
      const token_params p = quantize_token_unchecked(x.data + t * x.stride, x.cols, out.codes.data() + t * x.cols);
      out.scales[t] = p.scale;
      out.zero_points[t] = p.zero_point;
      out.code_sums[t] = p.code_sum;
    }
    return out;
  }

 private:
  void validate() const {
    BITDIAL_REQUIRE(std::isfinite(opt_.eps) && opt_.eps > 0.0f, "per_token_quantizer: eps = ", opt_.eps,
                    ": must be finite and > 0");
  }

  token_params symmetric_token(const float* x, std::size_t k, std::int8_t* codes) const noexcept {
    const int b = bits();
    const float qp = b == 1 ? 1.0f : static_cast<float>(signed_max(b));
    const float lo = static_cast<float>(signed_min(b)), hi = static_cast<float>(signed_max(b));
    const float amax = detail::absmax(x, k);
    const float s = qp / std::max(amax, opt_.eps);
    const std::int32_t sum = detail::quantize_scaled_rne(x, k, s, lo, hi, codes);
    // 1/s times the largest code stays finite (binds only for max|x| within 1% of FLT_MAX).
    return {std::min(1.0f / s, detail::max_finite_step(-lo)), 0, sum};
  }

  token_params asymmetric_token(const float* x, std::size_t k, std::int8_t* codes) const noexcept {
    const int b = bits();
    const std::int32_t umax = unsigned_max(b), bias = -signed_min(b);
    float lo = 0.0f, hi = 0.0f;
    for (std::size_t i = 0; i < k; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    const double range = std::clamp(static_cast<double>(hi) - static_cast<double>(lo), static_cast<double>(opt_.eps),
                                    static_cast<double>(std::numeric_limits<float>::max()));
    const float s = static_cast<float>(umax / range);
    const std::int32_t z = detail::round_half_even_small(std::clamp(-lo * s, 0.0f, static_cast<float>(umax)));
    const float vlo = static_cast<float>(-z), vhi = static_cast<float>(umax - z);
    std::int32_t sum = 0;
    for (std::size_t i = 0; i < k; ++i) {
      const std::int32_t q = detail::round_half_even_small(std::clamp(x[i] * s, vlo, vhi)) + z - bias;
      codes[i] = static_cast<std::int8_t>(q);
      sum += q;
    }
    return {std::min(1.0f / s, detail::max_finite_step(static_cast<double>(std::max(z, umax - z)))), z - bias, sum};
  }

  bit_width<Bits> bits_;
  options opt_;
};

/// BitNet b1.58's activation quantizer: 8-bit symmetric per token, eps = 1e-5.
using bitnet_activation_quantizer = per_token_quantizer<8>;

}  // namespace bitdial
