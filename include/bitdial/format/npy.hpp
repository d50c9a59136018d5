// bitdial/format/npy.hpp — reads NumPy .npy arrays of float32 / float16 (activations, 1-D or 2-D)
// as float, and writes them.
//
// File layout (NumPy's format specification, numpy.lib.format, versions 1.0, 2.0 and 3.0):
//
//   offset  size  field
//   0       6     magic "\x93NUMPY"
//   6       2     major, minor version: (1, 0), (2, 0) or (3, 0)
//   8       2|4   header length H: u16 little-endian in v1, u32 in v2 and v3
//   10|12   H     an ASCII (v3: UTF-8) Python dict literal, padded with spaces and ending in '\n':
//                   {'descr': '<f4', 'fortran_order': False, 'shape': (N, K), }
//   then          the array data, prod(shape) items of the descr's size, C order
//
// Read here: descr '<f4' (float32) and '<f2' (float16, widened exactly: format/tensor_file.hpp);
// 'f4' / 'f2' without a byte-order mark mean native order, little-endian wherever bitdial builds;
// C order (fortran_order True is accepted for 1-D only,
// where the orders coincide), shape (K,) — one row — or (N, K). The dict is parsed exactly: the
// three keys, each once, nothing else (NumPy's own reader requires the same keys).
//
// Rejected, each with a message naming it: a file shorter than the preamble, a bad magic, an
// unknown version, a header length past the end of the file or above 1 MiB ("absurd"), a header
// that is not such a dict, another dtype ('>f4' big-endian, '<f8', ints...), Fortran order for 2-D,
// a shape that is not 1-D or 2-D, has a zero or overflowing dimension, and data whose length is
// not exactly prod(shape) · item size (truncated, or trailing bytes).
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bitdial/format/tensor_file.hpp"

namespace bitdial {

enum class npy_dtype : std::uint8_t { f32, f16 };

/// A .npy array read as float: rows × cols (a 1-D array of K is 1 × K, with `dims` = 1).
struct npy_array {
  float_matrix matrix;
  int dims = 2;
  npy_dtype dtype = npy_dtype::f32;
};

namespace detail {

inline constexpr std::uint64_t npy_max_header = 1u << 20;

/// A tiny parser for the header dict literal (strings, True/False, tuples of integers).
class npy_header_parser {
 public:
  npy_header_parser(std::string_view s, const char* where) : s_(s), where_(where) {}

  void parse(std::string& descr, bool& fortran, std::vector<std::uint64_t>& shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    expect('{');
    while (true) {
      ws();
      if (peek() == '}') break;
      const std::string key = str("a key");
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        BITDIAL_REQUIRE(!have_descr, where_, ": header: key 'descr' given twice");
        descr = str("the descr string");
        have_descr = true;
      } else if (key == "fortran_order") {
        BITDIAL_REQUIRE(!have_fortran, where_, ": header: key 'fortran_order' given twice");
        fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        BITDIAL_REQUIRE(!have_shape, where_, ": header: key 'shape' given twice");
        shape = tuple();
        have_shape = true;
      } else {
        detail::fail(where_, ": header: key '", key, "': unexpected (only descr, fortran_order, shape)");
      }
      ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      ws();
      BITDIAL_REQUIRE(peek() == '}', where_, ": header: expected ',' or '}' at character ", i_, " (malformed header)");
      break;
    }
    expect('}');
    ws();
    BITDIAL_REQUIRE(i_ == s_.size(), where_, ": header: unexpected text after the dict at character ", i_,
                    " (malformed header)");
    BITDIAL_REQUIRE(have_descr && have_fortran && have_shape, where_,
                    ": header: missing key (needs descr, fortran_order and shape)");
  }

 private:
  char peek() const noexcept { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    BITDIAL_REQUIRE(peek() == c, where_, ": header: expected '", c, "' at character ", i_, " (malformed header)");
    ++i_;
  }
  std::string str(const char* what) {
    const char q = peek();
    BITDIAL_REQUIRE(q == '\'' || q == '"', where_, ": header: expected ", what, " (a quoted string) at character ", i_,
                    " (malformed header)");
    const std::size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != q) {
      BITDIAL_REQUIRE(s_[i_] != '\\', where_, ": header: escape in a string at character ", i_, " (malformed header)");
      ++i_;
    }
    BITDIAL_REQUIRE(i_ < s_.size(), where_, ": header: unterminated string (malformed header)");
    return std::string(s_.substr(start, i_++ - start));
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    detail::fail(where_, ": header: fortran_order: expected True or False at character ", i_, " (malformed header)");
  }
  std::vector<std::uint64_t> tuple() {
    std::vector<std::uint64_t> out;
    expect('(');
    ws();
    while (peek() != ')') {
      BITDIAL_REQUIRE(std::isdigit(static_cast<unsigned char>(peek())), where_,
                      ": header: shape: expected a non-negative integer at character ", i_, " (malformed header)");
      std::uint64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const auto digit = static_cast<std::uint64_t>(s_[i_++] - '0');
        BITDIAL_REQUIRE(v <= (UINT64_MAX - digit) / 10, where_,
                        ": header: shape: dimension overflows 64 bits (absurd shape)");
        v = v * 10 + digit;
      }
      if (peek() == 'L') ++i_;  // Python 2 long literals, as old NumPy wrote them
      out.push_back(v);
      BITDIAL_REQUIRE(out.size() <= 64, where_, ": header: shape: more than 64 dimensions (absurd shape)");
      ws();
      if (peek() == ',') {
        ++i_;
        ws();
      } else {
        BITDIAL_REQUIRE(peek() == ')', where_, ": header: shape: expected ',' or ')' at character ", i_,
                        " (malformed header)");
      }
    }
    ++i_;
    return out;
  }

  std::string_view s_;
  const char* where_;
  std::size_t i_ = 0;
};

}  // namespace detail

/// Parses a .npy file (from a file or memory source).
inline npy_array parse_npy(const byte_source& src) {
  constexpr const char* where = "read_npy";
  BITDIAL_REQUIRE(src.size() >= 10, where, ": file size = ", src.size(),
                  ": truncated header (the preamble needs 10 bytes)");
  std::uint8_t pre[12] = {};
  src.read(0, pre, 10, where, "preamble");
  BITDIAL_REQUIRE(std::memcmp(pre, "\x93NUMPY", 6) == 0, where, ": magic: not a .npy file (expected \"\\x93NUMPY\")");
  const int major = pre[6], minor = pre[7];
  BITDIAL_REQUIRE((major >= 1 && major <= 3) && minor == 0, where, ": version = ", major, ".", minor,
                  ": unsupported (reads 1.0, 2.0 and 3.0)");
  std::uint64_t hlen = 0, hstart = 10;
  if (major == 1) {
    hlen = static_cast<std::uint64_t>(pre[8] | (pre[9] << 8));
  } else {
    src.read(0, pre, 12, where, "header length");
    std::uint32_t h32 = 0;
    std::memcpy(&h32, pre + 8, 4);
    hlen = h32;
    hstart = 12;
  }
  BITDIAL_REQUIRE(hlen <= detail::npy_max_header, where, ": header length = ", hlen, ": absurd (more than ",
                  detail::npy_max_header, " bytes)");
  BITDIAL_REQUIRE(src.contains(hstart, hlen), where, ": header length = ", hlen, ": past the end of the file (",
                  src.size(), " bytes; truncated file)");
  const auto h = src.read(hstart, static_cast<std::size_t>(hlen), where, "header");
  std::string descr;
  bool fortran = false;
  std::vector<std::uint64_t> shape;
  detail::npy_header_parser(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()), where)
      .parse(descr, fortran, shape);

  npy_array a;
  std::size_t item = 0;
  if (descr == "<f4" || descr == "f4")
    a.dtype = npy_dtype::f32, item = 4;
  else if (descr == "<f2" || descr == "f2")
    a.dtype = npy_dtype::f16, item = 2;
  else
    detail::fail(where, ": descr = '", descr, "': unsupported dtype (reads '<f4' and '<f2'",
                 !descr.empty() && descr[0] == '>' ? "; this one is big-endian)" : ")");
  BITDIAL_REQUIRE(shape.size() == 1 || shape.size() == 2, where, ": shape = ", detail::shape_string(shape),
                  ": must be 1-D (K) or 2-D (N, K)");
  BITDIAL_REQUIRE(!fortran || shape.size() == 1, where, ": fortran_order = True: a 2-D array must be in C order");
  const std::uint64_t count = detail::checked_product(shape, where, "array");
  BITDIAL_REQUIRE(count > 0, where, ": shape = ", detail::shape_string(shape), ": empty array");
  const std::uint64_t data_start = hstart + hlen, have = src.size() - data_start;
  BITDIAL_REQUIRE(count <= have / item && count * item == have, where, ": data = ", have, " bytes: shape ",
                  detail::shape_string(shape), " of ", descr, " needs ",
                  count <= UINT64_MAX / item ? count * item : count,
                  count <= have / item ? " (trailing bytes)" : " (truncated file)");
  a.dims = static_cast<int>(shape.size());
  a.matrix.rows = shape.size() == 2 ? static_cast<std::size_t>(shape[0]) : 1;
  a.matrix.cols = static_cast<std::size_t>(shape.back());
  a.matrix.data.resize(static_cast<std::size_t>(count));
  if (a.dtype == npy_dtype::f32) {
    src.read(data_start, a.matrix.data.data(), static_cast<std::size_t>(have), where, "data");
  } else {
    std::vector<std::uint16_t> hv(static_cast<std::size_t>(count));
    src.read(data_start, hv.data(), static_cast<std::size_t>(have), where, "data");
    for (std::size_t i = 0; i < hv.size(); ++i) a.matrix.data[i] = half_to_float(hv[i]);
  }
  return a;
}

inline npy_array parse_npy(const std::uint8_t* data, std::size_t n) {
  return parse_npy(byte_source::from_memory(data, n));
}
inline npy_array read_npy(const std::string& path) { return parse_npy(byte_source::from_file(path, "read_npy")); }

/// The .npy bytes of a matrix (2-D, or 1-D when `one_d` and rows == 1), as NumPy writes them:
/// version 1.0 unless `major` says 2 or 3, header padded with spaces so the data starts on a
/// multiple of 64, '\n' last.
inline std::vector<std::uint8_t> npy_bytes(const float_matrix& m, npy_dtype dtype = npy_dtype::f32, bool one_d = false,
                                           int major = 1) {
  constexpr const char* where = "npy_bytes";
  BITDIAL_REQUIRE(major >= 1 && major <= 3, where, ": major = ", major, ": must be 1, 2 or 3");
  BITDIAL_REQUIRE(!one_d || m.rows == 1, where, ": rows = ", m.rows, ": a 1-D array is one row");
  BITDIAL_REQUIRE(m.data.size() == m.rows * m.cols, where, ": data.size() = ", m.data.size(), ": expected ",
                  m.rows * m.cols);
  std::string h =
      std::string("{'descr': '") + (dtype == npy_dtype::f32 ? "<f4" : "<f2") + "', 'fortran_order': False, 'shape': (" +
      (one_d ? std::to_string(m.cols) + "," : std::to_string(m.rows) + ", " + std::to_string(m.cols)) + "), }";
  const std::size_t pre = major == 1 ? 10 : 12;
  h.append((64 - (pre + h.size() + 1) % 64) % 64, ' ');
  h.push_back('\n');
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  if (major == 1)
    detail::put_le(out, static_cast<std::uint16_t>(h.size()));
  else
    detail::put_le(out, static_cast<std::uint32_t>(h.size()));
  out.insert(out.end(), h.begin(), h.end());
  for (float v : m.data) {
    if (dtype == npy_dtype::f32)
      detail::put_le(out, v);
    else
      detail::put_le(out, float_to_half(v));
  }
  return out;
}

inline void write_npy(const std::string& path, const float_matrix& m, npy_dtype dtype = npy_dtype::f32,
                      bool one_d = false, int major = 1) {
  detail::write_file(path, npy_bytes(m, dtype, one_d, major), "write_npy");
}

}  // namespace bitdial
