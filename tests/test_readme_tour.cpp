// The README's API tour, compiled and checked: if the README's code stops building or stops
// meaning what it says, this suite fails.
#include <bitdial/bitdial.hpp>

#include <cstdio>

#include "test_support.hpp"

namespace bd = bitdial;

TEST_CASE("README API tour", "[readme]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 64, K = 256, N = 4;
  const auto weights = bd::test::normal(M * K, 1);
  const auto x = bd::test::normal(K, 2);
  const auto X = bd::test::normal(N * K, 3);
  const auto calib = bd::test::normal(32 * K, 4);
  const bd::const_matrix calib_tokens(calib.data(), 32, K);
  std::vector<float> y(M), Y(N * M), b(M, 0.5f);
  for (std::size_t r = 0; r < M; ++r) b[r] = 0.5f + float(r);  // a bias that differs per row

  // Quantize once: an INT8 master (MSE-clipped, groups of 128) with fitted per-width maps.
  bd::const_matrix W(weights.data(), M, K);
  auto master = bd::quantize_mse(bd::uniform_symmetric<8>({.gran = bd::granularity::per_group(128)}), W);
  auto stack = bd::bit_plane_stack::pack(master);
  bd::fit_reconstruction(stack, W);
  CHECK(stack.fit_bytes() == 21 * M * 6);  // "6 bytes per row and width" (3 rules x 7 widths)
  bd::elastic_weight w(std::move(stack), bd::rounding::half_up);

  // Serve at any width.
  bd::gemv(w.view(8), x, y);
  const auto y8 = y;
  for (std::size_t c = 0; c < K; ++c) REQUIRE(w.view(8).dequantize(0, c) == master.scales[c / 128] * master.codes[c]);
  bd::gemv(w.view(3), x, y);
  CHECK(y != y8);
  CHECK(w.view(3).fitted());
  CHECK(w.view(3).bytes_read() * 8 == w.stack().bytes().size() * 4);  // 3 + 1 planes for RHU at b = 3
  w.set_bits(4);
  CHECK(w.view().bits == 4);
  bd::gemv(w.view(), x, y);
  // The literal rule equals the quantizer's own 3-bit double rounding exactly, and the fitted
  // values are closer to W.
  auto literal = bd::view(w.stack(), 3, bd::rounding::half_up, bd::reconstruction::midpoint);
  const auto dr3 = bd::double_rounding<8>().dequantize(master, 3);
  std::vector<float> fit3(M * K);
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t c = 0; c < K; ++c) {
      REQUIRE(literal.dequantize(r, c) == dr3[r * K + c]);
      fit3[r * K + c] = w.view(3).dequantize(r, c);
    }
  CHECK(bd::sqnr_db(weights, fit3) > bd::sqnr_db(weights, dr3));

  // Batches with a bias and a row range.
  std::fill(Y.begin(), Y.end(), -7.0f);
  bd::gemm(w.view(2), bd::const_matrix(X.data(), N, K), bd::matrix_view<float>(Y.data(), N, M),
           bd::gemm_params{.bias = b.data(), .row_begin = 0, .row_end = M / 2});
  CHECK(Y[M / 2] == -7.0f);  // outside the row range: untouched
  CHECK(Y[0] != -7.0f);

  auto half = bd::shard(w.view(4), M / 2, M);
  CHECK(half.rows() == M / 2);
  // A shard's own bias: rows M/2.. of the whole view's output, bias included, bit for bit.
  std::vector<float> whole(M);
  bd::gemv(w.view(4), x, whole, {.bias = b.data()});
  bd::gemv(half, x, std::span<float>(y.data() + M / 2, M / 2), {.bias = b.data() + M / 2});
  for (std::size_t r = M / 2; r < M; ++r) CHECK(y[r] == whole[r]);

  auto slices = bd::plane_slice_stack::pack(bd::uniform_residual({2, 2, 2, 2}).quantize(W));
  auto router = bd::statistic_router::calibrate(calib_tokens, 1, 4, 2.5);
  bd::const_matrix Xm(X.data(), N, K);
  auto xq = bd::per_token_quantizer<8>().quantize(Xm);
  bd::gemm_slices(slices.view_slices(4), bd::as_tokens(xq), bd::matrix_view<float>(Y.data(), N, M),
                  router.route_all(Xm));

  bd::save(w.stack(), "readme_tour_layer0.bdl");
  auto again = bd::load("readme_tour_layer0.bdl");
  CHECK(bd::serialize(again) == bd::serialize(w.stack()));
  std::remove("readme_tour_layer0.bdl");
}
