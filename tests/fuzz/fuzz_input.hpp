// tests/fuzz/fuzz_input.hpp — turns a fuzzer's byte string into bounded parameters, and the
// shared entry/exit conventions of the fuzz targets.
//
// Every target is an `extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t)`. Built with
// -DBITDIAL_BUILD_FUZZ=ON (clang, -fsanitize=fuzzer,address,undefined) it is a libFuzzer binary;
// built with tests/fuzz/replay_main.cpp it replays the committed corpus as an ordinary test.
// A target rejects nothing silently: a bitdial::error is the expected outcome for bad input, any
// other exception or a broken invariant aborts (FUZZ_CHECK), which libFuzzer reports as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bitdial::fuzz {

/// Reads bounded integers from the front of the input; past the end every read returns its minimum.
class input {
 public:
  input(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  std::uint8_t byte() { return at_ < n_ ? p_[at_++] : 0; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{byte()} << (8 * i);
    return v;
  }
  std::uint64_t u64() { return std::uint64_t{u32()} | (std::uint64_t{u32()} << 32); }
  /// Uniform-ish in [lo, hi].
  std::size_t range(std::size_t lo, std::size_t hi) {
    const std::size_t span = hi - lo + 1;
    return lo + (span <= 256 ? byte() % span : u32() % span);
  }
  bool flag() { return byte() & 1u; }
  std::size_t remaining() const noexcept { return n_ - at_; }
  const std::uint8_t* rest() const noexcept { return p_ + at_; }

 private:
  const std::uint8_t* p_;
  std::size_t n_, at_ = 0;
};

/// splitmix64: fills large arrays from one seed taken from the input.
struct rng {
  std::uint64_t s;
  std::uint64_t next() noexcept {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", what, file, line);
  std::abort();
}

}  // namespace bitdial::fuzz

#define FUZZ_CHECK(cond)                                           \
  do {                                                             \
    if (!(cond)) ::bitdial::fuzz::fail(#cond, __FILE__, __LINE__); \
  } while (0)
