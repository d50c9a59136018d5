// bitdial/format/serialize.hpp — a stored bit-plane stack to a file and back.
//
// File layout, version 3 (version 2 = without the offset block, version 1 = without offsets and
// fits), all integers little-endian. One encoding per stack: a stack without offsets or fits is
// written as version 1, one with fits but no offsets as version 2 with at least one fit (a version 2
// file with fit count 0 is rejected), one with float offsets as version 3 (any fit count).
//
//   offset  size  field
//   0       8     magic "BITDIAL\0"
//   8       4     u32 format version (1)
//   12      4     u32 payload kind (1 = bit_plane_stack, tile32x16 layout)
//   16      8     u64 rows
//   24      8     u64 cols
//   32      4     u32 master bits (1..8)
//   36      4     u32 flags (bit 0: signed master)
//   40      4     u32 granularity kind (0 tensor, 1 row, 2 group)
//   44      4     i32 code offset ×2 (0 for signed masters; mid-rise grids)
//   48      8     u64 group size (0 unless per group)
//   56      8     u64 scale count
//   64      8     u64 zero-point count (0 or the scale count)
//   72      8     u64 plane bytes (must equal the layout's size for the shape)
//   80      ...   f32 scales, i32 zero points, plane bytes
//   v3 only:      u64 offset count (the scale count), f32 offsets μ (value = s·(q − z) + μ)
//   v2, v3:       u32 fit count F, then F fits (fitted per-width reconstruction, SEMANTICS §3b),
//                 each u32 rule (fit_index, select/plane_view.hpp: 0 floor = truncation, 1 half_up,
//                 2 half_even), u32 width b (1..B−1), f32 α[rows], i16 β[rows]; rules and widths
//                 strictly ascending
//   end-8   8     u64 FNV-1a 64 checksum of every byte before it
//
// The reader checks every field against the others and the file length before it allocates or
// copies anything, so a truncated, padded or corrupted file is rejected with the field's name and
// value; it never reads past the end.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bitdial/format/bit_planes.hpp"

namespace bitdial {

static_assert(std::endian::native == std::endian::little, "bitdial files are little-endian; port the codec");

inline constexpr char file_magic[8] = {'B', 'I', 'T', 'D', 'I', 'A', 'L', '\0'};
inline constexpr std::uint32_t file_version = 3;  // versions 1 and 2 still load

namespace detail {

inline std::uint64_t fnv1a64(const std::uint8_t* p, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ull) noexcept {
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

class byte_writer {
 public:
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<std::uint8_t>& bytes() noexcept { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

class byte_reader {
 public:
  byte_reader(const std::uint8_t* p, std::size_t n, const char* where) : p_(p), n_(n), where_(where) {}
  template <class T>
  T get(const char* field) {
    T v;
    need(sizeof(T), field);
    std::memcpy(&v, p_ + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  const std::uint8_t* take(std::size_t n, const char* field) {
    need(n, field);
    const std::uint8_t* r = p_ + at_;
    at_ += n;
    return r;
  }
  std::size_t remaining() const noexcept { return n_ - at_; }

 private:
  void need(std::size_t n, const char* field) const {
    BITDIAL_REQUIRE(n <= n_ - at_, where_, ": ", field, ": file ends at byte ", n_, ", ", n, " more bytes needed at ",
                    at_, " (truncated file)");
  }
  const std::uint8_t* p_;
  std::size_t n_, at_ = 0;
  const char* where_;
};

}  // namespace detail

/// The stack as file bytes (see the layout above).
inline std::vector<std::uint8_t> serialize(const bit_plane_stack& s) {
  BITDIAL_REQUIRE(s.rows() > 0, "serialize: stack shape = ", s.rows(), "x", s.cols(), ": the stack is empty");
  detail::byte_writer w;
  w.put_bytes(file_magic, sizeof file_magic);
  w.put(s.has_offsets() ? std::uint32_t{3} : s.fitted() ? std::uint32_t{2} : std::uint32_t{1});
  w.put(std::uint32_t{1});
  w.put(std::uint64_t{s.rows()});
  w.put(std::uint64_t{s.cols()});
  w.put(static_cast<std::uint32_t>(s.master_bits()));
  w.put(static_cast<std::uint32_t>(s.is_signed() ? 1 : 0));
  w.put(static_cast<std::uint32_t>(s.gran().k));
  w.put(s.code_offset2());
  w.put(std::uint64_t{s.gran().k == granularity::kind::per_group ? s.gran().group : 0});
  w.put(std::uint64_t{s.scales().size()});
  w.put(std::uint64_t{s.zero_points().size()});
  w.put(std::uint64_t{s.bytes().size()});
  w.put_bytes(s.scales().data(), s.scales().size_bytes());
  w.put_bytes(s.zero_points().data(), s.zero_points().size_bytes());
  w.put_bytes(s.bytes().data(), s.bytes().size());
  if (s.has_offsets()) {
    w.put(std::uint64_t{s.offsets().size()});
    w.put_bytes(s.offsets().data(), s.offsets().size_bytes());
  }
  std::uint32_t fits = 0;
  for (int rule = 0; rule < bit_plane_stack::fit_rules; ++rule)
    for (int b = 1; b < s.master_bits(); ++b) fits += s.has_fit(rule, b) ? 1 : 0;
  if (fits || s.has_offsets()) w.put(fits);
  for (int rule = 0; rule < bit_plane_stack::fit_rules; ++rule)
    for (int b = 1; b < s.master_bits(); ++b)
      if (s.has_fit(rule, b)) {
        w.put(static_cast<std::uint32_t>(rule));
        w.put(static_cast<std::uint32_t>(b));
        w.put_bytes(s.fit_alpha(rule, b), s.rows() * sizeof(float));
        w.put_bytes(s.fit_offset(rule, b), s.rows() * sizeof(std::int16_t));
      }
  const std::uint64_t sum = detail::fnv1a64(w.bytes().data(), w.bytes().size());
  w.put(sum);
  return std::move(w.bytes());
}

/// Parses file bytes; every inconsistency throws bitdial::error naming the field.
inline bit_plane_stack deserialize(const std::uint8_t* data, std::size_t size) {
  constexpr const char* where = "deserialize";
  BITDIAL_REQUIRE(data != nullptr || size == 0, where, ": data = null: with size = ", size);
  BITDIAL_REQUIRE(size >= 88, where, ": file size = ", size, ": smaller than the 88-byte header and checksum");
  BITDIAL_REQUIRE(std::memcmp(data, file_magic, sizeof file_magic) == 0, where,
                  ": magic: not a bitdial file (expected \"BITDIAL\\0\")");
  std::uint64_t stored_sum;
  std::memcpy(&stored_sum, data + size - 8, 8);
  const std::uint64_t sum = detail::fnv1a64(data, size - 8);
  detail::byte_reader r(data, size - 8, where);
  r.take(8, "magic");
  const auto version = r.get<std::uint32_t>("version");
  BITDIAL_REQUIRE(version >= 1 && version <= file_version, where, ": version = ", version,
                  ": this build reads versions 1 to ", file_version);
  BITDIAL_REQUIRE(sum == stored_sum, where, ": checksum = ", stored_sum, ": does not match the contents (", sum,
                  "): the file is corrupted");
  const auto kind = r.get<std::uint32_t>("kind");
  BITDIAL_REQUIRE(kind == 1, where, ": kind = ", kind, ": expected 1 (bit_plane_stack)");
  const auto rows = r.get<std::uint64_t>("rows");
  const auto cols = r.get<std::uint64_t>("cols");
  const auto bits = r.get<std::uint32_t>("master bits");
  const auto flags = r.get<std::uint32_t>("flags");
  const auto gkind = r.get<std::uint32_t>("granularity");
  const auto offset2 = r.get<std::int32_t>("code offset");
  const auto group = r.get<std::uint64_t>("group");
  const auto n_scales = r.get<std::uint64_t>("scale count");
  const auto n_zp = r.get<std::uint64_t>("zero-point count");
  const auto n_planes = r.get<std::uint64_t>("plane bytes");
  BITDIAL_REQUIRE(bits >= 1 && bits <= 8, where, ": master bits = ", bits, ": must be in 1..8");
  BITDIAL_REQUIRE(flags <= 1, where, ": flags = ", flags, ": unknown flag bits");
  BITDIAL_REQUIRE(gkind <= 2, where, ": granularity = ", gkind, ": must be 0, 1 or 2");
  // One encoding per stack: the group field is 0 unless the granularity is per group.
  BITDIAL_REQUIRE(gkind == 2 || group == 0, where, ": group = ", group, ": must be 0 for granularity ", gkind);
  BITDIAL_REQUIRE(rows > 0 && cols > 0, where, ": shape = ", rows, "x", cols, ": must not be empty");
  // Shapes are bounded by what the remaining bytes could hold before any product is formed.
  BITDIAL_REQUIRE(rows <= r.remaining() && cols <= r.remaining() * 8, where, ": shape = ", rows, "x", cols,
                  ": larger than the file could hold");
  const granularity g{static_cast<granularity::kind>(gkind), static_cast<std::size_t>(group)};
  g.validate(cols, where);
  const tile32x16 geo{rows, cols, bits};
  detail::checked_mul(geo.row_blocks() * 32, geo.k_tiles() * 16, where, "padded shape");
  BITDIAL_REQUIRE(n_scales == g.count(rows, cols), where, ": scale count = ", n_scales, ": expected ",
                  g.count(rows, cols), " for the shape and granularity");
  BITDIAL_REQUIRE(n_zp == 0 || n_zp == n_scales, where, ": zero-point count = ", n_zp, ": expected 0 or ", n_scales);
  BITDIAL_REQUIRE(n_planes == geo.total_bytes(), where, ": plane bytes = ", n_planes, ": expected ", geo.total_bytes(),
                  " for the shape");
  const std::uint64_t need = n_scales * 4 + n_zp * 4 + n_planes;
  if (version == 1)
    BITDIAL_REQUIRE(need == r.remaining(), where, ": payload = ", r.remaining(), " bytes: expected ", need,
                    r.remaining() < need ? " (truncated file)" : " (trailing bytes)");
  else
    BITDIAL_REQUIRE(need + (version == 3 ? 12 + n_scales * 4 : 4) <= r.remaining(), where,
                    ": payload = ", r.remaining(), " bytes: expected at least ",
                    need + (version == 3 ? 12 + n_scales * 4 : 4),
                    version == 3 ? " with the version 3 offsets and fit count (truncated file)"
                                 : " with the version 2 fit count (truncated file)");
  std::vector<float> scales(n_scales);
  std::memcpy(scales.data(), r.take(n_scales * 4, "scales"), n_scales * 4);
  for (std::size_t i = 0; i < scales.size(); ++i)
    BITDIAL_REQUIRE(std::isfinite(scales[i]), where, ": scales[", i, "] = ", scales[i], ": must be finite");
  std::vector<std::int32_t> zps(n_zp);
  const std::uint8_t* zp_bytes = r.take(n_zp * 4, "zero points");
  if (n_zp) std::memcpy(zps.data(), zp_bytes, n_zp * 4);  // memcpy(null, …, 0) is undefined
  for (std::size_t i = 0; i < zps.size(); ++i)
    BITDIAL_REQUIRE(zps[i] >= 0 && zps[i] <= unsigned_max(static_cast<int>(bits)), where, ": zero_points[", i,
                    "] = ", zps[i], ": outside the ", bits, "-bit code range");
  aligned_buffer planes(n_planes);
  std::memcpy(planes.data(), r.take(n_planes, "planes"), n_planes);
  std::vector<float> offsets;
  if (version == 3) {
    const auto n_off = r.get<std::uint64_t>("offset count");
    BITDIAL_REQUIRE(n_off == n_scales, where, ": offset count = ", n_off, ": expected one per scale (", n_scales, ")");
    offsets.resize(n_off);
    std::memcpy(offsets.data(), r.take(n_off * 4, "offsets"), n_off * 4);
  }
  auto out = bit_plane_stack::from_parts(rows, cols, static_cast<int>(bits), flags & 1u, g, std::move(scales),
                                         std::move(zps), std::move(planes), offset2, std::move(offsets));
  if (version == 1) return out;
  const auto n_fits = r.get<std::uint32_t>("fit count");
  const std::uint64_t fit_bytes = 8 + rows * 6;
  BITDIAL_REQUIRE(n_fits >= 1 || version == 3, where,
                  ": fit count = 0: a stack without fits or offsets is written as version 1");
  BITDIAL_REQUIRE(n_fits <= 3u * 8u && n_fits * fit_bytes == r.remaining(), where, ": fit count = ", n_fits, ": ",
                  r.remaining(), " bytes remain, expected ", std::uint64_t{n_fits} * fit_bytes,
                  n_fits * fit_bytes > r.remaining() ? " (truncated file)" : " (trailing bytes)");
  int last = -1;
  std::vector<float> alpha(rows);
  std::vector<std::int16_t> beta(rows);
  for (std::uint32_t i = 0; i < n_fits; ++i) {
    const auto rule = r.get<std::uint32_t>("fit rule");
    const auto b = r.get<std::uint32_t>("fit width");
    BITDIAL_REQUIRE(rule < 3 && b >= 1 && b < bits, where, ": fit ", i, ": rule = ", rule, ", width = ", b,
                    ": expected a rule 0..2 and a width 1..", bits - 1);
    const int key = static_cast<int>(rule * 8 + b);
    BITDIAL_REQUIRE(key > last, where, ": fit ", i, ": rule = ", rule, ", width = ", b,
                    ": fits must be in ascending (rule, width) order without repeats");
    last = key;
    std::memcpy(alpha.data(), r.take(rows * 4, "fit alpha"), rows * 4);
    std::memcpy(beta.data(), r.take(rows * 2, "fit beta"), rows * 2);
    out.set_fit(static_cast<int>(rule), static_cast<int>(b), alpha, beta);  // validates α
  }
  return out;
}

inline void save(const bit_plane_stack& s, const std::string& path) {
  const auto bytes = serialize(s);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  BITDIAL_REQUIRE(f.good(), "save: file = ", path, ": cannot open for writing");
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  BITDIAL_REQUIRE(f.good(), "save: file = ", path, ": write failed");
}

inline bit_plane_stack load(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  BITDIAL_REQUIRE(f.good(), "load: file = ", path, ": cannot open");
  const std::streamoff n = f.tellg();
  BITDIAL_REQUIRE(n >= 0, "load: file = ", path, ": cannot read its size");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(n));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(bytes.data()), n);
  BITDIAL_REQUIRE(f.good() || n == 0, "load: file = ", path, ": read failed");
  try {
    return deserialize(bytes.data(), bytes.size());
  } catch (const error& e) {
    throw error(std::string(e.what()) + " [file = " + path + "]");
  }
}

}  // namespace bitdial
