// bitdial/format/bit_planes.hpp — the bit-plane stack: one stored B-bit master, readable at any
// width by touching only the planes that width needs.
//
// A master code q (B <= 8 bits; signed two's complement or unsigned) is split into B planes,
// plane i holding bit i of every code. Planes are stored MSB first, so "the top b planes" — all a
// truncated b-bit view needs — are a prefix of each row block and a GEMV at b bits reads
// b/B of the bytes.
//
// Layout `tile32x16` (the format every bit-sliced kernel consumes):
//
//   buffer = [row block 0][row block 1]...            row block = 32 rows (last one zero-padded)
//   row block = [plane B-1][plane B-2]...[plane 0]    MSB first; each plane = k_chunks tiles
//   plane     = [tile 0][tile 1]...[tile k_chunks-1]  tile = 16 K of 32 rows = 64 bytes, 64-B aligned
//
//   tile byte p (0..63), for row-in-block r and K-in-chunk k:
//
//        bit:   7    6    5    4    3    2    1    0
//            +----+----+----+----+----+----+----+----+
//   byte p = | row 16+p/4, K 4g+3..4g | row p/4, K 4g+3..4g |     g = p % 4 (K-group in chunk)
//            +----+----+----+----+----+----+----+----+
//              high nibble            low nibble       (bit t of a nibble = K offset 4g + t)
//
//   so p = 4·(r mod 16) + k/4 and the bit is 4·(r/16) + k mod 4. One 64-byte load is one plane of
//   32 rows × 16 K; the 4 bytes that vpdpbusd sums into one int32 lane are the 4 K-groups of the
//   same row, so a lane accumulates one row (PERF.md describes the lookup kernel this serves).
//   K is zero-padded to a multiple of 16 and rows to a multiple of 32; a zero code has no set bit
//   in any plane, so padding never contributes to a dot product.
//
// Element value: s·(q + code_offset2/2 − z) + μ, code_offset2 = 0 except for mid-rise (±1) grids,
// μ a float offset per scale group (0 unless the master was imported from a format that stores a
// minimum per group: ggml's Q4_1/Q5_1 and k-quants, value = d·q − m). Scales may be negative
// (ggml's Q4_0 and k-quants store signed scales); they must be finite.
// Per-group scales (and zero points, for unsigned masters) are stored once for the master; what a
// b-bit view needs (s·2^k, midpoint terms, carries) is derived from them, never stored per width.
// `plane_ones(r, g, i)` = number of set bits of plane i in scale group g of row r, counted at pack
// time: Σ_c q(r,c) over a group is Σ_i c_i·ones_i, which zero-point corrections need.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "bitdial/core/aligned_buffer.hpp"
#include "bitdial/core/bits.hpp"
#include "bitdial/core/matrix.hpp"

namespace bitdial {

/// Geometry of the tile32x16 layout for a rows x cols master of `planes` bits.
struct tile32x16 {
  static constexpr std::size_t rows_per_block = 32;
  static constexpr std::size_t k_per_tile = 16;
  static constexpr std::size_t tile_bytes = 64;

  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t planes = 0;

  constexpr std::size_t row_blocks() const noexcept { return (rows + rows_per_block - 1) / rows_per_block; }
  constexpr std::size_t k_tiles() const noexcept { return (cols + k_per_tile - 1) / k_per_tile; }
  /// Bytes of one plane of one row block.
  constexpr std::size_t plane_bytes() const noexcept { return k_tiles() * tile_bytes; }
  constexpr std::size_t block_bytes() const noexcept { return planes * plane_bytes(); }
  constexpr std::size_t total_bytes() const noexcept { return row_blocks() * block_bytes(); }
  /// Byte offset of plane `bit` (0 = LSB) of row block `rb`.
  constexpr std::size_t plane_offset(std::size_t rb, int bit) const noexcept {
    return rb * block_bytes() + (planes - 1 - static_cast<std::size_t>(bit)) * plane_bytes();
  }
  /// Bytes a kernel reads when it uses `used_planes` planes of every row block.
  constexpr std::size_t bytes_for_planes(std::size_t used_planes) const noexcept {
    return row_blocks() * used_planes * plane_bytes();
  }
  /// Position of (row-in-block r, K-in-tile k) inside a tile: byte index and bit index.
  static constexpr std::size_t byte_of(std::size_t r, std::size_t k) noexcept { return 4 * (r % 16) + k / 4; }
  static constexpr unsigned bit_of(std::size_t r, std::size_t k) noexcept {
    return static_cast<unsigned>(4 * (r / 16) + k % 4);
  }
};

namespace detail {

/// Gathers bit `bit` of four code bytes packed in w (byte j = code j) into a nibble (bit j).
constexpr std::uint32_t gather_nibble(std::uint32_t w, int bit) noexcept {
  const std::uint64_t ones = (w >> bit) & 0x01010101u;
  return static_cast<std::uint32_t>((ones * 0x01020408ull) >> 24) & 0xFu;
}
/// Inverse: spreads a nibble back to bit 0 of four bytes.
constexpr std::uint32_t spread_nibble(std::uint32_t nib) noexcept {
  return static_cast<std::uint32_t>((nib * 0x00204081u) & 0x01010101u);
}

/// Scales and zero points of a stored master. A served value is s·(2^k·q_b + m_k + o/2 − z) at every
/// width b = B − k and rule, with 2^k·q_b + m_k in [−2^(B−1), 2^(B−1)] for signed masters (q_b ≥ −2^(b−1);
/// the midpoint m_k = (2^k − 1)/2 never lifts the top code past 2^(B−1)) and in [0, 2^B] for unsigned
/// ones, 0 ≤ z < 2^B and o the code offset. So |x̂| ≤ s·(2^(B−1) or 2^B, + |o|/2 + max z): a scale whose
/// product with that bound overflows float would serve infinities at low widths (s·2^k overflow), and
/// is rejected here, once, rather than in every O(1) view. A float offset μ adds |μ| to the bound.
inline void check_stack_params(std::span<const float> scales, std::span<const std::int32_t> zero_points, int bits,
                               bool is_signed, std::int32_t code_offset2, const char* where,
                               std::span<const float> offsets = {}) {
  for (std::size_t i = 0; i < zero_points.size(); ++i)
    BITDIAL_REQUIRE(zero_points[i] >= 0 && zero_points[i] <= unsigned_max(bits), where, ": zero_points[", i,
                    "] = ", zero_points[i], ": outside the ", bits, "-bit code range [0, ", unsigned_max(bits), "]");
  const double max_z = zero_points.empty() ? 0.0 : double(unsigned_max(bits));
  const double bound = std::ldexp(1.0, is_signed ? bits - 1 : bits) + std::fabs(double(code_offset2)) / 2 + max_z;
  BITDIAL_REQUIRE(offsets.empty() || offsets.size() == scales.size(), where, ": offsets.size() = ", offsets.size(),
                  ": expected 0 or one per scale (", scales.size(), ")");
  for (std::size_t i = 0; i < scales.size(); ++i) {
    BITDIAL_REQUIRE(std::isfinite(scales[i]), where, ": scales[", i, "] = ", scales[i], ": must be finite");
    const double mu = offsets.empty() ? 0.0 : double(offsets[i]);
    BITDIAL_REQUIRE(std::isfinite(mu), where, ": offsets[", i, "] = ", mu, ": must be finite");
    BITDIAL_REQUIRE(std::fabs(double(scales[i])) * bound + std::fabs(mu) <= double(std::numeric_limits<float>::max()),
                    where, ": scales[", i, "] = ", scales[i], ": times the largest served code ", bound,
                    mu != 0.0 ? " plus the offset" : "", " overflows float (served values would be infinite)");
  }
}

}  // namespace detail

/// One stored master in tile32x16 bit-plane form, with its scales, zero points and plane counts.
class bit_plane_stack {
 public:
  bit_plane_stack() = default;

  /// Packs a signed two's-complement master (codes in [-2^(B-1), 2^(B-1)-1], B = m.bits).
  static bit_plane_stack pack(const quantized_matrix<std::int8_t>& m) { return pack_impl(m, true, 0); }
  /// Packs an unsigned master (codes in [0, 2^B - 1]) with its zero points. `code_offset2` is
  /// twice a constant added to every code before the zero point — mid-rise grids store the digit
  /// u of the level s·(u − (2^B − 1)/2) with code_offset2 = −(2^B − 1) (a ±1 sign plane: −1).
  static bit_plane_stack pack(const quantized_matrix<std::uint8_t>& m, std::int32_t code_offset2 = 0) {
    BITDIAL_REQUIRE(code_offset2 >= -512 && code_offset2 <= 512, "bit_plane_stack::pack: code_offset2 = ", code_offset2,
                    ": must be in [-512, 512]");
    auto s = pack_impl(m, false, code_offset2);
    s.code_offset2_ = code_offset2;
    return s;
  }

  /// Rebuilds the master exactly (Code must match signedness).
  template <class Code>
  quantized_matrix<Code> unpack() const {
    BITDIAL_REQUIRE(std::is_signed_v<Code> == signed_,
                    "bit_plane_stack::unpack: Code signedness = ", std::is_signed_v<Code> ? "signed" : "unsigned",
                    ": does not match the stored master");
    quantized_matrix<Code> m;
    m.rows = geo_.rows;
    m.cols = geo_.cols;
    m.bits = bits_;
    m.gran = gran_;
    m.scales = scales_;
    m.zero_points = zero_points_;
    m.offsets = offsets_;
    m.codes.resize(geo_.rows * geo_.cols);
    for (std::size_t r = 0; r < geo_.rows; ++r)
      for (std::size_t c = 0; c < geo_.cols; ++c) m.codes[r * geo_.cols + c] = static_cast<Code>(code(r, c));
    return m;
  }

  /// Code of element (r, c) read back from the planes (slow; for references and tests).
  std::int32_t code(std::size_t r, std::size_t c) const noexcept {
    const std::size_t rb = r / tile32x16::rows_per_block, rr = r % tile32x16::rows_per_block;
    const std::size_t t = c / tile32x16::k_per_tile, kk = c % tile32x16::k_per_tile;
    const std::size_t byte = t * tile32x16::tile_bytes + tile32x16::byte_of(rr, kk);
    const unsigned bit = tile32x16::bit_of(rr, kk);
    std::uint32_t u = 0;
    for (int i = 0; i < bits_; ++i)
      u |= ((std::to_integer<std::uint32_t>(planes_.data()[geo_.plane_offset(rb, i) + byte]) >> bit) & 1u) << i;
    if (signed_ && (u >> (bits_ - 1)) & 1u) return static_cast<std::int32_t>(u) - (std::int32_t{1} << bits_);
    return static_cast<std::int32_t>(u);
  }

  const tile32x16& layout() const noexcept { return geo_; }
  std::size_t rows() const noexcept { return geo_.rows; }
  std::size_t cols() const noexcept { return geo_.cols; }
  int master_bits() const noexcept { return bits_; }
  bool is_signed() const noexcept { return signed_; }
  const granularity& gran() const noexcept { return gran_; }
  std::span<const float> scales() const noexcept { return scales_; }
  std::span<const std::int32_t> zero_points() const noexcept { return zero_points_; }
  /// Float offset μ per scale group (empty: none). Element value: s·(code + code_offset2/2 − z) + μ.
  std::span<const float> offsets() const noexcept { return offsets_; }
  bool has_offsets() const noexcept { return !offsets_.empty(); }
  /// Element value: s·(code + code_offset2/2 − z) (+ μ).
  std::int32_t code_offset2() const noexcept { return code_offset2_; }
  /// Start of plane `bit` of row block `rb` (64-byte aligned).
  const std::byte* plane(std::size_t rb, int bit) const noexcept { return planes_.data() + geo_.plane_offset(rb, bit); }
  std::span<const std::byte> bytes() const noexcept { return {planes_.data(), planes_.size()}; }
  /// Scales of row block rb in kernel order: [group][32 rows] (rows past the end hold 0), so a
  /// vector epilogue loads 16 rows of one group with one load. Derived at pack time.
  const float* block_scales(std::size_t rb) const noexcept {
    return block_scales_.data() + rb * groups_per_row_ * tile32x16::rows_per_block;
  }
  /// Offsets μ in the same order, or null for a master without them.
  const float* block_offsets(std::size_t rb) const noexcept {
    return block_offsets_.empty() ? nullptr : block_offsets_.data() + rb * groups_per_row_ * tile32x16::rows_per_block;
  }
  /// Zero points in the same order, or null for a master without zero points.
  const std::int32_t* block_zero_points(std::size_t rb) const noexcept {
    return block_zero_points_.empty() ? nullptr
                                      : block_zero_points_.data() + rb * groups_per_row_ * tile32x16::rows_per_block;
  }
  /// Set bits of plane `bit` in scale group g of row r.
  std::uint32_t plane_ones(std::size_t r, std::size_t g, int bit) const noexcept {
    return ones_[(r * groups_per_row_ + g) * static_cast<std::size_t>(bits_) + static_cast<std::size_t>(bit)];
  }
  std::size_t groups_per_row() const noexcept { return groups_per_row_; }
  /// Σ codes of scale group g of row r (two's complement plane weights for signed masters).
  std::int64_t group_code_sum(std::size_t r, std::size_t g) const noexcept {
    std::int64_t s = 0;
    for (int i = 0; i < bits_; ++i) {
      const std::int64_t w = (signed_ && i == bits_ - 1) ? -(std::int64_t{1} << i) : (std::int64_t{1} << i);
      s += w * plane_ones(r, g, i);
    }
    return s;
  }

  // ---- Fitted per-width reconstruction (SEMANTICS §3b; fitted by select/fit.hpp) ----------------
  //
  // For every width b < B and serve rule, optionally one affine map per row r that replaces the
  // literal reconstruction: x̂ = (s_g·α_r) · (q_b + (o/2 − z)/2^k + β_r/256), where q_b is the served
  // code of the rule, s_g, z, o the master's scale, zero point and code offset, α_r a float and β_r an
  // int16 offset in 1/256 of a served step. Kernels fold α_r into the group scale and β_r into the
  // Σx term (select/plane_view.hpp). The tables are the only per-width data a stack stores: 6 bytes
  // per row and width (rows padded to whole 32-row blocks with α = β = 0).
  static constexpr int fit_rules = 3;  // rounding::floor, half_up, half_even (select/plane_view.hpp fit_index)

  /// Whether a fit is stored for (rule index, width b); rule index as fit_index(rule) numbers it.
  bool has_fit(int rule, int b) const noexcept { return !fit_slot(rule, b).alpha.empty(); }
  /// Whether any fit is stored.
  bool fitted() const noexcept {
    for (const auto& f : fits_)
      if (!f.alpha.empty()) return true;
    return false;
  }
  /// α per row (padded to row_blocks·32), or null when no fit is stored for (rule, b).
  const float* fit_alpha(int rule, int b) const noexcept {
    const auto& f = fit_slot(rule, b);
    return f.alpha.empty() ? nullptr : f.alpha.data();
  }
  /// β per row in 1/256 of a served step (same padding), or null.
  const std::int16_t* fit_offset(int rule, int b) const noexcept {
    const auto& f = fit_slot(rule, b);
    return f.offset.empty() ? nullptr : f.offset.data();
  }
  /// Stores the fit of (rule, b): `alpha` and `offset` hold one value per row (rows() of them).
  /// α must be finite and |s_g·α| times the largest served term must stay finite.
  void set_fit(int rule, int b, std::span<const float> alpha, std::span<const std::int16_t> offset) {
    constexpr const char* where = "bit_plane_stack::set_fit";
    BITDIAL_REQUIRE(rule >= 0 && rule < fit_rules, where, ": rule = ", rule,
                    ": must be 0 (floor), 1 "
                    "(half_up) or 2 (half_even)");
    BITDIAL_REQUIRE(b >= 1 && b < bits_, where, ": bits = ", b, ": fits exist for widths 1..", bits_ - 1,
                    " (the full width serves the master itself)");
    BITDIAL_REQUIRE(rule == 0 || signed_, where, ": rule = ", rule, ": double rounding needs a signed master");
    BITDIAL_REQUIRE(alpha.size() == geo_.rows && offset.size() == geo_.rows, where, ": alpha.size() = ", alpha.size(),
                    ", offset.size() = ", offset.size(), ": expected one per row (", geo_.rows, ")");
    // Largest |served term| in served steps: |q_b| ≤ 2^b, |o/2 − z|/2^k ≤ 2^b + 2, |β| ≤ 128.
    const double term = std::ldexp(1.0, b + 1) + 2.0 + 128.0;
    float smax = 0.0f, mumax = 0.0f;
    for (float v : scales_) smax = std::max(smax, std::fabs(v));
    for (float v : offsets_) mumax = std::max(mumax, std::fabs(v));
    for (std::size_t r = 0; r < alpha.size(); ++r)
      BITDIAL_REQUIRE(std::isfinite(alpha[r]) && std::fabs(double(alpha[r])) * smax * term + mumax <=
                                                     double(std::numeric_limits<float>::max()),
                      where, ": alpha[", r, "] = ", alpha[r], ": not finite, or its served values overflow float");
    auto& f = fits_[static_cast<std::size_t>(rule * 8 + b - 1)];
    const std::size_t padded = geo_.row_blocks() * tile32x16::rows_per_block;
    f.alpha.assign(padded, 0.0f);
    f.offset.assign(padded, 0);
    std::copy(alpha.begin(), alpha.end(), f.alpha.begin());
    std::copy(offset.begin(), offset.end(), f.offset.begin());
  }
  /// Drops every stored fit (views then serve the literal rules).
  void clear_fits() noexcept {
    for (auto& f : fits_) f = {};
  }
  /// Bytes the fitted tables take (unpadded: 6 per row and stored width).
  std::size_t fit_bytes() const noexcept {
    std::size_t n = 0;
    for (const auto& f : fits_)
      if (!f.alpha.empty()) n += geo_.rows * (sizeof(float) + sizeof(std::int16_t));
    return n;
  }

  /// Reassembles a stack from serialized parts; validates every size (used by the file reader).
  static bit_plane_stack from_parts(std::size_t rows, std::size_t cols, int bits, bool is_signed, granularity gran,
                                    std::vector<float> scales, std::vector<std::int32_t> zero_points,
                                    aligned_buffer planes, std::int32_t code_offset2 = 0,
                                    std::vector<float> offsets = {}) {
    bit_plane_stack s;
    BITDIAL_REQUIRE(code_offset2 == 0 || !is_signed, "bit_plane_stack::from_parts: code_offset2 = ", code_offset2,
                    ": only unsigned masters carry a code offset");
    BITDIAL_REQUIRE(code_offset2 >= -512 && code_offset2 <= 512,
                    "bit_plane_stack::from_parts: code_offset2 = ", code_offset2, ": must be in [-512, 512]");
    s.code_offset2_ = code_offset2;
    s.init_geometry(rows, cols, bits, is_signed, gran, "bit_plane_stack::from_parts");
    BITDIAL_REQUIRE(scales.size() == gran.count(rows, cols),
                    "bit_plane_stack::from_parts: scales.size() = ", scales.size(), ": expected ",
                    gran.count(rows, cols));
    BITDIAL_REQUIRE(zero_points.empty() || zero_points.size() == scales.size(),
                    "bit_plane_stack::from_parts: zero_points.size() = ", zero_points.size(), ": expected 0 or ",
                    scales.size());
    BITDIAL_REQUIRE(planes.size() == s.geo_.total_bytes(), "bit_plane_stack::from_parts: plane bytes = ", planes.size(),
                    ": expected ", s.geo_.total_bytes());
    detail::check_stack_params(scales, zero_points, bits, is_signed, code_offset2, "bit_plane_stack::from_parts",
                               offsets);
    s.scales_ = std::move(scales);
    s.offsets_ = std::move(offsets);
    s.zero_points_ = std::move(zero_points);
    s.planes_ = std::move(planes);
    s.check_padding("bit_plane_stack::from_parts");
    s.count_ones();
    s.build_block_params();
    return s;
  }

 private:
  struct width_fit {
    std::vector<float> alpha;          // [row], padded to whole row blocks
    std::vector<std::int16_t> offset;  // same
  };
  const width_fit& fit_slot(int rule, int b) const noexcept {
    static const width_fit none{};
    if (rule < 0 || rule >= fit_rules || b < 1 || b > 8) return none;
    return fits_[static_cast<std::size_t>(rule * 8 + b - 1)];
  }

  void init_geometry(std::size_t rows, std::size_t cols, int bits, bool is_signed, granularity gran,
                     const char* where) {
    BITDIAL_REQUIRE(rows > 0 && cols > 0, where, ": shape = ", rows, "x", cols, ": must not be empty");
    detail::checked_bits(bits, where, "master bits");
    gran.validate(cols, where);
    geo_ = tile32x16{rows, cols, static_cast<std::size_t>(bits)};
    // rows_padded * k_padded * bits / 8 must fit: check through the padded element count.
    detail::checked_mul(geo_.row_blocks() * tile32x16::rows_per_block, geo_.k_tiles() * tile32x16::k_per_tile, where,
                        "padded rows x cols");
    bits_ = bits;
    signed_ = is_signed;
    gran_ = gran;
    groups_per_row_ = gran.k == granularity::kind::per_group ? gran.groups_per_row(cols) : 1;
  }

  template <class Code>
  static bit_plane_stack pack_impl(const quantized_matrix<Code>& m, bool is_signed, std::int32_t code_offset2) {
    constexpr const char* where = "bit_plane_stack::pack";
    bit_plane_stack s;
    s.init_geometry(m.rows, m.cols, m.bits, is_signed, m.gran, where);
    BITDIAL_REQUIRE(m.codes.size() == m.rows * m.cols, where, ": codes.size() = ", m.codes.size(), ": expected ",
                    m.rows * m.cols);
    BITDIAL_REQUIRE(m.scales.size() == m.gran.count(m.rows, m.cols), where, ": scales.size() = ", m.scales.size(),
                    ": expected ", m.gran.count(m.rows, m.cols));
    BITDIAL_REQUIRE(m.zero_points.empty() || m.zero_points.size() == m.scales.size(), where,
                    ": zero_points.size() = ", m.zero_points.size(), ": expected 0 or ", m.scales.size());
    detail::check_stack_params(m.scales, m.zero_points, m.bits, is_signed, code_offset2, where, m.offsets);
    const std::int32_t lo = is_signed ? signed_min(m.bits) : 0;
    const std::int32_t hi = is_signed ? signed_max(m.bits) : unsigned_max(m.bits);
    for (std::size_t i = 0; i < m.codes.size(); ++i)
      BITDIAL_REQUIRE(m.codes[i] >= lo && m.codes[i] <= hi, where, ": codes[", i, "] = ", int(m.codes[i]),
                      ": outside the ", m.bits, "-bit range [", lo, ", ", hi, "]");
    s.scales_ = m.scales;
    s.zero_points_ = m.zero_points;
    s.offsets_ = m.offsets;
    s.planes_ = aligned_buffer(s.geo_.total_bytes());

    const tile32x16& g = s.geo_;
    const std::uint32_t mask = static_cast<std::uint32_t>(unsigned_max(m.bits)) * 0x01010101u;
    std::byte* out = s.planes_.data();
    // For every row block and K tile: read 4 codes of a row at a time as one word, then emit one
    // nibble per plane with detail::gather_nibble.
    for (std::size_t rb = 0; rb < g.row_blocks(); ++rb) {
      for (std::size_t t = 0; t < g.k_tiles(); ++t) {
        for (std::size_t rr = 0; rr < tile32x16::rows_per_block; ++rr) {
          const std::size_t r = rb * tile32x16::rows_per_block + rr;
          if (r >= m.rows) break;
          for (std::size_t grp = 0; grp < 4; ++grp) {
            std::uint32_t w = 0;
            for (std::size_t j = 0; j < 4; ++j) {
              const std::size_t c = t * tile32x16::k_per_tile + 4 * grp + j;
              if (c < m.cols)
                w |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(m.codes[r * m.cols + c])) << (8 * j);
            }
            w &= mask;
            if (w == 0) continue;
            const std::size_t byte = t * tile32x16::tile_bytes + 4 * (rr % 16) + grp;
            const unsigned shift = static_cast<unsigned>(4 * (rr / 16));
            for (int i = 0; i < m.bits; ++i) {
              const std::uint32_t nib = detail::gather_nibble(w, i);
              std::byte& dst = out[g.plane_offset(rb, i) + byte];
              dst |= static_cast<std::byte>(nib << shift);
            }
          }
        }
      }
    }
    s.count_ones();
    s.build_block_params();
    return s;
  }

  void build_block_params() {
    constexpr std::size_t RB = tile32x16::rows_per_block;
    const std::size_t blocks = geo_.row_blocks();
    block_scales_.assign(blocks * groups_per_row_ * RB, 0.0f);
    if (!zero_points_.empty()) block_zero_points_.assign(block_scales_.size(), 0);
    if (!offsets_.empty()) block_offsets_.assign(block_scales_.size(), 0.0f);
    const std::size_t glen = geo_.cols / groups_per_row_;
    for (std::size_t r = 0; r < geo_.rows; ++r)
      for (std::size_t g = 0; g < groups_per_row_; ++g) {
        const std::size_t gi = gran_.index(r, g * glen, geo_.cols);
        const std::size_t at = ((r / RB) * groups_per_row_ + g) * RB + r % RB;
        block_scales_[at] = scales_[gi];
        if (!zero_points_.empty()) block_zero_points_[at] = zero_points_[gi];
        if (!offsets_.empty()) block_offsets_[at] = offsets_[gi];
      }
  }

  /// Padding (K beyond cols, rows beyond rows) must hold no set bit: kernels rely on it.
  void check_padding(const char* where) const {
    const tile32x16& g = geo_;
    for (std::size_t rb = 0; rb < g.row_blocks(); ++rb)
      for (int i = 0; i < bits_; ++i) {
        const std::byte* p = plane(rb, i);
        for (std::size_t rr = 0; rr < tile32x16::rows_per_block; ++rr) {
          const std::size_t r = rb * tile32x16::rows_per_block + rr;
          const std::size_t c0 = r < g.rows ? g.cols : 0;  // first padded column of this row
          for (std::size_t c = c0; c < g.k_tiles() * tile32x16::k_per_tile; ++c) {
            const std::size_t t = c / tile32x16::k_per_tile, kk = c % tile32x16::k_per_tile;
            const auto byte = std::to_integer<unsigned>(p[t * tile32x16::tile_bytes + tile32x16::byte_of(rr, kk)]);
            BITDIAL_REQUIRE(((byte >> tile32x16::bit_of(rr, kk)) & 1u) == 0, where, ": padding bit set at row ", r,
                            ", column ", c, ", plane ", i, ": planes do not match the shape");
          }
        }
      }
  }

  /// Per-group plane counts straight from the planes: each nibble is 4 K of one row, so with
  /// groups a multiple of 4 a nibble's popcount belongs to one group (else count per element).
  void count_ones() {
    ones_.assign(geo_.rows * groups_per_row_ * static_cast<std::size_t>(bits_), 0);
    const std::size_t glen = gran_.k == granularity::kind::per_group ? gran_.group : geo_.cols;
    if (glen % 4 != 0) {
      for (std::size_t r = 0; r < geo_.rows; ++r)
        for (std::size_t c = 0; c < geo_.cols; ++c) {
          const std::uint32_t u =
              static_cast<std::uint32_t>(code(r, c)) & static_cast<std::uint32_t>(unsigned_max(bits_));
          std::uint32_t* o = &ones_[(r * groups_per_row_ + c / glen) * static_cast<std::size_t>(bits_)];
          for (int i = 0; i < bits_; ++i) o[i] += (u >> i) & 1u;
        }
      return;
    }
    for (std::size_t rb = 0; rb < geo_.row_blocks(); ++rb)
      for (int i = 0; i < bits_; ++i) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(plane(rb, i));
        for (std::size_t t = 0; t < geo_.k_tiles(); ++t, p += tile32x16::tile_bytes)
          for (std::size_t rr = 0; rr < tile32x16::rows_per_block; ++rr) {
            const std::size_t r = rb * tile32x16::rows_per_block + rr;
            if (r >= geo_.rows) break;
            const unsigned shift = static_cast<unsigned>(4 * (rr / 16));
            for (std::size_t g = 0; g < 4; ++g) {
              const unsigned nib = (p[4 * (rr % 16) + g] >> shift) & 0xFu;
              if (nib == 0) continue;  // padding nibbles are zero, so c may pass cols only here
              const std::size_t c = t * tile32x16::k_per_tile + 4 * g;
              ones_[(r * groups_per_row_ + c / glen) * static_cast<std::size_t>(bits_) + static_cast<std::size_t>(i)] +=
                  static_cast<std::uint32_t>(std::popcount(nib));
            }
          }
      }
  }

  tile32x16 geo_;
  int bits_ = 0;
  bool signed_ = true;
  granularity gran_;
  std::size_t groups_per_row_ = 1;
  std::int32_t code_offset2_ = 0;
  std::vector<float> scales_;
  std::vector<std::int32_t> zero_points_;
  std::vector<float> offsets_;  // μ per scale group; empty: none
  aligned_buffer planes_;
  std::vector<std::uint32_t> ones_;              // [row][group][plane]
  std::vector<float> block_scales_;              // [row block][group][32 rows]
  std::vector<std::int32_t> block_zero_points_;  // same order; empty without zero points
  std::vector<float> block_offsets_;             // same order; empty without offsets
  std::array<width_fit, fit_rules * 8> fits_{};  // [rule][b − 1]; empty: literal reconstruction
};

}  // namespace bitdial
