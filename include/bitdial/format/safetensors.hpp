// bitdial/format/safetensors.hpp — reads float matrices from safetensors files (and writes small ones).
//
// Needs nlohmann-json: link the CMake target bitdial::io (defined when nlohmann_json is found).
//
// File layout (the safetensors format of Hugging Face, as its specification states it):
//
//   offset  size  field
//   0       8     u64 little-endian N, the length of the JSON header
//   8       N     UTF-8 JSON object (may end in spaces):
//                   { "<name>": { "dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end] },
//                     ...,  "__metadata__": { "<key>": "<text>", ... } }
//   8 + N   ...   the data buffer; a tensor's bytes are buffer[begin, end), row-major (C order),
//                 little-endian, end − begin = prod(shape) · dtype size (prod([]) = 1, a scalar)
//
// "__metadata__" is skipped. Tensors may appear in any order and their ranges may overlap or leave
// holes; each must lie inside the buffer. Every dtype name of the format is recognized (so a file
// holding, say, I64 positions can be listed), but only F32, F16 and BF16 load as float: F16 and
// BF16 widen exactly (format/tensor_file.hpp).
//
// Every malformed input throws bitdial::error naming the problem before anything is allocated from
// its numbers: a file shorter than 8 bytes ("truncated header"), a header length past the end of
// the file or above 100 MB (the reference implementation's limit; "absurd"), JSON that does not
// parse or is not an object of objects, an unknown or unsupported dtype, a shape that is not a
// list of non-negative integers or whose product overflows 64 bits, data_offsets that are not two
// integers with begin <= end, end − begin != prod(shape) · size ("shape/offset mismatch"), end past
// the data buffer, a tensor that is not 2-D when a matrix is asked for, an unknown name.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitdial/format/tensor_file.hpp"

namespace bitdial {

/// Element types of the safetensors format (F32, F16 and BF16 load as float).
enum class st_dtype : std::uint8_t {
  boolean,
  u8,
  i8,
  f8_e5m2,
  f8_e4m3,
  i16,
  u16,
  f16,
  bf16,
  i32,
  u32,
  f32,
  f64,
  i64,
  u64
};

namespace detail {

struct st_dtype_info {
  st_dtype type;
  const char* name;
  std::size_t size;
};
inline constexpr st_dtype_info st_dtypes[] = {
    {st_dtype::boolean, "BOOL", 1},    {st_dtype::u8, "U8", 1},           {st_dtype::i8, "I8", 1},
    {st_dtype::f8_e5m2, "F8_E5M2", 1}, {st_dtype::f8_e4m3, "F8_E4M3", 1}, {st_dtype::i16, "I16", 2},
    {st_dtype::u16, "U16", 2},         {st_dtype::f16, "F16", 2},         {st_dtype::bf16, "BF16", 2},
    {st_dtype::i32, "I32", 4},         {st_dtype::u32, "U32", 4},         {st_dtype::f32, "F32", 4},
    {st_dtype::f64, "F64", 8},         {st_dtype::i64, "I64", 8},         {st_dtype::u64, "U64", 8}};

/// The reference implementation refuses headers above 100 MB.
inline constexpr std::uint64_t st_max_header = 100'000'000;

}  // namespace detail

inline const char* to_string(st_dtype t) noexcept {
  for (const auto& d : detail::st_dtypes)
    if (d.type == t) return d.name;
  return "?";
}
inline std::size_t dtype_size(st_dtype t) noexcept {
  for (const auto& d : detail::st_dtypes)
    if (d.type == t) return d.size;
  return 0;
}

/// One entry of the header. begin/end are offsets in the data buffer (not in the file).
struct safetensors_tensor {
  std::string name;
  st_dtype dtype = st_dtype::f32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

/// A named matrix, as load_matrices returns them.
struct named_matrix {
  std::string name;
  float_matrix matrix;
};

/// An opened safetensors file: its validated header; tensors are read on request.
class safetensors_file {
 public:
  /// Opens a file and validates its whole header (reads the header only).
  static safetensors_file open(const std::string& path) {
    return parse(byte_source::from_file(path, "safetensors_file::open"));
  }
  /// Parses a file held in memory (copied).
  static safetensors_file from_bytes(const std::uint8_t* data, std::size_t n) {
    return parse(byte_source::from_memory(data, n));
  }
  static safetensors_file parse(byte_source src) {
    constexpr const char* where = "safetensors_file::open";
    safetensors_file f;
    f.src_ = std::move(src);
    BITDIAL_REQUIRE(f.src_.size() >= 8, where, ": file size = ", f.src_.size(),
                    ": truncated header (the 8-byte header length is missing)");
    std::uint64_t n = 0;
    f.src_.read(0, &n, 8, where, "header length");
    BITDIAL_REQUIRE(n <= detail::st_max_header, where, ": header length = ", n, ": absurd (more than ",
                    detail::st_max_header, " bytes)");
    BITDIAL_REQUIRE(n <= f.src_.size() - 8, where, ": header length = ", n, ": past the end of the file (",
                    f.src_.size(), " bytes; truncated file)");
    BITDIAL_REQUIRE(n >= 2, where, ": header length = ", n, ": too short for a JSON object");
    const auto text = f.src_.read(8, static_cast<std::size_t>(n), where, "header");
    f.data_start_ = 8 + n;
    f.data_size_ = f.src_.size() - f.data_start_;

    nlohmann::ordered_json j;
    try {
      j = nlohmann::ordered_json::parse(text.begin(), text.end());
    } catch (const nlohmann::ordered_json::exception& e) {
      detail::fail(where, ": header: invalid JSON (", e.what(), ")");
    }
    BITDIAL_REQUIRE(j.is_object(), where, ": header: invalid JSON layout: expected an object, got ", j.type_name());
    try {
      for (const auto& [name, t] : j.items()) {
        if (name == "__metadata__") continue;
        f.tensors_.push_back(parse_entry(name, t, f.data_size_));
      }
    } catch (const nlohmann::ordered_json::exception& e) {
      detail::fail(where, ": header: invalid JSON value (", e.what(), ")");
    }
    return f;
  }

  const std::vector<safetensors_tensor>& tensors() const noexcept { return tensors_; }
  /// The entry called `name`; throws if there is none.
  const safetensors_tensor& find(std::string_view name) const {
    for (const auto& t : tensors_)
      if (t.name == name) return t;
    std::string known;
    for (std::size_t i = 0; i < tensors_.size() && i < 8; ++i) known += (i ? ", " : "") + tensors_[i].name;
    if (tensors_.size() > 8) known += ", ...";
    detail::fail("safetensors_file::find: tensor = '", name, "': unknown tensor name (the file holds ", tensors_.size(),
                 " tensors: ", known, ")");
  }
  bool contains(std::string_view name) const noexcept {
    return std::any_of(tensors_.begin(), tensors_.end(), [&](const auto& t) { return t.name == name; });
  }

  /// Loads a 2-D F32 / F16 / BF16 tensor as a float matrix (rows = shape[0], cols = shape[1]).
  float_matrix load_matrix(std::string_view name) const { return load(find(name)); }

  /// Every 2-D float tensor with both dimensions > 0, in header order.
  std::vector<named_matrix> load_matrices() const {
    std::vector<named_matrix> out;
    for (const auto& t : tensors_)
      if (is_float_matrix(t)) out.push_back({t.name, load(t)});
    return out;
  }
  static bool is_float_matrix(const safetensors_tensor& t) noexcept {
    return t.shape.size() == 2 && t.shape[0] > 0 && t.shape[1] > 0 &&
           (t.dtype == st_dtype::f32 || t.dtype == st_dtype::f16 || t.dtype == st_dtype::bf16);
  }

  /// The raw bytes of a tensor (any dtype; its range was checked at open).
  std::vector<std::uint8_t> read_bytes(const safetensors_tensor& t) const {
    return src_.read(data_start_ + t.begin, static_cast<std::size_t>(t.end - t.begin), "safetensors_file::read_bytes",
                     "tensor data");
  }

  /// Offset of the data buffer in the file, and its size.
  std::uint64_t data_start() const noexcept { return data_start_; }
  std::uint64_t data_size() const noexcept { return data_size_; }

 private:
  static safetensors_tensor parse_entry(const std::string& name, const nlohmann::ordered_json& t,
                                        std::uint64_t data_size) {
    constexpr const char* where = "safetensors_file::open";
    BITDIAL_REQUIRE(t.is_object(), where, ": tensor '", name, "': invalid JSON layout: expected an object, got ",
                    t.type_name());
    safetensors_tensor out;
    out.name = name;
    const auto dt = t.find("dtype");
    BITDIAL_REQUIRE(dt != t.end() && dt->is_string(), where, ": tensor '", name, "': dtype: missing or not a string");
    const auto& dname = dt->get_ref<const std::string&>();
    const auto* info = std::find_if(std::begin(detail::st_dtypes), std::end(detail::st_dtypes),
                                    [&](const auto& d) { return dname == d.name; });
    BITDIAL_REQUIRE(info != std::end(detail::st_dtypes), where, ": tensor '", name, "': dtype = \"", dname,
                    "\": unknown dtype");
    out.dtype = info->type;
    const auto sh = t.find("shape");
    BITDIAL_REQUIRE(sh != t.end() && sh->is_array(), where, ": tensor '", name, "': shape: missing or not a list");
    BITDIAL_REQUIRE(sh->size() <= 64, where, ": tensor '", name, "': shape has ", sh->size(),
                    " dimensions: absurd (at most 64)");
    for (const auto& d : *sh) {
      BITDIAL_REQUIRE(d.is_number_unsigned(), where, ": tensor '", name, "': shape entry ", d.dump(),
                      ": not a non-negative integer");
      out.shape.push_back(d.get<std::uint64_t>());
    }
    const auto off = t.find("data_offsets");
    BITDIAL_REQUIRE(off != t.end() && off->is_array() && off->size() == 2 && (*off)[0].is_number_unsigned() &&
                        (*off)[1].is_number_unsigned(),
                    where, ": tensor '", name, "': data_offsets = ", off == t.end() ? "(missing)" : off->dump(),
                    ": must be two non-negative integers [begin, end]");
    out.begin = (*off)[0].get<std::uint64_t>();
    out.end = (*off)[1].get<std::uint64_t>();
    BITDIAL_REQUIRE(out.begin <= out.end, where, ": tensor '", name, "': data_offsets = [", out.begin, ", ", out.end,
                    "]: begin after end");
    const std::uint64_t count = detail::checked_product(out.shape, where, "tensor '" + name + "'");
    const std::uint64_t size = info->size;
    BITDIAL_REQUIRE(count <= UINT64_MAX / size, where, ": tensor '", name,
                    "': shape = ", detail::shape_string(out.shape), ": byte size overflows 64 bits (absurd shape)");
    BITDIAL_REQUIRE(out.end - out.begin == count * size, where, ": tensor '", name, "': data_offsets = [", out.begin,
                    ", ", out.end, "] hold ", out.end - out.begin, " bytes but shape ", detail::shape_string(out.shape),
                    " of ", info->name, " needs ", count * size, " (shape/offset mismatch)");
    BITDIAL_REQUIRE(out.end <= data_size, where, ": tensor '", name, "': data_offsets end = ", out.end,
                    ": past the end of the data buffer (", data_size, " bytes; truncated file)");
    return out;
  }

  float_matrix load(const safetensors_tensor& t) const {
    constexpr const char* where = "safetensors_file::load_matrix";
    BITDIAL_REQUIRE(t.shape.size() == 2, where, ": tensor '", t.name, "': shape = ", detail::shape_string(t.shape),
                    ": not 2-D (a matrix needs exactly 2 dimensions)");
    BITDIAL_REQUIRE(t.shape[0] > 0 && t.shape[1] > 0, where, ": tensor '", t.name,
                    "': shape = ", detail::shape_string(t.shape), ": empty matrix");
    BITDIAL_REQUIRE(t.dtype == st_dtype::f32 || t.dtype == st_dtype::f16 || t.dtype == st_dtype::bf16, where,
                    ": tensor '", t.name, "': dtype = ", to_string(t.dtype),
                    ": unsupported dtype (F32, F16 and BF16 load as float)");
    float_matrix m;
    m.rows = static_cast<std::size_t>(t.shape[0]);
    m.cols = static_cast<std::size_t>(t.shape[1]);
    const std::size_t n = m.rows * m.cols;  // bounded by the data buffer: checked at open
    m.data.resize(n);
    if (t.dtype == st_dtype::f32) {
      src_.read(data_start_ + t.begin, m.data.data(), n * 4, where, "tensor data");
    } else {
      std::vector<std::uint16_t> h(n);
      src_.read(data_start_ + t.begin, h.data(), n * 2, where, "tensor data");
      for (std::size_t i = 0; i < n; ++i)
        m.data[i] = t.dtype == st_dtype::f16 ? half_to_float(h[i]) : bf16_to_float(h[i]);
    }
    return m;
  }

  byte_source src_;
  std::uint64_t data_start_ = 0, data_size_ = 0;
  std::vector<safetensors_tensor> tensors_;
};

/// Builds small safetensors files (tests, tools). Tensors are laid out in the order added.
class safetensors_writer {
 public:
  /// Adds a row-major tensor of `shape`, stored as F32, F16 or BF16 (narrowed with RNE).
  safetensors_writer& add(const std::string& name, st_dtype dtype, std::vector<std::uint64_t> shape,
                          const std::vector<float>& values) {
    constexpr const char* where = "safetensors_writer::add";
    BITDIAL_REQUIRE(dtype == st_dtype::f32 || dtype == st_dtype::f16 || dtype == st_dtype::bf16, where,
                    ": dtype = ", to_string(dtype), ": the writer stores F32, F16 or BF16");
    BITDIAL_REQUIRE(name != "__metadata__" && !header_.contains(name), where, ": name = '", name,
                    "': reserved or already added");
    const std::uint64_t count = detail::checked_product(shape, where, "tensor '" + name + "'");
    BITDIAL_REQUIRE(count == values.size(), where, ": values.size() = ", values.size(), ": shape ",
                    detail::shape_string(shape), " holds ", count);
    std::vector<std::uint8_t> bytes;
    for (float v : values) {
      if (dtype == st_dtype::f32)
        detail::put_le(bytes, v);
      else
        detail::put_le(bytes, dtype == st_dtype::f16 ? float_to_half(v) : float_to_bf16(v));
    }
    return add_raw(name, to_string(dtype), std::move(shape), bytes);
  }
  /// A 2-D matrix.
  safetensors_writer& add(const std::string& name, st_dtype dtype, const float_matrix& m) {
    return add(name, dtype, {m.rows, m.cols}, m.data);
  }
  /// Any dtype name and payload, unchecked (for tests of the reader).
  safetensors_writer& add_raw(const std::string& name, const std::string& dtype, std::vector<std::uint64_t> shape,
                              const std::vector<std::uint8_t>& bytes) {
    const std::uint64_t begin = data_.size();
    data_.insert(data_.end(), bytes.begin(), bytes.end());
    header_[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, std::uint64_t{data_.size()}}}};
    return *this;
  }
  safetensors_writer& metadata(const std::string& key, const std::string& value) {
    header_["__metadata__"][key] = value;
    return *this;
  }

  /// The file: header length, JSON header padded with spaces to a multiple of 8, data.
  std::vector<std::uint8_t> bytes() const {
    std::string h = header_.empty() ? std::string("{}") : header_.dump();
    h.append((8 - h.size() % 8) % 8, ' ');
    std::vector<std::uint8_t> out;
    detail::put_le(out, std::uint64_t{h.size()});
    out.insert(out.end(), h.begin(), h.end());
    out.insert(out.end(), data_.begin(), data_.end());
    return out;
  }
  void save(const std::string& path) const { detail::write_file(path, bytes(), "safetensors_writer::save"); }

 private:
  nlohmann::ordered_json header_ = nlohmann::ordered_json::object();
  std::vector<std::uint8_t> data_;
};

}  // namespace bitdial
