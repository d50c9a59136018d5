// Fuzz target: the .npy reader (format/npy.hpp). Bytes → parse_npy. Either bitdial::error, or the
// array has rows × cols floats (1 × K for a 1-D array) and writing it back (npy_bytes, same dtype
// and rank) and reading that again gives the same floats, bit for bit (NaN as NaN: narrowing a
// float16 NaN back to half quiets it).
#include <bitdial/format/npy.hpp>

#include <cmath>
#include <cstring>

#include "fuzz_input.hpp"

using namespace bitdial;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const npy_array a = parse_npy(data, size);
    FUZZ_CHECK(a.matrix.data.size() == a.matrix.rows * a.matrix.cols);
    FUZZ_CHECK(a.dims == 2 || a.matrix.rows == 1);
    const auto bytes = npy_bytes(a.matrix, a.dtype, a.dims == 1);
    const npy_array b = parse_npy(bytes.data(), bytes.size());
    FUZZ_CHECK(b.matrix.rows == a.matrix.rows && b.matrix.cols == a.matrix.cols && b.dims == a.dims);
    for (std::size_t i = 0; i < a.matrix.data.size(); ++i) {
      const float x = a.matrix.data[i], y = b.matrix.data[i];
      FUZZ_CHECK((std::isnan(x) && std::isnan(y)) || std::memcmp(&x, &y, sizeof x) == 0);
    }
  } catch (const error&) {
  }
  return 0;
}
