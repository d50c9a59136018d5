// bitdial/format/checkpoint_import.hpp — integer checkpoints in safetensors files imported as
// masters, codes as stored: compressed-tensors (vLLM's int8 "int-quantized" and int4
// "pack-quantized"), GPTQ and AWQ. Needs nlohmann-json (CMake target bitdial::io).
//
// A quantized linear layer is found by its tensor names under a prefix p (e.g.
// "model.layers.0.mlp.down_proj"); the weight is [out = N, in = K] and becomes an N × K master. The
// layouts (facts from each project's documentation and packers; the words are int32, little-endian,
// value i of a word in bits [b·i, b·i + b), b = bits):
//
//   compressed-tensors int-quantized   p.weight I8 [N, K], p.weight_scale [N, 1] (channel), [N, G]
//     (neuralmagic/compressed-tensors,  (groups of K/G) or [1] / [] (tensor), F32/F16/BF16;
//      naive/int compressors)           optional p.weight_zero_point (I8, the scale's shape).
//                                       value = scale·(q − zp). Symmetric: a signed 8-bit master;
//                                       with zero points: unsigned, code q + 128, zero zp + 128.
//   compressed-tensors pack-quantized  p.weight_packed I32 [N, ceil(K / (32/b))]: input column
//     (pack_quantized compressor)       (32/b)·c + i of row n is value i of word [n, c], stored as
//                                       q + 2^(b−1) (offset binary); p.weight_shape [2] = [N, K]
//                                       (I32 or I64); scales as above; optional p.weight_zero_point
//                                       I32 [ceil(N / (32/b)), G], packed along the output rows
//                                       (value i of word [r, g] = row (32/b)·r + i), also + 2^(b−1).
//                                       Symmetric: a signed b-bit master, code q; asymmetric: an
//                                       unsigned master, code and zero point as stored.
//   GPTQ (AutoGPTQ, GPTQModel)         p.qweight I32 [K / (32/b), N]: input k of column n is value
//                                       k mod (32/b) of word [k / (32/b), n]; p.qzeros I32
//                                       [G, N / (32/b)]: group g of column n is value n mod (32/b)
//                                       of word [g, n / (32/b)]; p.scales [G, N] (F16/BF16/F32);
//                                       optional p.g_idx I32 [K] (group of each input). Checkpoint
//                                       format "gptq" (v1, the default) stores each zero point minus
//                                       one (z = stored + 1); "gptq_v2" stores z. b = 2, 4 or 8.
//                                       value = scale·(q − z): an unsigned b-bit master with zero
//                                       points. An act-order g_idx (not k / (K/G)) makes groups that
//                                       are not contiguous runs of inputs and is refused by name.
//   AWQ (AutoAWQ, GEMM layout)         p.qweight I32 [K, N/8], p.qzeros I32 [G, N/8], p.scales F16
//                                       [G, N]; output column 8·c + j is nibble o(j) of word c,
//                                       o = [0, 4, 1, 5, 2, 6, 3, 7] (AWQ's interleaved order);
//                                       zero points stored as is; value = scale·(q − z): an unsigned
//                                       4-bit master with zero points.
//
// Values: every stored scale (F16, BF16 or F32) times an integer below 2^9 is exact in float, so the
// master's full-width value is the exact product; the projects' own dequantizers round that product
// to the scale's type (fp16 for GPTQ/AWQ), which rounding this value reproduces. Rejected by name:
// a missing companion tensor, a wrong dtype or shape, packed shapes that do not match the stated
// shape, groups that do not divide K, a g_idx value outside [0, G), act-order g_idx, a non-finite
// scale, a zero point outside the code range (a v1 word whose "minus one" wrapped), 3-bit GPTQ.
// Zero scales are values (all-zero groups exist in real checkpoints) and import as zeros.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bitdial/format/master.hpp"
#include "bitdial/format/safetensors.hpp"

namespace bitdial {

/// The integer checkpoint layouts import_checkpoint_layer reads.
enum class checkpoint_layout : std::uint8_t { compressed_int8, compressed_packed, gptq, awq };

inline const char* to_string(checkpoint_layout l) noexcept {
  switch (l) {
    case checkpoint_layout::compressed_int8:
      return "compressed-tensors int-quantized";
    case checkpoint_layout::compressed_packed:
      return "compressed-tensors pack-quantized";
    case checkpoint_layout::gptq:
      return "GPTQ";
    case checkpoint_layout::awq:
      return "AWQ";
  }
  return "?";
}

/// One quantized layer found in a file: its prefix and layout.
struct checkpoint_layer {
  std::string prefix;
  checkpoint_layout layout;
};

struct checkpoint_options {
  int bits = 0;               // 0: inferred (GPTQ without g_idx: 4; packed compressed-tensors: from weight_shape)
  bool gptq_v1_zeros = true;  // GPTQ zero points stored minus one ("gptq"); false for "gptq_v2"
};

namespace detail {

inline bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads a whole tensor of any dtype as int64 values (integer dtypes only).
inline std::vector<std::int64_t> read_ints(const safetensors_file& f, const safetensors_tensor& t, const char* where) {
  const std::size_t size = dtype_size(t.dtype);
  const bool ok = t.dtype == st_dtype::i8 || t.dtype == st_dtype::u8 || t.dtype == st_dtype::i16 ||
                  t.dtype == st_dtype::u16 || t.dtype == st_dtype::i32 || t.dtype == st_dtype::u32 ||
                  t.dtype == st_dtype::i64;
  BITDIAL_REQUIRE(ok, where, ": tensor '", t.name, "': dtype = ", to_string(t.dtype), ": expected an integer dtype");
  const std::vector<std::uint8_t> raw = f.read_bytes(t);
  std::vector<std::int64_t> out(raw.size() / size);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint8_t* p = raw.data() + i * size;
    switch (t.dtype) {
      case st_dtype::i8:
        out[i] = static_cast<std::int8_t>(p[0]);
        break;
      case st_dtype::u8:
        out[i] = p[0];
        break;
      case st_dtype::i16: {
        std::int16_t v;
        std::memcpy(&v, p, 2);
        out[i] = v;
        break;
      }
      case st_dtype::u16: {
        std::uint16_t v;
        std::memcpy(&v, p, 2);
        out[i] = v;
        break;
      }
      case st_dtype::i32: {
        std::int32_t v;
        std::memcpy(&v, p, 4);
        out[i] = v;
        break;
      }
      case st_dtype::u32: {
        std::uint32_t v;
        std::memcpy(&v, p, 4);
        out[i] = v;
        break;
      }
      default: {
        std::int64_t v;
        std::memcpy(&v, p, 8);
        out[i] = v;
      }
    }
  }
  return out;
}

/// A tensor of 32-bit words (I32 or U32), as unsigned words.
inline std::vector<std::uint32_t> read_words(const safetensors_file& f, const safetensors_tensor& t,
                                             const char* where) {
  BITDIAL_REQUIRE(t.dtype == st_dtype::i32 || t.dtype == st_dtype::u32, where, ": tensor '", t.name,
                  "': dtype = ", to_string(t.dtype), ": packed words must be I32");
  const std::vector<std::uint8_t> raw = f.read_bytes(t);
  std::vector<std::uint32_t> out(raw.size() / 4);
  if (!out.empty()) std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

/// A float tensor (F32, F16, BF16) as floats, every value finite.
inline std::vector<float> read_scales(const safetensors_file& f, const safetensors_tensor& t, const char* where) {
  BITDIAL_REQUIRE(t.dtype == st_dtype::f32 || t.dtype == st_dtype::f16 || t.dtype == st_dtype::bf16, where,
                  ": tensor '", t.name, "': dtype = ", to_string(t.dtype), ": scales must be F32, F16 or BF16");
  const std::vector<std::uint8_t> raw = f.read_bytes(t);
  const std::size_t n = raw.size() / dtype_size(t.dtype);
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (t.dtype == st_dtype::f32) {
      std::memcpy(&out[i], raw.data() + 4 * i, 4);
    } else {
      const auto h = static_cast<std::uint16_t>(raw[2 * i] | raw[2 * i + 1] << 8);
      out[i] = t.dtype == st_dtype::f16 ? half_to_float(h) : bf16_to_float(h);
    }
    BITDIAL_REQUIRE(std::isfinite(out[i]), where, ": tensor '", t.name, "': value ", i, " = ", out[i],
                    ": scales must be finite");
  }
  return out;
}

inline void require_shape(const safetensors_tensor& t, const std::vector<std::uint64_t>& want, const char* where,
                          const char* what) {
  BITDIAL_REQUIRE(t.shape == want, where, ": tensor '", t.name, "': shape = ", shape_string(t.shape), ": expected ",
                  shape_string(want), " (", what, ")");
}

/// Scales of a compressed-tensors layer: [N, G] / [N, 1] / [1] / [] → (granularity, scales [n][g]).
inline void compressed_scales(const safetensors_file& f, const safetensors_tensor& s, std::size_t N, std::size_t K,
                              granularity& gran, std::vector<float>& scales, const char* where) {
  scales = read_scales(f, s, where);
  if (s.shape.empty() || (s.shape.size() == 1 && s.shape[0] == 1) ||
      (s.shape.size() == 2 && s.shape[0] == 1 && s.shape[1] == 1 && N != 1)) {
    gran = granularity::per_tensor();
    return;
  }
  BITDIAL_REQUIRE(s.shape.size() == 2 && s.shape[0] == N && s.shape[1] >= 1, where, ": tensor '", s.name,
                  "': shape = ", shape_string(s.shape), ": expected [", N, ", 1] (channel), [", N,
                  ", G] (groups) or [1] (tensor)");
  const std::size_t G = static_cast<std::size_t>(s.shape[1]);
  BITDIAL_REQUIRE(K % G == 0, where, ": tensor '", s.name, "': ", G, " groups do not divide K = ", K);
  gran = G == 1 ? granularity::per_row() : granularity::per_group(K / G);
}

/// Refuses a g_idx that is not the contiguous k / (K/G) (act-order / desc_act checkpoints).
inline void check_g_idx(const safetensors_file& f, const std::string& name, std::size_t K, std::size_t G,
                        const char* where) {
  if (!f.contains(name)) return;
  const safetensors_tensor& t = f.find(name);
  require_shape(t, {K}, where, "one group index per input");
  const auto g = read_ints(f, t, where);
  for (std::size_t k = 0; k < K; ++k) {
    BITDIAL_REQUIRE(g[k] >= 0 && static_cast<std::uint64_t>(g[k]) < G, where, ": tensor '", name, "': g_idx[", k,
                    "] = ", g[k], ": outside [0, ", G, ")");
    // compressed-tensors writes −1 throughout for "no reordering"; checked above as out of range
    // unless every entry is −1 (handled by the caller not passing such a tensor).
    BITDIAL_REQUIRE(static_cast<std::size_t>(g[k]) == k / (K / G), where, ": tensor '", name, "': g_idx[", k,
                    "] = ", g[k], ": act-order (desc_act) groups are not contiguous runs of inputs (expected ",
                    k / (K / G), "); re-export the checkpoint without act-order, or with static groups");
  }
}

inline bool all_minus_one(const safetensors_file& f, const std::string& name, const char* where) {
  if (!f.contains(name)) return true;
  const auto g = read_ints(f, f.find(name), where);
  for (auto v : g)
    if (v != -1) return false;
  return true;
}

}  // namespace detail

/// The quantized layers of a file, found by tensor names (the layouts in the header comment).
inline std::vector<checkpoint_layer> find_checkpoint_layers(const safetensors_file& f) {
  std::vector<checkpoint_layer> out;
  for (const auto& t : f.tensors()) {
    const std::string& n = t.name;
    if (detail::ends_with(n, ".qweight")) {
      const std::string p = n.substr(0, n.size() - 8);
      if (!f.contains(p + ".scales") || !f.contains(p + ".qzeros")) continue;
      const auto& s = f.find(p + ".scales");
      const bool gptq = t.shape.size() == 2 && s.shape.size() == 2 && t.shape[1] == s.shape[1];
      out.push_back({p, gptq ? checkpoint_layout::gptq : checkpoint_layout::awq});
    } else if (detail::ends_with(n, ".weight_packed")) {
      const std::string p = n.substr(0, n.size() - 14);
      if (f.contains(p + ".weight_scale")) out.push_back({p, checkpoint_layout::compressed_packed});
    } else if (detail::ends_with(n, ".weight") && (t.dtype == st_dtype::i8)) {
      const std::string p = n.substr(0, n.size() - 7);
      if (f.contains(p + ".weight_scale")) out.push_back({p, checkpoint_layout::compressed_int8});
    }
  }
  return out;
}

/// Imports the layer under `prefix` in the given layout (the header comment says what each becomes).
inline imported_master import_checkpoint_layer(const safetensors_file& f, const std::string& prefix,
                                               checkpoint_layout layout, const checkpoint_options& o = {}) {
  constexpr const char* where = "import_checkpoint_layer";
  auto need = [&](const std::string& suffix) -> const safetensors_tensor& {
    BITDIAL_REQUIRE(f.contains(prefix + suffix), where, ": layer '", prefix, "' (", to_string(layout), "): tensor '",
                    prefix + suffix, "' is missing");
    return f.find(prefix + suffix);
  };
  master_parts p;
  std::vector<std::uint8_t> codes;
  switch (layout) {
    case checkpoint_layout::compressed_int8: {
      const auto& w = need(".weight");
      BITDIAL_REQUIRE(w.dtype == st_dtype::i8 && w.shape.size() == 2 && w.shape[0] > 0 && w.shape[1] > 0, where,
                      ": tensor '", w.name, "': dtype ", to_string(w.dtype), ", shape ", detail::shape_string(w.shape),
                      ": expected a non-empty I8 [out, in] matrix");
      p.rows = static_cast<std::size_t>(w.shape[0]);
      p.cols = static_cast<std::size_t>(w.shape[1]);
      p.bits = 8;
      detail::compressed_scales(f, need(".weight_scale"), p.rows, p.cols, p.gran, p.scales, where);
      codes = f.read_bytes(w);
      p.is_signed = true;
      if (f.contains(prefix + ".weight_zero_point")) {
        const auto& zt = f.find(prefix + ".weight_zero_point");
        const auto z = detail::read_ints(f, zt, where);
        BITDIAL_REQUIRE(z.size() == p.scales.size(), where, ": tensor '", zt.name, "': ", z.size(),
                        " zero points: expected one per scale (", p.scales.size(), ")");
        bool any = false;
        for (std::size_t i = 0; i < z.size(); ++i) {
          BITDIAL_REQUIRE(z[i] >= -128 && z[i] <= 127, where, ": tensor '", zt.name, "': value ", i, " = ", z[i],
                          ": outside the int8 range");
          any = any || z[i] != 0;
        }
        if (any) {  // asymmetric: unsigned codes q + 128, zero points z + 128
          p.is_signed = false;
          for (auto& c : codes) c = static_cast<std::uint8_t>(c ^ 0x80u);
          for (auto v : z) p.zero_points.push_back(static_cast<std::int32_t>(v + 128));
        }
      }
      break;
    }
    case checkpoint_layout::compressed_packed: {
      const auto& wp = need(".weight_packed");
      const auto& ws = need(".weight_shape");
      const auto shape = detail::read_ints(f, ws, where);
      BITDIAL_REQUIRE(shape.size() == 2 && shape[0] > 0 && shape[1] > 0, where, ": tensor '", ws.name,
                      "': expected two positive dimensions [out, in]");
      const std::size_t N = static_cast<std::size_t>(shape[0]), K = static_cast<std::size_t>(shape[1]);
      BITDIAL_REQUIRE(wp.shape.size() == 2 && wp.shape[0] == N, where, ": tensor '", wp.name,
                      "': shape = ", detail::shape_string(wp.shape), ": expected [", N, ", words] (weight_shape [", N,
                      ", ", K, "])");
      int bits = o.bits;
      if (bits == 0)
        for (int b : {4, 8, 2})
          if ((K + 32 / b - 1) / (32 / b) == wp.shape[1]) {
            bits = b;
            break;
          }
      BITDIAL_REQUIRE(bits == 2 || bits == 4 || bits == 8, where, ": tensor '", wp.name, "': ", wp.shape[1],
                      " words per row of ", K, " inputs: no packing of 2, 4 or 8 bits matches (packed shape mismatch)");
      const std::size_t pf = static_cast<std::size_t>(32 / bits);
      BITDIAL_REQUIRE(wp.shape[1] == (K + pf - 1) / pf, where, ": tensor '", wp.name, "': ", wp.shape[1],
                      " words per row: ", bits, "-bit values of ", K, " inputs need ", (K + pf - 1) / pf,
                      " (packed shape mismatch)");
      const auto words = detail::read_words(f, wp, where);
      p.rows = N;
      p.cols = K;
      p.bits = bits;
      detail::compressed_scales(f, need(".weight_scale"), N, K, p.gran, p.scales, where);
      const std::uint32_t mask = (1u << bits) - 1u, bias = 1u << (bits - 1);
      codes.resize(N * K);
      const std::size_t wpr = static_cast<std::size_t>(wp.shape[1]);
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t k = 0; k < K; ++k) {
          const std::uint32_t v = (words[n * wpr + k / pf] >> (bits * (k % pf))) & mask;
          codes[n * K + k] = static_cast<std::uint8_t>(v);  // stored = q + 2^(b−1)
        }
      if (f.contains(prefix + ".weight_g_idx") && !detail::all_minus_one(f, prefix + ".weight_g_idx", where))
        detail::check_g_idx(f, prefix + ".weight_g_idx", K, p.gran.groups_per_row(K), where);
      if (f.contains(prefix + ".weight_zero_point")) {  // asymmetric: unsigned codes and zero points as stored
        const auto& zt = f.find(prefix + ".weight_zero_point");
        const std::size_t G = p.scales.size() / (p.gran.k == granularity::kind::per_tensor ? 1 : N);
        BITDIAL_REQUIRE(p.gran.k != granularity::kind::per_tensor, where, ": tensor '", zt.name,
                        "': zero points with one scale per tensor are not a compressed-tensors layout");
        detail::require_shape(zt, {(N + pf - 1) / pf, G}, where, "packed along the output rows");
        const auto zw = detail::read_words(f, zt, where);
        p.is_signed = false;
        p.zero_points.resize(N * G);
        for (std::size_t n = 0; n < N; ++n)
          for (std::size_t g = 0; g < G; ++g)
            p.zero_points[n * G + g] = static_cast<std::int32_t>((zw[(n / pf) * G + g] >> (bits * (n % pf))) & mask);
      } else {  // symmetric: signed codes q = stored − 2^(b−1)
        p.is_signed = true;
        for (auto& c : codes) c = static_cast<std::uint8_t>(c - bias);
      }
      break;
    }
    case checkpoint_layout::gptq:
    case checkpoint_layout::awq: {
      const bool gptq = layout == checkpoint_layout::gptq;
      const auto& qw = need(".qweight");
      const auto& qz = need(".qzeros");
      const auto& sc = need(".scales");
      BITDIAL_REQUIRE(qw.shape.size() == 2 && qw.shape[0] > 0 && qw.shape[1] > 0, where, ": tensor '", qw.name,
                      "': shape = ", detail::shape_string(qw.shape), ": expected a non-empty matrix of words");
      BITDIAL_REQUIRE(sc.shape.size() == 2 && sc.shape[0] > 0, where, ": tensor '", sc.name,
                      "': shape = ", detail::shape_string(sc.shape), ": expected [groups, out]");
      const std::size_t G = static_cast<std::size_t>(sc.shape[0]), N = static_cast<std::size_t>(sc.shape[1]);
      int bits = gptq ? o.bits : 4;
      std::size_t K = 0;
      if (gptq) {
        if (bits == 0 && f.contains(prefix + ".g_idx") && !f.find(prefix + ".g_idx").shape.empty()) {
          const std::uint64_t k = f.find(prefix + ".g_idx").shape[0];
          for (int b : {4, 8, 2})
            if (k * static_cast<std::uint64_t>(b) == qw.shape[0] * 32) bits = b;
        }
        if (bits == 0) bits = 4;
        BITDIAL_REQUIRE(bits == 2 || bits == 4 || bits == 8, where, ": layer '", prefix, "': bits = ", bits,
                        bits == 3 ? ": 3-bit GPTQ packing (values spanning words) is not supported"
                                  : ": GPTQ packs 2, 4 or 8 bits");
        K = static_cast<std::size_t>(qw.shape[0]) * static_cast<std::size_t>(32 / bits);
        detail::require_shape(qw, {K * bits / 32, N}, where, "GPTQ qweight [in·bits/32, out]");
      } else {
        K = static_cast<std::size_t>(qw.shape[0]);
        detail::require_shape(qw, {K, N / 8}, where, "AWQ qweight [in, out/8], out = scales' columns");
        BITDIAL_REQUIRE(N % 8 == 0, where, ": tensor '", sc.name, "': ", N, " output columns: not a multiple of 8");
      }
      const std::size_t pf = static_cast<std::size_t>(32 / bits);
      BITDIAL_REQUIRE(N % pf == 0, where, ": tensor '", sc.name, "': ", N, " output columns: not a multiple of ", pf,
                      " (zero points pack ", pf, " per word)");
      BITDIAL_REQUIRE(K % G == 0, where, ": tensor '", sc.name, "': ", G, " groups do not divide K = ", K);
      detail::require_shape(qz, {G, N / pf}, where, "zero points [groups, out·bits/32]");
      if (gptq) detail::check_g_idx(f, prefix + ".g_idx", K, G, where);
      const auto qwords = detail::read_words(f, qw, where);
      const auto zwords = detail::read_words(f, qz, where);
      const auto s = detail::read_scales(f, sc, where);
      p.rows = N;
      p.cols = K;
      p.bits = bits;
      p.is_signed = false;
      p.gran = G == 1 ? granularity::per_row() : granularity::per_group(K / G);
      p.scales.resize(N * G);
      p.zero_points.resize(N * G);
      static constexpr int awq_nibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};  // output column 8c + j → nibble
      const std::uint32_t mask = (1u << bits) - 1u;
      auto shift_of = [&](std::size_t n) {
        return gptq ? static_cast<unsigned>(bits * (n % pf)) : static_cast<unsigned>(4 * awq_nibble[n % 8]);
      };
      for (std::size_t g = 0; g < G; ++g)
        for (std::size_t n = 0; n < N; ++n) {
          p.scales[n * G + g] = s[g * N + n];
          std::int64_t z = (zwords[g * (N / pf) + n / pf] >> shift_of(n)) & mask;
          if (gptq && o.gptq_v1_zeros) z += 1;
          BITDIAL_REQUIRE(z <= static_cast<std::int64_t>(mask), where, ": tensor '", qz.name, "': zero point of group ",
                          g, ", column ", n, " = ", z, ": outside the ", bits,
                          "-bit range (a v1 \"zero minus one\" word that wrapped; if the checkpoint is gptq_v2, "
                          "import with gptq_v1_zeros = false)");
          p.zero_points[n * G + g] = static_cast<std::int32_t>(z);
        }
      codes.resize(N * K);
      for (std::size_t k = 0; k < K; ++k)
        for (std::size_t n = 0; n < N; ++n) {
          const std::uint32_t v = gptq ? (qwords[(k / pf) * N + n] >> (bits * (k % pf))) & mask
                                       : (qwords[k * (N / 8) + n / 8] >> shift_of(n)) & mask;
          codes[n * K + k] = static_cast<std::uint8_t>(v);
        }
      break;
    }
  }
  imported_master m = make_master(std::move(p), std::move(codes), where);
  m.source = std::string(to_string(layout)) + " int" + std::to_string(m.bits());
  return m;
}

/// Imports the layer under `prefix`, its layout found by tensor names (find_checkpoint_layers).
inline imported_master import_checkpoint_layer(const safetensors_file& f, const std::string& prefix,
                                               const checkpoint_options& o = {}) {
  for (const auto& l : find_checkpoint_layers(f))
    if (l.prefix == prefix) return import_checkpoint_layer(f, prefix, l.layout, o);
  detail::fail("import_checkpoint_layer: layer '", prefix,
               "': no quantized layer of that name (looked for .weight (I8) + .weight_scale, .weight_packed + "
               ".weight_scale, .qweight + .qzeros + .scales)");
}

}  // namespace bitdial
