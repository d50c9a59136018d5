// bitdial/core/error.hpp — the one error type of the library and the checks that raise it.
//
// Policy: every public entry point validates its arguments and throws bitdial::error with a
// message of the form
//     "bitdial::<function>: <argument> = <value>: <what is wrong>"
// Kernels behind the validated front door do not check (debug assertions only) and never throw.
#pragma once

#include <cassert>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace bitdial {

/// Thrown for every invalid argument, malformed file or unsupported request.
class error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

template <class... Parts>
[[noreturn]] inline void fail(const Parts&... parts) {
  std::ostringstream os;
  os << "bitdial::";
  (os << ... << parts);
  throw error(os.str());
}

}  // namespace detail
}  // namespace bitdial

/// BITDIAL_REQUIRE(cond, "function", ": ", "arg = ", value, ": reason") — throws bitdial::error.
#define BITDIAL_REQUIRE(cond, ...)                     \
  do {                                                 \
    if (!(cond)) ::bitdial::detail::fail(__VA_ARGS__); \
  } while (0)

/// Kernel-internal invariant: checked in debug builds only.
#define BITDIAL_ASSERT(cond) assert(cond)
