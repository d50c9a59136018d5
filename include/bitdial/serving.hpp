// bitdial/serving.hpp — everything an inference engine needs to serve stored weights, and nothing
// that only quantizes them offline: stored stacks and their reader (format/serialize.hpp), views and
// the selector, the kernels and their front doors, per-token activation quantization. Checkpoint
// importers (format/gguf.hpp, npy.hpp, safetensors.hpp) turn float or GGUF tensors into masters
// and are included on their own where that happens. It compiles without Eigen's
// decompositions (the BitStack quantizer, quant/bitstack.hpp, is the offline-only header) and in a
// fraction of the umbrella's time (tests/compile_times.sh measures both; README "Compile cost").
//
// Quantizers (quant/) are not here except what a call itself runs (per-token activations and the
// minifloat formats the FP4 kernels consume); include bitdial/bitdial.hpp, or the quantizer's own
// header, where weights are produced.
#pragma once

#include "bitdial/core/bits.hpp"
#include "bitdial/core/cpu.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/core/parallel.hpp"
#include "bitdial/format/bit_planes.hpp"
#include "bitdial/format/serialize.hpp"
#include "bitdial/format/slice_stack.hpp"
#include "bitdial/kernels/bitserial.hpp"
#include "bitdial/kernels/gemm.hpp"
#include "bitdial/kernels/int8_gemm.hpp"
#include "bitdial/kernels/minifloat_gemm.hpp"
#include "bitdial/kernels/slices.hpp"
#include "bitdial/kernels/ternary.hpp"
#include "bitdial/quant/activation.hpp"
#include "bitdial/select/elastic_weight.hpp"
#include "bitdial/select/plane_view.hpp"
#include "bitdial/select/policy.hpp"
#include "bitdial/select/router.hpp"
#include "bitdial/select/slice_view.hpp"
