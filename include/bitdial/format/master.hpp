// bitdial/format/master.hpp — a master built from integer codes someone else already chose: a
// checkpoint's quantized tensor (GGUF, GPTQ, AWQ, compressed-tensors) or an affine uint8 tensor
// exported by TF.js or ONNX. Nothing is re-quantized: the codes, scales, zero points and float
// offsets are taken as they are, so the master's full-width value is the checkpoint's own value
//
//   x̂(r, c) = scale_g · (code(r, c) − zero_point_g) + offset_g        g = gran.index(r, c, cols)
//
// (the product rounded to float, then the offset added; zero points only for unsigned codes). The
// stack built from it (bit_plane_stack::pack) serves every width 1..B: truncation for every master,
// double rounding (round_half_up / round_half_even) for signed masters.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "bitdial/core/bits.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/format/bit_planes.hpp"

namespace bitdial {

/// Everything of a master except its codes.
struct master_parts {
  std::size_t rows = 0;
  std::size_t cols = 0;
  int bits = 8;
  bool is_signed = true;
  granularity gran = granularity::per_row();
  std::vector<float> scales;              // gran.count(rows, cols), finite (any sign)
  std::vector<std::int32_t> zero_points;  // empty, or one per scale (unsigned masters only)
  std::vector<float> offsets;             // empty, or one per scale: finite floats added to the value
};

/// A master imported as codes: a signed or an unsigned quantized matrix, and where it came from.
struct imported_master {
  std::variant<quantized_matrix<std::int8_t>, quantized_matrix<std::uint8_t>> m;
  std::string source;  // e.g. "GGUF Q4_K", "GPTQ int4"

  bool is_signed() const noexcept { return m.index() == 0; }
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), m);
  }
  std::size_t rows() const noexcept {
    return visit([](const auto& q) { return q.rows; });
  }
  std::size_t cols() const noexcept {
    return visit([](const auto& q) { return q.cols; });
  }
  int bits() const noexcept {
    return visit([](const auto& q) { return q.bits; });
  }
  granularity gran() const noexcept {
    return visit([](const auto& q) { return q.gran; });
  }
  bool has_offsets() const noexcept {
    return visit([](const auto& q) { return !q.offsets.empty(); });
  }
  bool has_zero_points() const noexcept {
    return visit([](const auto& q) { return !q.zero_points.empty(); });
  }
  std::int32_t code(std::size_t r, std::size_t c) const noexcept {
    return visit([&](const auto& q) { return q.code(r, c); });
  }
  /// The full-width value of element (r, c) (the header's formula).
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    return visit([&](const auto& q) { return q.dequantize(r, c); });
  }
  std::vector<float> dequantize() const {
    return visit([](const auto& q) { return q.dequantize(); });
  }
  /// The bit-plane stack of this master.
  bit_plane_stack pack() const {
    return visit([](const auto& q) { return bit_plane_stack::pack(q); });
  }
};

namespace detail {

inline void check_master_parts(const master_parts& p, std::size_t n_codes, const char* where) {
  BITDIAL_REQUIRE(p.rows > 0 && p.cols > 0, where, ": shape = ", p.rows, "x", p.cols, ": must not be empty");
  checked_bits(p.bits, where, "master bits");
  p.gran.validate(p.cols, where);
  BITDIAL_REQUIRE(n_codes == checked_mul(p.rows, p.cols, where, "codes"), where, ": codes = ", n_codes,
                  ": expected rows x cols = ", p.rows * p.cols);
  const std::size_t n = p.gran.count(p.rows, p.cols);
  BITDIAL_REQUIRE(p.scales.size() == n, where, ": scales = ", p.scales.size(), ": expected ", n, " (one per ",
                  p.gran.k == granularity::kind::per_group ? "group"
                  : p.gran.k == granularity::kind::per_row ? "row"
                                                           : "tensor",
                  ")");
  BITDIAL_REQUIRE(p.zero_points.empty() || p.zero_points.size() == n, where, ": zero_points = ", p.zero_points.size(),
                  ": expected 0 or ", n);
  BITDIAL_REQUIRE(p.zero_points.empty() || !p.is_signed, where,
                  ": zero points with signed codes: shift the codes to unsigned (code + 2^(B-1), zero point + "
                  "2^(B-1)) first");
  BITDIAL_REQUIRE(p.offsets.empty() || p.offsets.size() == n, where, ": offsets = ", p.offsets.size(),
                  ": expected 0 or ", n);
  for (std::size_t i = 0; i < n; ++i) {
    BITDIAL_REQUIRE(std::isfinite(p.scales[i]), where, ": scales[", i, "] = ", p.scales[i], ": must be finite");
    if (!p.offsets.empty())
      BITDIAL_REQUIRE(std::isfinite(p.offsets[i]), where, ": offsets[", i, "] = ", p.offsets[i], ": must be finite");
    if (!p.zero_points.empty())
      BITDIAL_REQUIRE(p.zero_points[i] >= 0 && p.zero_points[i] <= unsigned_max(p.bits), where, ": zero_points[", i,
                      "] = ", p.zero_points[i], ": outside the ", p.bits, "-bit code range [0, ", unsigned_max(p.bits),
                      "]");
  }
}

}  // namespace detail

/// Builds a master from parts and codes given as bytes (two's complement for a signed master).
/// Every code must lie in the B-bit range; the error names the first that does not.
inline imported_master make_master(master_parts p, std::vector<std::uint8_t> codes, const char* where = "make_master") {
  detail::check_master_parts(p, codes.size(), where);
  imported_master out;
  auto fill = [&](auto& q) {
    using Code = typename std::decay_t<decltype(q.codes)>::value_type;
    const std::int32_t lo = p.is_signed ? signed_min(p.bits) : 0;
    const std::int32_t hi = p.is_signed ? signed_max(p.bits) : unsigned_max(p.bits);
    q.codes.resize(codes.size());
    std::memcpy(q.codes.data(), codes.data(), codes.size());
    for (std::size_t i = 0; i < q.codes.size(); ++i) {
      const std::int32_t v = static_cast<Code>(q.codes[i]);
      BITDIAL_REQUIRE(v >= lo && v <= hi, where, ": code at row ", i / p.cols, ", column ", i % p.cols, " = ", v,
                      ": outside the ", p.bits, "-bit ", p.is_signed ? "signed" : "unsigned", " range [", lo, ", ", hi,
                      "]");
    }
    q.rows = p.rows;
    q.cols = p.cols;
    q.bits = p.bits;
    q.gran = p.gran;
    q.scales = std::move(p.scales);
    q.zero_points = std::move(p.zero_points);
    q.offsets = std::move(p.offsets);
  };
  if (p.is_signed) {
    quantized_matrix<std::int8_t> q;
    fill(q);
    out.m = std::move(q);
  } else {
    quantized_matrix<std::uint8_t> q;
    fill(q);
    out.m = std::move(q);
  }
  return out;
}

/// A master from codes you already have (row-major rows × cols), e.g. an affine uint8 tensor from
/// TF.js or ONNX: int8_t codes make a signed master, uint8_t codes an unsigned one; `bits` is the
/// code width B (codes must fit it). Scales, zero points and offsets as in the header comment.
template <class Code>
imported_master master_from_codes(std::span<const Code> codes, std::size_t rows, std::size_t cols, int bits,
                                  granularity gran, std::span<const float> scales,
                                  std::span<const std::int32_t> zero_points = {}, std::span<const float> offsets = {}) {
  static_assert(std::is_same_v<Code, std::int8_t> || std::is_same_v<Code, std::uint8_t>,
                "master_from_codes: codes are std::int8_t (signed master) or std::uint8_t (unsigned master)");
  master_parts p;
  p.rows = rows;
  p.cols = cols;
  p.bits = bits;
  p.is_signed = std::is_signed_v<Code>;
  p.gran = gran;
  p.scales.assign(scales.begin(), scales.end());
  p.zero_points.assign(zero_points.begin(), zero_points.end());
  p.offsets.assign(offsets.begin(), offsets.end());
  std::vector<std::uint8_t> bytes(codes.size());
  if (!codes.empty()) std::memcpy(bytes.data(), codes.data(), codes.size());
  auto m = make_master(std::move(p), std::move(bytes), "master_from_codes");
  m.source = "codes";
  return m;
}

}  // namespace bitdial
