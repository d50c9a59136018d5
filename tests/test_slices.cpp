// Residual slice stacks in plane form: view_slices(n) equals the quantizer's Ŵ(n) bit for bit;
// slice kernels (all n, per-token counts) equal the reference on every ISA; BitStack serving
// stays within its activation-rounding bound.
#include <bitdial/kernels/slices.hpp>
#include <bitdial/quant/bitstack.hpp>

#include "test_support.hpp"

using namespace bitdial;

namespace {

void check_dequant(const quantized_slice_stack& q, const plane_slice_stack& p) {
  for (std::size_t n = 1; n <= q.slices(); ++n) {
    const auto want = q.dequantize(n);
    const auto v = p.view_slices(n);
    for (std::size_t r = 0; r < q.rows(); ++r)
      for (std::size_t c = 0; c < q.cols(); ++c) {
        INFO("n = " << n << ", (" << r << ", " << c << ")");
        REQUIRE(v.dequantize(r, c) == want[r * q.cols() + c]);
      }
  }
}

}  // namespace

TEST_CASE("view_slices(n) dequantizes to the quantizer's prefix sums exactly", "[slices]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 37, K = 96;
  const auto w = test::heavy_tailed(M * K, 1);
  const const_matrix wm(w.data(), M, K);
  const auto indep = uniform_residual({2, 2, 2, 2}).quantize(wm);
  check_dequant(indep, plane_slice_stack::pack(indep));
  const auto tiled =
      uniform_residual({2, 1, 1, 3}, {.gran = granularity::per_group(32), .scales = residual_scales::power_of_two})
          .quantize(wm);
  check_dequant(tiled, plane_slice_stack::pack(tiled));
  const auto bin = residual_binarizer(4).quantize(wm);
  check_dequant(bin, plane_slice_stack::pack(bin));
  const auto p = plane_slice_stack::pack(indep);
  CHECK(p.view_slices(3).bytes_read() == 3 * p.view_slices(1).bytes_read());
  CHECK_THROWS_WITH(p.view_slices(0), Catch::Contains("n = 0"));
  CHECK_THROWS_WITH(p.view_slices(5), Catch::Contains("n = 5"));
}

TEST_CASE("slice kernels equal the reference on every ISA, with per-token counts", "[slices][kernels]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 45, K = 80, N = 7;
  const auto w = test::normal(M * K, 2);
  const auto xf = test::normal(N * K, 3);
  const auto q = per_token_quantizer<8>().quantize(const_matrix(xf.data(), N, K));
  const auto tiled = plane_slice_stack::pack(
      uniform_residual({2, 2, 2}, {.scales = residual_scales::power_of_two}).quantize(const_matrix(w.data(), M, K)));
  const std::vector<int> counts = {1, 3, 2, 2, 1, 3, 3};
  for (std::size_t n = 1; n <= 3; ++n) {
    std::vector<float> want(N * M), got(N * M);
    gemm_slices(tiled.view_slices(n), as_tokens(q), matrix_view<float>(want.data(), N, M), {}, {},
                {kernel_isa::reference});
    for (auto isa : available_isas()) {
      gemm_slices(tiled.view_slices(n), as_tokens(q), matrix_view<float>(got.data(), N, M), {}, {}, {isa});
      INFO("isa = " << to_string(isa) << ", n = " << n);
      REQUIRE(got == want);
    }
  }
  // Per-token counts: token t equals the all-tokens result at n = counts[t].
  std::vector<std::vector<float>> at_n(4, std::vector<float>(N * M));
  for (std::size_t n = 1; n <= 3; ++n)
    gemm_slices(tiled.view_slices(n), as_tokens(q), matrix_view<float>(at_n[n].data(), N, M));
  std::vector<float> routed(N * M);
  gemm_slices(tiled.view_slices(3), as_tokens(q), matrix_view<float>(routed.data(), N, M), counts);
  for (std::size_t t = 0; t < N; ++t)
    for (std::size_t r = 0; r < M; ++r) REQUIRE(routed[t * M + r] == at_n[counts[t]][t * M + r]);
  // Served output approaches the float product as slices are added.
  double prev = INFINITY;
  for (std::size_t n = 1; n <= 3; ++n) {
    double err = 0;
    for (std::size_t t = 0; t < N; ++t)
      for (std::size_t r = 0; r < M; ++r) {
        double exact = 0;
        for (std::size_t c = 0; c < K; ++c) exact += double(w[r * K + c]) * q.dequantize(t, c);
        err += (at_n[n][t * M + r] - exact) * (at_n[n][t * M + r] - exact);
      }
    CHECK(err < prev);
    prev = err;
  }
  const std::vector<int> bad = {1, 4, 1, 1, 1, 1, 1};
  std::vector<float> y(N * M);
  CHECK_THROWS_WITH(gemm_slices(tiled.view_slices(3), as_tokens(q), matrix_view<float>(y.data(), N, M), bad),
                    Catch::Contains("counts[1] = 4"));
}

TEST_CASE("BitStack sign x low-rank serving matches apply() within the activation-rounding bound",
          "[slices][bitstack]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 24, K = 40;
  const auto w = test::normal(M * K, 4);
  const auto bs = bitstack(3, {.rank = 2}).quantize(const_matrix(w.data(), M, K));
  const auto planes = bitstack_planes::pack(bs);
  const auto x = test::normal(K, 5);
  for (std::size_t n = 1; n <= 3; ++n) {
    const auto want = bs.apply(n, x);
    std::vector<float> got(M);
    gemv_bitstack(planes, n, x, got);
    for (std::size_t r = 0; r < M; ++r) {
      double bound = 0;
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t k = 0; k < bs.rank(); ++k) {
          double zmax = 0;
          for (std::size_t c = 0; c < K; ++c) zmax = std::max(zmax, std::fabs(double(bs.v(j, k)[c]) * x[c]));
          bound += std::fabs(bs.u(j, k)[r]) * double(K) * zmax / 254.0;
        }
      INFO("n = " << n << ", r = " << r);
      CHECK(std::fabs(got[r] - want[r]) <= bound * 1.01 + 1e-5);
    }
  }
}

TEST_CASE("fused slices (one table build for all slices) equal the slice-by-slice sum: bias, rows, threads",
          "[slices][kernels]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 70, K = 96, N = 3;
  const auto w = test::heavy_tailed(M * K, 5);
  const auto xf = test::normal(N * K, 6);
  const auto q = per_token_quantizer<8>().quantize(const_matrix(xf.data(), N, K));
  const auto st = plane_slice_stack::pack(
      uniform_residual({2, 1, 1, 2}, {.gran = granularity::per_group(32)}).quantize(const_matrix(w.data(), M, K)));
  std::vector<float> bias(M);
  for (std::size_t r = 0; r < M; ++r) bias[r] = 0.125f * float(r);
  const gemm_params p{.bias = bias.data(), .row_begin = 5, .row_end = 66};
  for (std::size_t n = 1; n <= st.slices(); ++n) {
    // Slice by slice through the reference kernel: y = slice 0 (with the bias), then + slice j.
    std::vector<float> want(N * M, -3.0f), part(N * M);
    for (std::size_t j = 0; j < n; ++j) {
      reference::gemm(st.view_slices(n).slice(j), as_tokens(q), matrix_view<float>(part.data(), N, M),
                      gemm_params{j == 0 ? bias.data() : nullptr, p.row_begin, p.row_end});
      for (std::size_t t = 0; t < N; ++t)
        for (std::size_t r = p.row_begin; r < p.row_end; ++r)
          want[t * M + r] = j == 0 ? part[t * M + r] : want[t * M + r] + part[t * M + r];
    }
    for (auto isa : available_isas())
      for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
        std::vector<float> got(N * M, -3.0f);
        gemm_slices(st.view_slices(n), as_tokens(q), matrix_view<float>(got.data(), N, M), {}, p,
                    {.isa = isa, .threads = threads});
        INFO("isa = " << to_string(isa) << ", n = " << n << ", threads = " << threads);
        REQUIRE(got == want);  // rows outside [5, 66) untouched (-3) in both
      }
  }
}
