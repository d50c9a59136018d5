// bitdial/format/tensor_file.hpp — what the tensor-file readers share (safetensors, GGUF, .npy): an
// owning float matrix, exact IEEE binary16 / bfloat16 conversion, and bounds-checked byte sources.
//
// Half precision (IEEE 754 binary16: 1 sign, 5 exponent bits, bias 15, 10 mantissa bits, subnormals,
// Inf and NaN) and bfloat16 (the top 16 bits of a binary32) both widen to float EXACTLY: every value
// of either format is a float, so half_to_float / bf16_to_float are bit manipulations with no
// rounding (a half subnormal m·2^-24 becomes a normal float; NaN payloads are kept, quiet bit as
// stored). The writers narrow with round-to-nearest-even (the IEEE default, numpy's astype and
// torch's .to(float16 / bfloat16)): ties go to the even mantissa, magnitudes >= 65520 become ±Inf
// in half (65504 is the largest finite half), the tie 2^-25 goes to zero; NaN stays a quiet NaN.
//
// byte_source is the only way the readers touch file bytes: read(offset, n) checks
// offset + n <= size() without overflow BEFORE it copies, so no malformed length, count or
// offset can make a reader touch a byte outside the file. A file source reads ranges on demand
// (a reader of a many-GiB model reads its header and the one tensor it is asked for).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"

namespace bitdial {

static_assert(std::endian::native == std::endian::little, "bitdial tensor files are little-endian; port the codecs");

/// A row-major float matrix that owns its data (what the file readers return).
struct float_matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> data;  // rows * cols

  const_matrix view() const noexcept { return {data.data(), rows, cols}; }
  float operator()(std::size_t r, std::size_t c) const noexcept { return data[r * cols + c]; }
};

/// IEEE binary16 bits -> float, exact.
constexpr float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = std::uint32_t{h & 0x8000u} << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t man = h & 0x3FFu;
  if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (man << 13));  // Inf / NaN
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0) return std::bit_cast<float>(sign);
  // Subnormal m·2^-24: shift the leading one into the implicit position of a normal float.
  int e = 113;  // float biased exponent of 2^-14
  while ((man & 0x400u) == 0) {
    man <<= 1;
    --e;
  }
  return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(e) << 23) | ((man & 0x3FFu) << 13));
}

/// float -> IEEE binary16 bits, round to nearest even; overflow to ±Inf, NaN stays a quiet NaN.
constexpr std::uint16_t float_to_half(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
  if (ax >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // >= 65520 (and Inf)
  if (ax >= 0x38800000u) {                                                   // half normal range
    const std::uint32_t r = ax - (std::uint32_t{112} << 23);                 // rebias 127 -> 15
    return static_cast<std::uint16_t>(sign | ((r + 0xFFFu + ((r >> 13) & 1u)) >> 13));
  }
  // Half subnormal (or zero): value = mm·2^(e-150) in units of 2^-24 is mm >> (126 - e), rounded RNE.
  const std::uint32_t e = ax >> 23;
  if (e == 0) return sign;  // float subnormals are far below half's smallest step
  const std::uint32_t mm = (ax & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t shift = 126 - e;  // >= 14
  if (shift >= 32) return sign;
  std::uint32_t m = mm >> shift;
  const std::uint32_t rem = mm & ((std::uint32_t{1} << shift) - 1), halfway = std::uint32_t{1} << (shift - 1);
  if (rem > halfway || (rem == halfway && (m & 1u))) ++m;  // m == 0x400 is the smallest normal: still right
  return static_cast<std::uint16_t>(sign | m);
}

/// bfloat16 bits -> float, exact.
constexpr float bf16_to_float(std::uint16_t b) noexcept { return std::bit_cast<float>(std::uint32_t{b} << 16); }

/// float -> bfloat16 bits, round to nearest even; NaN stays a quiet NaN.
constexpr std::uint16_t float_to_bf16(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  return static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

/// Read-only bytes of a file or of a buffer, addressed by offset, every access bounds-checked.
/// Copies share the underlying file handle; one source must not be read from two threads at once.
class byte_source {
 public:
  /// A buffer (the source keeps its own copy).
  static byte_source from_memory(std::vector<std::uint8_t> bytes, std::string name = "<memory>") {
    byte_source s;
    s.mem_ = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
    s.size_ = s.mem_->size();
    s.name_ = std::move(name);
    return s;
  }
  static byte_source from_memory(const std::uint8_t* data, std::size_t n, std::string name = "<memory>") {
    return from_memory(std::vector<std::uint8_t>(data, data + n), std::move(name));
  }
  /// A file, opened now and read range by range.
  static byte_source from_file(const std::string& path, const char* where) {
    auto f = std::make_shared<std::ifstream>(path, std::ios::binary | std::ios::ate);
    BITDIAL_REQUIRE(f->good(), where, ": file = ", path, ": cannot open");
    const std::streamoff n = f->tellg();
    BITDIAL_REQUIRE(n >= 0, where, ": file = ", path, ": cannot read its size");
    byte_source s;
    s.file_ = std::move(f);
    s.size_ = static_cast<std::uint64_t>(n);
    s.name_ = path;
    return s;
  }

  std::uint64_t size() const noexcept { return size_; }
  const std::string& name() const noexcept { return name_; }
  /// Whether [offset, offset + n) lies inside the source (overflow-safe).
  bool contains(std::uint64_t offset, std::uint64_t n) const noexcept { return offset <= size_ && n <= size_ - offset; }

  /// Copies bytes [offset, offset + n) to dst; throws, naming `field`, if any of them is past the end.
  void read(std::uint64_t offset, void* dst, std::size_t n, const char* where, const char* field) const {
    BITDIAL_REQUIRE(contains(offset, n), where, ": ", field, ": ", n, " bytes at offset ", offset,
                    " are past the end of the file (", size_, " bytes; truncated file)");
    if (n == 0) return;
    if (mem_) {
      std::memcpy(dst, mem_->data() + offset, n);
      return;
    }
    file_->clear();
    file_->seekg(static_cast<std::streamoff>(offset));
    file_->read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    BITDIAL_REQUIRE(file_->good(), where, ": file = ", name_, ": read of ", n, " bytes at offset ", offset, " failed");
  }
  std::vector<std::uint8_t> read(std::uint64_t offset, std::size_t n, const char* where, const char* field) const {
    BITDIAL_REQUIRE(contains(offset, n), where, ": ", field, ": ", n, " bytes at offset ", offset,
                    " are past the end of the file (", size_, " bytes; truncated file)");
    std::vector<std::uint8_t> out(n);
    read(offset, out.data(), n, where, field);
    return out;
  }

 private:
  std::shared_ptr<const std::vector<std::uint8_t>> mem_;
  std::shared_ptr<std::ifstream> file_;
  std::uint64_t size_ = 0;
  std::string name_;
};

namespace detail {

/// Writes bytes to a file (the writers' save()).
inline void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes, const char* where) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  BITDIAL_REQUIRE(f.good(), where, ": file = ", path, ": cannot open for writing");
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  BITDIAL_REQUIRE(f.good(), where, ": file = ", path, ": write failed");
}

/// Appends the little-endian bytes of a trivially copyable value.
template <class T>
void put_le(std::vector<std::uint8_t>& out, const T& v) {
  std::uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  for (std::uint8_t x : b) out.push_back(x);  // (insert() of a range trips a g++ 12 -Warray-bounds false positive)
}

/// Product of dimensions in 64 bits, failing with the shape in the message instead of wrapping.
template <class Dims>
std::uint64_t checked_product(const Dims& dims, const char* where, const std::string& what) {
  std::uint64_t n = 1;
  for (const auto d : dims) {
    const auto u = static_cast<std::uint64_t>(d);
    if (u != 0 && n > UINT64_MAX / u) {
      std::string s = "[";
      for (std::size_t i = 0; i < std::size(dims); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
      fail(where, ": ", what, " shape = ", s, "]: dimensions overflow 64 bits (absurd shape)");
    }
    n *= u;
  }
  return n;
}

inline std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace detail
}  // namespace bitdial
