// bitdial/kernels/arm/target.hpp — the aarch64 target macros (BITDIAL_ARM_SIMD,
// BITDIAL_ARM_DOTPROD, BITDIAL_TARGET_DOTPROD, BITDIAL_ARM_I8MM, BITDIAL_TARGET_I8MM) live in
// bitdial/core/target.hpp beside the x86 ones (core/cpu.hpp needs them, and core sits below the
// kernels); this header is the kernels' include.
#pragma once

#include "bitdial/core/target.hpp"
