// expect-error: codes are 8-bit integers
#include <bitdial/core/matrix.hpp>
bitdial::quantized_matrix<float> m;
