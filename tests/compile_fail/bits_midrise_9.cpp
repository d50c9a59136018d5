// expect-error: bit-width must be in 1\.\.8
#include <bitdial/quant/uniform.hpp>
template class bitdial::uniform_midrise<9>;
