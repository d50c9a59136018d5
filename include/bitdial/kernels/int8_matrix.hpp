// bitdial/kernels/int8_matrix.hpp — the layout of the plain int8 × int8 baseline ("int8_dot"): dense
// int8 weights with one scale per row, the yardstick an 8-bit plane view must match (front door:
// kernels/int8_gemm.hpp; kernels: x86/int8_vnni.hpp, arm/int8_neon.hpp).
//
//   y(n, r) = sx(n) · fl(s_r · float(Σ_c w(r, c) · xq(n, c)))   (+ bias_r)
//
// Layout (the byte order the AVX-512 plane kernel's unpack step produces, so one vpdpbusd
// micro-kernel serves both):
//   [row block of 32][K chunk of 16][half 0..1][K-group 0..3][16 rows × 4 bytes]
// dword r of (half h, group g) holds w(32·blk + 16·h + r, 16·chunk + 4g + 0..3) + 128 as u8
// (vpdpbusd multiplies u8 by s8, so weights are stored biased; an SDOT kernel flips the top bit back).
// Rows are zero-padded to 32 and K to 16 (biased zeros).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bitdial/core/aligned_buffer.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/rounding.hpp"

namespace bitdial {

class int8_matrix {
 public:
  static constexpr std::size_t rows_per_block = 32, k_per_chunk = 16, chunk_bytes = 512;

  /// Packs a rows × cols int8 matrix (row stride `stride`) with one scale per row.
  static int8_matrix pack(const std::int8_t* w, std::size_t rows, std::size_t cols, std::size_t stride,
                          const float* row_scales) {
    constexpr const char* where = "int8_matrix::pack";
    BITDIAL_REQUIRE(rows > 0 && cols > 0, where, ": shape = ", rows, "x", cols, ": must not be empty");
    BITDIAL_REQUIRE(w != nullptr && row_scales != nullptr, where, ": null weights or scales");
    BITDIAL_REQUIRE(stride >= cols, where, ": stride = ", stride, ": less than cols = ", cols);
    int8_matrix m;
    m.rows_ = rows;
    m.cols_ = cols;
    m.k_tiles_ = (cols + k_per_chunk - 1) / k_per_chunk;
    m.blocks_ = (rows + rows_per_block - 1) / rows_per_block;
    m.scales_.assign(row_scales, row_scales + rows);
    m.data_ = aligned_buffer(bitdial::detail::checked_mul(m.blocks_ * m.k_tiles_, chunk_bytes, where, "packed bytes"));
    auto* out = reinterpret_cast<std::uint8_t*>(m.data_.data());
    std::memset(out, 0x80, m.data_.size());  // biased zero
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t blk = r / rows_per_block, rr = r % rows_per_block, h = rr / 16, lane = rr % 16;
      for (std::size_t c = 0; c < cols; ++c) {
        const std::size_t t = c / k_per_chunk, g = (c % k_per_chunk) / 4, e = c % 4;
        out[(blk * m.k_tiles_ + t) * chunk_bytes + (4 * h + g) * 64 + 4 * lane + e] =
            static_cast<std::uint8_t>(static_cast<int>(w[r * stride + c]) + 128);
      }
    }
    return m;
  }

  /// The float epilogue (the test states it once, here): sx · fl(s_r · float(acc)).
  static float finish(std::int64_t acc, float row_scale, float token_scale) noexcept {
    return token_scale * (row_scale * static_cast<float>(acc));
  }
  /// finish, then + bias_r when there is a bias (two roundings: never fused into a multiply-add).
  static float output(std::int64_t acc, float row_scale, float token_scale, const float* bias, std::size_t r) noexcept {
    float v = finish(acc, row_scale, token_scale);
    BITDIAL_ROUNDED(v);
    return bias ? bias[r] + v : v;
  }

  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  /// Weight (r, c) read back from the packed bytes (what reference kernels multiply).
  std::int8_t code(std::size_t r, std::size_t c) const noexcept {
    const std::size_t blk = r / rows_per_block, rr = r % rows_per_block, h = rr / 16, lane = rr % 16;
    const std::size_t t = c / k_per_chunk, g = (c % k_per_chunk) / 4, e = c % 4;
    const auto* in = reinterpret_cast<const std::uint8_t*>(data_.data());
    return static_cast<std::int8_t>(int(in[(blk * k_tiles_ + t) * chunk_bytes + (4 * h + g) * 64 + 4 * lane + e]) -
                                    128);
  }
  std::size_t k_tiles() const noexcept { return k_tiles_; }
  std::size_t bytes() const noexcept { return data_.size(); }
  const float* scales() const noexcept { return scales_.data(); }
  const std::uint8_t* block(std::size_t blk) const noexcept {
    return reinterpret_cast<const std::uint8_t*>(data_.data()) + blk * k_tiles_ * chunk_bytes;
  }

 private:
  std::size_t rows_ = 0, cols_ = 0, k_tiles_ = 0, blocks_ = 0;
  std::vector<float> scales_;
  aligned_buffer data_;
};

}  // namespace bitdial
