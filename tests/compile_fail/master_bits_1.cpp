// expect-error: double_rounding master width must be in 2\.\.8
#include <bitdial/quant/double_rounding.hpp>
template class bitdial::double_rounding<1>;
