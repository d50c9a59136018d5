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
// The kernel is chosen once per call from the rows of bitserial_kernels (kernels/dispatch.hpp);
// `automatic` takes the best the CPU supports. Packed kernels need scale groups that are whole
// 32-K steps (per-row, per-tensor, or group % 32 == 0; isa_serves<bitserial_kernels>(isa, view));
// `automatic` runs the reference otherwise and a forced packed ISA is an error naming it.
// Front doors as for plane views: pre-quantized activations (bitserial_activations), float
// activations quantized inside the call, one float token — params, then bitserial_options (the
// activation width and encoding), then run_options.
// Rows are split over threads by whole 32-row blocks: results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include "bitdial/core/parallel.hpp"
#include "bitdial/kernels/arm/bitserial_neon.hpp"
#include "bitdial/kernels/bitserial_operands.hpp"
#include "bitdial/kernels/gemm.hpp"
#include "bitdial/kernels/reference/bitserial.hpp"
#include "bitdial/kernels/x86/bitserial_avx2.hpp"
#include "bitdial/kernels/x86/bitserial_avx512.hpp"

namespace bitdial {

/// Activation side of the float front doors.
struct bitserial_options {
  int act_bits = 8;
  act_encoding encoding = act_encoding::twos_complement;
};

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
  if (isa == kernel_isa::neon) {  // NEON window loop; the portable transform and code sums
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
  check_output_args(y, x.tokens(), w.rows(), p, where);
  BITDIAL_REQUIRE(w.cols() < (std::size_t{1} << 31), where, ": K = ", w.cols(), ": must be below 2^31");
}

inline std::string bitserial_group_rule(const plane_view& w) {
  return "group size " + std::to_string(w.stack->gran().group) + " is not a multiple of 32";
}
inline bool bitserial_packed_serves(const plane_view& w) noexcept {
  return w.stack != nullptr && bitserial_groups_ok(w);
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
  detail::for_row_blocks(
      w.row_begin, p.row_begin, std::min(p.row_end, w.rows()), tile32x16::rows_per_block, o,
      [&](std::size_t a, std::size_t b) { bitserial_rows(w, x, j, k, sums, y, p.bias, a, b, acc_out); });
}

inline void bitserial_run_reference(const plane_view& w, const bitserial_activations& x, matrix_view<float> y,
                                    const gemm_params& p, const run_options&) {
  reference::bitserial_gemm(w, x, y, p);
}

template <kernel_isa Isa>
void bitserial_run_packed(const plane_view& w, const bitserial_activations& x, matrix_view<float> y,
                          const gemm_params& p, const run_options& o) {
  bitserial_dispatch(w, x, Isa, y, p, o, nullptr);
}

}  // namespace detail

/// The bit-serial kernels (kernels/dispatch.hpp): plane views × activation planes. Every packed
/// kernel needs scale groups of whole 32-K steps; the reference serves everything.
struct bitserial_kernels {
  using weights = plane_view;
  using activations = bitserial_activations;
  static constexpr const char* name = "bit-serial";
  static std::span<const kernel_row<plane_view, bitserial_activations>> rows() noexcept;
};

namespace detail {
// Worst first; resolve_kernel takes the last that runs here and serves the view.
inline constexpr kernel_row<plane_view, bitserial_activations> bitserial_rows_table[] = {
    {kernel_isa::reference, &isa_always, &always_serves, &no_rule, &bitserial_run_reference},
    {kernel_isa::portable, &isa_always, &bitserial_packed_serves, &bitserial_group_rule,
     &bitserial_run_packed<kernel_isa::portable>},
    {kernel_isa::avx2, &x86::bitserial_avx2_available, &bitserial_packed_serves, &bitserial_group_rule,
     &bitserial_run_packed<kernel_isa::avx2>},
    {kernel_isa::avx512, &x86::bitserial_avx512_available, &bitserial_packed_serves, &bitserial_group_rule,
     &bitserial_run_packed<kernel_isa::avx512>},
    {kernel_isa::neon, &isa_always, &bitserial_packed_serves, &bitserial_group_rule,
     &bitserial_run_packed<kernel_isa::neon>},
};
}  // namespace detail

inline std::span<const kernel_row<plane_view, bitserial_activations>> bitserial_kernels::rows() noexcept {
  return detail::bitserial_rows_table;
}

/// Whether this build and CPU run the bit-serial kernel of `isa`. Deprecated alias of
/// kernel_isa_available<bitserial_kernels>(isa).
inline bool bitserial_isa_available(kernel_isa isa) noexcept { return kernel_isa_available<bitserial_kernels>(isa); }

/// Every bit-serial ISA usable here, best last. Deprecated alias of kernel_isas<bitserial_kernels>().
inline std::vector<kernel_isa> bitserial_isas() { return kernel_isas<bitserial_kernels>(); }

/// Y (tokens × rows) = X̂ · Ŵ_bᵀ for activations already in plane form.
inline void bitserial_gemm(const plane_view& w, const bitserial_activations& x, matrix_view<float> y,
                           const gemm_params& p = {}, const run_options& o = {}) {
  constexpr const char* where = "bitserial_gemm";
  detail::check_bitserial_args(w, x, y, p, where);
  const auto& k = resolve_kernel<bitserial_kernels>(w, o.isa, where);
  k.run(w, x, y, gemm_params{p.bias, p.row_begin, std::min(p.row_end, w.rows())}, o);
}

/// The exact integer accumulators acc[(n·rows + r)·groups + g] the chosen kernel computes (what the
/// epilogue consumes; tests compare them with reference::bitserial_accumulators).
inline std::vector<std::int64_t> bitserial_accumulators(const plane_view& w, const bitserial_activations& x,
                                                        const run_options& o = {}) {
  constexpr const char* where = "bitserial_accumulators";
  BITDIAL_REQUIRE(w.stack != nullptr, where, ": weights: empty view");
  BITDIAL_REQUIRE(x.tokens() > 0 && x.cols() == w.cols(), where, ": activations.cols = ", x.cols(),
                  ": must equal the weight K = ", w.cols());
  const kernel_isa isa = resolve_kernel<bitserial_kernels>(w, o.isa, where).isa;
  if (isa == kernel_isa::reference) return reference::bitserial_accumulators(w, x);
  std::vector<std::int64_t> acc(x.tokens() * w.rows() * w.stack->groups_per_row(), 0);
  detail::bitserial_dispatch(w, x, isa, matrix_view<float>(), gemm_params{}, o, acc.data());
  return acc;
}

/// Y (tokens × rows) = X · Ŵ_bᵀ for float activations, quantized per token to `b.act_bits` in
/// `b.encoding` inside the call (quantize_bitserial).
inline void bitserial_gemm(const plane_view& w, const_matrix x, matrix_view<float> y, const gemm_params& p = {},
                           const bitserial_options& b = {}, const run_options& o = {}) {
  BITDIAL_REQUIRE(w.stack != nullptr, "bitserial_gemm: weights: empty view");
  BITDIAL_REQUIRE(x.cols == w.cols(), "bitserial_gemm: activations.cols = ", x.cols,
                  ": must equal the weight K = ", w.cols());
  bitserial_gemm(w, quantize_bitserial(x, b.act_bits, b.encoding), y, p, o);
}

/// y = Ŵ_b · x for one float token.
inline void bitserial_gemv(const plane_view& w, std::span<const float> x, std::span<float> y, const gemm_params& p = {},
                           const bitserial_options& b = {}, const run_options& o = {}) {
  BITDIAL_REQUIRE(w.stack != nullptr, "bitserial_gemv: weights: empty view");
  BITDIAL_REQUIRE(y.size() == w.rows(), "bitserial_gemv: y.size() = ", y.size(),
                  ": expected the weight rows = ", w.rows());
  bitserial_gemm(w, const_matrix(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()), p, b, o);
}

/// The earlier argument order (options before params), kept for one release.
[[deprecated("pass gemm_params before bitserial_options: bitserial_gemm(w, x, y, params, options, run)")]] inline void
bitserial_gemm(const plane_view& w, const_matrix x, matrix_view<float> y, const bitserial_options& b,
               const gemm_params& p = {}, const run_options& o = {}) {
  bitserial_gemm(w, x, y, p, b, o);
}

/// The earlier argument order (options before params), kept for one release.
[[deprecated("pass gemm_params before bitserial_options: bitserial_gemv(w, x, y, params, options, run)")]] inline void
bitserial_gemv(const plane_view& w, std::span<const float> x, std::span<float> y, const bitserial_options& b,
               const gemm_params& p = {}, const run_options& o = {}) {
  bitserial_gemv(w, x, y, p, b, o);
}

}  // namespace bitdial
