// Fuzz target: integer checkpoint layers in safetensors (format/checkpoint_import.hpp). Bytes →
// safetensors_file::from_bytes → find_checkpoint_layers → import every layer in its layout. Either
// bitdial::error, or: the master has rows × cols codes in its range, one scale per group, and its
// stack's full-width view dequantizes to the master's values bit for bit.
#include <bitdial/format/checkpoint_import.hpp>
#include <bitdial/select/plane_view.hpp>

#include <cstring>

#include "fuzz_input.hpp"

using namespace bitdial;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto f = safetensors_file::from_bytes(data, size);
    for (const auto& l : find_checkpoint_layers(f)) {
      try {
        const imported_master m = import_checkpoint_layer(f, l.prefix, l.layout);
        FUZZ_CHECK(m.rows() > 0 && m.cols() > 0 && m.bits() >= 2 && m.bits() <= 8);
        try {
          const bit_plane_stack st = m.pack();
          const plane_view v = view(st, m.bits());
          for (std::size_t r = 0; r < m.rows(); ++r)
            for (std::size_t c = 0; c < m.cols(); ++c) {
              FUZZ_CHECK(st.code(r, c) == m.code(r, c));
              const float a = v.dequantize(r, c), b = m.dequantize(r, c);
              FUZZ_CHECK(std::memcmp(&a, &b, 4) == 0);
            }
        } catch (const error& e) {
          FUZZ_CHECK(std::strstr(e.what(), "overflows float") != nullptr);
        }
      } catch (const error&) {
      }
    }
  } catch (const error&) {
  }
  return 0;
}
