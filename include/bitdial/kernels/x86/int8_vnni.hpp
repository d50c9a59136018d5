// bitdial/kernels/x86/int8_vnni.hpp — the plain int8 × int8 VNNI GEMV/GEMM baseline ("int8_dot"):
// dense int8 weights with one scale per row, the yardstick the 8-bit plane view must match.
//
//   y(n, r) = sx(n) · (s_r · float(Σ_c w(r, c) · xq(n, c)))   (+ bias_r)
//
// Layout `int8_matrix` (its own packing, the same byte order the plane kernel's unpack step
// produces, so one vpdpbusd micro-kernel serves both):
//   [row block of 32][K chunk of 16][half 0..1][K-group 0..3][16 rows × 4 bytes]
// dword r of (half h, group g) holds w(32·blk + 16·h + r, 16·chunk + 4g + 0..3) + 128 as u8
// (vpdpbusd multiplies u8 by s8, so weights are stored biased and the sum corrected by
// −128 · Σ_c xq(n, c)). Rows are zero-padded to 32 and K to 16; padded activations are zero.
// Exactness: int32 lanes, flushed to int64 at least every 4096 chunks (4096 · 4 · 4 · 255 · 128
// < 2^31, see plane_avx512.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bitdial/core/aligned_buffer.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/kernels/activations.hpp"
#include "bitdial/kernels/x86/plane_avx512.hpp"

namespace bitdial::x86 {

class int8_matrix {
 public:
  static constexpr std::size_t rows_per_block = 32, k_per_chunk = 16, chunk_bytes = 512;

  /// Packs a rows × cols int8 matrix (row stride `stride`) with one scale per row.
  static int8_matrix pack(const std::int8_t* w, std::size_t rows, std::size_t cols, std::size_t stride,
                          const float* row_scales) {
    constexpr const char* where = "x86::int8_matrix::pack";
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

  /// The float epilogue (the test states it once, here).
  static float finish(std::int64_t acc, float row_scale, float token_scale) noexcept {
    return token_scale * (row_scale * static_cast<float>(acc));
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

/// Zero-padded activations and Σx per token, built once per call and shared by threads.
struct int8_gemm_plan {
  const int8_matrix* w = nullptr;
  token_batch x;
  aligned_buffer xpad;             // tokens × k_tiles·16
  std::vector<std::int64_t> sumx;  // tokens
};

inline int8_gemm_plan prepare_int8_gemm(const int8_matrix& w, const token_batch& x) {
  constexpr const char* where = "x86::prepare_int8_gemm";
  BITDIAL_REQUIRE(plane_avx512_available(), where, ": cpu = no AVX-512 VNNI: this kernel cannot run here");
  BITDIAL_REQUIRE(x.tokens > 0 && x.codes && x.scales, where, ": activations: empty or null");
  BITDIAL_REQUIRE(x.cols == w.cols(), where, ": activations.cols = ", x.cols, ": must equal K = ", w.cols());
  BITDIAL_REQUIRE(x.stride >= x.cols, where, ": activations.stride = ", x.stride, ": less than cols = ", x.cols);
  int8_gemm_plan p;
  p.w = &w;
  p.x = x;
  const std::size_t kp = w.k_tiles() * 16;
  p.xpad = aligned_buffer(bitdial::detail::checked_mul(x.tokens, kp, where, "padded activations"));
  p.sumx.resize(x.tokens);
  for (std::size_t n = 0; n < x.tokens; ++n) {
    std::memcpy(p.xpad.data() + n * kp, x.token(n), x.cols);
#if BITDIAL_X86_SIMD
    p.sumx[n] = detail::sum_int8(x.token(n), x.cols);
#endif
  }
  return p;
}

/// y(n, r) for rows [row_begin, row_end) (disjoint ranges may run on different threads).
inline void run_int8_gemm(const int8_gemm_plan& p, matrix_view<float> y, std::size_t row_begin, std::size_t row_end,
                          const float* bias = nullptr) {
  constexpr const char* where = "x86::run_int8_gemm";
  const int8_matrix& w = *p.w;
  BITDIAL_REQUIRE(row_begin < row_end && row_end <= w.rows(), where, ": rows = [", row_begin, ", ", row_end,
                  "): must be a non-empty range inside [0, ", w.rows(), ")");
  BITDIAL_REQUIRE(y.data && y.rows == p.x.tokens && y.cols == w.rows(), where, ": output shape = ", y.rows, "x", y.cols,
                  ": expected ", p.x.tokens, "x", w.rows());
#if BITDIAL_X86_SIMD
  constexpr std::size_t RB = int8_matrix::rows_per_block, TM = detail::vnni_max_tokens;
  const std::size_t kt = w.k_tiles(), kp = kt * 16;
  std::int64_t acc[TM * RB];
  std::int32_t seg[TM * RB];
  for (std::size_t blk = row_begin / RB; blk <= (row_end - 1) / RB; ++blk) {
    for (std::size_t n0 = 0; n0 < p.x.tokens; n0 += TM) {
      const std::size_t T = std::min(TM, p.x.tokens - n0);
      const std::int8_t* xs[TM];
      for (std::size_t j = 0; j < T; ++j) xs[j] = reinterpret_cast<const std::int8_t*>(p.xpad.data()) + (n0 + j) * kp;
      const detail::vnni_fn fn = detail::pick_vnni(T);
      std::fill(acc, acc + T * RB, 0);
      for (std::size_t c = 0; c < kt; c += detail::max_chunks_per_flush) {
        const std::size_t nc = std::min(detail::max_chunks_per_flush, kt - c);
        fn(w.block(blk), c, nc, xs, seg);
        for (std::size_t i = 0; i < T * RB; ++i) acc[i] += seg[i];
      }
      const std::size_t r_lo = std::max(row_begin, blk * RB), r_hi = std::min(row_end, (blk + 1) * RB);
      for (std::size_t j = 0; j < T; ++j)
        for (std::size_t r = r_lo; r < r_hi; ++r) {
          const std::int64_t a = acc[j * RB + (r - blk * RB)] - 128 * p.sumx[n0 + j];
          const float v = int8_matrix::finish(a, w.scales()[r], p.x.scales[n0 + j]);
          y(n0 + j, r) = bias ? bias[r] + v : v;
        }
    }
  }
#else
  (void)bias;
  BITDIAL_REQUIRE(false, where, ": x86 kernels are compiled out in this build");
#endif
}

/// One-thread convenience: prepare + run.
inline void int8_gemm(const int8_matrix& w, const token_batch& x, matrix_view<float> y, std::size_t row_begin,
                      std::size_t row_end, const float* bias = nullptr) {
  run_int8_gemm(prepare_int8_gemm(w, x), y, row_begin, row_end, bias);
}

}  // namespace bitdial::x86
