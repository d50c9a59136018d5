// expect-error: codes are 8-bit integers
#include <bitdial/core/matrix.hpp>
#include <cstdint>
bitdial::quantized_matrix<std::int16_t> m;
