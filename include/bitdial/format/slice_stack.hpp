// bitdial/format/slice_stack.hpp — residual slice stacks in bit-plane form: slice j is its own
// bit-plane stack with its own scales, appended in order, so "the first n slices" is a prefix and
// serving n slices reads exactly those slices' bytes.
//
//   plane_slice_stack  uniform residual slices and residual binarization (quant/residual.hpp):
//     mid-tread slice  signed b_j-bit master, value s·q
//     mid-rise slice   digit u = (c − 1)/2 + 2^(b−1) as an unsigned b_j-bit master with scale 2σ
//                      and code offset −(2^b − 1)/2: 2σ·(u − (2^b−1)/2) = σ·c
//     binary slice     u = (c + 1)/2, 1 bit, scale 2σ, offset −1/2: 2σ·(u − 1/2) = σ·c
//   bitstack_planes    BitStack sign × low-rank slices: sign plane S_j as a 1-bit master with
//                      offset −1/2 (so its codes are ±1/2 and a scale of 2 gives ±1), plus the float
//                      factors u_jk, v_jk; a kernel serves component k with per-row scales 2·u_jk on
//                      activations v_jk ⊙ x.
// Every stored value above is the quantizer's slice value exactly (the products are exact in
// double), so dequantize(view_slices(n)) equals the quantizer's Ŵ(n) bit for bit.
//
// This header is storage only. Serving views of it — slice_view (the first n slices) and a BitStack
// component as a plane_view — are select/slice_view.hpp; the member spellings view_slices(n) and
// component(j, k) below forward there and need that header included where they are called.
#pragma once

#include <span>
#include <vector>

#include "bitdial/format/bit_planes.hpp"
#include "bitdial/quant/residual.hpp"

namespace bitdial {

namespace detail {
/// Defined in select/slice_view.hpp: the views of the stacks below (format sits below select, so
/// the members that return views reach them through this dependent name, never an include).
struct slice_views;
}  // namespace detail

class plane_slice_stack {
 public:
  static plane_slice_stack pack(const quantized_slice_stack& q) {
    BITDIAL_REQUIRE(q.slices() > 0, "plane_slice_stack::pack: slices = 0: nothing to pack");
    plane_slice_stack out;
    for (std::size_t j = 0; j < q.slices(); ++j) {
      const auto& m = q.slice(j);
      switch (q.grid(j)) {
        case slice_grid::mid_tread:
          out.slices_.push_back(bit_plane_stack::pack(m));
          break;
        case slice_grid::mid_rise:
        case slice_grid::binary: {
          const int b = m.bits;
          quantized_matrix<std::uint8_t> u{m.rows, m.cols, b, m.gran, {}, {}, {}, {}};
          u.codes.resize(m.codes.size());
          for (std::size_t i = 0; i < m.codes.size(); ++i) {
            const int c = m.codes[i];
            // An all-zero group (scale 0) stores code 0 (the quantizers' rule for zero groups): its
            // value is 0 whatever digit it gets, so it takes digit 0.
            if (c == 0 && m.scales[m.scale_index(i / m.cols, i % m.cols)] == 0.0f) {
              u.codes[i] = 0;
              continue;
            }
            const int digit = q.grid(j) == slice_grid::binary ? (c + 1) / 2 : (c - 1) / 2 + (1 << (b - 1));
            BITDIAL_REQUIRE(c % 2 != 0 && digit >= 0 && digit <= unsigned_max(b), "plane_slice_stack::pack: slice ", j,
                            " codes[", i, "] = ", c, ": not an odd ", b, "-bit mid-rise code");
            u.codes[i] = static_cast<std::uint8_t>(digit);
          }
          u.scales.resize(m.scales.size());
          for (std::size_t g = 0; g < m.scales.size(); ++g) u.scales[g] = 2.0f * m.scales[g];
          out.slices_.push_back(bit_plane_stack::pack(u, -((1 << b) - 1)));
          break;
        }
      }
    }
    return out;
  }

  std::size_t slices() const noexcept { return slices_.size(); }
  std::size_t rows() const noexcept { return slices_.front().rows(); }
  std::size_t cols() const noexcept { return slices_.front().cols(); }
  const bit_plane_stack& slice(std::size_t j) const {
    BITDIAL_REQUIRE(j < slices_.size(), "plane_slice_stack::slice: j = ", j, ": only ", slices_.size(), " slices");
    return slices_[j];
  }
  /// The first n slices (1..slices()): bitdial::view_slices(*this, n) (select/slice_view.hpp).
  template <class Views = detail::slice_views>
  auto view_slices(std::size_t n) const {
    return Views::view_slices(*this, n);
  }

 private:
  std::vector<bit_plane_stack> slices_;
};

/// BitStack slices: sign planes plus float rank-r factors (see the header comment).
class bitstack_planes {
 public:
  static bitstack_planes pack(const bitstack_matrix& m) {
    BITDIAL_REQUIRE(m.slices() > 0, "bitstack_planes::pack: slices = 0: nothing to pack");
    bitstack_planes out;
    out.rank_ = m.rank();
    for (std::size_t j = 0; j < m.slices(); ++j) {
      quantized_matrix<std::uint8_t> s{m.rows(), m.cols(), 1, granularity::per_row(), {}, {}, {}, {}};
      s.codes.resize(m.rows() * m.cols());
      for (std::size_t r = 0; r < m.rows(); ++r)
        for (std::size_t c = 0; c < m.cols(); ++c) s.codes[r * m.cols() + c] = m.sign(j, r, c) > 0 ? 1 : 0;
      s.scales.assign(m.rows(), 2.0f);
      out.signs_.push_back(bit_plane_stack::pack(s, -1));
      std::vector<float> u2, v;
      for (std::size_t k = 0; k < m.rank(); ++k) {
        for (float x : m.u(j, k)) u2.push_back(2.0f * x);
        const auto vk = m.v(j, k);
        v.insert(v.end(), vk.begin(), vk.end());
      }
      out.u2_.push_back(std::move(u2));
      out.v_.push_back(std::move(v));
    }
    return out;
  }

  std::size_t slices() const noexcept { return signs_.size(); }
  std::size_t rank() const noexcept { return rank_; }
  std::size_t rows() const noexcept { return signs_.front().rows(); }
  std::size_t cols() const noexcept { return signs_.front().cols(); }
  /// Sign plane S_j as a 1-bit master (codes ±1/2 through the offset, scale 2).
  const bit_plane_stack& sign_planes(std::size_t j) const {
    BITDIAL_REQUIRE(j < slices(), "bitstack_planes::sign_planes: j = ", j, ": only ", slices(), " slices");
    return signs_[j];
  }
  /// 2·u_jk, the per-row scales that serve component k of slice j.
  std::span<const float> u2(std::size_t j, std::size_t k) const {
    BITDIAL_REQUIRE(j < slices() && k < rank_, "bitstack_planes::u2: (j, k) = (", j, ", ", k, "): out of range (",
                    slices(), " slices, rank ", rank_, ")");
    return {u2_[j].data() + k * rows(), rows()};
  }
  /// Sign plane of slice j served with per-row scales 2·u_jk: bitdial::component(*this, j, k)
  /// (select/slice_view.hpp).
  template <class Views = detail::slice_views>
  auto component(std::size_t j, std::size_t k) const {
    return Views::component(*this, j, k);
  }
  /// v_jk, the activation-side factor of component k of slice j.
  std::span<const float> v(std::size_t j, std::size_t k) const {
    BITDIAL_REQUIRE(j < slices() && k < rank_, "bitstack_planes::v: (j, k) = (", j, ", ", k, "): out of range");
    return {v_[j].data() + k * cols(), cols()};
  }
  /// Bytes read to serve n slices: sign planes plus factors.
  std::size_t bytes_read(std::size_t n) const noexcept {
    std::size_t b = 0;
    for (std::size_t j = 0; j < n && j < slices(); ++j)
      b += signs_[j].layout().bytes_for_planes(1) + (u2_[j].size() + v_[j].size()) * sizeof(float);
    return b;
  }

 private:
  std::size_t rank_ = 0;
  std::vector<bit_plane_stack> signs_;
  std::vector<std::vector<float>> u2_, v_;  // per slice: rank x rows (2u), rank x cols (v)
};

}  // namespace bitdial
