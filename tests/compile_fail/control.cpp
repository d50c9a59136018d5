// Control: the valid counterparts of every case below compile (no expect-error line).
#include <bitdial/core/bits.hpp>
#include <bitdial/core/matrix.hpp>
#include <bitdial/quant/double_rounding.hpp>
#include <bitdial/quant/minifloat.hpp>
#include <bitdial/quant/requant.hpp>
#include <bitdial/quant/truncation.hpp>
#include <bitdial/quant/uniform.hpp>

#include <cstdint>
#include <span>

namespace bd = bitdial;

static_assert(bd::bit_width<1>::value() == 1 && bd::bit_width<8>::value() == 8);
template class bd::uniform_symmetric<8>;
template class bd::uniform_asymmetric<1>;
template class bd::uniform_midrise<8>;
template class bd::double_rounding<2>;
template class bd::truncation<8>;
template class bd::truncation_ready<2>;
static_assert(bd::double_rounding<4>::serve_code(5, 2, bd::rounding::half_up) == 1);
static_assert(bd::double_rounding<bd::dynamic_bits>::serve_code(5, 4, 2, bd::rounding::half_up) == 1);
static_assert(bd::double_rounding<4>::serve_code_from_planes(5, 2) == 1);
static_assert(bd::truncation<4>::serve_code(5, 2) == 1);
static_assert(bd::truncation<4>::reconstruct(1, 2, bd::reconstruction::midpoint) == 5.5);
bd::quantized_matrix<std::int8_t> a;
bd::quantized_matrix<std::uint8_t> b;
bd::truncated_matrix<std::uint8_t> c;
bd::minifloat<bd::e4m3> d;
void requantize_int(std::span<const std::int32_t> acc, std::span<std::int16_t> out) {
  bd::requantize<std::int16_t>(acc, bd::make_dyadic(1, 0), {}, out);
}
