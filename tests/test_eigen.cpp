// Eigen interop: in-place views vs copies, quantize/dequantize through Eigen equal the raw API bit
// for bit, the Eigen GEMV/GEMM front doors equal the raw-pointer calls exactly, and the quantized
// products stay within the quantization error bound of Eigen's float product.
#include <bitdial/eigen.hpp>
#include <bitdial/quant/uniform.hpp>

#include <cmath>

#include "test_support.hpp"

using namespace bitdial;

namespace {

eigen::row_matrix random_rows(Eigen::Index r, Eigen::Index c, std::uint64_t salt) {
  const auto v = test::normal(static_cast<std::size_t>(r * c), salt);
  eigen::row_matrix m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = v[static_cast<std::size_t>(i * c + j)];
  return m;
}

}  // namespace

TEST_CASE("eigen: input_rows views row-major storage in place and copies otherwise", "[eigen]") {
  BITDIAL_LOG_SEED();
  const eigen::row_matrix R = random_rows(6, 9, 1);
  {
    const eigen::input_rows in(R);
    CHECK_FALSE(in.copied());
    CHECK(in.view().data == R.data());
    CHECK(in.view().stride == 9);
  }
  {  // a block keeps the parent's row stride
    const eigen::input_rows in(R.block(1, 2, 4, 5));
    CHECK_FALSE(in.copied());
    CHECK(in.view().data == &R(1, 2));
    CHECK(in.view().stride == 9);
    CHECK(in.view()(3, 4) == R(4, 6));
  }
  const Eigen::MatrixXf C = R;  // column-major copy
  {
    const eigen::input_rows in(C);
    CHECK(in.copied());
    for (std::size_t r = 0; r < 6; ++r)
      for (std::size_t c = 0; c < 9; ++c) REQUIRE(in.view()(r, c) == C(Eigen::Index(r), Eigen::Index(c)));
  }
  {  // one row of a column-major matrix is not contiguous unless it has one row
    const Eigen::MatrixXf one = C.topRows(1);
    const eigen::input_rows in(one);
    CHECK_FALSE(in.copied());
    CHECK(in.view().cols == 9);
  }
  {  // expressions are evaluated once
    const eigen::input_rows in(R * 2.0f);
    CHECK(in.copied());
    CHECK(in.view()(5, 8) == 2.0f * R(5, 8));
  }
}

TEST_CASE("eigen: quantize and dequantize equal the raw API", "[eigen]") {
  BITDIAL_LOG_SEED();
  const eigen::row_matrix R = random_rows(40, 64, 2);
  const Eigen::MatrixXf C = R;
  const uniform_symmetric<> q(8);
  const auto raw = q.quantize(const_matrix(R.data(), 40, 64));
  for (const auto& m : {eigen::quantize(q, R), eigen::quantize(q, C), eigen::quantize(q, C.transpose().transpose())}) {
    CHECK(m.codes == raw.codes);
    CHECK(m.scales == raw.scales);
  }
  const auto st = bit_plane_stack::pack(raw);
  for (int b : {1, 3, 8}) {
    const auto v = view(st, b, rounding::half_even);
    const Eigen::MatrixXf D = eigen::dequantize(v);
    REQUIRE(D.rows() == 40);
    REQUIRE(D.cols() == 64);
    for (std::size_t r = 0; r < 40; ++r)
      for (std::size_t c = 0; c < 64; ++c) REQUIRE(D(Eigen::Index(r), Eigen::Index(c)) == v.dequantize(r, c));
    const Eigen::MatrixXf S = eigen::dequantize(shard(v, 8, 20));
    CHECK(S.rows() == 12);
    CHECK(S == D.middleRows(8, 12));
  }
  const auto rs = plane_slice_stack::pack(uniform_residual({2, 2, 4}).quantize(const_matrix(R.data(), 40, 64)));
  for (std::size_t n = 1; n <= 3; ++n) {
    const auto sv = rs.view_slices(n);
    const Eigen::MatrixXf D = eigen::dequantize(sv);
    for (std::size_t r = 0; r < 40; ++r)
      for (std::size_t c = 0; c < 64; ++c) REQUIRE(D(Eigen::Index(r), Eigen::Index(c)) == sv.dequantize(r, c));
  }
}

TEST_CASE("eigen: gemv / gemm equal the raw-pointer front doors exactly", "[eigen]") {
  BITDIAL_LOG_SEED();
  const eigen::row_matrix W = random_rows(70, 96, 3);
  const auto st = bit_plane_stack::pack(uniform_symmetric<>(8).quantize(const_matrix(W.data(), 70, 96)));
  const Eigen::MatrixXf Xc = random_rows(6, 96, 4).transpose();  // 96 x 6 (K x tokens), column-major
  Eigen::MatrixXf holder = Eigen::MatrixXf::Zero(120, 6);        // its top 96 rows: outer stride 120
  holder.topRows(96) = Xc;
  for (int b : {2, 5, 8})
    for (auto rule : {rounding::floor, rounding::half_up}) {
      INFO("b = " << b << ", rule = " << to_string(rule));
      const auto v = view(st, b, rule);
      // raw: tokens x K row-major = the column-major columns
      const eigen::row_matrix Xt = Xc.transpose();
      std::vector<float> raw(6 * 70), raw_bs(6 * 70), one(70);
      gemm(v, const_matrix(Xt.data(), 6, 96), matrix_view<float>(raw.data(), 6, 70));
      bitserial_gemm(v, const_matrix(Xt.data(), 6, 96), matrix_view<float>(raw_bs.data(), 6, 70), {},
                     bitserial_options{3});
      Eigen::MatrixXf Y(70, 6), Ys(70, 6), Ybs(70, 6);
      eigen::gemm(v, Xc, Y);
      eigen::gemm(v, holder.topRows(96), Ys);  // strided activations, no copy
      eigen::bitserial_gemm(v, Xc, Ybs, {}, bitserial_options{3});
      for (std::size_t n = 0; n < 6; ++n)
        for (std::size_t r = 0; r < 70; ++r) {
          REQUIRE(Y(Eigen::Index(r), Eigen::Index(n)) == raw[n * 70 + r]);
          REQUIRE(Ys(Eigen::Index(r), Eigen::Index(n)) == raw[n * 70 + r]);
          REQUIRE(Ybs(Eigen::Index(r), Eigen::Index(n)) == raw_bs[n * 70 + r]);
        }
      // gemv on column 4, and into a column of a bigger output (strided Ref<VectorXf> is contiguous)
      Eigen::VectorXf y(70);
      eigen::gemv(v, Xc.col(4), y);
      gemv(v, std::span<const float>(Xt.data() + 4 * 96, 96), one);
      for (std::size_t r = 0; r < 70; ++r) REQUIRE(y(Eigen::Index(r)) == one[r]);
      Eigen::MatrixXf outs = Eigen::MatrixXf::Zero(70, 3);
      eigen::bitserial_gemv(v, Xc.col(2), outs.col(1), {}, bitserial_options{3});
      for (std::size_t r = 0; r < 70; ++r) REQUIRE(outs(Eigen::Index(r), 1) == raw_bs[2 * 70 + r]);
      CHECK(outs.col(0).isZero());
      CHECK(outs.col(2).isZero());
    }
}

TEST_CASE("eigen: quantized GEMV within the quantization error bound of Eigen's float GEMV", "[eigen]") {
  BITDIAL_LOG_SEED();
  // W (M x K) float, quantized per row to an 8-bit master, served at b; x float, quantized per token
  // to int8 (BitNet rule) inside gemv. With ŵ, x̂ the dequantized operands (exact in double):
  //   |Σ ŵ x̂ − Σ w x| ≤ Σ |ŵ − w|·|x̂| + Σ |w|·|x̂ − x|            (triangle inequality)
  // plus float rounding of both sums: each is within K·2^−23·Σ|w x| (Higham's γ_K, loosely) of its
  // exact value, and the epilogue's few float steps add a few ulp of |y|.
  const Eigen::Index M = 64, K = 512;
  const eigen::row_matrix W = random_rows(M, K, 5);
  const Eigen::VectorXf x = random_rows(1, K, 6).transpose();
  const auto st = bit_plane_stack::pack(uniform_symmetric<>(8).quantize(const_matrix(W.data(), M, K)));
  const Eigen::VectorXf baseline = W * x;  // Eigen float GEMV
  const auto xq = per_token_quantizer<8>().quantize(const_matrix(x.data(), 1, std::size_t(K)));
  for (int b : {8, 6, 4, 2})
    for (auto rule : {rounding::half_even, rounding::floor}) {
      INFO("b = " << b << ", rule = " << to_string(rule));
      const auto v = view(st, b, rule);
      const Eigen::MatrixXf D = eigen::dequantize(v);
      Eigen::VectorXf y(M);
      eigen::gemv(v, x, y);
      double worst_ratio = 0.0;
      for (Eigen::Index r = 0; r < M; ++r) {
        double bound = 0.0, mag = 0.0;
        for (Eigen::Index c = 0; c < K; ++c) {
          const double wh = D(r, c), w = W(r, c), xv = x(c);
          const double xh = double(xq.scales[0]) * xq.code(0, std::size_t(c));
          bound += std::abs(wh - w) * std::abs(xh) + std::abs(w) * std::abs(xh - xv);
          mag += std::abs(w * xv) + std::abs(wh * xh);
        }
        bound += 2.0 * double(K) * 0x1p-23 * mag + 8 * 0x1p-23 * std::abs(double(baseline(r)));
        const double err = std::abs(double(y(r)) - double(baseline(r)));
        REQUIRE(err <= bound);
        worst_ratio = std::max(worst_ratio, err / bound);
      }
      // The bound is not vacuous: at 8 bits the error is a visible fraction of it.
      if (b == 8 && rule == rounding::half_even) CHECK(worst_ratio > 0.01);
    }
}

TEST_CASE("eigen: shape errors name the argument", "[eigen][errors]") {
  const eigen::row_matrix W = random_rows(8, 32, 7);
  const auto st = bit_plane_stack::pack(uniform_symmetric<>(8).quantize(const_matrix(W.data(), 8, 32)));
  const auto v = view(st, 4);
  Eigen::VectorXf x = Eigen::VectorXf::Ones(31), y(8), y7(7);
  CHECK_THROWS_WITH(eigen::gemv(v, x, y), Catch::Contains("eigen::gemv: x.size() = 31"));
  x = Eigen::VectorXf::Ones(32);
  CHECK_THROWS_WITH(eigen::gemv(v, x, y7), Catch::Contains("eigen::gemv: y.size() = 7"));
  CHECK_THROWS_WITH(eigen::bitserial_gemv(v, x, y7, {}, bitserial_options{2}),
                    Catch::Contains("bitserial_gemv: y.size() = 7"));
  Eigen::MatrixXf X = Eigen::MatrixXf::Ones(30, 3), Y(8, 3), Y2(8, 2), X0(32, 0), Y0(8, 0);
  CHECK_THROWS_WITH(eigen::gemm(v, X, Y), Catch::Contains("eigen::gemm: X.rows() = 30"));
  X = Eigen::MatrixXf::Ones(32, 3);
  CHECK_THROWS_WITH(eigen::gemm(v, X, Y2), Catch::Contains("eigen::gemm: Y shape = 8x2"));
  CHECK_THROWS_WITH(eigen::gemm(v, X0, Y0), Catch::Contains("X.cols() = 0"));
  CHECK_THROWS_WITH(eigen::bitserial_gemm(v, X, Y2, {}, bitserial_options{2}),
                    Catch::Contains("bitserial_gemm: Y shape = 8x2"));
  eigen::gemm(v, X, Y);  // the right shapes work
  CHECK(Y.allFinite());
}
