// Instruction-set gate of the test suite: a test case that needs an ISA's kernels never passes
// without running them.
//
// Such a case carries the tag [requires_<isa>] and starts with BITDIAL_REQUIRE_ISA("<isa>").
// tests/CMakeLists.txt finds the tag and registers those cases as their own CTest test, run as
//     <exe> --require-isa <isa> "[requires_<isa>]"
// (which also turns on Catch's --warn NoTests and NoAssertions), with SKIP_RETURN_CODE 77: where
// this CPU or build lacks the ISA (or BITDIAL_NO_SIMD compiled the kernels out), the shared main
// (test_main.cpp) exits 77 before running anything and CTest reports the test "Skipped", not
// "Passed". Run by hand without --require-isa on such a CPU, the case fails with the reason
// instead of passing with no assertions.
//
// BITDIAL_TEST_HIDE_ISA=avx512 (a comma-separated list of ISA names, or "all") makes the gate treat
// those ISAs as missing, to see the skip on a CPU that has them. It affects only this gate; the
// library's own run-time dispatch (bitdial/core/cpu.hpp) has no such override.
#pragma once

#include <bitdial/kernels/arm/plane_i8mm.hpp>
#include <bitdial/kernels/arm/plane_neon.hpp>
#include <bitdial/kernels/x86/plane_avx2.hpp>
#include <bitdial/kernels/x86/plane_avx512.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

namespace bitdial::test {

struct isa_info {
  std::string_view name;  // as in --require-isa and [requires_<name>]
  bool (*runs)();         // this CPU and build run the ISA's kernels
  const char* needs;      // what the kernels need, for the skip message
  bool compiled;          // this build compiled the ISA's kernels (target architecture, no BITDIAL_NO_SIMD)
};

inline constexpr isa_info known_isas[] = {
    {"avx2", [] { return x86::plane_avx2_available(); }, "AVX2 + FMA + F16C + BMI2 + POPCNT", BITDIAL_X86_SIMD != 0},
    {"avx512", [] { return x86::plane_avx512_available(); }, "AVX-512 F/BW/VL/DQ/VNNI/VBMI", BITDIAL_X86_SIMD != 0},
    {"neon", [] { return arm::plane_neon_available(); }, "AdvSIMD (HWCAP_ASIMD)", BITDIAL_ARM_SIMD != 0},
    {"dotprod", [] { return arm::plane_dotprod_available(); }, "FEAT_DotProd (HWCAP_ASIMDDP)",
     BITDIAL_ARM_DOTPROD != 0},
    {"i8mm", [] { return arm::plane_i8mm_available(); }, "FEAT_I8MM (HWCAP2_I8MM) and FEAT_DotProd",
     BITDIAL_ARM_I8MM != 0},
};

inline const isa_info* find_isa(std::string_view name) {
  for (const auto& i : known_isas)
    if (i.name == name) return &i;
  return nullptr;
}

inline std::string known_isa_names() {
  std::string s;
  for (const auto& i : known_isas) s += (s.empty() ? "" : ", ") + std::string(i.name);
  return s;
}

/// Whether BITDIAL_TEST_HIDE_ISA names this ISA (or is "all").
inline bool isa_hidden(std::string_view name) {
  const char* env = std::getenv("BITDIAL_TEST_HIDE_ISA");
  if (env == nullptr) return false;
  std::string_view list(env);
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    if (item == name || item == "all") return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

/// Empty when the ISA's kernels run here; otherwise why they do not. Throws on an unknown name.
inline std::string isa_missing(std::string_view name) {
  const isa_info* i = find_isa(name);
  if (i == nullptr)
    throw std::invalid_argument("unknown ISA '" + std::string(name) + "' (known: " + known_isa_names() + ")");
  if (isa_hidden(name)) return std::string(name) + " hidden by BITDIAL_TEST_HIDE_ISA";
  if (!i->compiled)
    return std::string(name) + ": kernels compiled out (BITDIAL_NO_SIMD, or a build for another architecture)";
  if (!i->runs()) return std::string(name) + ": this CPU (or OS) lacks " + i->needs;
  return {};
}

}  // namespace bitdial::test

/// First statement of a [requires_<isa>] case: fails (never passes silently) where the ISA is missing.
#define BITDIAL_REQUIRE_ISA(isa)                                                                \
  do {                                                                                          \
    const std::string bitdial_isa_why_ = ::bitdial::test::isa_missing(isa);                     \
    if (!bitdial_isa_why_.empty())                                                              \
      FAIL(bitdial_isa_why_ << ": this case needs it; CTest runs it with --require-isa " << isa \
                            << ", which reports it skipped (exit 77) instead");                 \
  } while (0)
