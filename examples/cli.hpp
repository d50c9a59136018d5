// examples/cli.hpp — validated command-line arguments for the example programs: every value is
// checked and a bad one is reported by name ("--rows abc: not a whole number"), never an uncaught
// exception or a wrapped-around count.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace bitdial_examples {

/// A command-line mistake: the program prints it and exits with status 2.
struct cli_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class cli_args {
 public:
  cli_args(int argc, char** argv, std::string program) : argc_(argc), argv_(argv), program_(std::move(program)) {}

  bool more() const noexcept { return i_ + 1 < argc_; }
  std::string next_option() { return argv_[++i_]; }

  /// The value after `option`.
  std::string value(const std::string& option) {
    if (i_ + 1 >= argc_) fail(option + " needs a value");
    return argv_[++i_];
  }

  /// A whole number in [lo, hi] after `option`.
  std::size_t count(const std::string& option, std::size_t lo, std::size_t hi) {
    const std::string v = value(option);
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
      fail(option + " " + v + ": not a whole number");
    if (v.size() > 12) fail(option + " " + v + ": must be in " + std::to_string(lo) + ".." + std::to_string(hi));
    const std::size_t n = std::stoull(v);
    if (n < lo || n > hi) fail(option + " " + v + ": must be in " + std::to_string(lo) + ".." + std::to_string(hi));
    return n;
  }

  [[noreturn]] void fail(const std::string& what) const { throw cli_error(program_ + ": " + what); }

 private:
  int argc_;
  char** argv_;
  std::string program_;
  int i_ = 0;
};

}  // namespace bitdial_examples
