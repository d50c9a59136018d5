// bitdial/select/slice_view.hpp — serving views of residual slice stacks (format/slice_stack.hpp):
// the first n slices of a plane_slice_stack, and one BitStack component as a plane view.
//
//   view_slices(stack, n)   slice_view: slices 0..n−1, each a full-width plane_view; O(1), no copy
//   component(planes, j, k) the sign planes S_j served with per-row scales 2·u_jk (a 1-bit view
//                           whose value is u_jk(r)·S_j(r, c))
#pragma once

#include <cstdint>

#include "bitdial/format/slice_stack.hpp"
#include "bitdial/select/plane_view.hpp"

namespace bitdial {

/// The first n slices of a plane_slice_stack. O(1), copies nothing.
struct slice_view {
  const plane_slice_stack* stack = nullptr;
  std::size_t n = 0;

  /// Slice j as a full-width plane view.
  plane_view slice(std::size_t j) const {
    const bit_plane_stack& s = stack->slice(j);
    return view(s, s.master_bits());
  }
  std::size_t rows() const noexcept { return stack->rows(); }
  std::size_t cols() const noexcept { return stack->cols(); }
  /// Ŵ(n)(r, c) = Σ_{j<n} slice_j(r, c), summed in double in slice order, rounded once to float.
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    double acc = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      const plane_view v = slice(j);
      const std::size_t g = v.stack->gran().index(r, c, v.cols());
      const double twice = double(2 * std::int64_t{v.code(r, c)} + v.offset2(g));
      acc += double(v.scale(g)) * (twice * 0.5);
    }
    return static_cast<float>(acc);
  }
  /// Weight bytes a kernel reads to serve these n slices.
  std::size_t bytes_read() const noexcept {
    std::size_t b = 0;
    for (std::size_t j = 0; j < n; ++j) b += slice(j).bytes_read();
    return b;
  }
};

/// The first n slices (1..s.slices()).
inline slice_view view_slices(const plane_slice_stack& s, std::size_t n) {
  BITDIAL_REQUIRE(n >= 1 && n <= s.slices(), "plane_slice_stack::view_slices: n = ", n, ": must be in 1..", s.slices());
  return slice_view{&s, n};
}

/// Sign plane of slice j served with per-row scales 2·u_jk: its value is u_jk(r)·S_j(r, c).
inline plane_view component(const bitstack_planes& w, std::size_t j, std::size_t k) {
  BITDIAL_REQUIRE(j < w.slices() && k < w.rank(), "bitstack_planes::component: (j, k) = (", j, ", ", k,
                  "): out of range (", w.slices(), " slices, rank ", w.rank(), ")");
  plane_view v = view(w.sign_planes(j), 1);
  v.scale_override = w.u2(j, k).data();
  return v;
}

namespace detail {
struct slice_views {
  static slice_view view_slices(const plane_slice_stack& s, std::size_t n) { return bitdial::view_slices(s, n); }
  static plane_view component(const bitstack_planes& w, std::size_t j, std::size_t k) {
    return bitdial::component(w, j, k);
  }
};
}  // namespace detail

}  // namespace bitdial
