// bitdial/kernels/arm/target.hpp — the one place that names the instruction sets the aarch64
// kernels are compiled for, so they build in any translation unit without -march flags.
//
// AdvSIMD (NEON) is part of the AArch64 base architecture: the NEON kernels need no attribute. A
// function marked BITDIAL_TARGET_DOTPROD may use SDOT/UDOT (FEAT_DotProd, Armv8.2 optional, Armv8.4
// mandatory); one marked BITDIAL_TARGET_I8MM may also use SMMLA/USMMLA/USDOT (FEAT_I8MM, Armv8.6).
// Callers must check the CPU first (bitdial/core/cpu.hpp: HWCAP_ASIMDDP, HWCAP2_I8MM): the attribute
// only tells the compiler what it may emit, it does not dispatch. Everything aarch64-specific is
// compiled only when BITDIAL_ARM_SIMD is 1, i.e. on aarch64 with GCC or Clang and without
// BITDIAL_NO_SIMD (the portable-only build).
#pragma once

#if defined(__aarch64__) && !defined(BITDIAL_NO_SIMD) && (defined(__GNUC__) || defined(__clang__))
#define BITDIAL_ARM_SIMD 1
#else
#define BITDIAL_ARM_SIMD 0
#endif

#if BITDIAL_ARM_SIMD
#include <arm_neon.h>

#define BITDIAL_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define BITDIAL_TARGET_I8MM __attribute__((target("arch=armv8.6-a+dotprod+i8mm")))
#else
#define BITDIAL_TARGET_DOTPROD
#define BITDIAL_TARGET_I8MM
#endif
