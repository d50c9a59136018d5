// expect-error: codes are 8-bit integers
#include <bitdial/quant/truncation.hpp>
bitdial::truncated_matrix<int> m;
