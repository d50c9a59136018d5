// bitdial/eigen.hpp — opt-in Eigen interop: quantize from Eigen matrices, dequantize views to
// Eigen::MatrixXf, and GEMV/GEMM front doors taking Eigen activations and outputs. Not included by
// bitdial.hpp; the core never needs Eigen.
//
// Conventions (Eigen's, so expressions read as math): the weight view is M × K, a GEMV takes x of
// size K and writes y = Ŵ·x of size M; a GEMM takes X (K × N, one token per column) and writes
// Y = Ŵ·X (M × N). A column-major K × N matrix with outer stride ≥ K is exactly a row-major N × K
// token batch, so activations and outputs are passed to the raw kernels in place: the results are
// the raw-pointer API's, bit for bit (tests/test_eigen.cpp), with no copy.
//
// Weights enter the quantizers as row-major `const_matrix` views (rows = output channels). An
// Eigen matrix is viewed in place when its columns are contiguous (row-major storage, any outer
// stride — blocks and Maps included — or a single row/column); anything else (a column-major
// matrix, a general expression) is evaluated once into a row-major copy. `input_rows::copied()`
// says which happened.
#pragma once

#include <Eigen/Dense>

#include <span>
#include <type_traits>

#include "bitdial/core/matrix.hpp"
#include "bitdial/select/slice_view.hpp"
#include "bitdial/kernels/bitserial.hpp"
#include "bitdial/kernels/gemm.hpp"

namespace bitdial::eigen {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A row-major view of an Eigen matrix or expression, holding a copy only when one is needed.
/// Views the argument's storage when it is not copied: keep the argument alive while in use.
class input_rows {
 public:
  template <class Derived>
  explicit input_rows(const Eigen::DenseBase<Derived>& m) {
    using traits = Eigen::internal::traits<Derived>;
    constexpr bool direct =
        (traits::Flags & Eigen::DirectAccessBit) != 0 && std::is_same_v<typename Derived::Scalar, float>;
    if constexpr (direct) {
      const Derived& d = m.derived();
      const auto rows = static_cast<std::size_t>(d.rows()), cols = static_cast<std::size_t>(d.cols());
      const auto row_stride = static_cast<std::size_t>(d.rowStride()),
                 col_stride = static_cast<std::size_t>(d.colStride());
      if ((col_stride == 1 || cols <= 1) && (rows <= 1 || row_stride >= cols)) {
        view_ = const_matrix(d.data(), rows, cols, rows <= 1 ? cols : row_stride);
        return;
      }
    }
    copy_ = m.template cast<float>();
    copied_ = true;
    view_ = const_matrix(copy_.data(), static_cast<std::size_t>(copy_.rows()), static_cast<std::size_t>(copy_.cols()));
  }
  input_rows(const input_rows&) = delete;
  input_rows& operator=(const input_rows&) = delete;

  const_matrix view() const noexcept { return view_; }
  bool copied() const noexcept { return copied_; }

 private:
  row_matrix copy_;
  const_matrix view_;
  bool copied_ = false;
};

/// q.quantize(W) for any bitdial quantizer and any Eigen matrix or expression W (rows = output
/// channels): the same result as passing the raw row-major data.
template <class Quantizer, class Derived>
auto quantize(const Quantizer& q, const Eigen::DenseBase<Derived>& w) {
  const input_rows in(w);
  return q.quantize(in.view());
}

/// The view's exact b-bit dequantized weights (plane_view::dequantize), M × K.
inline Eigen::MatrixXf dequantize(const plane_view& v) {
  BITDIAL_REQUIRE(v.stack != nullptr, "eigen::dequantize: view: empty view");
  Eigen::MatrixXf out(static_cast<Eigen::Index>(v.rows()), static_cast<Eigen::Index>(v.cols()));
  for (std::size_t r = 0; r < v.rows(); ++r)
    for (std::size_t c = 0; c < v.cols(); ++c)
      out(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = v.dequantize(r, c);
  return out;
}

/// Ŵ(n) of a slice view (slice_view::dequantize), M × K.
inline Eigen::MatrixXf dequantize(const slice_view& v) {
  BITDIAL_REQUIRE(v.stack != nullptr && v.n > 0, "eigen::dequantize: view: empty slice view");
  Eigen::MatrixXf out(static_cast<Eigen::Index>(v.rows()), static_cast<Eigen::Index>(v.cols()));
  for (std::size_t r = 0; r < v.rows(); ++r)
    for (std::size_t c = 0; c < v.cols(); ++c)
      out(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = v.dequantize(r, c);
  return out;
}

namespace detail {

inline void check_gemv_shapes(const plane_view& w, Eigen::Index x_size, Eigen::Index y_size, const char* where) {
  BITDIAL_REQUIRE(w.stack != nullptr, where, ": weights: empty view");
  BITDIAL_REQUIRE(x_size == static_cast<Eigen::Index>(w.cols()), where, ": x.size() = ", x_size,
                  ": must equal the weight K = ", w.cols());
  BITDIAL_REQUIRE(y_size == static_cast<Eigen::Index>(w.rows()), where, ": y.size() = ", y_size,
                  ": must equal the weight rows M = ", w.rows());
}

inline void check_gemm_shapes(const plane_view& w, const Eigen::Ref<const Eigen::MatrixXf>& X,
                              const Eigen::Ref<Eigen::MatrixXf>& Y, const char* where) {
  BITDIAL_REQUIRE(w.stack != nullptr, where, ": weights: empty view");
  BITDIAL_REQUIRE(X.rows() == static_cast<Eigen::Index>(w.cols()), where, ": X.rows() = ", X.rows(),
                  ": must equal the weight K = ", w.cols(), " (X is K x tokens)");
  BITDIAL_REQUIRE(X.cols() > 0, where, ": X.cols() = 0: no tokens");
  BITDIAL_REQUIRE(Y.rows() == static_cast<Eigen::Index>(w.rows()) && Y.cols() == X.cols(), where,
                  ": Y shape = ", Y.rows(), "x", Y.cols(), ": expected ", w.rows(), "x", X.cols(),
                  " (weight rows x tokens)");
}

/// Column-major K × N with outer stride s ≥ K ≡ row-major N × K with row stride s.
inline const_matrix tokens_of(const Eigen::Ref<const Eigen::MatrixXf>& X) {
  return const_matrix(X.data(), static_cast<std::size_t>(X.cols()), static_cast<std::size_t>(X.rows()),
                      X.cols() == 1 ? static_cast<std::size_t>(X.rows()) : static_cast<std::size_t>(X.outerStride()));
}
inline matrix_view<float> outputs_of(Eigen::Ref<Eigen::MatrixXf>& Y) {
  return matrix_view<float>(
      Y.data(), static_cast<std::size_t>(Y.cols()), static_cast<std::size_t>(Y.rows()),
      Y.cols() == 1 ? static_cast<std::size_t>(Y.rows()) : static_cast<std::size_t>(Y.outerStride()));
}

}  // namespace detail

/// y = Ŵ_b · x with per-token int8 activations (bitdial::gemv).
inline void gemv(const plane_view& w, const Eigen::Ref<const Eigen::VectorXf>& x, Eigen::Ref<Eigen::VectorXf> y,
                 const gemm_params& p = {}, const run_options& o = {}) {
  detail::check_gemv_shapes(w, x.size(), y.size(), "eigen::gemv");
  bitdial::gemv(w, std::span<const float>(x.data(), static_cast<std::size_t>(x.size())),
                std::span<float>(y.data(), static_cast<std::size_t>(y.size())), p, o);
}

/// Y = Ŵ_b · X, one token per column of X (bitdial::gemm on the float front door).
inline void gemm(const plane_view& w, const Eigen::Ref<const Eigen::MatrixXf>& X, Eigen::Ref<Eigen::MatrixXf> Y,
                 const gemm_params& p = {}, const run_options& o = {}) {
  detail::check_gemm_shapes(w, X, Y, "eigen::gemm");
  bitdial::gemm(w, detail::tokens_of(X), detail::outputs_of(Y), p, o);
}

/// y = Ŵ_b · x with a-bit bit-serial activations (bitdial::bitserial_gemv).
inline void bitserial_gemv(const plane_view& w, const Eigen::Ref<const Eigen::VectorXf>& x,
                           Eigen::Ref<Eigen::VectorXf> y, const gemm_params& p = {}, const bitserial_options& b = {},
                           const run_options& o = {}) {
  detail::check_gemv_shapes(w, x.size(), y.size(), "eigen::bitserial_gemv");
  bitdial::bitserial_gemv(w, std::span<const float>(x.data(), static_cast<std::size_t>(x.size())),
                          std::span<float>(y.data(), static_cast<std::size_t>(y.size())), p, b, o);
}

/// Y = Ŵ_b · X with a-bit bit-serial activations, one token per column of X.
inline void bitserial_gemm(const plane_view& w, const Eigen::Ref<const Eigen::MatrixXf>& X,
                           Eigen::Ref<Eigen::MatrixXf> Y, const gemm_params& p = {}, const bitserial_options& b = {},
                           const run_options& o = {}) {
  detail::check_gemm_shapes(w, X, Y, "eigen::bitserial_gemm");
  bitdial::bitserial_gemm(w, detail::tokens_of(X), detail::outputs_of(Y), p, b, o);
}

/// The earlier argument order (options before params), kept for one release.
[[deprecated("pass gemm_params before bitserial_options")]] inline void bitserial_gemv(
    const plane_view& w, const Eigen::Ref<const Eigen::VectorXf>& x, Eigen::Ref<Eigen::VectorXf> y,
    const bitserial_options& b, const gemm_params& p = {}, const run_options& o = {}) {
  eigen::bitserial_gemv(w, x, y, p, b, o);
}

/// The earlier argument order (options before params), kept for one release.
[[deprecated("pass gemm_params before bitserial_options")]] inline void bitserial_gemm(
    const plane_view& w, const Eigen::Ref<const Eigen::MatrixXf>& X, Eigen::Ref<Eigen::MatrixXf> Y,
    const bitserial_options& b, const gemm_params& p = {}, const run_options& o = {}) {
  eigen::bitserial_gemm(w, X, Y, p, b, o);
}

}  // namespace bitdial::eigen
