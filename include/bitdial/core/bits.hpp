// bitdial/core/bits.hpp — compile-time or run-time bit-widths, validated once.
//
// A quantizer type takes `int Bits`; `Bits == dynamic_bits` means the width is a constructor
// argument checked at run time (like std::span's dynamic_extent). Fixed widths outside 1..8 are
// rejected by static_assert; run-time widths outside 1..8 throw bitdial::error naming the value.
#pragma once

#include <cstdint>

#include "bitdial/core/error.hpp"

namespace bitdial {

inline constexpr int dynamic_bits = 0;
inline constexpr int max_bits = 8;

namespace detail {

inline int checked_bits(int bits, const char* where, const char* name = "bits") {
  BITDIAL_REQUIRE(bits >= 1 && bits <= max_bits, where, ": ", name, " = ", bits, ": must be in 1..8");
  return bits;
}

}  // namespace detail

/// Holds a bit-width; empty (and constexpr) when fixed at compile time.
template <int Bits>
struct bit_width {
  static_assert(Bits >= 1 && Bits <= max_bits, "bitdial: bit-width must be in 1..8");
  constexpr bit_width() = default;
  explicit bit_width(int b) {
    BITDIAL_REQUIRE(b == Bits, "bit_width: bits = ", b, ": this type is fixed at ", Bits, " bits");
  }
  static constexpr int value() noexcept { return Bits; }
};

template <>
struct bit_width<dynamic_bits> {
  explicit bit_width(int b) : bits_(detail::checked_bits(b, "bit_width")) {}
  int value() const noexcept { return bits_; }

 private:
  int bits_;
};

/// Signed two's-complement code range of a b-bit integer.
constexpr std::int32_t signed_min(int bits) noexcept { return -(std::int32_t{1} << (bits - 1)); }
constexpr std::int32_t signed_max(int bits) noexcept { return (std::int32_t{1} << (bits - 1)) - 1; }
constexpr std::int32_t unsigned_max(int bits) noexcept { return (std::int32_t{1} << bits) - 1; }

}  // namespace bitdial
