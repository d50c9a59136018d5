// expect-error: bit-width must be in 1\.\.8
#include <bitdial/core/bits.hpp>
bitdial::bit_width<-1> w;
