// bitdial/format/gguf.hpp — reads GGUF (v2, v3) tensors as float matrices, and imports ggml Q8_0
// tensors directly as INT8 bit-plane masters (no float round trip); a small writer for tests.
//
// File layout (GGUF as ggml's docs/gguf.md defines it; all integers little-endian):
//
//   u32 magic "GGUF" (bytes 47 47 55 46) | u32 version (2 or 3; v1 had 32-bit counts and is refused)
//   u64 tensor_count | u64 metadata_kv_count
//   metadata_kv_count × { string key | u32 value_type | value }
//   tensor_count × { string name | u32 n_dims (1..4) | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   zero padding to a multiple of ALIGNMENT, then the data section; a tensor's bytes start at
//   data_start + offset, and offset must be a multiple of ALIGNMENT
//
//   string = u64 length + bytes (no terminator). value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32,
//   5 i32, 6 f32, 7 bool (1 byte), 8 string, 9 array = u32 element type + u64 count + elements
//   (arrays may nest), 10 u64, 11 i64, 12 f64. ALIGNMENT = metadata "general.alignment" (u32, a
//   power of two), default 32.
//
// ne[0] is the contiguous (row) length: a 2-D tensor with ne = [K, M] is an M × K row-major matrix
// (M output channels of K inputs). Every type ggml defines is listed with its block size, and its
// extent checked (format/ggml_quants.hpp has the table). Loaded as floats: F32 (0), F16 (1), BF16
// (30) widened exactly. Imported as masters without touching float values (import_master): Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K — codes, per-group scales and (for the types
// with mins) float offsets as format/ggml_quants.hpp derives them from ggml's block layouts, so the
// master's full-width value is exactly ggml's dequantized value; load_matrix returns those values.
// Other types (IQ*, TQ*, Q8_1, Q8_K, integer element types) are listed and refused, naming why.
//
// import_q8_0 (kept; a thin wrapper over import_master) returns a Q8_0 tensor as
// quantized_matrix<int8_t>: bits 8, per_group(32), scales = float(d), codes = q; ggml's
// quantize_row_q8_0 writes d = amax/127 rounded to fp16 and q = round-half-away(x / d) in
// [-127, 127]; the reader accepts every int8 (−128 too) and any finite d.
//
// Bounds: every read goes through a cursor that checks the file length first; counts and lengths
// are compared with the bytes left before anything is allocated from them (a count of n items of
// at least s bytes each needs n·s bytes), names are limited to 64 KiB, arrays nest at most 16 deep,
// dimensions must fit int64 and their product (and byte size) must not overflow. Rejected, each
// with a message naming it: truncation anywhere, bad magic or version, absurd counts or lengths,
// unknown value types, duplicate keys or tensor names, general.alignment not a u32 power of two,
// n_dims outside 1..4, overflowing dimensions, a row length not a multiple of the type's block,
// an offset that is misaligned or whose data runs past the end of the file, an unknown tensor,
// a tensor type that cannot be loaded, a tensor that is not 2-D.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include "bitdial/format/ggml_quants.hpp"
#include "bitdial/format/master.hpp"
#include "bitdial/format/tensor_file.hpp"

namespace bitdial {

/// Metadata value types of GGUF.
enum class gguf_type : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12
};

inline constexpr std::size_t q8_0_block = 32;        // elements per block
inline constexpr std::size_t q8_0_block_bytes = 34;  // fp16 d + 32 int8

/// One metadata entry. Scalars and strings keep their value; arrays keep element type and count.
struct gguf_kv {
  std::string key;
  gguf_type type = gguf_type::uint8;
  gguf_type array_type = gguf_type::uint8;  // arrays only
  std::uint64_t array_count = 0;            // arrays only
  std::variant<std::monostate, std::uint64_t, std::int64_t, double, bool, std::string> value;
};

struct gguf_tensor {
  std::string name;
  std::vector<std::uint64_t> ne;  // ne[0] = row length (contiguous)
  ggml_type type = ggml_type::f32;
  std::uint64_t offset = 0;  // from the start of the data section
  std::uint64_t bytes = 0;   // data size; 0 for type numbers ggml does not define

  /// A type ggml defines (its extent is checked at open).
  bool known_type() const noexcept { return ggml_info(type) != nullptr; }
  /// A type whose codes import as a master (format/ggml_quants.hpp).
  bool importable() const noexcept { return known_type() && ggml_info(type)->master_bits > 0; }
  /// A type load_matrix reads: floats and every importable type (dequantized exactly).
  bool loadable() const noexcept { return known_type() && (ggml_info(type)->is_float || importable()); }
  /// A matrix: ne[1] rows of ne[0], any further dimensions 1.
  bool is_2d() const noexcept {
    return ne.size() >= 2 && std::all_of(ne.begin() + 2, ne.end(), [](std::uint64_t d) { return d == 1; });
  }
  std::uint64_t rows() const noexcept { return ne.size() >= 2 ? ne[1] : 1; }
  std::uint64_t cols() const noexcept { return ne.empty() ? 0 : ne[0]; }
};

namespace detail {

inline constexpr std::uint64_t gguf_max_name = 65536;
inline constexpr int gguf_max_depth = 16;
inline constexpr std::uint32_t gguf_max_alignment = 1u << 30;

/// Bytes of one fixed-size metadata value (0 for string / array).
constexpr std::uint64_t gguf_scalar_size(gguf_type t) noexcept {
  switch (t) {
    case gguf_type::uint8:
    case gguf_type::int8:
    case gguf_type::boolean:
      return 1;
    case gguf_type::uint16:
    case gguf_type::int16:
      return 2;
    case gguf_type::uint32:
    case gguf_type::int32:
    case gguf_type::float32:
      return 4;
    case gguf_type::uint64:
    case gguf_type::int64:
    case gguf_type::float64:
      return 8;
    default:
      return 0;
  }
}
/// Smallest encoding of one value of type t (a string: its length; an array: type and count).
constexpr std::uint64_t gguf_min_size(gguf_type t) noexcept {
  return t == gguf_type::string ? 8 : t == gguf_type::array ? 12 : gguf_scalar_size(t);
}

/// Sequential, buffered, bounds-checked reader over a byte_source.
class gguf_cursor {
 public:
  gguf_cursor(const byte_source& src, const char* where) : src_(src), where_(where) {}

  std::uint64_t pos() const noexcept { return pos_; }
  std::uint64_t remaining() const noexcept { return src_.size() - pos_; }

  template <class T>
  T get(const char* field) {
    fetch(sizeof(T), field);
    T v;
    std::memcpy(&v, buf_.data() + (pos_ - buf_start_), sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string string(const char* field, std::uint64_t limit) {
    const auto n = get<std::uint64_t>(field);
    need(std::min(n, limit + 1), field);  // a length past the end reads as truncation, not as absurd
    BITDIAL_REQUIRE(n <= limit, where_, ": ", field, " length = ", n, " at offset ", pos_ - 8, ": absurd (limit ",
                    limit, ")");
    fetch(n, field);
    std::string s(reinterpret_cast<const char*>(buf_.data() + (pos_ - buf_start_)), static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }
  void skip(std::uint64_t n, const char* field) {
    need(n, field);
    pos_ += n;
  }
  /// Throws unless n more bytes exist.
  void need(std::uint64_t n, const char* field) const {
    BITDIAL_REQUIRE(src_.contains(pos_, n), where_, ": ", field, ": ", n, " bytes at offset ", pos_,
                    " are past the end of the file (", src_.size(), " bytes; truncated file)");
  }

 private:
  void fetch(std::uint64_t n, const char* field) {
    need(n, field);
    if (pos_ >= buf_start_ && pos_ + n <= buf_start_ + buf_.size()) return;
    const std::uint64_t want = std::max<std::uint64_t>(n, std::min<std::uint64_t>(remaining(), 1u << 20));
    buf_.resize(static_cast<std::size_t>(want));
    src_.read(pos_, buf_.data(), buf_.size(), where_, field);
    buf_start_ = pos_;
  }

  const byte_source& src_;
  const char* where_;
  std::uint64_t pos_ = 0, buf_start_ = 0;
  std::vector<std::uint8_t> buf_;
};

}  // namespace detail

/// An opened GGUF file: validated header, metadata and tensor infos; data read on request.
class gguf_file {
 public:
  static gguf_file open(const std::string& path) { return parse(byte_source::from_file(path, "gguf_file::open")); }
  static gguf_file from_bytes(const std::uint8_t* data, std::size_t n) {
    return parse(byte_source::from_memory(data, n));
  }

  static gguf_file parse(byte_source src) {
    constexpr const char* where = "gguf_file::open";
    gguf_file f;
    f.src_ = std::move(src);
    detail::gguf_cursor c(f.src_, where);
    const auto magic = c.get<std::uint32_t>("magic");
    BITDIAL_REQUIRE(magic == 0x46554747u, where, ": magic = 0x", hex(magic), ": not a GGUF file (expected \"GGUF\")");
    f.version_ = c.get<std::uint32_t>("version");
    BITDIAL_REQUIRE(
        f.version_ == 2 || f.version_ == 3, where, ": version = ", f.version_,
        f.version_ == 1 ? ": GGUF v1 (32-bit counts) is not supported" : ": unsupported version (reads 2 and 3)");
    const auto n_tensors = c.get<std::uint64_t>("tensor count");
    const auto n_kv = c.get<std::uint64_t>("metadata kv count");
    // Each metadata entry needs >= 13 bytes (key length, type, 1-byte value), each tensor info
    // >= 32 (name length, n_dims, one dimension, type, offset).
    BITDIAL_REQUIRE(n_kv <= c.remaining() / 13, where, ": metadata kv count = ", n_kv,
                    ": absurd or truncated file (each entry needs >= 13 bytes, ", c.remaining(), " bytes left)");
    BITDIAL_REQUIRE(n_tensors <= c.remaining() / 32, where, ": tensor count = ", n_tensors,
                    ": absurd or truncated file (each tensor info needs >= 32 bytes, ", c.remaining(), " bytes left)");

    std::unordered_set<std::string> keys;
    for (std::uint64_t i = 0; i < n_kv; ++i) {
      gguf_kv kv;
      kv.key = c.string("metadata key", detail::gguf_max_name);
      BITDIAL_REQUIRE(keys.insert(kv.key).second, where, ": metadata key '", kv.key, "': duplicate key");
      kv.type = static_cast<gguf_type>(c.get<std::uint32_t>("metadata value type"));
      read_value(c, kv, kv.type, 0);
      if (kv.key == "general.alignment") {
        BITDIAL_REQUIRE(kv.type == gguf_type::uint32, where, ": general.alignment: value type ",
                        static_cast<std::uint32_t>(kv.type), ": must be u32 (4)");
        const auto a = std::get<std::uint64_t>(kv.value);
        BITDIAL_REQUIRE(a > 0 && (a & (a - 1)) == 0 && a <= detail::gguf_max_alignment, where,
                        ": general.alignment = ", a, ": must be a power of two (at most 2^30)");
        f.alignment_ = static_cast<std::uint32_t>(a);
      }
      f.metadata_.push_back(std::move(kv));
    }

    std::unordered_set<std::string> names;
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      gguf_tensor t;
      t.name = c.string("tensor name", detail::gguf_max_name);
      BITDIAL_REQUIRE(names.insert(t.name).second, where, ": tensor '", t.name, "': duplicate tensor name");
      const auto n_dims = c.get<std::uint32_t>("n_dims");
      BITDIAL_REQUIRE(n_dims >= 1 && n_dims <= 4, where, ": tensor '", t.name, "': n_dims = ", n_dims,
                      ": must be in 1..4");
      for (std::uint32_t d = 0; d < n_dims; ++d) {
        t.ne.push_back(c.get<std::uint64_t>("dimension"));
        BITDIAL_REQUIRE(t.ne.back() <= std::uint64_t{INT64_MAX}, where, ": tensor '", t.name, "': ne[", d,
                        "] = ", t.ne.back(), ": absurd dimension (above INT64_MAX)");
      }
      const std::uint64_t count = detail::checked_product(t.ne, where, "tensor '" + t.name + "'");
      t.type = static_cast<ggml_type>(c.get<std::uint32_t>("tensor type"));
      t.offset = c.get<std::uint64_t>("tensor offset");
      if (const ggml_type_info* info = ggml_info(t.type)) {
        BITDIAL_REQUIRE(t.ne[0] % info->block == 0, where, ": tensor '", t.name, "': ne[0] = ", t.ne[0],
                        ": not a multiple of the ", info->name, " block (", info->block, ")");
        BITDIAL_REQUIRE(count / info->block <= UINT64_MAX / info->bytes, where, ": tensor '", t.name,
                        "': shape = ", detail::shape_string(t.ne), ": byte size overflows 64 bits (absurd shape)");
        t.bytes = count / info->block * info->bytes;
      }
      f.tensors_.push_back(std::move(t));
    }

    // Data section: aligned start; every tensor aligned and inside the file.
    const std::uint64_t a = f.alignment_;
    const std::uint64_t end_of_infos = c.pos();
    f.data_start_ = end_of_infos + (a - end_of_infos % a) % a;
    const std::uint64_t data_size = f.src_.size() > f.data_start_ ? f.src_.size() - f.data_start_ : 0;
    for (const auto& t : f.tensors_) {
      BITDIAL_REQUIRE(t.offset % a == 0, where, ": tensor '", t.name, "': offset = ", t.offset,
                      ": misaligned (not a multiple of the alignment ", a, ")");
      BITDIAL_REQUIRE(t.offset <= data_size && t.bytes <= data_size - t.offset, where, ": tensor '", t.name,
                      "': offset = ", t.offset, " + ", t.bytes, " bytes: past the end of the file (data section of ",
                      data_size, " bytes at ", f.data_start_, "; truncated file)");
    }
    return f;
  }

  std::uint32_t version() const noexcept { return version_; }
  std::uint32_t alignment() const noexcept { return alignment_; }
  std::uint64_t data_start() const noexcept { return data_start_; }
  const std::vector<gguf_kv>& metadata() const noexcept { return metadata_; }
  const std::vector<gguf_tensor>& tensors() const noexcept { return tensors_; }

  /// The metadata entry `key`, or null.
  const gguf_kv* find_metadata(std::string_view key) const noexcept {
    for (const auto& kv : metadata_)
      if (kv.key == key) return &kv;
    return nullptr;
  }
  /// The tensor called `name`; throws if there is none.
  const gguf_tensor& find(std::string_view name) const {
    for (const auto& t : tensors_)
      if (t.name == name) return t;
    std::string known;
    for (std::size_t i = 0; i < tensors_.size() && i < 8; ++i) known += (i ? ", " : "") + tensors_[i].name;
    if (tensors_.size() > 8) known += ", ...";
    detail::fail("gguf_file::find: tensor = '", name, "': unknown tensor name (the file holds ", tensors_.size(),
                 " tensors: ", known, ")");
  }
  bool contains(std::string_view name) const noexcept {
    return std::any_of(tensors_.begin(), tensors_.end(), [&](const auto& t) { return t.name == name; });
  }

  /// A 2-D tensor as a float matrix (ne[1] rows × ne[0] cols): F32 / F16 / BF16 widened exactly,
  /// and every importable quantized type dequantized exactly as ggml does (the imported master's
  /// full-width values, format/ggml_quants.hpp).
  float_matrix load_matrix(std::string_view name) const {
    const gguf_tensor& t = find(name);
    check_matrix(t, "gguf_file::load_matrix");
    if (t.importable()) {
      const imported_master q = import_master(name);
      return float_matrix{q.rows(), q.cols(), q.dequantize()};
    }
    BITDIAL_REQUIRE(t.type == ggml_type::f32 || t.type == ggml_type::f16 || t.type == ggml_type::bf16,
                    "gguf_file::load_matrix: tensor '", t.name, "': type = ", to_string(t.type), " (",
                    static_cast<std::uint32_t>(t.type), "): unsupported tensor type: ", ggml_import_limit(t.type),
                    " (loads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
    float_matrix m;
    m.rows = static_cast<std::size_t>(t.rows());
    m.cols = static_cast<std::size_t>(t.cols());
    const std::size_t n = m.rows * m.cols;  // bounded by the file size: checked at open
    m.data.resize(n);
    if (t.type == ggml_type::f32) {
      src_.read(data_start_ + t.offset, m.data.data(), n * 4, "gguf_file::load_matrix", "tensor data");
    } else {
      std::vector<std::uint16_t> h(n);
      src_.read(data_start_ + t.offset, h.data(), n * 2, "gguf_file::load_matrix", "tensor data");
      for (std::size_t i = 0; i < n; ++i)
        m.data[i] = t.type == ggml_type::f16 ? half_to_float(h[i]) : bf16_to_float(h[i]);
    }
    return m;
  }

  /// A 2-D quantized tensor as a master, codes as stored (format/ggml_quants.hpp lists the types,
  /// what each becomes, and why the others do not import).
  imported_master import_master(std::string_view name) const {
    constexpr const char* where = "gguf_file::import_master";
    const gguf_tensor& t = find(name);
    BITDIAL_REQUIRE(t.importable(), where, ": tensor '", t.name, "': type = ", to_string(t.type), " (",
                    static_cast<std::uint32_t>(t.type), "): does not import as a master: ", ggml_import_limit(t.type));
    check_matrix(t, where);
    const auto raw = read_blocks(t, where);
    return decode_ggml_master(t.type, raw.data(), raw.size(), static_cast<std::size_t>(t.rows()),
                              static_cast<std::size_t>(t.cols()), "tensor '" + t.name + "'");
  }

  /// A 2-D Q8_0 tensor as an INT8 master: bits 8, per_group(32), scales = float(d), codes = q
  /// (import_master's signed master, decoded by decode_ggml_master).
  quantized_matrix<std::int8_t> import_q8_0(std::string_view name) const {
    constexpr const char* where = "gguf_file::import_q8_0";
    const gguf_tensor& t = find(name);
    BITDIAL_REQUIRE(t.type == ggml_type::q8_0, where, ": tensor '", t.name, "': type = ", to_string(t.type), " (",
                    static_cast<std::uint32_t>(t.type), "): only Q8_0 (8) imports as an INT8 master");
    return std::get<quantized_matrix<std::int8_t>>(import_master(name).m);
  }

 private:
  static std::string hex(std::uint32_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(8, '0');
    for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = digits[v & 15u];
    return s;
  }

  /// The bytes of a tensor (size bounded by the file: checked at open).
  std::vector<std::uint8_t> read_blocks(const gguf_tensor& t, const char* where) const {
    return src_.read(data_start_ + t.offset, static_cast<std::size_t>(t.bytes), where, "tensor data");
  }

  static void check_matrix(const gguf_tensor& t, const char* where) {
    BITDIAL_REQUIRE(t.is_2d(), where, ": tensor '", t.name, "': ne = ", detail::shape_string(t.ne),
                    ": not 2-D (a matrix needs ne[0] x ne[1], further dimensions 1)");
    BITDIAL_REQUIRE(t.rows() > 0 && t.cols() > 0, where, ": tensor '", t.name, "': ne = ", detail::shape_string(t.ne),
                    ": empty matrix");
  }

  /// Reads (scalars, strings) or skips (arrays) one value, bounds-checked.
  static void read_value(detail::gguf_cursor& c, gguf_kv& kv, gguf_type type, int depth) {
    constexpr const char* where = "gguf_file::open";
    const auto tnum = static_cast<std::uint32_t>(type);
    BITDIAL_REQUIRE(tnum <= 12, where, ": metadata key '", kv.key, "': value type = ", tnum,
                    ": unknown metadata value type (0..12)");
    const bool top = depth == 0;
    switch (type) {
      case gguf_type::uint8:
        set(kv, top, std::uint64_t{c.get<std::uint8_t>("metadata value")});
        return;
      case gguf_type::int8:
        set(kv, top, std::int64_t{c.get<std::int8_t>("metadata value")});
        return;
      case gguf_type::uint16:
        set(kv, top, std::uint64_t{c.get<std::uint16_t>("metadata value")});
        return;
      case gguf_type::int16:
        set(kv, top, std::int64_t{c.get<std::int16_t>("metadata value")});
        return;
      case gguf_type::uint32:
        set(kv, top, std::uint64_t{c.get<std::uint32_t>("metadata value")});
        return;
      case gguf_type::int32:
        set(kv, top, std::int64_t{c.get<std::int32_t>("metadata value")});
        return;
      case gguf_type::uint64:
        set(kv, top, c.get<std::uint64_t>("metadata value"));
        return;
      case gguf_type::int64:
        set(kv, top, c.get<std::int64_t>("metadata value"));
        return;
      case gguf_type::float32:
        set(kv, top, double{c.get<float>("metadata value")});
        return;
      case gguf_type::float64:
        set(kv, top, c.get<double>("metadata value"));
        return;
      case gguf_type::boolean:
        set(kv, top, c.get<std::uint8_t>("metadata value") != 0);
        return;
      case gguf_type::string:
        if (top) {
          kv.value = c.string("metadata string", c.remaining());
        } else {
          c.skip(c.get<std::uint64_t>("metadata string length"), "metadata string");
        }
        return;
      case gguf_type::array: {
        BITDIAL_REQUIRE(depth < detail::gguf_max_depth, where, ": metadata key '", kv.key,
                        "': arrays nested deeper than ", detail::gguf_max_depth);
        const auto et = static_cast<gguf_type>(c.get<std::uint32_t>("array element type"));
        BITDIAL_REQUIRE(static_cast<std::uint32_t>(et) <= 12, where, ": metadata key '", kv.key,
                        "': array element type = ", static_cast<std::uint32_t>(et),
                        ": unknown metadata value type (0..12)");
        const auto n = c.get<std::uint64_t>("array count");
        BITDIAL_REQUIRE(n <= c.remaining() / detail::gguf_min_size(et), where, ": metadata key '", kv.key,
                        "': array count = ", n, ": absurd or truncated file (", c.remaining(), " bytes left)");
        if (top) {
          kv.array_type = et;
          kv.array_count = n;
        }
        if (const std::uint64_t size = detail::gguf_scalar_size(et)) {
          c.skip(n * size, "array data");
          return;
        }
        for (std::uint64_t i = 0; i < n; ++i) read_value(c, kv, et, depth + 1);
        return;
      }
    }
  }
  template <class T>
  static void set(gguf_kv& kv, bool top, T v) {
    if (top) kv.value = v;
  }

  byte_source src_;
  std::uint32_t version_ = 3;
  std::uint32_t alignment_ = 32;
  std::uint64_t data_start_ = 0;
  std::vector<gguf_kv> metadata_;
  std::vector<gguf_tensor> tensors_;
};

/// Builds small GGUF files (tests, tools): metadata of any type, F32 / F16 / Q8_0 tensors.
class gguf_writer {
 public:
  explicit gguf_writer(std::uint32_t version = 3) : version_(version) {}

  /// Scalar or string metadata; the GGUF type follows the C++ type.
  template <class T>
  gguf_writer& kv(const std::string& key, const T& value) {
    std::vector<std::uint8_t> p;
    const gguf_type t = encode(p, value);
    return kv_raw(key, t, p);
  }
  /// An array of scalars or strings.
  template <class T>
  gguf_writer& kv_array(const std::string& key, const std::vector<T>& values) {
    std::vector<std::uint8_t> p, e;
    gguf_type et = encode(e, T{});
    e.clear();
    for (const auto& v : values) et = encode(e, static_cast<T>(v));
    detail::put_le(p, static_cast<std::uint32_t>(et));
    detail::put_le(p, std::uint64_t{values.size()});
    p.insert(p.end(), e.begin(), e.end());
    return kv_raw(key, gguf_type::array, p);
  }
  /// Any type number and value bytes, unchecked (nested arrays; tests of the reader).
  gguf_writer& kv_raw(const std::string& key, gguf_type type, const std::vector<std::uint8_t>& value) {
    put_string(meta_, key);
    detail::put_le(meta_, static_cast<std::uint32_t>(type));
    meta_.insert(meta_.end(), value.begin(), value.end());
    ++n_kv_;
    return *this;
  }
  /// Writes general.alignment and lays the data out with it.
  gguf_writer& alignment(std::uint32_t a) {
    align_ = a;
    return kv("general.alignment", a);
  }

  /// An M × K matrix (ne = [K, M]) as F32, F16 or BF16 (narrowed with RNE).
  gguf_writer& add(const std::string& name, ggml_type type, const float_matrix& m) {
    std::vector<std::uint8_t> data;
    if (type == ggml_type::q8_0) {
      std::vector<std::uint16_t> d;
      std::vector<std::int8_t> q;
      quantize_q8_0(m, d, q);
      return add_q8_0(name, m.rows, m.cols, d, q);
    }
    BITDIAL_REQUIRE(type == ggml_type::f32 || type == ggml_type::f16 || type == ggml_type::bf16,
                    "gguf_writer::add: type = ", static_cast<std::uint32_t>(type), ": writes F32, F16, BF16, Q8_0");
    for (float v : m.data) {
      if (type == ggml_type::f32)
        detail::put_le(data, v);
      else
        detail::put_le(data, type == ggml_type::f16 ? float_to_half(v) : float_to_bf16(v));
    }
    return add_raw(name, {m.cols, m.rows}, static_cast<std::uint32_t>(type), data);
  }
  /// A Q8_0 matrix from its blocks: d[r·K/32 + j] (fp16 bits), q row-major (rows·K).
  gguf_writer& add_q8_0(const std::string& name, std::size_t rows, std::size_t cols,
                        const std::vector<std::uint16_t>& d, const std::vector<std::int8_t>& q) {
    BITDIAL_REQUIRE(cols % q8_0_block == 0 && d.size() == rows * cols / q8_0_block && q.size() == rows * cols,
                    "gguf_writer::add_q8_0: shape = ", rows, "x", cols,
                    ": needs K % 32 == 0, rows·K/32 scales and rows·K codes");
    std::vector<std::uint8_t> data;
    for (std::size_t b = 0; b < d.size(); ++b) {
      detail::put_le(data, d[b]);
      const auto* p = reinterpret_cast<const std::uint8_t*>(q.data() + b * q8_0_block);
      data.insert(data.end(), p, p + q8_0_block);
    }
    return add_raw(name, {cols, rows}, static_cast<std::uint32_t>(ggml_type::q8_0), data);
  }
  /// Any dims, type number and data, unchecked; placed at the next aligned offset.
  gguf_writer& add_raw(const std::string& name, const std::vector<std::uint64_t>& ne, std::uint32_t type,
                       const std::vector<std::uint8_t>& data) {
    data_.resize((data_.size() + align_ - 1) / align_ * align_, 0);
    put_string(infos_, name);
    detail::put_le(infos_, static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) detail::put_le(infos_, d);
    detail::put_le(infos_, type);
    detail::put_le(infos_, std::uint64_t{data_.size()});
    data_.insert(data_.end(), data.begin(), data.end());
    ++n_tensors_;
    return *this;
  }

  /// ggml's reference Q8_0 rule per block of 32: amax = max|x|, d = amax/127, q = round-half-away(x/d)
  /// (x·(1/d) as ggml computes it), d stored as fp16 (RNE).
  static void quantize_q8_0(const float_matrix& m, std::vector<std::uint16_t>& d, std::vector<std::int8_t>& q) {
    BITDIAL_REQUIRE(m.cols % q8_0_block == 0, "gguf_writer::quantize_q8_0: cols = ", m.cols, ": not a multiple of 32");
    d.clear();
    q.clear();
    for (std::size_t b = 0; b < m.data.size() / q8_0_block; ++b) {
      const float* x = m.data.data() + b * q8_0_block;
      float amax = 0.0f;
      for (std::size_t i = 0; i < q8_0_block; ++i) amax = std::max(amax, std::fabs(x[i]));
      const float dd = amax / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
      d.push_back(float_to_half(dd));
      for (std::size_t i = 0; i < q8_0_block; ++i) q.push_back(static_cast<std::int8_t>(std::round(x[i] * id)));
    }
  }

  std::vector<std::uint8_t> bytes() const {
    std::vector<std::uint8_t> out;
    detail::put_le(out, std::uint32_t{0x46554747u});
    detail::put_le(out, version_);
    detail::put_le(out, n_tensors_);
    detail::put_le(out, n_kv_);
    out.insert(out.end(), meta_.begin(), meta_.end());
    out.insert(out.end(), infos_.begin(), infos_.end());
    out.resize((out.size() + align_ - 1) / align_ * align_, 0);
    out.insert(out.end(), data_.begin(), data_.end());
    return out;
  }
  void save(const std::string& path) const { detail::write_file(path, bytes(), "gguf_writer::save"); }

 private:
  static void put_string(std::vector<std::uint8_t>& out, const std::string& s) {
    detail::put_le(out, std::uint64_t{s.size()});
    out.insert(out.end(), s.begin(), s.end());
  }
  static gguf_type encode(std::vector<std::uint8_t>& p, const std::string& v) {
    put_string(p, v);
    return gguf_type::string;
  }
  static gguf_type encode(std::vector<std::uint8_t>& p, const char* v) { return encode(p, std::string(v)); }
  template <class T>
  static gguf_type encode(std::vector<std::uint8_t>& p, const T& v) {
    static_assert(std::is_arithmetic_v<T>, "gguf_writer: metadata values are numbers, bools or strings");
    if constexpr (std::is_same_v<T, bool>) {
      detail::put_le(p, static_cast<std::uint8_t>(v ? 1 : 0));
      return gguf_type::boolean;
    } else {
      detail::put_le(p, v);
      if constexpr (std::is_same_v<T, std::uint8_t>)
        return gguf_type::uint8;
      else if constexpr (std::is_same_v<T, std::int8_t>)
        return gguf_type::int8;
      else if constexpr (std::is_same_v<T, std::uint16_t>)
        return gguf_type::uint16;
      else if constexpr (std::is_same_v<T, std::int16_t>)
        return gguf_type::int16;
      else if constexpr (std::is_same_v<T, std::uint32_t>)
        return gguf_type::uint32;
      else if constexpr (std::is_same_v<T, std::int32_t>)
        return gguf_type::int32;
      else if constexpr (std::is_same_v<T, std::uint64_t>)
        return gguf_type::uint64;
      else if constexpr (std::is_same_v<T, std::int64_t>)
        return gguf_type::int64;
      else if constexpr (std::is_same_v<T, float>)
        return gguf_type::float32;
      else if constexpr (std::is_same_v<T, double>)
        return gguf_type::float64;
      else
        static_assert(sizeof(T) == 0, "gguf_writer: use a fixed-width integer, float, double, bool or std::string");
    }
  }

  std::uint32_t version_;
  std::uint32_t align_ = 32;
  std::uint64_t n_kv_ = 0, n_tensors_ = 0;
  std::vector<std::uint8_t> meta_, infos_, data_;
};

}  // namespace bitdial
