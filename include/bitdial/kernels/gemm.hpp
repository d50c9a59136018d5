// bitdial/kernels/gemm.hpp — the front door: Y = X · Ŵ_bᵀ for any plane view, with validation,
// one kernel choice per call, and an optional split of output rows over a thread pool.
//
// Kernels (all return the same integers, hence the same floats — kernels/epilogue.hpp):
//   reference   plane_view::code element by element (the spec)
//   portable    subset-sum lookup over the packed planes, plain C++
//   avx2        the same lookup with vpshufb over regrouped tiles, int16 window sums (kernels/x86)
//   avx512      the same lookup with vpermb + vpdpbusd over 64-byte tiles (kernels/x86)
//   neon        the same lookup with LD4 + TBL over de-interleaved tiles (kernels/arm, aarch64)
//   dotprod     codes unpacked once per row block, then SDOT against every token (kernels/arm);
//               under `automatic` a call of at most arm::lookup_max_tokens tokens runs the NEON
//               lookup instead (plane_arm_method), which is cheaper there
//   i8mm        the same rebuilt codes regrouped as row pairs, then SMMLA against token pairs
//               (kernels/arm/plane_i8mm.hpp); under `automatic` a call of fewer than
//               arm::i8mm_min_tokens tokens makes the dotprod row's choice instead
// The kernels and their rules are the rows of plane_gemm_kernels (kernels/dispatch.hpp):
// `kernel_isa::automatic` takes the best that runs here and serves the view; forcing an ISA the CPU
// lacks, or one whose rule the view breaks, is an error naming both. The rules, public through
// isa_serves<plane_gemm_kernels>(isa, view):
//   reference   every view
//   portable    scale groups of whole 4-K lookups (per row, per tensor, or group % 4 == 0)
//   avx2/avx512 scale groups of whole 16-K chunks (per row, per tensor, or group % 16 == 0)
//   neon/dotprod/i8mm the same
// Rows are split over threads by whole 32-row blocks, so no two threads touch one tile and the
// result does not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>

#include "bitdial/core/parallel.hpp"
#include "bitdial/kernels/dispatch.hpp"
#include "bitdial/kernels/portable/plane_gemm.hpp"
#include "bitdial/kernels/reference/gemm.hpp"
#include "bitdial/quant/activation.hpp"

#include "bitdial/kernels/arm/plane_i8mm.hpp"
#include "bitdial/kernels/arm/plane_neon.hpp"
#include "bitdial/kernels/x86/plane_avx2.hpp"
#include "bitdial/kernels/x86/plane_avx512.hpp"

namespace bitdial {

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
  BITDIAL_REQUIRE(fit_index(w.rule) >= 0, where, ": weights.rule = ", to_string(w.rule),
                  ": a view serves floor (truncation), half_up or half_even");
  BITDIAL_REQUIRE(w.rule == rounding::floor || w.stack->is_signed(), where, ": weights.rule = ", to_string(w.rule),
                  ": double rounding needs a signed master");
  check_token_args(x, w.cols(), y, w.rows(), p, where);
}

/// The portable kernel's rule: scale groups of whole 4-K lookups (one group per row always is).
inline bool plane_groups_of_4(const plane_view& w) noexcept {
  if (w.stack == nullptr) return false;
  const std::size_t groups = w.stack->groups_per_row();
  return groups == 1 || (w.cols() / groups) % 4 == 0;
}
/// The x86 kernels' rule: scale groups of whole 16-K chunks (per row and per tensor always are).
inline bool plane_groups_of_16(const plane_view& w) noexcept { return x86::detail::plane_groups_served(w); }
inline std::string plane_group_rule(const plane_view& w, std::size_t unit) {
  return "group size " + std::to_string(w.cols() / w.stack->groups_per_row()) + " is not a multiple of " +
         std::to_string(unit);
}

inline void plane_run_reference(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                                const run_options&) {
  reference::gemm(w, x, y, p);
}

inline void plane_run_portable(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                               const run_options& o) {
  const auto tables = portable::build_tables(x, w.stack->layout().k_tiles());
  for_row_blocks(w.row_begin, p.row_begin, p.row_end, tile32x16::rows_per_block, o,
                 [&](std::size_t a, std::size_t b) { portable::plane_gemm(w, x, tables, y, p.bias, a, b); });
}

inline void plane_run_avx2(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                           const run_options& o) {
  const x86::plane_avx2_plan plan = x86::prepare_plane_gemm_avx2(w, x);
  for_row_blocks(w.row_begin, p.row_begin, p.row_end, tile32x16::rows_per_block, o,
                 [&](std::size_t a, std::size_t b) { x86::run_plane_gemm_avx2(plan, y, p.bias, a, b); });
}

inline void plane_run_avx512(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                             const run_options& o) {
  const x86::plane_gemm_plan plan = x86::prepare_plane_gemm_avx512(w, x);
  for_row_blocks(w.row_begin, p.row_begin, p.row_end, tile32x16::rows_per_block, o,
                 [&](std::size_t a, std::size_t b) { x86::run_plane_gemm_avx512(plan, y, p.bias, a, b); });
}

/// The method the dotprod row runs: forced, always unpack + SDOT; under `automatic`, the NEON
/// lookup for calls of at most arm::lookup_max_tokens tokens (per plane tile the unpack costs about
/// two tokens' lookups, bench/results/arm-cost-2026-12-06.md).
inline arm::arm_plane_method plane_arm_method(const run_options& o, std::size_t tokens) noexcept {
  return o.isa == kernel_isa::automatic && tokens <= arm::lookup_max_tokens ? arm::arm_plane_method::lookup
                                                                            : arm::arm_plane_method::unpack;
}

inline void plane_run_arm(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                          const run_options& o, arm::arm_plane_method method) {
  const arm::plane_arm_plan plan = arm::prepare_plane_gemm_arm(w, x, method);
  for_row_blocks(w.row_begin, p.row_begin, p.row_end, tile32x16::rows_per_block, o,
                 [&](std::size_t a, std::size_t b) { arm::run_plane_gemm_arm(plan, y, p.bias, a, b); });
}

inline void plane_run_neon(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                           const run_options& o) {
  plane_run_arm(w, x, y, p, o, arm::arm_plane_method::lookup);
}

inline void plane_run_dotprod(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                              const run_options& o) {
  plane_run_arm(w, x, y, p, o, plane_arm_method(o, x.tokens));
}

/// Whether the i8mm row runs its SMMLA kernel: forced, always; under `automatic`, from
/// arm::i8mm_min_tokens tokens up (below that the dotprod row's method is cheaper on paper,
/// bench/results/arm-cost-2026-12-06.md).
inline bool plane_i8mm_smmla(const run_options& o, std::size_t tokens) noexcept {
  return o.isa != kernel_isa::automatic || tokens >= arm::i8mm_min_tokens;
}

inline void plane_run_i8mm(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p,
                           const run_options& o) {
  if (!plane_i8mm_smmla(o, x.tokens)) return plane_run_arm(w, x, y, p, o, plane_arm_method(o, x.tokens));
  const arm::plane_i8mm_plan plan = arm::prepare_plane_gemm_i8mm(w, x);
  for_row_blocks(w.row_begin, p.row_begin, p.row_end, tile32x16::rows_per_block, o,
                 [&](std::size_t a, std::size_t b) { arm::run_plane_gemm_i8mm(plan, y, p.bias, a, b); });
}

}  // namespace detail

/// The plane GEMM kernels (kernels/dispatch.hpp): bit-plane views × int8 activations.
struct plane_gemm_kernels {
  using weights = plane_view;
  using activations = token_batch;
  static constexpr const char* name = "plane views";
  static std::span<const kernel_row<plane_view, token_batch>> rows() noexcept;
};

namespace detail {
// Worst first; resolve_kernel takes the last that runs here and serves the view.
inline constexpr kernel_row<plane_view, token_batch> plane_gemm_rows[] = {
    {kernel_isa::reference, &isa_always, &always_serves, &no_rule, &plane_run_reference},
    {kernel_isa::portable, &isa_always, &plane_groups_of_4, [](const plane_view& w) { return plane_group_rule(w, 4); },
     &plane_run_portable},
    {kernel_isa::avx2, &x86::plane_avx2_available, &plane_groups_of_16,
     [](const plane_view& w) { return plane_group_rule(w, tile32x16::k_per_tile); }, &plane_run_avx2},
    {kernel_isa::avx512, &x86::plane_avx512_available, &plane_groups_of_16,
     [](const plane_view& w) { return plane_group_rule(w, tile32x16::k_per_tile); }, &plane_run_avx512},
    {kernel_isa::neon, &arm::plane_neon_available, &arm::plane_arm_groups_ok,
     [](const plane_view& w) { return plane_group_rule(w, tile32x16::k_per_tile); }, &plane_run_neon},
    {kernel_isa::dotprod, &arm::plane_dotprod_available, &arm::plane_arm_groups_ok,
     [](const plane_view& w) { return plane_group_rule(w, tile32x16::k_per_tile); }, &plane_run_dotprod},
    {kernel_isa::i8mm, &arm::plane_i8mm_available, &arm::plane_arm_groups_ok,
     [](const plane_view& w) { return plane_group_rule(w, tile32x16::k_per_tile); }, &plane_run_i8mm},
};
}  // namespace detail

inline std::span<const kernel_row<plane_view, token_batch>> plane_gemm_kernels::rows() noexcept {
  return detail::plane_gemm_rows;
}

/// Y (tokens × rows) = X · Ŵ_bᵀ for pre-quantized int8 activations.
inline void gemm(const plane_view& w, const token_batch& x, matrix_view<float> y, const gemm_params& p = {},
                 const run_options& o = {}) {
  constexpr const char* where = "gemm";
  detail::check_gemm_args(w, x, y, p, where);
  const auto& k = resolve_kernel<plane_gemm_kernels>(w, o.isa, where);
  k.run(w, x, y, gemm_params{p.bias, p.row_begin, std::min(p.row_end, w.rows())}, o);
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
