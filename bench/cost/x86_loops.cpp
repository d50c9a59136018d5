#include <bitdial/kernels/x86/plane_avx2.hpp>
#include <bitdial/kernels/x86/plane_avx512.hpp>
namespace bitdial::x86::detail {
template void avx2::lut_segment<4, 0>(const avx2::job&, const std::byte*, const std::uint8_t*, std::size_t, std::size_t,
                                      std::int64_t*) noexcept;
template void lut_segment<4, 0, false, 1>(const plane_job&, const std::byte* const*, const std::uint8_t*, std::size_t,
                                          std::size_t, std::int64_t* const*, std::int64_t) noexcept;
}  // namespace bitdial::x86::detail
#include <bitdial/kernels/x86/minifloat_avx512.hpp>
namespace bitdial::x86::detail {
template void fp4_rows<fp4_mx, 1, 1>(const fp4_job&, std::size_t, const std::int8_t* const*, const std::int32_t* const*,
                                     float*) noexcept;
template void vnni_tokens<1>(const std::uint8_t*, std::size_t, std::size_t, const std::int8_t* const*,
                             std::int32_t*) noexcept;
}  // namespace bitdial::x86::detail
