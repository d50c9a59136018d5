// Fuzz target: the GGUF reader (format/gguf.hpp). Bytes → gguf_file::from_bytes → load every tensor
// as floats and import every Q8_0 tensor as an INT8 master (then pack it). Either bitdial::error, or:
// a loaded matrix has ne[1] × ne[0] floats, an imported master has ne[1] × ne[0] codes, one scale
// per 32-element block, and packing it either succeeds with the same codes or names a bad scale.
#include <bitdial/format/bit_planes.hpp>
#include <bitdial/format/gguf.hpp>

#include "fuzz_input.hpp"

using namespace bitdial;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto f = gguf_file::from_bytes(data, size);
    for (const auto& t : f.tensors()) {
      try {
        const float_matrix m = f.load_matrix(t.name);
        FUZZ_CHECK(t.ne.size() >= 2 && m.cols == t.ne[0] && m.rows == t.ne[1]);
        FUZZ_CHECK(m.data.size() == m.rows * m.cols);
      } catch (const error&) {
      }
      if (t.type != ggml_type::q8_0) continue;
      try {
        const auto q = f.import_q8_0(t.name);
        FUZZ_CHECK(q.cols == t.ne[0] && q.rows == t.ne[1] && q.codes.size() == q.rows * q.cols);
        FUZZ_CHECK(q.scales.size() == q.rows * q.cols / 32);
        try {
          const auto s = bit_plane_stack::pack(q);
          FUZZ_CHECK(s.unpack<std::int8_t>().codes == q.codes);
        } catch (const error& e) {
          FUZZ_CHECK(std::string(e.what()).find("scales[") != std::string::npos);
        }
      } catch (const error&) {
      }
    }
  } catch (const error&) {
  }
  return 0;
}
