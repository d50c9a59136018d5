// bitdial/kernels/activations.hpp — the int8 activation batch every integer kernel consumes.
//
// N tokens × K, row-major int8 codes with one scale per token: x(n, c) ≈ scale[n] · q(n, c).
// Produced by the per-token quantizers of quant/activation.hpp or passed in pre-quantized.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bitdial {

struct token_batch {
  const std::int8_t* codes = nullptr;
  const float* scales = nullptr;  // one per token
  std::size_t tokens = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;  // elements between tokens; >= cols

  const std::int8_t* token(std::size_t n) const noexcept { return codes + n * stride; }
};

/// What a kernel call may be asked besides the product itself.
struct gemm_params {
  const float* bias = nullptr;                         // one value per row OF THE VIEW (a shard passes the
                                                       // bias of its own rows: bias[0] is its first row), or null
  std::size_t row_begin = 0;                           // compute only output rows [row_begin, row_end) of the view,
  std::size_t row_end = static_cast<std::size_t>(-1);  // so an engine can split rows over its threads
};

}  // namespace bitdial
