// bitdial/core/aligned_buffer.hpp — an owning, zero-initialised, 64-byte-aligned byte buffer.
//
// Packed weights live in these so every tile starts on a cache line and a zmm load never splits.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "bitdial/core/error.hpp"

namespace bitdial {

inline constexpr std::size_t cache_line = 64;

class aligned_buffer {
 public:
  aligned_buffer() = default;
  explicit aligned_buffer(std::size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
    const std::size_t rounded = (bytes + cache_line - 1) / cache_line * cache_line;
    BITDIAL_REQUIRE(rounded >= bytes, "aligned_buffer: bytes = ", bytes, ": size overflows");
    void* p = std::aligned_alloc(cache_line, rounded);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, rounded);
    data_.reset(static_cast<std::byte*>(p));
  }
  aligned_buffer(const aligned_buffer& o) : aligned_buffer(o.size_) {
    if (size_) std::memcpy(data_.get(), o.data_.get(), size_);
  }
  aligned_buffer& operator=(const aligned_buffer& o) {
    if (this != &o) *this = aligned_buffer(o);
    return *this;
  }
  aligned_buffer(aligned_buffer&&) noexcept = default;
  aligned_buffer& operator=(aligned_buffer&&) noexcept = default;

  std::byte* data() noexcept { return data_.get(); }
  const std::byte* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  struct free_deleter {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<std::byte[], free_deleter> data_;
  std::size_t size_ = 0;
};

}  // namespace bitdial
