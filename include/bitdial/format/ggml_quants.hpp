// bitdial/format/ggml_quants.hpp — ggml's tensor types and block layouts, and their decoding into
// bitdial masters: integer codes, one scale per group and (for the types that store a minimum) one
// float offset per group, so that the master's full-width value is exactly ggml's dequantized value.
//
// Facts from ggml (ggml-common.h block_* structs, ggml-quants.c dequantize_row_*; gguf-py quants.py
// computes the same in numpy). All multi-byte fields little-endian; fp16 = IEEE binary16, widened to
// float exactly; QK = 32 elements per legacy block, QK_K = 256 per k-quant super-block.
//
//   type  no. bytes  layout                                  element j                    master
//   Q4_0   2   18   d, qs[16]                                d·(nib − 8)                  s4, g32
//   Q4_1   3   20   d, m, qs[16]                             d·nib + m                    u4 + μ, g32
//   Q5_0   6   22   d, qh[4], qs[16]                         d·(nib | h<<4 − 16)          s5, g32
//   Q5_1   7   24   d, m, qh[4], qs[16]                      d·(nib | h<<4) + m           u5 + μ, g32
//   Q8_0   8   34   d, qs[32] (int8)                         d·q                          s8, g32
//   Q2_K  10   84   scales[16], qs[64], d, dmin              (d·sc)·q2 − dmin·mn          u2 + μ, g16
//   Q3_K  11  110   hmask[32], qs[64], scales[12], d         (d·(sc − 32))·(q2 | h<<2 − 4) s3, g16
//   Q4_K  12  144   d, dmin, scales[12], qs[128]             (d·sc)·nib − dmin·mn         u4 + μ, g32
//   Q5_K  13  176   d, dmin, scales[12], qh[32], qs[128]     (d·sc)·(nib | h<<4) − dmin·mn u5 + μ, g32
//   Q6_K  14  210   ql[128], qh[64], scales[16] (int8), d    (d·sc)·(q4 | h2<<4 − 32)     s6, g16
//
// Legacy blocks (Q4_0 … Q5_1): element j < 16 is the low nibble of qs[j], element j ≥ 16 the high
// nibble of qs[j − 16]; the fifth bit of element j is bit j of the u32 qh. Q2_K: the super-block is
// two halves of 128; in half h, bit pair p (p = 0..3, bits 2p..2p+1) of qs[32h + l] is element
// 128h + 32p + l (l = 0..31), and element e uses scales[e / 16] (low nibble: scale, high: min).
// Q3_K: the same order for the low two bits; the third bit of element e = 128h + 32p + l is bit
// 4h + p of hmask[l], and a clear bit means −4; its sixteen 6-bit scales are the low nibbles of
// bytes 0..7 (scales 0..7) and the high nibbles of bytes 0..7 (scales 8..15), each with two high
// bits taken from bytes 8..11: scale i takes bits 2(i / 4)..2(i / 4)+1 of byte 8 + i % 4.
// Q4_K / Q5_K: eight sub-blocks of 32; sub-block 2c (c = 0..3) is the low nibbles of qs[32c ..
// 32c + 31], sub-block 2c + 1 their high nibbles; Q5_K's fifth bit of element 64c + l is bit 2c of
// qh[l], of element 64c + 32 + l bit 2c + 1. Their 6-bit scale and min of sub-block j: for j < 4,
// scale = scales[j] & 63, min = scales[j + 4] & 63; for j ≥ 4, scale = (scales[j + 4] & 15) |
// (scales[j − 4] >> 6) << 4, min = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4.
// Q6_K: two halves of 128; in half h, with ql = ql[64h..], qh = qh[32h..] and l = 0..31, element
// 128h + l is the low nibble of ql[l] with bits 0..1 of qh[l] on top, 128h + 32 + l the low nibble of
// ql[l + 32] with bits 2..3, 128h + 64 + l the high nibble of ql[l] with bits 4..5, 128h + 96 + l
// the high nibble of ql[l + 32] with bits 6..7; element e uses scales[e / 16].
//
// Float order, as ggml computes it: k-quant scales and mins are one float product each
// (d·sc, dmin·mn), the element is that scale times the integer code rounded to float, and the min
// is then subtracted (value = fl(fl(s·q) − m)). In bitdial's form s·(q − z) + μ: s = fl(d·sc), μ =
// −fl(dmin·mn) (IEEE subtraction of m is addition of −m, exactly), so the master's full-width value is
// ggml's value bit for bit. Legacy `_1` types add m (μ = m). The signed types store the code minus
// its bias (nib − 8, q5 − 16, q3 − 4, q6 − 32) as a two's-complement master; d·(nib − 8) is the same
// float product. Scales may be negative (ggml's quantizers choose the sign of d).
//
// Other ggml types are named and sized (so a file can be listed and its extent checked) but not
// decoded: the IQ* types index codebooks (a grid, not integer codes), TQ1_0 / TQ2_0 are ternary
// packings, Q8_1 / Q8_K are activation formats.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <string>
#include <vector>

#include "bitdial/core/matrix.hpp"
#include "bitdial/format/master.hpp"
#include "bitdial/format/tensor_file.hpp"

namespace bitdial {

/// ggml tensor types (ggml.h numbering; the enum holds any number a file carries).
enum class ggml_type : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  tq1_0 = 34,
  tq2_0 = 35,
};

/// How a ggml type is stored and what bitdial makes of it.
struct ggml_type_info {
  ggml_type type;
  const char* name;
  std::uint32_t block;  // elements per block (1 for plain element types)
  std::uint32_t bytes;  // bytes per block
  int master_bits;      // 0: not imported as a master
  bool is_signed;       // the master's code kind
  std::uint32_t group;  // elements per scale (and offset) group
  bool offsets;         // the master carries a float offset per group
  bool is_float;        // F32 / F16 / BF16 / F64: loaded as floats
};

inline constexpr ggml_type_info ggml_types[] = {
    {ggml_type::f32, "F32", 1, 4, 0, false, 0, false, true},
    {ggml_type::f16, "F16", 1, 2, 0, false, 0, false, true},
    {ggml_type::q4_0, "Q4_0", 32, 18, 4, true, 32, false, false},
    {ggml_type::q4_1, "Q4_1", 32, 20, 4, false, 32, true, false},
    {ggml_type::q5_0, "Q5_0", 32, 22, 5, true, 32, false, false},
    {ggml_type::q5_1, "Q5_1", 32, 24, 5, false, 32, true, false},
    {ggml_type::q8_0, "Q8_0", 32, 34, 8, true, 32, false, false},
    {ggml_type::q8_1, "Q8_1", 32, 36, 0, false, 0, false, false},
    {ggml_type::q2_k, "Q2_K", 256, 84, 2, false, 16, true, false},
    {ggml_type::q3_k, "Q3_K", 256, 110, 3, true, 16, false, false},
    {ggml_type::q4_k, "Q4_K", 256, 144, 4, false, 32, true, false},
    {ggml_type::q5_k, "Q5_K", 256, 176, 5, false, 32, true, false},
    {ggml_type::q6_k, "Q6_K", 256, 210, 6, true, 16, false, false},
    {ggml_type::q8_k, "Q8_K", 256, 292, 0, false, 0, false, false},
    {ggml_type::iq2_xxs, "IQ2_XXS", 256, 66, 0, false, 0, false, false},
    {ggml_type::iq2_xs, "IQ2_XS", 256, 74, 0, false, 0, false, false},
    {ggml_type::iq3_xxs, "IQ3_XXS", 256, 98, 0, false, 0, false, false},
    {ggml_type::iq1_s, "IQ1_S", 256, 50, 0, false, 0, false, false},
    {ggml_type::iq4_nl, "IQ4_NL", 32, 18, 0, false, 0, false, false},
    {ggml_type::iq3_s, "IQ3_S", 256, 110, 0, false, 0, false, false},
    {ggml_type::iq2_s, "IQ2_S", 256, 82, 0, false, 0, false, false},
    {ggml_type::iq4_xs, "IQ4_XS", 256, 136, 0, false, 0, false, false},
    {ggml_type::i8, "I8", 1, 1, 0, false, 0, false, false},
    {ggml_type::i16, "I16", 1, 2, 0, false, 0, false, false},
    {ggml_type::i32, "I32", 1, 4, 0, false, 0, false, false},
    {ggml_type::i64, "I64", 1, 8, 0, false, 0, false, false},
    {ggml_type::f64, "F64", 1, 8, 0, false, 0, false, false},
    {ggml_type::iq1_m, "IQ1_M", 256, 56, 0, false, 0, false, false},
    {ggml_type::bf16, "BF16", 1, 2, 0, false, 0, false, true},
    {ggml_type::tq1_0, "TQ1_0", 256, 54, 0, false, 0, false, false},
    {ggml_type::tq2_0, "TQ2_0", 256, 66, 0, false, 0, false, false},
};

/// The table entry of a type, or null for a number ggml does not define.
constexpr const ggml_type_info* ggml_info(ggml_type t) noexcept {
  for (const auto& i : ggml_types)
    if (i.type == t) return &i;
  return nullptr;
}

inline const char* to_string(ggml_type t) noexcept {
  const ggml_type_info* i = ggml_info(t);
  return i ? i->name : "unknown";
}

/// Why a type does not import as a master (empty when it does).
inline const char* ggml_import_limit(ggml_type t) noexcept {
  const ggml_type_info* i = ggml_info(t);
  if (i == nullptr) return "unknown ggml type number";
  if (i->master_bits > 0) return "";
  if (i->is_float) return "float type: quantized from its values";
  switch (t) {
    case ggml_type::iq2_xxs:
    case ggml_type::iq2_xs:
    case ggml_type::iq3_xxs:
    case ggml_type::iq1_s:
    case ggml_type::iq4_nl:
    case ggml_type::iq3_s:
    case ggml_type::iq2_s:
    case ggml_type::iq4_xs:
    case ggml_type::iq1_m:
      return "codebook (i-quant) type: its values are grid entries, not integer codes";
    case ggml_type::tq1_0:
    case ggml_type::tq2_0:
      return "ternary packing: not decoded (serve ternary weights with bitdial's ternary kernels)";
    case ggml_type::q8_1:
    case ggml_type::q8_k:
      return "activation format (ggml uses it for intermediate results, not weights)";
    default:
      return "integer element type: no scale to import";
  }
}

namespace detail {

inline float fp16_at(const std::uint8_t* p) noexcept {
  return half_to_float(static_cast<std::uint16_t>(p[0] | (p[1] << 8)));
}

/// One decoded block: `codes` (block elements, the master's code as a byte: two's complement for
/// signed masters), `scales` and `offsets` (block / group each). `offsets` is null for "no offsets":
/// the types without mins never write it, and the types with mins then skip their mins.
struct ggml_block_out {
  std::uint8_t* codes;
  float* scales;
  float* offsets;
};

inline void decode_legacy(ggml_type t, const std::uint8_t* b, ggml_block_out o) noexcept {
  const bool has_m = t == ggml_type::q4_1 || t == ggml_type::q5_1;
  const bool five = t == ggml_type::q5_0 || t == ggml_type::q5_1;
  o.scales[0] = fp16_at(b);
  if (has_m && o.offsets != nullptr) o.offsets[0] = fp16_at(b + 2);
  const std::uint8_t* p = b + (has_m ? 4 : 2);
  std::uint32_t qh = 0;
  if (five) {
    std::memcpy(&qh, p, 4);  // little-endian u32 (the header asserts a little-endian host)
    p += 4;
  }
  const int bias = has_m ? 0 : (five ? 16 : 8);
  for (int j = 0; j < 32; ++j) {
    int v = j < 16 ? (p[j] & 0xF) : (p[j - 16] >> 4);
    if (five) v |= static_cast<int>((qh >> j) & 1u) << 4;
    o.codes[j] = static_cast<std::uint8_t>(v - bias);
  }
}

inline void decode_q2_k(const std::uint8_t* b, ggml_block_out o) noexcept {
  const std::uint8_t* sc = b;
  const std::uint8_t* qs = b + 16;
  const float d = fp16_at(b + 80), dmin = fp16_at(b + 82);
  for (int i = 0; i < 16; ++i) {
    o.scales[i] = d * static_cast<float>(sc[i] & 0xF);
    if (o.offsets != nullptr) o.offsets[i] = -(dmin * static_cast<float>(sc[i] >> 4));
  }
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, p = (e % 128) / 32, l = e % 32;
    o.codes[e] = static_cast<std::uint8_t>((qs[32 * h + l] >> (2 * p)) & 3);
  }
}

inline void decode_q3_k(const std::uint8_t* b, ggml_block_out o) noexcept {
  const std::uint8_t* hm = b;
  const std::uint8_t* qs = b + 32;
  const std::uint8_t* sc = b + 96;
  const float d = fp16_at(b + 108);
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? (sc[i] & 0xF) : (sc[i - 8] >> 4);
    const int high = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
    o.scales[i] = d * static_cast<float>((low | high << 4) - 32);
  }
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, p = (e % 128) / 32, l = e % 32;
    const int q2 = (qs[32 * h + l] >> (2 * p)) & 3;
    const int hbit = (hm[l] >> (4 * h + p)) & 1;
    o.codes[e] = static_cast<std::uint8_t>(q2 + 4 * hbit - 4);
  }
}

/// Q4_K / Q5_K 6-bit scale and min of sub-block j (0..7).
inline void k4_scale_min(const std::uint8_t* s, int j, int& sc, int& mn) noexcept {
  if (j < 4) {
    sc = s[j] & 63;
    mn = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

inline void decode_q45_k(bool five, const std::uint8_t* b, ggml_block_out o) noexcept {
  const float d = fp16_at(b), dmin = fp16_at(b + 2);
  const std::uint8_t* s = b + 4;
  const std::uint8_t* qh = b + 16;
  const std::uint8_t* qs = b + (five ? 48 : 16);
  for (int j = 0; j < 8; ++j) {
    int sc = 0, mn = 0;
    k4_scale_min(s, j, sc, mn);
    o.scales[j] = d * static_cast<float>(sc);
    if (o.offsets != nullptr) o.offsets[j] = -(dmin * static_cast<float>(mn));
  }
  for (int e = 0; e < 256; ++e) {
    const int c = e / 64, hi = (e % 64) / 32, l = e % 32;
    int v = (qs[32 * c + l] >> (4 * hi)) & 0xF;
    if (five) v |= ((qh[l] >> (2 * c + hi)) & 1) << 4;
    o.codes[e] = static_cast<std::uint8_t>(v);
  }
}

inline void decode_q6_k(const std::uint8_t* b, ggml_block_out o) noexcept {
  const std::uint8_t* ql = b;
  const std::uint8_t* qh = b + 128;
  const std::uint8_t* sc = b + 192;
  const float d = fp16_at(b + 208);
  for (int i = 0; i < 16; ++i) o.scales[i] = d * static_cast<float>(static_cast<std::int8_t>(sc[i]));
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
    const std::uint8_t lo = ql[64 * h + l + 32 * (quarter & 1)];
    const int nib = (lo >> (4 * (quarter >> 1))) & 0xF;
    const int top = (qh[32 * h + l] >> (2 * quarter)) & 3;
    o.codes[e] = static_cast<std::uint8_t>((nib | top << 4) - 32);
  }
}

inline void decode_q8_0(const std::uint8_t* b, ggml_block_out o) noexcept {
  o.scales[0] = fp16_at(b);
  std::memcpy(o.codes, b + 2, 32);
}

/// Decodes one block of an importable type (ggml_info(t)->master_bits > 0).
inline void decode_ggml_block(ggml_type t, const std::uint8_t* b, ggml_block_out o) noexcept {
  switch (t) {
    case ggml_type::q4_0:
    case ggml_type::q4_1:
    case ggml_type::q5_0:
    case ggml_type::q5_1:
      return decode_legacy(t, b, o);
    case ggml_type::q8_0:
      return decode_q8_0(b, o);
    case ggml_type::q2_k:
      return decode_q2_k(b, o);
    case ggml_type::q3_k:
      return decode_q3_k(b, o);
    case ggml_type::q4_k:
      return decode_q45_k(false, b, o);
    case ggml_type::q5_k:
      return decode_q45_k(true, b, o);
    case ggml_type::q6_k:
      return decode_q6_k(b, o);
    default:
      return;
  }
}

}  // namespace detail

/// Decodes `rows` rows of `cols` elements of type t stored row after row in `data` (`bytes` of them)
/// into a master (see the header comment). Throws for a type that does not import, a row length that
/// is not a whole number of blocks, a byte count that does not match, or a non-finite scale or min.
inline imported_master decode_ggml_master(ggml_type t, const std::uint8_t* data, std::size_t bytes, std::size_t rows,
                                          std::size_t cols, const std::string& name = "tensor") {
  constexpr const char* where = "decode_ggml_master";
  const ggml_type_info* info = ggml_info(t);
  BITDIAL_REQUIRE(info != nullptr && info->master_bits > 0, where, ": ", name, ": type = ", to_string(t), " (",
                  static_cast<std::uint32_t>(t), "): does not import as a master: ", ggml_import_limit(t));
  BITDIAL_REQUIRE(rows > 0 && cols > 0, where, ": ", name, ": shape = ", rows, "x", cols, ": empty matrix");
  BITDIAL_REQUIRE(cols % info->block == 0, where, ": ", name, ": row length = ", cols, ": not a multiple of the ",
                  info->name, " block (", info->block, ")");
  const std::size_t blocks = detail::checked_mul(rows, cols / info->block, where, "blocks");
  BITDIAL_REQUIRE(data != nullptr && bytes / info->bytes == blocks && bytes % info->bytes == 0, where, ": ", name, ": ",
                  bytes, " bytes: expected ", blocks, " ", info->name, " blocks of ", info->bytes,
                  " bytes (truncated or mis-sized tensor)");
  const std::size_t per_block = info->block / info->group;  // scale groups per block
  std::vector<std::uint8_t> codes(rows * cols);
  std::vector<float> scales(blocks * per_block), offsets(info->offsets ? blocks * per_block : 0);
  for (std::size_t b = 0; b < blocks; ++b)
    detail::decode_ggml_block(t, data + b * info->bytes,
                              {codes.data() + b * info->block, scales.data() + b * per_block,
                               info->offsets ? offsets.data() + b * per_block : nullptr});
  for (std::size_t i = 0; i < scales.size(); ++i) {
    BITDIAL_REQUIRE(std::isfinite(scales[i]), where, ": ", name, ": block ", i / per_block, " (row ",
                    i / per_block / (cols / info->block), "): scale = ", scales[i],
                    ": not finite (a master scale must be finite)");
    if (!offsets.empty())
      BITDIAL_REQUIRE(std::isfinite(offsets[i]), where, ": ", name, ": block ", i / per_block, " (row ",
                      i / per_block / (cols / info->block), "): min = ", -offsets[i], ": not finite");
  }
  master_parts parts;
  parts.rows = rows;
  parts.cols = cols;
  parts.bits = info->master_bits;
  parts.is_signed = info->is_signed;
  parts.gran = granularity::per_group(info->group);
  parts.scales = std::move(scales);
  parts.offsets = std::move(offsets);
  imported_master out = make_master(std::move(parts), std::move(codes), where);
  out.source = std::string("GGUF ") + info->name;
  return out;
}

}  // namespace bitdial
