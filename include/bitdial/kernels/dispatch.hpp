// bitdial/kernels/dispatch.hpp — the one place that lists the instruction sets, and the one routine
// that picks the kernel of a call. Dispatch happens here, once per call, never in an inner loop.
//
// Two tables:
//   isa_table            every ISA once: its name and whether this CPU and build run it (worst
//                        first: the reference is the spec, the portable kernel the fallback).
//   Family::rows()       per kernel family (plane GEMM, bit-serial, ternary, FP4, int8), one
//                        kernel_row per ISA that has a kernel of the family: what else the CPU must
//                        have (runs_here), which operands the kernel serves (serves / why_not), and
//                        the entry that prepares the call once and runs its row blocks over the
//                        pool (run). Like an operator config table: the kernel and what it needs are
//                        bound in one row, the front door only validates and calls resolve_kernel.
//
// resolve_kernel(w, want): `automatic` takes the last (best) row that runs here and serves w; a
// forced ISA must run here, have a row in the family, and serve w, or the call fails naming the
// ISA and the rule. The same rows answer the public queries isa_serves<Family>(isa, w) and
// kernel_isas<Family>(), so a caller forcing an ISA asks the rule instead of copying it.
//
// Adding an ISA (as neon, dotprod and i8mm were, under kernels/arm/): an enumerator in kernel_isa,
// a row in isa_table, and a row in each family table that has a kernel for it. No front door
// changes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bitdial/core/cpu.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/parallel.hpp"
#include "bitdial/kernels/activations.hpp"

namespace bitdial {

/// Which kernels serve a call. `automatic` takes the best one the CPU supports for the operand.
enum class kernel_isa : std::uint8_t {
  automatic,
  reference,
  portable,
  avx2,
  avx512,
  neon,     // aarch64 AdvSIMD (kernels/arm/)
  dotprod,  // aarch64 FEAT_DotProd (SDOT)
  i8mm,     // aarch64 FEAT_I8MM (SMMLA), with FEAT_DotProd
  // New ISAs go here (and in isa_table below).
};

/// One ISA: its name and whether this CPU and this build run its kernels.
struct isa_entry {
  kernel_isa isa;
  const char* name;
  bool (*runs_here)() noexcept;
};

namespace detail {
inline bool isa_always() noexcept { return true; }
inline bool isa_avx2_here() noexcept { return BITDIAL_X86_SIMD && cpu().avx2_kernels(); }
inline bool isa_avx512_here() noexcept { return BITDIAL_X86_SIMD && cpu().avx512_kernels(); }
inline bool isa_neon_here() noexcept { return BITDIAL_ARM_SIMD && cpu().asimd; }
inline bool isa_dotprod_here() noexcept { return BITDIAL_ARM_DOTPROD && cpu().asimd && cpu().dotprod; }
inline bool isa_i8mm_here() noexcept { return BITDIAL_ARM_I8MM && cpu().asimd && cpu().dotprod && cpu().i8mm; }
}  // namespace detail

/// Every ISA, worst first. The features each needs are core/cpu.hpp's (avx2_kernels(),
/// avx512_kernels(): what BITDIAL_TARGET_AVX2 / _AVX512 let the compiler emit; asimd, dotprod for
/// the SDOT kernels where BITDIAL_ARM_DOTPROD compiled them, and dotprod + i8mm for the SMMLA
/// kernels where BITDIAL_ARM_I8MM did).
inline constexpr isa_entry isa_table[] = {
    {kernel_isa::reference, "reference", &detail::isa_always},
    {kernel_isa::portable, "portable", &detail::isa_always},
    {kernel_isa::avx2, "avx2", &detail::isa_avx2_here},
    {kernel_isa::avx512, "avx512", &detail::isa_avx512_here},
    {kernel_isa::neon, "neon", &detail::isa_neon_here},
    {kernel_isa::dotprod, "dotprod", &detail::isa_dotprod_here},
    {kernel_isa::i8mm, "i8mm", &detail::isa_i8mm_here},
};

inline const char* to_string(kernel_isa i) noexcept {
  if (i == kernel_isa::automatic) return "automatic";
  for (const isa_entry& r : isa_table)
    if (r.isa == i) return r.name;
  return "?";
}

/// Whether this build and this CPU can run kernels of `isa` (`automatic` always can).
inline bool isa_available(kernel_isa isa) noexcept {
  if (isa == kernel_isa::automatic) return true;
  for (const isa_entry& r : isa_table)
    if (r.isa == isa) return r.runs_here();
  return false;
}

/// Every ISA usable here, best last.
inline std::vector<kernel_isa> available_isas() {
  std::vector<kernel_isa> v;
  for (const isa_entry& r : isa_table)
    if (r.runs_here()) v.push_back(r.isa);
  return v;
}

/// How a front door runs: which kernels, and over which threads.
struct run_options {
  kernel_isa isa = kernel_isa::automatic;
  thread_pool* pool = nullptr;  // null: thread_pool::global()
  std::size_t threads = 0;      // 0: every worker of the pool; 1: the calling thread only
};

/// One kernel of a family on one ISA (see the header comment). W: the packed weights or view the
/// kernel reads; X: the activations it takes.
template <class W, class X>
struct kernel_row {
  kernel_isa isa;
  /// This CPU and build run the kernel (the ISA's features plus any the kernel adds).
  bool (*runs_here)() noexcept;
  /// The kernel serves these weights (its layout and scale-group rules).
  bool (*serves)(const W&) noexcept;
  /// What `serves` rejected, for the error message (called only when it did).
  std::string (*why_not)(const W&);
  /// Prepares the call once (tables, padded activations, Σx), then runs its row blocks over the
  /// pool; the arguments are validated and the rows clamped to the weights.
  void (*run)(const W&, const X&, matrix_view<float>, const gemm_params&, const run_options&);
};

namespace detail {

inline bool always_serves(const auto&) noexcept { return true; }
inline std::string no_rule(const auto&) { return {}; }

template <class Family>
const auto* find_row(kernel_isa isa) noexcept {
  const auto rows = Family::rows();
  for (const auto& r : rows)
    if (r.isa == isa) return &r;
  return static_cast<decltype(&rows[0])>(nullptr);
}

}  // namespace detail

/// Whether the ISA's kernel of `Family` runs here and serves `w` (`automatic`: always — the
/// reference serves everything).
template <class Family>
bool isa_serves(kernel_isa isa, const typename Family::weights& w) noexcept {
  if (isa == kernel_isa::automatic) return true;
  const auto* r = detail::find_row<Family>(isa);
  return r != nullptr && isa_available(isa) && r->runs_here() && r->serves(w);
}

/// Every ISA whose `Family` kernel runs here, best last.
template <class Family>
std::vector<kernel_isa> kernel_isas() {
  std::vector<kernel_isa> v;
  for (const auto& r : Family::rows())
    if (isa_available(r.isa) && r.runs_here()) v.push_back(r.isa);
  return v;
}

/// Whether `Family` has a kernel of `isa` that runs here (`automatic`: always).
template <class Family>
bool kernel_isa_available(kernel_isa isa) noexcept {
  if (isa == kernel_isa::automatic) return true;
  const auto* r = detail::find_row<Family>(isa);
  return r != nullptr && isa_available(isa) && r->runs_here();
}

/// The row that serves a call on `w` when `want` is asked for; throws naming `where`, the ISA and
/// the rule when a forced ISA cannot serve it.
template <class Family>
const kernel_row<typename Family::weights, typename Family::activations>& resolve_kernel(
    const typename Family::weights& w, kernel_isa want, const char* where) {
  const auto rows = Family::rows();
  if (want == kernel_isa::automatic) {
    for (auto it = rows.rbegin(); it != rows.rend(); ++it)
      if (isa_available(it->isa) && it->runs_here() && it->serves(w)) return *it;
    BITDIAL_REQUIRE(false, where, ": no kernel serves these weights");  // the reference row always does
  }
  const auto* r = detail::find_row<Family>(want);
  BITDIAL_REQUIRE(r != nullptr, where, ": isa = ", to_string(want), ": no kernel for ", Family::name,
                  " on this ISA (not supported by this CPU or build)");
  BITDIAL_REQUIRE(isa_available(want) && r->runs_here(), where, ": isa = ", to_string(want),
                  ": not supported by this CPU or build for ", Family::name);
  BITDIAL_REQUIRE(r->serves(w), where, ": isa = ", to_string(want), ": ", r->why_not(w));
  return *r;
}

/// The ISA a call on `w` runs when `want` is asked for (what resolve_kernel picks).
template <class Family>
kernel_isa chosen_isa(const typename Family::weights& w, kernel_isa want = kernel_isa::automatic) {
  return resolve_kernel<Family>(w, want, "chosen_isa").isa;
}

namespace detail {

/// The output and row range every front door checks the same way: y is tokens × rows with a
/// valid stride, and params select a non-empty range of rows.
inline void check_output_args(matrix_view<float> y, std::size_t tokens, std::size_t rows, const gemm_params& p,
                              const char* where) {
  BITDIAL_REQUIRE(y.data != nullptr, where, ": output: null data");
  BITDIAL_REQUIRE(y.rows == tokens && y.cols == rows, where, ": output shape = ", y.rows, "x", y.cols, ": expected ",
                  tokens, "x", rows, " (tokens x rows)");
  BITDIAL_REQUIRE(y.stride >= y.cols, where, ": output.stride = ", y.stride, ": less than cols = ", y.cols);
  BITDIAL_REQUIRE(p.row_begin < std::min(p.row_end, rows), where, ": params.row_begin = ", p.row_begin,
                  ": empty row range (rows = ", rows, ")");
}

/// Int8 activations against weights of K columns and `rows` rows, and the output they produce.
inline void check_token_args(const token_batch& x, std::size_t k, matrix_view<float> y, std::size_t rows,
                             const gemm_params& p, const char* where) {
  BITDIAL_REQUIRE(x.tokens > 0, where, ": activations.tokens = 0: nothing to multiply");
  BITDIAL_REQUIRE(x.codes != nullptr && x.scales != nullptr, where, ": activations: null codes or scales");
  BITDIAL_REQUIRE(x.cols == k, where, ": activations.cols = ", x.cols, ": must equal the weight K = ", k);
  BITDIAL_REQUIRE(x.stride >= x.cols, where, ": activations.stride = ", x.stride, ": less than cols = ", x.cols);
  check_output_args(y, x.tokens, rows, p, where);
  for (std::size_t n = 0; n < x.tokens; ++n)
    BITDIAL_REQUIRE(std::isfinite(x.scales[n]) && x.scales[n] >= 0.0f, where, ": activations.scales[", n,
                    "] = ", x.scales[n], ": must be finite and >= 0");
}

/// The shared run-loop skeleton of every packed front door: split_row_blocks (core/parallel.hpp)
/// over the pool and thread count of `o`.
template <class Fn>
void for_row_blocks(std::size_t offset, std::size_t r0, std::size_t r1, std::size_t block, const run_options& o,
                    Fn&& fn) {
  thread_pool& pool = o.pool ? *o.pool : thread_pool::global();
  const std::size_t threads = o.threads == 0 ? pool.size() : o.threads;
  split_row_blocks(
      offset, r0, r1, block,
      [&](std::size_t blocks, auto&& run) {
        const std::size_t used = std::min(threads, blocks);
        parallel_for(blocks, used, run, pool, used);
      },
      fn);
}

}  // namespace detail

}  // namespace bitdial
