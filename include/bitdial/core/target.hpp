// bitdial/core/target.hpp — the one place that names the instruction sets the x86 and aarch64
// kernels are compiled for, so raw-intrinsic kernels build in any translation unit without -m flags.
//
// A function marked BITDIAL_TARGET_AVX512 may use AVX-512 F/BW/VL/DQ/VNNI/VBMI intrinsics; one
// marked BITDIAL_TARGET_AVX2 may use AVX2/FMA/F16C. Callers must check the CPU first
// (bitdial/core/cpu.hpp): the attribute only tells the compiler what it may emit, it does not
// dispatch. Everything x86-specific is compiled only when BITDIAL_X86_SIMD is 1, i.e. on x86-64
// without BITDIAL_NO_SIMD (the portable-only build).
#pragma once

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(BITDIAL_NO_SIMD) && (defined(__GNUC__) || defined(__clang__))
#define BITDIAL_X86_SIMD 1
#else
#define BITDIAL_X86_SIMD 0
#endif

#if BITDIAL_X86_SIMD
#include <immintrin.h>

#define BITDIAL_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi")))
#define BITDIAL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi2,popcnt")))
#else
#define BITDIAL_TARGET_AVX512
#define BITDIAL_TARGET_AVX2
#endif

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

// BITDIAL_ARM_I8MM: whether the SMMLA kernels (FEAT_I8MM) are compiled, by the same rule: GCC
// declares the matrix-multiply intrinsics under a target pragma (always compiled, dispatch checks
// the CPU); Clang only when the translation unit targets FEAT_I8MM (__ARM_FEATURE_MATMUL_INT8, e.g.
// -march=armv8.6-a or armv8.2-a+dotprod+i8mm). The i8mm kernel also runs the dotprod code rebuild,
// so it needs BITDIAL_ARM_DOTPROD too.
#if BITDIAL_ARM_DOTPROD && (!defined(__clang__) || defined(__ARM_FEATURE_MATMUL_INT8))
#define BITDIAL_ARM_I8MM 1
#else
#define BITDIAL_ARM_I8MM 0
#endif

#if BITDIAL_ARM_SIMD
#include <arm_neon.h>
#endif

#if BITDIAL_ARM_DOTPROD && !defined(__clang__)
#define BITDIAL_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define BITDIAL_TARGET_DOTPROD
#endif

#if BITDIAL_ARM_I8MM && !defined(__clang__)
#define BITDIAL_TARGET_I8MM __attribute__((target("arch=armv8.2-a+dotprod+i8mm")))
#else
#define BITDIAL_TARGET_I8MM
#endif

/// Fully unrolls a loop with a compile-time trip count, so arrays of vector accumulators indexed
/// by its counter stay in registers (GCC at -O2 otherwise keeps them on the stack).
#define BITDIAL_UNROLL _Pragma("GCC unroll 16")
