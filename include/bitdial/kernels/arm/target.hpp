// bitdial/kernels/arm/target.hpp — the one place that names the instruction sets the aarch64
// kernels are compiled for, so they build in any translation unit without -march flags.
//
// AdvSIMD (NEON) is part of the AArch64 base architecture: the NEON kernels need no attribute. A
// function marked BITDIAL_TARGET_DOTPROD may use SDOT/UDOT (FEAT_DotProd, Armv8.2 optional, Armv8.4
// mandatory).
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

// BITDIAL_ARM_DOTPROD: whether the SDOT kernels are compiled. GCC's arm_neon.h declares the
// dot-product intrinsics under a target pragma, so the function attribute is enough and they are
// always compiled (dispatch checks the CPU). Clang's arm_neon.h (up to Clang 15) declares them
// only when the whole translation unit targets FEAT_DotProd (e.g. -march=armv8.2-a+dotprod), so a
// Clang build has the SDOT kernels exactly when compiled that way, and reports `dotprod`
// unavailable otherwise.
#if BITDIAL_ARM_SIMD && (!defined(__clang__) || defined(__ARM_FEATURE_DOTPROD))
#define BITDIAL_ARM_DOTPROD 1
#else
#define BITDIAL_ARM_DOTPROD 0
#endif

#if BITDIAL_ARM_SIMD
#include <arm_neon.h>
#endif

#if BITDIAL_ARM_DOTPROD && !defined(__clang__)
#define BITDIAL_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define BITDIAL_TARGET_DOTPROD
#endif
