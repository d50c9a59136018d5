// bitdial/kernels/bitserial.hpp — bit-serial W×A GEMM/GEMV (ABQ-LLM style): weight planes of a
// bit_plane_stack view at any width b × per-token activation planes at any width a (1..8 each),
// Σ_i Σ_j c_i d_j popcnt(W_i ∧ X_j) (XOR for bipolar × bipolar), with the shared float epilogue.
//
//   Y(n, r) = finish_row( acc(n, r, g), sumx(n, g) )       (kernels/epilogue.hpp)
//   acc     = Σ_c q_b(r, c)·xint(n, c)  exactly            (algebra: kernels/bitserial_operands.hpp)
//
// Weight encodings come from the view (two's complement for signed masters, unsigned, zero point,
// bipolar mid-rise; truncate, round_half_up and round_half_even rules); activation encodings are
// act_encoding (two's complement, zero point / unsigned, bipolar). Activations are quantized per
// token and turned into planes once per call; each 32-row weight block is transformed once into
// the dense rows32x32 operand and then serves every token of the call.
//
// Kernels (all return reference::bitserial_accumulators' integers, hence identical floats):
//   reference   plane_view::code × bitserial_activations::value, triple loop (the spec)
//   portable    std::popcount over the rows32x32 / act_planes32 operands
//   avx2        vpshufb nibble-table popcounts (kernels/x86/bitserial_avx2.hpp)
//   avx512      vpopcntd (AVX-512 VPOPCNTDQ; kernels/x86/bitserial_avx512.hpp)
//   neon        CNT byte popcounts, UADALP folds (aarch64; kernels/arm/bitserial_neon.hpp)
// The kernel is chosen once per call; `automatic` takes the best the CPU supports. Packed kernels
// need scale groups that are whole 32-K steps (per-row, per-tensor, or group % 32 == 0);
// `automatic` runs the reference otherwise and a forced packed ISA is an error naming it.
// Rows are split over threads by whole 32-row blocks: results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include "bitdial/core/parallel.hpp"
#include "bitdial/kernels/bitserial_operands.hpp"
#include "bitdial/kernels/gemm.hpp"
#include "bitdial/kernels/reference/bitserial.hpp"
#include "bitdial/kernels/arm/bitserial_neon.hpp"  // aarch64 kernels (BITDIAL_ARM_SIMD)
#include "bitdial/kernels/arm/plane_neon.hpp"
#include "bitdial/kernels/x86/bitserial_avx2.hpp"
#include "bitdial/kernels/x86/bitserial_avx512.hpp"

namespace bitdial {

/// Activation side of the float front doors.
struct bitserial_options {
  int act_bits = 8;
  act_encoding encoding = act_encoding::twos_complement;
};

/// Whether this build and CPU run the bit-serial kernel of `isa`.
inline bool bitserial_isa_available(kernel_isa isa) noexcept {
  switch (isa) {
    case kernel_isa::automatic:
    case kernel_isa::reference:
    case kernel_isa::portable:
      return true;
    case kernel_isa::avx2:
      return x86::bitserial_avx2_available();
    case kernel_isa::avx512:
      return x86::bitserial_avx512_available();
    case kernel_isa::neon:  // aarch64 (CNT popcounts; no dotprod form)
      return arm::plane_neon_available();
    case kernel_isa::dotprod:
      return false;
  }
  return false;
}

/// Every bit-serial ISA usable here, best last.
inline std::vector<kernel_isa> bitserial_isas() {
  std::vector<kernel_isa> v;
  for (auto i : {kernel_isa::reference, kernel_isa::portable, kernel_isa::avx2, kernel_isa::avx512, kernel_isa::neon})
    if (bitserial_isa_available(i)) v.push_back(i);
  return v;
}

namespace detail {

/// The per-ISA parts of one call, chosen once.
struct bitserial_kernel {
  void (*transform)(const bitserial_job&, const std::byte*, std::uint32_t*) noexcept = nullptr;
  void (*code_sums)(const bitserial_job&, const std::uint32_t*, std::int64_t*) noexcept = nullptr;
  bitserial_window_fn full = nullptr;  // exactly `tile_tokens` tokens
  bitserial_window_fn (*pick)(bool xnor, std::size_t tokens) noexcept = nullptr;
  std::size_t tile_tokens = 1;
};

inline bitserial_window_fn pick_portable(bool xnor, std::size_t) noexcept {
  return xnor ? &window_portable<true> : &window_portable<false>;
}

inline bitserial_kernel bitserial_kernel_for(kernel_isa isa, bool xnor) noexcept {
  bitserial_kernel k;
  k.transform = &transform_block_portable;
  k.code_sums = &code_sums_portable;
  k.pick = &pick_portable;
  k.tile_tokens = 8;
#if BITDIAL_X86_SIMD
  if (isa == kernel_isa::avx512) {
    k.transform = &x86::detail::bitserial512::transform_block;
    k.code_sums = &x86::detail::bitserial512::code_sums;
    k.pick = &x86::detail::bitserial512::pick;
    k.tile_tokens = x86::detail::bitserial512::max_tokens;
  } else if (isa == kernel_isa::avx2) {
    k.transform = &x86::detail::bitserial256::transform_block;
    k.pick = &x86::detail::bitserial256::pick;
    k.tile_tokens = x86::detail::bitserial256::max_tokens;
  }
#endif
#if BITDIAL_ARM_SIMD
  if (isa == kernel_isa::neon) {  // aarch64: NEON window loop, portable transform and code sums
    k.pick = &arm::detail::bitserial_pick;
    k.tile_tokens = arm::detail::bitserial_max_tokens;
  }
#endif
  (void)isa;
  k.full = k.pick(xnor, k.tile_tokens);
  return k;
}

inline void check_bitserial_args(const plane_view& w, const bitserial_activations& x, matrix_view<float> y,
                                 const gemm_params& p, const char* where) {
  BITDIAL_REQUIRE(w.stack != nullptr, where, ": weights: empty view");
  BITDIAL_REQUIRE(x.tokens() > 0, where, ": activations.tokens = 0: nothing to multiply");
  BITDIAL_REQUIRE(x.cols() == w.cols(), where, ": activations.cols = ", x.cols(),
                  ": must equal the weight K = ", w.cols());
  BITDIAL_REQUIRE(y.data != nullptr, where, ": output: null data");
  BITDIAL_REQUIRE(y.rows == x.tokens() && y.cols == w.rows(), where, ": output shape = ", y.rows, "x", y.cols,
                  ": expected ", x.tokens(), "x", w.rows(), " (tokens x rows)");
  BITDIAL_REQUIRE(y.stride >= y.cols, where, ": output.stride = ", y.stride, ": less than cols = ", y.cols);
  const std::size_t r1 = std::min(p.row_end, w.rows());
  BITDIAL_REQUIRE(p.row_begin < r1, where, ": params.row_begin = ", p.row_begin, ": empty row range (rows = ", w.rows(),
                  ")");
  BITDIAL_REQUIRE(w.cols() < (std::size_t{1} << 31), where, ": K = ", w.cols(), ": must be below 2^31");
}

inline kernel_isa resolve_bitserial_isa(const plane_view& w, kernel_isa want, const char* where) {
  BITDIAL_REQUIRE(bitserial_isa_available(want), where, ": isa = ", to_string(want),
                  ": not supported by this CPU or build");
  const bool packed_ok = bitserial_groups_ok(w);
  if (want == kernel_isa::automatic) {
    if (!packed_ok) return kernel_isa::reference;
    if (x86::bitserial_avx512_available()) return kernel_isa::avx512;
    if (x86::bitserial_avx2_available()) return kernel_isa::avx2;
    if (arm::plane_neon_available()) return kernel_isa::neon;  // aarch64
    return kernel_isa::portable;
  }
  BITDIAL_REQUIRE(want == kernel_isa::reference || packed_ok, where, ": isa = ", to_string(want), ": group size ",
                  w.stack->gran().group, " is not a multiple of 32");
  return want;
}

/// Runs the packed kernel on view-relative rows [r0, r1) (whole blocks, or the range's part of
/// its first and last block): y rows are written, and acc_out[(n·rows + r)·groups + g] if non-null.
inline void bitserial_rows(const plane_view& w, const bitserial_activations& x, const bitserial_job& j,
                           const bitserial_kernel& k, const std::vector<std::int64_t>& sums, matrix_view<float> y,
                           const float* bias, std::size_t r0, std::size_t r1, std::int64_t* acc_out) {
  constexpr std::size_t RB = tile32x16::rows_per_block;
  const bit_plane_stack& s = *w.stack;
  const std::size_t a0 = w.row_begin + r0, a1 = w.row_begin + r1;  // stack rows
  const std::size_t groups = j.groups, T = k.tile_tokens, terms = static_cast<std::size_t>(j.terms);
  const int top_bit = s.master_bits() - 1;
  aligned_buffer block(j.block_words() * sizeof(std::uint32_t));
  auto* op = reinterpret_cast<std::uint32_t*>(block.data());
  std::vector<std::int64_t> csum(j.need_code_sums ? groups * RB : 0);
  std::vector<std::int32_t> tot(T * RB);
  std::vector<std::int64_t> acc(T * groups * RB), row_acc(groups);
  std::vector<const std::uint32_t*> xs(T);
  const std::int64_t xnor_const =
      static_cast<std::int64_t>(j.group_len) * unsigned_max(j.served_bits) * unsigned_max(j.act_bits);
  for (std::size_t blk = a0 / RB; blk <= (a1 - 1) / RB; ++blk) {
    k.transform(j, s.plane(blk, top_bit), op);
    if (j.need_code_sums) k.code_sums(j, op, csum.data());
    const std::size_t lo = std::max(a0, blk * RB), hi = std::min(a1, (blk + 1) * RB);
    for (std::size_t n0 = 0; n0 < x.tokens(); n0 += T) {
      const std::size_t tn = std::min(T, x.tokens() - n0);
      const bitserial_window_fn fn = tn == T ? k.full : k.pick(j.xnor, tn);
      std::fill(acc.begin(), acc.end(), 0);
      for (std::size_t g = 0; g < groups; ++g)
        for (std::size_t s0 = g * j.steps_per_group; s0 < (g + 1) * j.steps_per_group; s0 += max_window_steps) {
          const std::size_t steps = std::min(max_window_steps, (g + 1) * j.steps_per_group - s0);
          for (std::size_t t = 0; t < tn; ++t) xs[t] = x.plane(n0 + t, 0) + s0;
          std::fill(tot.begin(), tot.end(), 0);
          fn(j, op + s0 * terms * 32, xs.data(), x.plane_stride(), tn, steps, tot.data());
          for (std::size_t t = 0; t < tn; ++t)
            for (std::size_t i = 0; i < RB; ++i) acc[(t * groups + g) * RB + i] += tot[t * RB + i];
        }
      for (std::size_t t = 0; t < tn; ++t) {
        const std::size_t n = n0 + t;
        const std::int64_t* sx = &sums[n * groups];
        for (std::size_t r = lo; r < hi; ++r) {
          const std::size_t i = r - blk * RB;
          for (std::size_t g = 0; g < groups; ++g) {
            const std::int64_t raw = acc[(t * groups + g) * RB + i];
            std::int64_t a;
            if (j.xnor) {
              a = (raw + xnor_const + std::int64_t{unsigned_max(j.served_bits)} * sx[g]) / 2;
            } else {
              a = raw + (j.need_code_sums ? std::int64_t{x.offset(n)} * csum[g * RB + i] : 0);
            }
            row_acc[g] = a;
          }
          const std::size_t rv = r - w.row_begin;
          if (acc_out)
            std::copy(row_acc.begin(), row_acc.end(), acc_out + (n * w.rows() + rv) * groups);
          else
            y(n, rv) = finish_row(w, rv, row_acc.data(), sx, x.scale(n), bias);
        }
      }
    }
  }
}

/// One validated call on `isa` (packed kernels), split by row blocks over the pool.
inline void bitserial_dispatch(const plane_view& w, const bitserial_activations& x, kernel_isa isa,
                               matrix_view<float> y, const gemm_params& p, const run_options& o,
                               std::int64_t* acc_out) {
  const bitserial_job j = make_bitserial_job(w, x);
  const bitserial_kernel k = bitserial_kernel_for(isa, j.xnor);
  std::vector<std::int64_t> sums(x.tokens() * j.groups);
  for (std::size_t n = 0; n < x.tokens(); ++n)
    for (std::size_t g = 0; g < j.groups; ++g)
      sums[n * j.groups + g] = x.sum(n, g * j.group_len, (g + 1) * j.group_len);
  constexpr std::size_t RB = tile32x16::rows_per_block;
  const std::size_t r0 = p.row_begin, r1 = std::min(p.row_end, w.rows());
  const std::size_t b0 = (w.row_begin + r0) / RB, b1 = (w.row_begin + r1 + RB - 1) / RB;
  thread_pool& pool = o.pool ? *o.pool : thread_pool::global();
  const std::size_t used = std::min<std::size_t>(o.threads == 0 ? pool.size() : o.threads, b1 - b0);
  parallel_for(
      b1 - b0, used,
      [&](std::size_t i0, std::size_t i1) {
        if (i0 >= i1) return;
        const std::size_t s0 = std::max(w.row_begin + r0, (b0 + i0) * RB),
                          s1 = std::min(w.row_begin + r1, (b0 + i1) * RB);
        if (s0 < s1) bitserial_rows(w, x, j, k, sums, y, p.bias, s0 - w.row_begin, s1 - w.row_begin, acc_out);
      },
      pool, used);
}

}  // namespace detail

/// Y (tokens × rows) = X̂ · Ŵ_bᵀ for activations already in plane form.
inline void bitserial_gemm(const plane_view& w, const bitserial_activations& x, matrix_view<float> y,
                           const gemm_params& p = {}, const run_options& o = {}) {
  constexpr const char* where = "bitserial_gemm";
  detail::check_bitserial_args(w, x, y, p, where);
  const kernel_isa isa = detail::resolve_bitserial_isa(w, o.isa, where);
  if (isa == kernel_isa::reference) {
    reference::bitserial_gemm(w, x, y, gemm_params{p.bias, p.row_begin, std::min(p.row_end, w.rows())});
    return;
  }
  detail::bitserial_dispatch(w, x, isa, y, p, o, nullptr);
}

/// The exact integer accumulators acc[(n·rows + r)·groups + g] the chosen kernel computes (what the
/// epilogue consumes; tests compare them with reference::bitserial_accumulators).
inline std::vector<std::int64_t> bitserial_accumulators(const plane_view& w, const bitserial_activations& x,
                                                        const run_options& o = {}) {
  constexpr const char* where = "bitserial_accumulators";
  BITDIAL_REQUIRE(w.stack != nullptr, where, ": weights: empty view");
  BITDIAL_REQUIRE(x.tokens() > 0 && x.cols() == w.cols(), where, ": activations.cols = ", x.cols(),
                  ": must equal the weight K = ", w.cols());
  const kernel_isa isa = detail::resolve_bitserial_isa(w, o.isa, where);
  if (isa == kernel_isa::reference) return reference::bitserial_accumulators(w, x);
  std::vector<std::int64_t> acc(x.tokens() * w.rows() * w.stack->groups_per_row(), 0);
  detail::bitserial_dispatch(w, x, isa, matrix_view<float>(), gemm_params{}, o, acc.data());
  return acc;
}

/// Y (tokens × rows) = X · Ŵ_bᵀ for float activations, quantized per token to `b.act_bits` in
/// `b.encoding` inside the call (quantize_bitserial).
inline void bitserial_gemm(const plane_view& w, const_matrix x, matrix_view<float> y, const bitserial_options& b,
                           const gemm_params& p = {}, const run_options& o = {}) {
  BITDIAL_REQUIRE(w.stack != nullptr, "bitserial_gemm: weights: empty view");
  BITDIAL_REQUIRE(x.cols == w.cols(), "bitserial_gemm: activations.cols = ", x.cols,
                  ": must equal the weight K = ", w.cols());
  bitserial_gemm(w, quantize_bitserial(x, b.act_bits, b.encoding), y, p, o);
}

/// y = Ŵ_b · x for one float token.
inline void bitserial_gemv(const plane_view& w, std::span<const float> x, std::span<float> y,
                           const bitserial_options& b, const gemm_params& p = {}, const run_options& o = {}) {
  BITDIAL_REQUIRE(w.stack != nullptr, "bitserial_gemv: weights: empty view");
  BITDIAL_REQUIRE(y.size() == w.rows(), "bitserial_gemv: y.size() = ", y.size(),
                  ": expected the weight rows = ", w.rows());
  bitserial_gemm(w, const_matrix(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()), b, p, o);
}

}  // namespace bitdial
