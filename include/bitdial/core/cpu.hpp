// bitdial/core/cpu.hpp — run-time CPU feature detection, computed once and cached.
//
// x86-64: cpuid + xgetbv.
// A feature counts as present only when the CPU reports it AND the OS saves the registers it
// needs: XCR0 bits 1–2 (SSE/AVX state) for AVX2, plus bits 5–7 (opmask, ZMM_Hi256, Hi16_ZMM) for
// every AVX-512 feature. Leaf 7 sub-leaf 0 bit positions follow the Intel SDM vol. 2A, CPUID:
//   EBX: 5 avx2, 8 bmi2, 16 avx512f, 17 avx512dq, 30 avx512bw, 31 avx512vl
//   ECX: 1 avx512vbmi, 8 gfni, 11 avx512vnni, 14 avx512vpopcntdq
// and leaf 1 ECX: 12 fma, 23 popcnt, 29 f16c.
//
// On aarch64 Linux the kernel reports what EL0 may execute in the auxiliary vector (getauxval;
// bits from the kernel's uapi asm/hwcap.h, Documentation/arch/arm64/elf_hwcaps.rst):
//   AT_HWCAP  bit 1 asimd, bit 20 asimddp (SDOT/UDOT)
//   AT_HWCAP2 bit 13 i8mm (SMMLA/UMMLA/USMMLA/USDOT)
// Elsewhere, or when BITDIAL_NO_SIMD is defined, every flag is false.
#pragma once

#include "bitdial/core/target.hpp"

#if BITDIAL_X86_SIMD
#include <cpuid.h>
#endif
#if BITDIAL_ARM_SIMD && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace bitdial {

struct cpu_features {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool bmi2 = false;
  bool popcnt = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512vbmi = false;
  bool avx512vpopcntdq = false;
  bool gfni = false;
  // aarch64
  bool asimd = false;    // AdvSIMD (NEON)
  bool dotprod = false;  // FEAT_DotProd: SDOT/UDOT
  bool i8mm = false;     // FEAT_I8MM: SMMLA/USMMLA/USDOT

  /// Everything the AVX2 kernels may use (BITDIAL_TARGET_AVX2 lets the compiler emit FMA, F16C,
  /// BMI2 and POPCNT too).
  bool avx2_kernels() const noexcept { return avx2 && fma && f16c && bmi2 && popcnt; }
  /// Everything the AVX-512 plane kernels use (BITDIAL_TARGET_AVX512).
  bool avx512_kernels() const noexcept {
    return avx512f && avx512bw && avx512vl && avx512dq && avx512vnni && avx512vbmi;
  }
};

namespace detail {

inline cpu_features detect_cpu_features() noexcept {
  cpu_features f;
#if BITDIAL_X86_SIMD
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1u, fma = (c >> 12) & 1u;
  f.popcnt = (c >> 23) & 1u;
  if (!osxsave) return f;
  unsigned xlo = 0, xhi = 0;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool os_avx = (xlo & 0x6u) == 0x6u, f16c = (c >> 29) & 1u;
  const bool os_avx512 = os_avx && (xlo & 0xE0u) == 0xE0u;
  if (max_leaf < 7 || !os_avx) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = (b >> 5) & 1u;
  f.bmi2 = (b >> 8) & 1u;
  f.fma = fma;
  f.f16c = f16c;
  if (os_avx512) {
    f.avx512f = (b >> 16) & 1u;
    f.avx512dq = (b >> 17) & 1u;
    f.avx512bw = (b >> 30) & 1u;
    f.avx512vl = (b >> 31) & 1u;
    f.avx512vbmi = (c >> 1) & 1u;
    f.avx512vnni = (c >> 11) & 1u;
    f.avx512vpopcntdq = (c >> 14) & 1u;
  }
  f.gfni = (c >> 8) & 1u;
#endif
#if BITDIAL_ARM_SIMD
#if defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  f.asimd = (hw >> 1) & 1ul;
  f.dotprod = f.asimd && ((hw >> 20) & 1ul);
  f.i8mm = f.asimd && ((hw2 >> 13) & 1ul);
#else
  f.asimd = true;  // AdvSIMD is in the AArch64 base architecture; the optional features stay off
#endif
#endif
  return f;
}

}  // namespace detail

/// Features of the CPU this process runs on (detected on first use).
inline const cpu_features& cpu() noexcept {
  static const cpu_features f = detail::detect_cpu_features();
  return f;
}

}  // namespace bitdial
