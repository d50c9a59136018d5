// bitdial/kernels/gemm.hpp — the front door: Y = X · Ŵ_bᵀ for any plane view, with validation,
// one kernel choice per call, and an optional split of output rows over a thread pool.
//
// Kernels (all return the same integers, hence the same floats — kernels/epilogue.hpp):
//   reference   plane_view::code element by element (the spec)
//   portable    subset-sum lookup over the packed planes, plain C++
//   avx2        the same lookup with vpshufb over regrouped tiles, int16 window sums (kernels/x86)
//   avx512      the same lookup with vpermb + vpdpbusd over 64-byte tiles (kernels/x86)
//   neon        the same lookup with LD4 + TBL over de-interleaved tiles (kernels/arm, aarch64)
//   dotprod     codes unpacked once per row block, then SDOT against every token (kernels/arm)
// `kernel_isa::automatic` takes the best the CPU supports; forcing an ISA the CPU lacks is an error.
// Rows are split over threads by whole 32-row blocks, so no two threads touch one tile and the
// result does not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>

#include "bitdial/core/parallel.hpp"
#include "bitdial/kernels/portable/plane_gemm.hpp"
#include "bitdial/kernels/reference/gemm.hpp"
#include "bitdial/quant/activation.hpp"

#include "bitdial/kernels/x86/plane_avx2.hpp"
#include "bitdial/kernels/x86/plane_avx512.hpp"
#include "bitdial/kernels/arm/plane_neon.hpp"  // aarch64 kernels (BITDIAL_ARM_SIMD)

namespace bitdial {

enum class kernel_isa : std::uint8_t { automatic, reference, portable, avx2, avx512, neon, dotprod };

inline const char* to_string(kernel_isa i) noexcept {
  switch (i) {
    case kernel_isa::automatic:
      return "automatic";
    case kernel_isa::reference:
      return "reference";
    case kernel_isa::portable:
      return "portable";
    case kernel_isa::avx2:
      return "avx2";
    case kernel_isa::avx512:
      return "avx512";
    case kernel_isa::neon:  // aarch64
      return "neon";
    case kernel_isa::dotprod:
      return "dotprod";
  }
  return "?";
}

/// Whether this build and this CPU can run kernels of `isa`.
inline bool isa_available(kernel_isa isa) noexcept {
  switch (isa) {
    case kernel_isa::automatic:
    case kernel_isa::reference:
    case kernel_isa::portable:
      return true;
    case kernel_isa::avx2:
      return x86::plane_avx2_available();
    case kernel_isa::avx512:
      return x86::plane_avx512_available();
    case kernel_isa::neon:  // aarch64
      return arm::plane_neon_available();
    case kernel_isa::dotprod:
      return arm::plane_dotprod_available();
  }
  return false;
}

/// Every ISA usable here, best last.
inline std::vector<kernel_isa> available_isas() {
  std::vector<kernel_isa> v;
  for (auto i : {kernel_isa::reference, kernel_isa::portable, kernel_isa::avx2, kernel_isa::avx512, kernel_isa::neon,
                 kernel_isa::dotprod})
    if (isa_available(i)) v.push_back(i);
  return v;
}

struct run_options {
  kernel_isa isa = kernel_isa::automatic;
  thread_pool* pool = nullptr;  // null: thread_pool::global()
  std::size_t threads = 0;      // 0: every worker of the pool; 1: the calling thread only
};

namespace detail {

inline void check_gemm_args(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                            const char* where) {
  BITDIAL_REQUIRE(w.stack != nullptr, where, ": weights: empty view");
  // A plane_view is a public aggregate: re-check what view()/shard() guarantee (O(1)), so a
  // hand-built view cannot send a kernel outside the stack.
  BITDIAL_REQUIRE(w.bits >= 1 && w.bits <= w.stack->master_bits(), where, ": weights.bits = ", w.bits,
                  ": must be in 1..", w.stack->master_bits(), " (the master width)");
  BITDIAL_REQUIRE(w.row_begin < w.row_end && w.row_end <= w.stack->rows(), where, ": weights rows = [", w.row_begin,
                  ", ", w.row_end, "): must be a non-empty range inside [0, ", w.stack->rows(), ")");
  BITDIAL_REQUIRE(w.rule == serve_rule::truncate || w.stack->is_signed(), where, ": weights.rule = ", to_string(w.rule),
                  ": double rounding needs a signed master");
  BITDIAL_REQUIRE(x.tokens > 0, where, ": activations.tokens = 0: nothing to multiply");
  BITDIAL_REQUIRE(x.codes != nullptr && x.scales != nullptr, where, ": activations: null codes or scales");
  BITDIAL_REQUIRE(x.cols == w.cols(), where, ": activations.cols = ", x.cols, ": must equal the weight K = ", w.cols());
  BITDIAL_REQUIRE(x.stride >= x.cols, where, ": activations.stride = ", x.stride, ": less than cols = ", x.cols);
  BITDIAL_REQUIRE(y.data != nullptr, where, ": output: null data");
  BITDIAL_REQUIRE(y.rows == x.tokens && y.cols == w.rows(), where, ": output shape = ", y.rows, "x", y.cols,
                  ": expected ", x.tokens, "x", w.rows(), " (tokens x rows)");
  BITDIAL_REQUIRE(y.stride >= y.cols, where, ": output.stride = ", y.stride, ": less than cols = ", y.cols);
  const std::size_t r1 = std::min(p.row_end, w.rows());
  BITDIAL_REQUIRE(p.row_begin < r1, where, ": params.row_begin = ", p.row_begin, ": empty row range (rows = ", w.rows(),
                  ")");
  for (std::size_t n = 0; n < x.tokens; ++n)
    BITDIAL_REQUIRE(std::isfinite(x.scales[n]) && x.scales[n] >= 0.0f, where, ": activations.scales[", n,
                    "] = ", x.scales[n], ": must be finite and >= 0");
}

inline kernel_isa resolve_isa(const plane_view& w, kernel_isa want, const char* where, std::size_t tokens = 1) {
  BITDIAL_REQUIRE(isa_available(want), where, ": isa = ", to_string(want), ": not supported by this CPU or build");
  const std::size_t groups = w.stack->groups_per_row();
  const std::size_t glen = w.cols() / groups;
  const bool lut_ok = groups == 1 || glen % 4 == 0;
  if (want == kernel_isa::automatic) {
    if (x86::plane_avx512_supports(w)) return kernel_isa::avx512;
    if (x86::plane_avx2_supports(w)) return kernel_isa::avx2;
    if (arm::plane_neon_available() && arm::plane_arm_groups_ok(w))  // aarch64: lookup, or unpack + SDOT
      return tokens > arm::lookup_max_tokens && arm::plane_dotprod_available() ? kernel_isa::dotprod : kernel_isa::neon;
    return lut_ok ? kernel_isa::portable : kernel_isa::reference;
  }
  BITDIAL_REQUIRE(want != kernel_isa::portable || lut_ok, where, ": isa = portable: group size ", glen,
                  " is not a multiple of 4");
  BITDIAL_REQUIRE(want != kernel_isa::avx2 || x86::plane_avx2_supports(w), where,
                  ": isa = avx2: this view's scale groups are not supported by the avx2 kernel");
  BITDIAL_REQUIRE(want != kernel_isa::avx512 || x86::plane_avx512_supports(w), where,
                  ": isa = avx512: this view's scale groups are not supported by the avx512 kernel");
  BITDIAL_REQUIRE((want != kernel_isa::neon && want != kernel_isa::dotprod) || arm::plane_arm_groups_ok(w), where,
                  ": isa = ", to_string(want), ": group size ", glen, " is not a multiple of 16");
  return want;
}

}  // namespace detail

/// Y (tokens × rows) = X · Ŵ_bᵀ for pre-quantized int8 activations.
inline void gemm(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  constexpr const char* where = "gemm";
  detail::check_gemm_args(w, x, y, p, where);
  const kernel_isa isa = detail::resolve_isa(w, o.isa, where, x.tokens);
  const std::size_t r0 = p.row_begin, r1 = std::min(p.row_end, w.rows());
  thread_pool& pool = o.pool ? *o.pool : thread_pool::global();

  if (isa == kernel_isa::reference) {
    reference::gemm(w, x, y, gemm_params{p.bias, r0, r1});
    return;
  }
  // Split by 32-row blocks of the stack.
  constexpr std::size_t RB = tile32x16::rows_per_block;
  const std::size_t b0 = (w.row_begin + r0) / RB, b1 = (w.row_begin + r1 + RB - 1) / RB;
  const std::size_t used = std::min<std::size_t>(o.threads == 0 ? pool.size() : o.threads, b1 - b0);
  auto rows_of = [&](std::size_t blk_begin, std::size_t blk_end, std::size_t& a, std::size_t& b) {
    a = std::max(r0, blk_begin * RB - std::min(blk_begin * RB, w.row_begin));
    b = std::min(r1, blk_end * RB - w.row_begin);
  };
  if (isa == kernel_isa::portable) {
    const auto tables = portable::build_tables(x, w.stack->layout().k_tiles());
    parallel_for(
        b1 - b0, used,
        [&](std::size_t i0, std::size_t i1) {
          std::size_t a, b;
          rows_of(b0 + i0, b0 + i1, a, b);
          if (a < b) portable::plane_gemm(w, x, tables, y, p.bias, a, b);
        },
        pool, used);
    return;
  }
  if (isa == kernel_isa::neon || isa == kernel_isa::dotprod) {  // aarch64
    arm::plane_gemm_arm_parallel(
        w, x, y, p.bias, r0, r1,
        isa == kernel_isa::neon ? arm::arm_plane_method::lookup : arm::arm_plane_method::unpack,
        [&](std::size_t blocks, auto&& fn) { parallel_for(blocks, used, fn, pool, used); });
    return;
  }
  if (isa == kernel_isa::avx2) {
    x86::plane_gemm_avx2_parallel(w, x, y, p.bias, r0, r1,
                                  [&](std::size_t blocks, auto&& fn) { parallel_for(blocks, used, fn, pool, used); });
    return;
  }
  x86::plane_gemm_avx512_parallel(w, x, y, p.bias, r0, r1,
                                  [&](std::size_t blocks, auto&& fn) { parallel_for(blocks, used, fn, pool, used); });
}

/// Int8 view of per-token quantized activations (symmetric mode: the plane kernels fold no
/// activation zero point).
inline token_batch as_tokens(const quantized_activations& q) {
  BITDIAL_REQUIRE(q.mode == activation_mode::symmetric, "as_tokens: activation mode = asymmetric: the plane kernels ",
                  "take symmetric per-token activations");
  return token_batch{q.codes.data(), q.scales.data(), q.rows, q.cols, q.cols};
}

/// Y (tokens × rows) = X · Ŵ_bᵀ for float activations, quantized per token inside the call with
/// BitNet's int8 rule (quant/activation.hpp): s = 127 / max(max|x|, 1e-5), q = clamp(RNE(x·s)).
inline void gemm(const plane_view& w, const_matrix x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  const auto q = per_token_quantizer<8>().quantize(x);
  gemm(w, as_tokens(q), y, p, o);
}

/// y = Ŵ_b · x for one float token.
inline void gemv(const plane_view& w, std::span<const float> x, std::span<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  BITDIAL_REQUIRE(y.size() == w.rows(), "gemv: y.size() = ", y.size(), ": expected the weight rows = ", w.rows());
  gemm(w, const_matrix(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()), p, o);
}

}  // namespace bitdial
