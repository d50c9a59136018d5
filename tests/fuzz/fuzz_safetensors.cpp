// Fuzz target: the safetensors reader (format/safetensors.hpp). Bytes → safetensors_file::from_bytes
// → load every tensor. Either bitdial::error, or: every listed tensor lies inside the data buffer,
// and a loaded matrix has rows × cols = its shape and exactly that many floats.
#include <bitdial/format/safetensors.hpp>

#include "fuzz_input.hpp"

using namespace bitdial;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto f = safetensors_file::from_bytes(data, size);
    FUZZ_CHECK(f.data_start() + f.data_size() == size);
    for (const auto& t : f.tensors()) {
      try {
        const float_matrix m = f.load_matrix(t.name);
        FUZZ_CHECK(t.shape.size() == 2 && m.rows == t.shape[0] && m.cols == t.shape[1]);
        FUZZ_CHECK(m.data.size() == m.rows * m.cols);
      } catch (const error&) {
      }
    }
  } catch (const error&) {
  }
  return 0;
}
