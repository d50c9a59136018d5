#include <bitdial/kernels/x86/plane_avx2.hpp>
#include <bitdial/kernels/x86/plane_avx512.hpp>
namespace bitdial::x86::detail {
template void avx2::lut_segment<4, 0>(const avx2::job&, const std::byte*, const std::uint8_t*, std::size_t, std::size_t,
                                      std::int64_t*) noexcept;
template void lut_segment<4, 0, false, 1>(const plane_job&, const std::byte* const*, const std::uint8_t*, std::size_t,
                                          std::size_t, std::int64_t* const*, std::int64_t) noexcept;
}  // namespace bitdial::x86::detail
