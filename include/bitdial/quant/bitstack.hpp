// bitdial/quant/bitstack.hpp — the BitStack quantizer (iterative sign × low-rank decomposition of
// the residual, quant/residual.hpp §2). Offline only: it is the one quantizer that runs Eigen's
// BDCSVD, so it has its own header and nothing on the serving side includes it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <Eigen/SVD>

#include "bitdial/quant/residual.hpp"

namespace bitdial {

/// BitStack decomposition: each slice is sign(R_j) ⊙ (rank-r approximation of |R_j|).
class bitstack {
 public:
  struct options {
    std::size_t rank = 1;
  };

  explicit bitstack(std::size_t slices) : bitstack(slices, options{}) {}
  bitstack(std::size_t slices, options o) : slices_(slices), opt_(o) {
    detail::check_requested_slices(slices_, "bitstack");
    BITDIAL_REQUIRE(opt_.rank >= 1, "bitstack: rank = 0: must be >= 1");
  }

  std::size_t slices() const noexcept { return slices_; }
  const options& opts() const noexcept { return opt_; }

  bitstack_matrix quantize(const_matrix w) const {
    detail::check_view(w, "bitstack::quantize", "weights");
    detail::check_finite(w, "bitstack::quantize", "weights");
    const std::size_t rows = w.rows, cols = w.cols, rank = opt_.rank;
    BITDIAL_REQUIRE(rank <= std::min(rows, cols), "bitstack::quantize: rank = ", rank,
                    ": exceeds min(M, K) = ", std::min(rows, cols), " for a ", rows, "x", cols, " matrix");
    bitstack_matrix out;
    out.rows_ = rows;
    out.cols_ = cols;
    out.rank_ = rank;
    out.words_per_row_ = (cols + 63) / 64;
    std::vector<double> resid = detail::dense_double(w);
    Eigen::MatrixXd magnitude(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    for (std::size_t j = 0; j < slices_; ++j) {
      std::vector<std::uint64_t> signs(rows * out.words_per_row_, 0);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
          const double x = resid[r * cols + c];
          if (x >= 0.0) signs[r * out.words_per_row_ + c / 64] |= std::uint64_t{1} << (c % 64);
          magnitude(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = std::fabs(x);
        }
      const Eigen::BDCSVD<Eigen::MatrixXd> svd(magnitude, Eigen::ComputeThinU | Eigen::ComputeThinV);
      std::vector<float> u(rank * rows), v(rank * cols), sigma(rank);
      for (std::size_t k = 0; k < rank; ++k) {
        const auto kk = static_cast<Eigen::Index>(k);
        const double s = svd.singularValues()(kk);
        const double root = std::sqrt(s);
        // Singular vectors are defined up to a common sign; pick the one with Σu >= 0 (for rank 1
        // of a non-negative matrix that makes both vectors non-negative, Perron–Frobenius).
        const double flip = svd.matrixU().col(kk).sum() < 0.0 ? -1.0 : 1.0;
        for (std::size_t r = 0; r < rows; ++r)
          u[k * rows + r] = static_cast<float>(flip * root * svd.matrixU()(static_cast<Eigen::Index>(r), kk));
        for (std::size_t c = 0; c < cols; ++c)
          v[k * cols + c] = static_cast<float>(flip * root * svd.matrixV()(static_cast<Eigen::Index>(c), kk));
        sigma[k] = static_cast<float>(s);
      }
      out.signs_.push_back(std::move(signs));
      out.u_.push_back(std::move(u));
      out.v_.push_back(std::move(v));
      out.sigma_.push_back(std::move(sigma));
      // Residual against the stored (float) factors, so later slices correct their rounding too.
      std::vector<double> slice(rows * cols, 0.0);
      out.add_slice(j, slice);
      for (std::size_t i = 0; i < resid.size(); ++i) resid[i] -= slice[i];
    }
    return out;
  }

 private:
  std::size_t slices_;
  options opt_;
};

static_assert(slice_stack<quantized_slice_stack>);
static_assert(slice_stack<bitstack_matrix>);

}  // namespace bitdial
