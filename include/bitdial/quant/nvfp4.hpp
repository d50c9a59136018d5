// bitdial/quant/nvfp4.hpp — NVIDIA NVFP4: E2M1 elements in blocks of 16 with an E4M3 block scale and
// an optional fp32 per-tensor scale (SEMANTICS.md §6).
//
// Matches the published recipe (NVIDIA TensorRT Model Optimizer NVFP4QTensor; "Pretraining Large
// Language Models with NVFP4", NVIDIA 2025), with the corner cases pinned down:
//   s_tensor = amax_tensor / (6 · 448)        fp32 (float division), when the tensor scale is on;
//              1 when it is off, and 1 for an all-zero tensor (the reference would divide by 0).
//              It is at least FLT_MIN = 2^-126, so d below never underflows to 0 for tiny tensors.
//   s_block  = E4M3_RNE( clamp(amax_block / (6 · s_tensor), lo, 448) )
//              The quotient is computed in double and rounded once to E4M3 (ties to even); going
//              through float first cannot change the result (24 >= 2·4 + 2 bits), but Model
//              Optimizer's fp32 division may differ when the quotient is within one float ulp of an
//              E4M3 tie. lo = 2^-6 (E4M3's smallest normal; the default, as SEMANTICS.md) or
//              lo = 2^-9 (smallest subnormal: keeps Model Optimizer's subnormal block scales but,
//              unlike it, never lets a non-zero block's scale round to 0). The upper clamp keeps
//              the scale finite when the tensor scale is off and amax_block > 2688 (its elements
//              then saturate at ±6·448).
//              All-zero block: s_block = 1.0 (E4M3 code 0x38), as Model Optimizer stores it.
//   d        = fp32(s_block · s_tensor)       the effective block scale (= s_block without s_tensor)
//   element  = E2M1_RNE_sat(fp32(x / d))      ties to even, saturating at ±6
//   x̂        = fp32(decode(element) · d)
// K must be a multiple of 16 (rejected otherwise). NaN/Inf are rejected with the element's block
// index. Codes are packed two per byte (even element in the low nibble, packed_codes in mx.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/quant/minifloat.hpp"
#include "bitdial/quant/mx.hpp"

namespace bitdial {

inline constexpr std::size_t nvfp4_block_size = 16;

/// Smallest block scale (before the tensor scale) a non-zero block may get.
enum class nvfp4_scale_floor : std::uint8_t { min_normal /* 2^-6 */, min_subnormal /* 2^-9 */ };

struct nvfp4_matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  packed_codes codes;                // E2M1 codes, rows * cols, two per byte
  std::vector<std::uint8_t> scales;  // E4M3 codes, rows * (cols / 16)
  float tensor_scale = 1.0f;

  std::size_t blocks_per_row() const noexcept { return cols / nvfp4_block_size; }
  std::uint8_t code(std::size_t r, std::size_t c) const noexcept { return codes.get(r * cols + c); }
  float block_scale(std::size_t r, std::size_t block) const noexcept {
    return e4m3.decode(scales[r * blocks_per_row() + block]);
  }
  /// d = fp32(s_block · s_tensor).
  float effective_scale(std::size_t r, std::size_t block) const noexcept {
    return block_scale(r, block) * tensor_scale;
  }
  float dequantize(std::size_t r, std::size_t c) const noexcept {
    return e2m1.decode(code(r, c)) * effective_scale(r, c / nvfp4_block_size);
  }
  std::vector<float> dequantize() const {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = dequantize(r, c);
    return out;
  }
};

struct nvfp4_options {
  bool tensor_scale = true;
  nvfp4_scale_floor scale_floor = nvfp4_scale_floor::min_normal;
};

class nvfp4_quantizer {
 public:
  using options = nvfp4_options;

  explicit nvfp4_quantizer(options o = {}) : opt_(o) {}
  const options& opts() const noexcept { return opt_; }

  /// fp32 per-tensor scale max(amax / (6 · 448), 2^-126); 1 for amax == 0.
  static float tensor_scale_for(float amax_tensor) noexcept {
    if (!(amax_tensor > 0.0f)) return 1.0f;
    return std::max(amax_tensor / (6.0f * 448.0f), std::numeric_limits<float>::min());
  }

  /// E4M3 code of the block scale of a block with largest magnitude amax_block.
  std::uint8_t block_scale_code(float amax_block, float s_tensor) const noexcept {
    if (amax_block == 0.0f) return e4m3.encode(1.0f);
    const double lo = opt_.scale_floor == nvfp4_scale_floor::min_normal ? e4m3.min_normal() : e4m3.min_positive();
    const double q = static_cast<double>(amax_block) / (6.0 * static_cast<double>(s_tensor));
    return e4m3.encode(static_cast<float>(std::clamp(q, lo, e4m3.max_finite())));
  }

  nvfp4_matrix quantize(const_matrix w) const {
    detail::check_block_input(w, nvfp4_block_size, "nvfp4_quantizer::quantize");
    nvfp4_matrix out;
    out.rows = w.rows;
    out.cols = w.cols;
    out.codes = packed_codes(4, w.rows * w.cols);
    out.scales.resize(w.rows * out.blocks_per_row());
    float amax_t = 0.0f;
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t c = 0; c < w.cols; ++c) amax_t = std::max(amax_t, std::fabs(w(r, c)));
    out.tensor_scale = opt_.tensor_scale ? tensor_scale_for(amax_t) : 1.0f;
    for (std::size_t r = 0; r < w.rows; ++r)
      for (std::size_t b = 0; b < out.blocks_per_row(); ++b) {
        const std::size_t c0 = b * nvfp4_block_size;
        float amax = 0.0f;
        for (std::size_t c = c0; c < c0 + nvfp4_block_size; ++c) amax = std::max(amax, std::fabs(w(r, c)));
        out.scales[r * out.blocks_per_row() + b] = block_scale_code(amax, out.tensor_scale);
        const float d = out.effective_scale(r, b);
        for (std::size_t c = c0; c < c0 + nvfp4_block_size; ++c)
          out.codes.set(r * w.cols + c, e2m1.encode(w(r, c) / d));
      }
    return out;
  }

 private:
  options opt_;
};

}  // namespace bitdial
