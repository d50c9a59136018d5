// expect-error: requantize outputs an integer of <= 32 bits
#include <bitdial/quant/requant.hpp>
#include <cstdint>
#include <span>
void f(std::span<const std::int32_t> acc, std::span<std::int64_t> out) {
  bitdial::requantize<std::int64_t>(acc, bitdial::make_dyadic(1, 0), {}, out);
}
