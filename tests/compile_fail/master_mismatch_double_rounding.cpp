// expect-error: BITDIAL_REQUIRE\(master_bits == MasterBits
// double_rounding<4> told its master has 8 bits: the deprecated form throws, so in a constant
// expression it does not compile.
#include <bitdial/quant/double_rounding.hpp>
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(bitdial::double_rounding<4>::serve_code(1, 8, 2, bitdial::rounding::half_up) == 0);
