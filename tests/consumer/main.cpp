// Downstream smoke test: quantize, store once, serve two widths, check the outputs differ sanely.
#include <bitdial/bitdial.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  const std::size_t M = 64, K = 128;
  std::vector<float> w(M * K), x(K);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37f * float(i));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.11f * float(i));
  bitdial::elastic_weight ew(
      bitdial::bit_plane_stack::pack(bitdial::uniform_symmetric<8>().quantize(bitdial::const_matrix(w.data(), M, K))),
      bitdial::rounding::half_up);
  std::vector<float> y8(M), y4(M);
  bitdial::gemv(ew.view(8), x, y8);
  bitdial::gemv(ew.view(4), x, y4);
  double num = 0, den = 0;
  for (std::size_t r = 0; r < M; ++r) num += (y4[r] - y8[r]) * (y4[r] - y8[r]), den += y8[r] * y8[r];
  const double rel = std::sqrt(num / den);
  std::printf("consumer: 4-bit vs 8-bit relative difference %.4f\n", rel);
  return rel > 0.0 && rel < 0.5 ? 0 : 1;
}
