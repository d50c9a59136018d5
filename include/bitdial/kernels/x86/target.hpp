// bitdial/kernels/x86/target.hpp — kept for existing includes: the target macros live in
// bitdial/core/target.hpp (core/cpu.hpp needs them, and core sits below the kernels).
#pragma once

#include "bitdial/core/target.hpp"
