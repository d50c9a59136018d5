// bitdial/kernels/plane_checks.hpp — the operand checks every SIMD plane kernel (x86 AVX2 / AVX-512,
// aarch64 NEON / dotprod / i8mm) makes when a call is prepared outside the front door
// (x86::prepare_plane_gemm_*, arm::prepare_plane_gemm_arm, arm::prepare_plane_gemm_i8mm): one list,
// one wording.
#pragma once

#include <cstddef>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/select/plane_view.hpp"

namespace bitdial::detail {

/// Whether the SIMD plane kernels serve the view's scale groups: whole 16-K chunks.
inline bool plane_groups_served(const plane_view& w) noexcept {
  if (w.stack == nullptr) return false;
  if (w.stack->gran().k != granularity::kind::per_group) return true;
  return w.stack->gran().group % tile32x16::k_per_tile == 0;
}

/// Throws naming `where` and the operand unless the view is valid, its groups are served, and the
/// activations match it.
inline void check_plane_operands(const plane_view& w, const token_batch& x, const char* where) {
  BITDIAL_REQUIRE(w.stack != nullptr, where, ": weights: empty view");
  const bit_plane_stack& s = *w.stack;
  BITDIAL_REQUIRE(w.bits >= 1 && w.bits <= s.master_bits(), where, ": bits = ", w.bits, ": must be in 1..",
                  s.master_bits());
  BITDIAL_REQUIRE(w.rule == rounding::floor || s.is_signed(), where, ": rule = ", to_string(w.rule),
                  ": double rounding needs a signed master");
  BITDIAL_REQUIRE(w.row_begin < w.row_end && w.row_end <= s.rows(), where, ": view rows = [", w.row_begin, ", ",
                  w.row_end, "): outside the stack");
  BITDIAL_REQUIRE(plane_groups_served(w), where, ": group = ", s.gran().group,
                  ": scale groups must be multiples of 16 for this kernel");
  BITDIAL_REQUIRE(x.tokens > 0, where, ": activations.tokens = 0: nothing to multiply");
  BITDIAL_REQUIRE(x.codes != nullptr && x.scales != nullptr, where, ": activations: null codes or scales");
  BITDIAL_REQUIRE(x.cols == w.cols(), where, ": activations.cols = ", x.cols, ": must equal the weight K = ", w.cols());
  BITDIAL_REQUIRE(x.stride >= x.cols, where, ": activations.stride = ", x.stride, ": less than cols = ", x.cols);
}

/// Throws naming `where` unless [row_begin, row_end) is a non-empty range of the view's rows and y is
/// tokens × the view's rows: what every prepared plane call checks before it runs a row range.
inline void check_run_rows(const plane_view& w, std::size_t tokens, matrix_view<float> y, std::size_t row_begin,
                           std::size_t row_end, const char* where) {
  BITDIAL_REQUIRE(row_begin < row_end && row_end <= w.rows(), where, ": rows = [", row_begin, ", ", row_end,
                  "): must be a non-empty range inside [0, ", w.rows(), ")");
  BITDIAL_REQUIRE(y.data != nullptr && y.rows == tokens && y.cols == w.rows(), where, ": output shape = ", y.rows, "x",
                  y.cols, ": expected ", tokens, "x", w.rows());
}

}  // namespace bitdial::detail
