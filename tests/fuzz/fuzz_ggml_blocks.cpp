// Fuzz target: the ggml block decoders (format/ggml_quants.hpp). Bytes → a type (one of the ten
// importable ones), a shape (1..4 rows of 1..3 blocks) and the rest as block bytes, whatever their
// length → decode_ggml_master. Either bitdial::error (wrong byte count, a non-finite scale or min),
// or: every code lies in the master's range, the stack packs the same codes (or names a scale whose
// served values would overflow), and its full-width view dequantizes to the master's values bit
// for bit.
#include <bitdial/format/ggml_quants.hpp>
#include <bitdial/select/plane_view.hpp>

#include <cstring>

#include "fuzz_input.hpp"

using namespace bitdial;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr ggml_type types[] = {ggml_type::q4_0, ggml_type::q4_1, ggml_type::q5_0, ggml_type::q5_1,
                                        ggml_type::q8_0, ggml_type::q2_k, ggml_type::q3_k, ggml_type::q4_k,
                                        ggml_type::q5_k, ggml_type::q6_k};
  fuzz::input in(data, size);
  const ggml_type t = types[in.range(0, 9)];
  const ggml_type_info* info = ggml_info(t);
  const std::size_t rows = in.range(1, 4), blocks = in.range(1, 3);
  const std::size_t cols = blocks * info->block;
  try {
    const imported_master m = decode_ggml_master(t, in.rest(), in.remaining(), rows, cols);
    FUZZ_CHECK(in.remaining() == rows * blocks * info->bytes);
    FUZZ_CHECK(m.rows() == rows && m.cols() == cols && m.bits() == info->master_bits);
    FUZZ_CHECK(m.is_signed() == info->is_signed && m.has_offsets() == info->offsets);
    const int lo = info->is_signed ? -(1 << (info->master_bits - 1)) : 0;
    const int hi = info->is_signed ? (1 << (info->master_bits - 1)) - 1 : (1 << info->master_bits) - 1;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) FUZZ_CHECK(m.code(r, c) >= lo && m.code(r, c) <= hi);
    try {
      const bit_plane_stack st = m.pack();
      const plane_view v = view(st, info->master_bits);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
          FUZZ_CHECK(st.code(r, c) == m.code(r, c));
          const float a = v.dequantize(r, c), b = m.dequantize(r, c);
          FUZZ_CHECK(std::memcmp(&a, &b, 4) == 0);
        }
      for (int b = 1; b < info->master_bits; ++b) {  // every narrower view is finite
        const plane_view vb = view(st, b);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < cols; ++c) FUZZ_CHECK(std::isfinite(vb.dequantize(r, c)));
      }
    } catch (const error& e) {
      FUZZ_CHECK(std::strstr(e.what(), "overflows float") != nullptr);
    }
  } catch (const error&) {
  }
  return 0;
}
