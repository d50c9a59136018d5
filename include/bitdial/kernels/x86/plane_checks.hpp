// bitdial/kernels/x86/plane_checks.hpp — the names the AVX2 and AVX-512 plane kernels (and the front
// door's rule for them) use for the operand checks; the checks themselves are ISA-neutral and live
// in kernels/plane_checks.hpp, shared with the aarch64 kernels.
#pragma once

#include "bitdial/kernels/plane_checks.hpp"

namespace bitdial::x86::detail {

using bitdial::detail::check_plane_operands;
using bitdial::detail::plane_groups_served;

}  // namespace bitdial::x86::detail
