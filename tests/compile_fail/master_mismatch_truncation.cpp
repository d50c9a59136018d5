// expect-error: BITDIAL_REQUIRE\(master_bits == MasterBits
#include <bitdial/quant/truncation.hpp>
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(bitdial::truncation<4>::serve_code(1, 8, 2) == 0);
