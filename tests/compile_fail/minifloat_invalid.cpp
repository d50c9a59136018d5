// expect-error: invalid minifloat format
#include <bitdial/quant/minifloat.hpp>
bitdial::minifloat<bitdial::minifloat_format{}> m;
