// expect-error: truncation_ready master width must be in 2\.\.8
#include <bitdial/quant/truncation.hpp>
template class bitdial::truncation_ready<1>;
