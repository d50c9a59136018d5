// bitdial/bitdial.hpp — umbrella header: every public part of bitdial except the opt-in ones,
// bitdial/eigen.hpp (Eigen interop), bitdial/quant/bitstack.hpp (the BitStack quantizer: Eigen's
// SVD, the one expensive header to compile), bitdial/format/safetensors.hpp and
// bitdial/format/checkpoint_import.hpp (need nlohmann-json, target bitdial::io). Code that only
// serves stored weights includes bitdial/serving.hpp instead.
//
// Data flow (one direction):
//   float weights ─quant/─▶ codes + scales ─format/─▶ stored stack ─select/─▶ view(b) ─kernels/─▶ float out
#pragma once

#include "bitdial/core/bits.hpp"
#include "bitdial/core/cpu.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/parallel.hpp"
#include "bitdial/core/reconstruction.hpp"
#include "bitdial/core/rounding.hpp"
#include "bitdial/format/bit_planes.hpp"
#include "bitdial/format/ggml_quants.hpp"
#include "bitdial/format/gguf.hpp"
#include "bitdial/format/master.hpp"
#include "bitdial/format/npy.hpp"
#include "bitdial/format/serialize.hpp"
#include "bitdial/format/slice_stack.hpp"
#include "bitdial/kernels/bitserial.hpp"
#include "bitdial/kernels/gemm.hpp"
#include "bitdial/kernels/int8_gemm.hpp"
#include "bitdial/kernels/minifloat_gemm.hpp"
#include "bitdial/kernels/slices.hpp"
#include "bitdial/kernels/ternary.hpp"
#include "bitdial/quant/activation.hpp"
#include "bitdial/quant/bitmod.hpp"
#include "bitdial/quant/calibrate.hpp"
#include "bitdial/quant/double_rounding.hpp"
#include "bitdial/quant/metrics.hpp"
#include "bitdial/quant/minifloat.hpp"
#include "bitdial/quant/mx.hpp"
#include "bitdial/quant/nvfp4.hpp"
#include "bitdial/quant/requant.hpp"
#include "bitdial/quant/residual.hpp"
#include "bitdial/quant/ternary.hpp"
#include "bitdial/quant/truncation.hpp"
#include "bitdial/quant/uniform.hpp"
#include "bitdial/analysis/cross_width.hpp"
#include "bitdial/select/elastic_weight.hpp"
#include "bitdial/select/fit.hpp"
#include "bitdial/select/plane_view.hpp"
#include "bitdial/select/policy.hpp"
#include "bitdial/select/router.hpp"
#include "bitdial/select/slice_view.hpp"
