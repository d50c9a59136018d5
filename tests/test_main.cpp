// Catch2 entry point shared by every bitdial test suite, with one option of ours:
//   --require-isa <isa>[,<isa>...]   exit 77 before running any test unless this CPU and build run
//                                    every named ISA's kernels (tests/isa_gate.hpp); otherwise run
//                                    with --warn NoTests and --warn NoAssertions both on. CTest
//                                    registers the [requires_<isa>] cases with it and
//                                    SKIP_RETURN_CODE 77.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "isa_gate.hpp"

int main(int argc, char* argv[]) {
  Catch::Session session;
  std::string required;
  session.cli(session.cli() |
              Catch::clara::Opt(required, "isa[,isa...]")["--require-isa"](
                  "exit 77 (skipped) without running anything unless this CPU/build runs these ISAs' kernels"));
  if (const int rc = session.applyCommandLine(argc, argv)) return rc;
  if (!required.empty()) {
    // A gated run must run something and assert something: --warn NoTests and --warn NoAssertions
    // (Catch 2 takes -w only once on the command line, so both are set here).
    auto& warn = session.configData().warnings;
    warn = static_cast<Catch::WarnAbout::What>(warn | Catch::WarnAbout::NoTests | Catch::WarnAbout::NoAssertions);
  }
  std::string_view list(required);
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view isa = list.substr(0, comma);
    std::string why;
    try {
      why = bitdial::test::isa_missing(isa);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "--require-isa: %s\n", e.what());
      return 1;
    }
    if (!why.empty()) {
      std::printf("SKIPPED (exit 77): %s\n", why.c_str());
      return 77;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return session.run();
}
