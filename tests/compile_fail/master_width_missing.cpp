// expect-error: no matching function for call to.*serve_code
// A run-time master width must be passed: the short form exists only for a compile-time width.
#include <bitdial/quant/double_rounding.hpp>
int f() { return bitdial::double_rounding<bitdial::dynamic_bits>::serve_code(1, 2, bitdial::rounding::half_up); }
