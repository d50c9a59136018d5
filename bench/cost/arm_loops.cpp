#include <bitdial/kernels/arm/plane_i8mm.hpp>
#include <bitdial/kernels/arm/plane_neon.hpp>
#include <bitdial/kernels/arm/ternary_neon.hpp>
namespace bitdial::arm::detail {
template void lut_segment<4, 0>(const job&, const std::byte*, const std::uint8_t*, std::size_t, std::size_t,
                                std::int64_t*) noexcept;
template void sdot_window<2>(const std::int8_t*, std::size_t, const std::int8_t* const*, std::int32_t*) noexcept;
template void sdot_window<1>(const std::int8_t*, std::size_t, const std::int8_t* const*, std::int32_t*) noexcept;
template void ternary_sdot<1>(const std::uint8_t*, const std::int8_t* const*, std::size_t, std::size_t,
                              std::int32_t*) noexcept;
template void ternary_sdot<4>(const std::uint8_t*, const std::int8_t* const*, std::size_t, std::size_t,
                              std::int32_t*) noexcept;
}  // namespace bitdial::arm::detail
#include <bitdial/kernels/arm/bitserial_neon.hpp>
namespace bitdial::arm::detail {
template void bitserial_window<false>(const bitdial::detail::bitserial_job&, const std::uint32_t*,
                                      const std::uint32_t* const*, std::size_t, std::size_t, std::size_t,
                                      std::int32_t*) noexcept;
template void unpack_chunks<false>(const job&, const std::byte*, std::size_t, std::size_t, std::int8_t*) noexcept;
template void smmla_window<2>(const std::int8_t*, std::size_t, const std::int8_t* const*,
                              std::int32_t* const*) noexcept;
template void smmla_window<1>(const std::int8_t*, std::size_t, const std::int8_t* const*,
                              std::int32_t* const*) noexcept;
}  // namespace bitdial::arm::detail
#include <bitdial/kernels/arm/int8_neon.hpp>
#include <bitdial/kernels/arm/minifloat_neon.hpp>
namespace bitdial::arm::detail {
template void fp4_sdot<fp4_neon_mx, 1>(const fp4_group&, const std::int8_t* const*, float*) noexcept;
template void fp4_sdot<fp4_neon_mx, 4>(const fp4_group&, const std::int8_t* const*, float*) noexcept;
template void fp4_sdot<fp4_neon_bitmod, 1>(const fp4_group&, const std::int8_t* const*, float*) noexcept;
template void fp4_smull<fp4_neon_mx>(const fp4_group&, const std::int8_t*, float*) noexcept;
template void int8_sdot<1>(const std::uint8_t*, const std::int8_t* const*, std::size_t, std::size_t,
                           std::int32_t*) noexcept;
template void int8_sdot<2>(const std::uint8_t*, const std::int8_t* const*, std::size_t, std::size_t,
                           std::int32_t*) noexcept;
__attribute__((noinline)) void int8_smull_wrap(const std::uint8_t* base, const std::int8_t* x, std::size_t c0,
                                               std::size_t nc, std::int32_t* out) noexcept {
  int8_smull(base, x, c0, nc, out);
}
}  // namespace bitdial::arm::detail
