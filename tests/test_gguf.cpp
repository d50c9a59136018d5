// GGUF: files the test writes (v2 and v3, every metadata type, F32 / F16 / BF16 / Q8_0 tensors),
// Q8_0 imported as an INT8 master and served from bit-planes, and malformed files — every
// truncation, forged counts, lengths, types, dimensions and offsets — each rejected by name; and a
// file assembled byte by byte from the GGUF v3 spec (no library writer), good and malformed.
#include <bitdial/format/bit_planes.hpp>
#include <bitdial/format/gguf.hpp>
#include <bitdial/quant/double_rounding.hpp>
#include <bitdial/quant/truncation.hpp>
#include <bitdial/select/plane_view.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "test_support.hpp"

using namespace bitdial;
using Catch::Contains;

namespace {

float_matrix sample(std::size_t rows, std::size_t cols, std::uint64_t salt, float sigma = 0.5f) {
  return {rows, cols, test::normal(rows * cols, salt, sigma)};
}

gguf_file open_bytes(const std::vector<std::uint8_t>& b) { return gguf_file::from_bytes(b.data(), b.size()); }

std::vector<std::uint8_t> le64(std::uint64_t v) {
  std::vector<std::uint8_t> p;
  detail::put_le(p, v);
  return p;
}

/// Offset of the byte right after the first occurrence of `name` (a tensor name or key) in the file.
std::size_t after_name(const std::vector<std::uint8_t>& f, const std::string& name) {
  const auto it = std::search(f.begin(), f.end(), name.begin(), name.end());
  REQUIRE(it != f.end());
  return static_cast<std::size_t>(it - f.begin()) + name.size();
}

/// Every metadata type, nested arrays and arrays of strings.
gguf_writer& all_metadata(gguf_writer& w) {
  w.kv("general.architecture", std::string("llama"))
      .kv("u8", std::uint8_t{200})
      .kv("i8", std::int8_t{-100})
      .kv("u16", std::uint16_t{60000})
      .kv("i16", std::int16_t{-30000})
      .kv("u32", std::uint32_t{4000000000u})
      .kv("i32", std::int32_t{-2000000000})
      .kv("f32", 0.25f)
      .kv("flag", true)
      .kv("u64", std::uint64_t{1} << 40)
      .kv("i64", std::int64_t{-1} << 40)
      .kv("f64", -0.125)
      .kv_array("tokens", std::vector<std::string>{"<s>", "</s>", "hello", ""})
      .kv_array("scores", std::vector<float>{0.5f, -1.0f})
      .kv_array("empty", std::vector<std::int32_t>{});
  // [[1, 2], [3]] as u16 arrays inside an array.
  std::vector<std::uint8_t> nested;
  detail::put_le(nested, std::uint32_t{9});
  detail::put_le(nested, std::uint64_t{2});
  for (std::vector<std::uint16_t> inner : {std::vector<std::uint16_t>{1, 2}, std::vector<std::uint16_t>{3}}) {
    detail::put_le(nested, std::uint32_t{2});
    detail::put_le(nested, std::uint64_t{inner.size()});
    for (auto v : inner) detail::put_le(nested, v);
  }
  return w.kv_raw("nested", gguf_type::array, nested);
}

}  // namespace

TEST_CASE("gguf round trip: v2 and v3, every metadata type, F32 / F16 / BF16 exact", "[gguf]") {
  BITDIAL_LOG_SEED();
  const auto a = sample(3, 5, 1), b = sample(4, 8, 2), c = sample(2, 3, 3);
  for (std::uint32_t version : {2u, 3u})
    for (std::uint32_t align : {32u, 64u, 1u}) {
      INFO("version " << version << ", alignment " << align);
      gguf_writer w(version);
      if (align != 32) w.alignment(align);
      all_metadata(w).add("a", ggml_type::f32, a).add("b", ggml_type::f16, b).add("c", ggml_type::bf16, c);
      const auto f = open_bytes(w.bytes());
      CHECK(f.version() == version);
      CHECK(f.alignment() == align);
      CHECK(f.data_start() % align == 0);
      REQUIRE(f.tensors().size() == 3);
      CHECK(f.tensors()[1].ne == std::vector<std::uint64_t>{8, 4});  // ne[0] is the row length
      CHECK(f.tensors()[1].rows() == 4);
      CHECK(f.find("a").offset % align == 0);
      CHECK(f.load_matrix("a").data == a.data);
      const auto rb = f.load_matrix("b");
      CHECK(rb.rows == 4);
      CHECK(rb.cols == 8);
      for (std::size_t i = 0; i < b.data.size(); ++i) REQUIRE(rb.data[i] == half_to_float(float_to_half(b.data[i])));
      const auto rc = f.load_matrix("c");
      for (std::size_t i = 0; i < c.data.size(); ++i) REQUIRE(rc.data[i] == bf16_to_float(float_to_bf16(c.data[i])));

      CHECK(std::get<std::string>(f.find_metadata("general.architecture")->value) == "llama");
      CHECK(std::get<std::uint64_t>(f.find_metadata("u8")->value) == 200);
      CHECK(std::get<std::int64_t>(f.find_metadata("i8")->value) == -100);
      CHECK(std::get<std::uint64_t>(f.find_metadata("u16")->value) == 60000);
      CHECK(std::get<std::int64_t>(f.find_metadata("i16")->value) == -30000);
      CHECK(std::get<std::uint64_t>(f.find_metadata("u32")->value) == 4000000000u);
      CHECK(std::get<std::int64_t>(f.find_metadata("i32")->value) == -2000000000);
      CHECK(std::get<double>(f.find_metadata("f32")->value) == 0.25);
      CHECK(std::get<bool>(f.find_metadata("flag")->value));
      CHECK(std::get<std::uint64_t>(f.find_metadata("u64")->value) == (std::uint64_t{1} << 40));
      CHECK(std::get<std::int64_t>(f.find_metadata("i64")->value) == -(std::int64_t{1} << 40));
      CHECK(std::get<double>(f.find_metadata("f64")->value) == -0.125);
      const auto* tok = f.find_metadata("tokens");
      REQUIRE(tok);
      CHECK(tok->type == gguf_type::array);
      CHECK(tok->array_type == gguf_type::string);
      CHECK(tok->array_count == 4);
      CHECK(f.find_metadata("nested")->array_type == gguf_type::array);
      CHECK(f.find_metadata("nested")->array_count == 2);
      CHECK(f.find_metadata("empty")->array_count == 0);
      CHECK(f.find_metadata("missing") == nullptr);
    }
  const std::string path = "bitdial_test.gguf";
  gguf_writer().add("a", ggml_type::f32, a).save(path);
  CHECK(gguf_file::open(path).load_matrix("a").data == a.data);
  std::remove(path.c_str());
}

TEST_CASE("gguf Q8_0: the writer follows ggml's rule and the import is exactly d·q", "[gguf][q8_0]") {
  BITDIAL_LOG_SEED();
  // Hand-computed blocks. Block 0: amax 1.27 -> d = 1.27f/127 (fp16 0x211F), q = round(x·(1/d)).
  // Block 1: amax 127 -> d = 1 exactly, so x·(1/d) = x and the ties show ggml's round-half-away.
  float_matrix h{1, 64, std::vector<float>(64, 0.0f)};
  h.data[0] = 1.27f, h.data[1] = -0.636f, h.data[2] = 0.0051f, h.data[3] = 0.004f;
  h.data[32] = 127.0f, h.data[33] = 2.5f, h.data[34] = -0.5f, h.data[35] = 1.5f, h.data[36] = -126.5f;
  std::vector<std::uint16_t> d;
  std::vector<std::int8_t> q;
  gguf_writer::quantize_q8_0(h, d, q);
  CHECK(d == std::vector<std::uint16_t>{0x211F, 0x3C00});
  CHECK(d[0] == float_to_half(1.27f / 127.0f));
  CHECK(q[0] == 127);
  CHECK(q[1] == -64);  // -63.6
  CHECK(q[2] == 1);    // 0.51
  CHECK(q[3] == 0);    // 0.4
  CHECK(q[32] == 127);
  CHECK(q[33] == 3);     // tie 2.5 -> away from zero (RNE would give 2)
  CHECK(q[34] == -1);    // tie -0.5 -> -1
  CHECK(q[35] == 2);     // tie 1.5 -> 2
  CHECK(q[36] == -127);  // tie -126.5 -> -127
  const auto hm = open_bytes(gguf_writer().add("h", ggml_type::q8_0, h).bytes()).import_q8_0("h");
  CHECK(hm.dequantize(0, 33) == 3.0f);
  CHECK(hm.dequantize(0, 1) == -64.0f * half_to_float(0x211F));

  const auto w = sample(6, 96, 4);
  gguf_writer::quantize_q8_0(w, d, q);
  const auto f = open_bytes(gguf_writer().add("w", ggml_type::q8_0, w).bytes());
  CHECK(f.find("w").type == ggml_type::q8_0);
  CHECK(f.find("w").bytes == 6 * 3 * 34);
  const auto m = f.import_q8_0("w");
  CHECK(m.rows == 6);
  CHECK(m.cols == 96);
  CHECK(m.bits == 8);
  CHECK(m.gran == granularity::per_group(32));
  CHECK(m.zero_points.empty());
  CHECK(m.codes == q);
  REQUIRE(m.scales.size() == d.size());
  for (std::size_t i = 0; i < d.size(); ++i) REQUIRE(m.scales[i] == half_to_float(d[i]));
  for (auto c : m.codes) REQUIRE((c >= -127 && c <= 127));
  const auto deq = m.dequantize();
  const auto loaded = f.load_matrix("w");
  for (std::size_t r = 0; r < 6; ++r)
    for (std::size_t col = 0; col < 96; ++col) {
      const float ggml = half_to_float(d[r * 3 + col / 32]) * static_cast<float>(q[r * 96 + col]);
      REQUIRE(deq[r * 96 + col] == ggml);
      REQUIRE(loaded(r, col) == ggml);
    }
  // The round trip error is the Q8_0 step: |x - d·q| <= d/2 (+ the fp16 rounding of d times |q|).
  for (std::size_t i = 0; i < w.data.size(); ++i) {
    const float dd = m.scales[i / 32];
    REQUIRE(std::fabs(w.data[i] - deq[i]) <= 0.5f * dd + 127.0f * dd * 0x1p-11f + 1e-7f);
  }
}

TEST_CASE("gguf Q8_0 import is a servable INT8 master: view(8) is d·q, views at b match the quantizers",
          "[gguf][q8_0][serve]") {
  BITDIAL_LOG_SEED();
  const auto w = sample(37, 64, 5, 0.02f);
  std::vector<std::uint16_t> d;
  std::vector<std::int8_t> q;
  gguf_writer::quantize_q8_0(w, d, q);
  q[0] = -128;  // ggml never writes it, but the reader takes every int8
  q[1] = 127;
  d[5] = 0;  // an all-zero-scale block
  const auto f = open_bytes(gguf_writer().add_q8_0("w", 37, 64, d, q).bytes());
  const auto master = f.import_q8_0("w");
  CHECK(master.codes[0] == -128);
  const auto stack = bit_plane_stack::pack(master);
  const auto deq = master.dequantize();
  const auto v8 = view(stack, 8);
  for (std::size_t r = 0; r < 37; ++r)
    for (std::size_t c = 0; c < 64; ++c) {
      const float ggml = half_to_float(d[r * 2 + c / 32]) * static_cast<float>(q[r * 64 + c]);
      REQUIRE(v8.dequantize(r, c) == ggml);
      REQUIRE(deq[r * 64 + c] == ggml);
    }
  for (int b = 1; b <= 8; ++b) {
    INFO("b = " << b);
    const auto dr = double_rounding<8>().derive(master, b).dequantize();
    const auto tr = truncation<8>().dequantize(master, b);
    const auto vd = view(stack, b, rounding::half_up), vt = view(stack, b, rounding::floor);
    for (std::size_t r = 0; r < 37; ++r)
      for (std::size_t c = 0; c < 64; ++c) {
        REQUIRE(vd.dequantize(r, c) == dr[r * 64 + c]);
        REQUIRE(vt.dequantize(r, c) == tr[r * 64 + c]);
      }
  }
  const auto v4 = view(stack, 4, rounding::half_up);
  const auto d4 = double_rounding<8>().derive(master, 4);
  CHECK(v4.dequantize(0, 0) == d4.dequantize(0, 0));
  CHECK(d4.code(0, 0) == -8);  // -128 / 16
}

TEST_CASE("gguf: every truncation of a small file is rejected, never read out of bounds", "[gguf][errors]") {
  gguf_writer w;
  w.kv("general.architecture", std::string("x")).kv_array("toks", std::vector<std::string>{"a", "bc"});
  w.kv_array("ids", std::vector<std::int32_t>{1, 2, 3});
  w.add("q", ggml_type::q8_0, sample(2, 32, 6)).add("f", ggml_type::f16, sample(2, 3, 7));
  const auto bytes = w.bytes();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK_THROWS_WITH(gguf_file::from_bytes(bytes.data(), n), Contains("truncated"));
  }
  CHECK_NOTHROW(gguf_file::from_bytes(bytes.data(), bytes.size()));
}

TEST_CASE("gguf: forged headers are rejected with the problem named", "[gguf][errors]") {
  const auto good = gguf_writer().kv("k", std::uint32_t{1}).add("t", ggml_type::f32, sample(2, 4, 8)).bytes();
  auto patched = [&](std::size_t at, std::vector<std::uint8_t> with) {
    auto b = good;
    std::copy(with.begin(), with.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
    return b;
  };
  CHECK_THROWS_WITH(open_bytes(patched(0, {'G', 'G', 'U', 'G'})), Contains("magic") && Contains("not a GGUF file"));
  CHECK_THROWS_WITH(open_bytes(patched(4, {1, 0, 0, 0})), Contains("version = 1") && Contains("v1"));
  CHECK_THROWS_WITH(open_bytes(patched(4, {4, 0, 0, 0})), Contains("version = 4") && Contains("unsupported version"));
  CHECK_THROWS_WITH(open_bytes(patched(4, {0, 0, 0, 3})), Contains("unsupported version"));  // big-endian v3
  CHECK_THROWS_WITH(open_bytes(patched(8, le64(1ull << 40))),
                    Contains("tensor count = 1099511627776") && Contains("absurd"));
  CHECK_THROWS_WITH(open_bytes(patched(16, le64(UINT64_MAX))), Contains("metadata kv count") && Contains("absurd"));
  CHECK_THROWS_WITH(open_bytes(patched(24, le64(1ull << 62))), Contains("metadata key") && Contains("truncated"));
  const std::size_t type_at = after_name(good, "k");
  CHECK_THROWS_WITH(open_bytes(patched(type_at, {13, 0, 0, 0})), Contains("value type = 13") && Contains("unknown"));
  const std::size_t dims_at = after_name(good, "t");
  CHECK_THROWS_WITH(open_bytes(patched(dims_at, {0, 0, 0, 0})), Contains("n_dims = 0"));
  CHECK_THROWS_WITH(open_bytes(patched(dims_at, {5, 0, 0, 0})), Contains("n_dims = 5"));
  CHECK_THROWS_WITH(open_bytes(patched(dims_at + 4, le64(1ull << 63))),
                    Contains("ne[0]") && Contains("absurd dimension"));
  {
    auto b = patched(dims_at + 4, le64(1ull << 40));
    b = [&] {
      std::copy_n(le64(1ull << 40).begin(), 8, b.begin() + static_cast<std::ptrdiff_t>(dims_at + 12));
      return b;
    }();
    CHECK_THROWS_WITH(open_bytes(b), Contains("overflow") && Contains("absurd shape"));
  }
  CHECK_THROWS_WITH(open_bytes(patched(dims_at + 4, le64(1ull << 61))), Contains("byte size overflows"));
  CHECK_THROWS_WITH(open_bytes(patched(dims_at + 4, le64(5))), Contains("past the end of the file"));
  const std::size_t off_at = dims_at + 4 + 16 + 4;
  CHECK_THROWS_WITH(open_bytes(patched(off_at, le64(4))), Contains("offset = 4") && Contains("misaligned"));
  CHECK_THROWS_WITH(open_bytes(patched(off_at, le64(64))), Contains("offset = 64") && Contains("past the end"));
  CHECK_THROWS_WITH(open_bytes(patched(off_at, le64(UINT64_MAX - 31))), Contains("past the end"));
}

TEST_CASE("gguf: malformed metadata, alignment, names and tensor types are rejected", "[gguf][errors]") {
  const auto one = sample(2, 32, 9);
  auto build = [&](auto&& fill) {
    gguf_writer w;
    fill(w);
    return w.bytes();
  };
  CHECK_THROWS_WITH(open_bytes(build([](gguf_writer& w) { w.kv("a", 1.0f).kv("a", 2.0f); })),
                    Contains("'a': duplicate key"));
  CHECK_THROWS_WITH(
      open_bytes(build([&](gguf_writer& w) { w.add("t", ggml_type::f32, one).add("t", ggml_type::f32, one); })),
      Contains("'t': duplicate tensor name"));
  CHECK_THROWS_WITH(open_bytes(build([](gguf_writer& w) { w.kv("general.alignment", std::uint32_t{48}); })),
                    Contains("general.alignment = 48") && Contains("power of two"));
  CHECK_THROWS_WITH(open_bytes(build([](gguf_writer& w) { w.kv("general.alignment", std::uint32_t{0}); })),
                    Contains("general.alignment = 0"));
  CHECK_THROWS_WITH(open_bytes(build([](gguf_writer& w) { w.kv("general.alignment", std::uint64_t{32}); })),
                    Contains("general.alignment: value type 10") && Contains("must be u32"));
  // Array element type and count.
  auto array_of = [](std::uint32_t type, std::uint64_t n) {
    std::vector<std::uint8_t> p;
    detail::put_le(p, type);
    detail::put_le(p, n);
    return p;
  };
  CHECK_THROWS_WITH(open_bytes(build([&](gguf_writer& w) { w.kv_raw("arr", gguf_type::array, array_of(13, 0)); })),
                    Contains("array element type = 13"));
  CHECK_THROWS_WITH(
      open_bytes(build([&](gguf_writer& w) { w.kv_raw("arr", gguf_type::array, array_of(12, 1ull << 60)); })),
      Contains("array count = 1152921504606846976") && Contains("absurd"));
  CHECK_THROWS_WITH(
      open_bytes(build([&](gguf_writer& w) { w.kv_raw("arr", gguf_type::array, array_of(8, 1ull << 40)); })),
      Contains("array count") && Contains("absurd"));
  {
    std::vector<std::uint8_t> deep;
    for (int i = 0; i < 17; ++i) {
      const auto a = array_of(9, 1);
      deep.insert(deep.end(), a.begin(), a.end());
    }
    CHECK_THROWS_WITH(open_bytes(build([&](gguf_writer& w) { w.kv_raw("deep", gguf_type::array, deep); })),
                      Contains("nested deeper than 16"));
  }
  // Strings: a key length past the end, a name above the limit.
  {
    std::vector<std::uint8_t> s;
    detail::put_le(s, std::uint64_t{1} << 50);
    CHECK_THROWS_WITH(open_bytes(build([&](gguf_writer& w) { w.kv_raw("s", gguf_type::string, s); })),
                      Contains("metadata string") && Contains("truncated"));
    const std::string long_name(70000, 'n');
    CHECK_THROWS_WITH(open_bytes(build([&](gguf_writer& w) { w.kv(long_name, 1.0f); })),
                      Contains("metadata key length = 70000") && Contains("absurd"));
  }
  // Q8_0 row length must be a whole number of blocks.
  CHECK_THROWS_WITH(open_bytes(build([](gguf_writer& w) {
                      w.add_raw("q", {33, 1}, 8, std::vector<std::uint8_t>(68, 0));
                    })),
                    Contains("ne[0] = 33") && Contains("multiple of the Q8_0 block"));
  // Unknown types are listed but not loaded; a 1-D or 3-D tensor is not a matrix.
  const auto f = open_bytes(build([&](gguf_writer& w) {
    w.add_raw("q4", {32, 2}, 2, std::vector<std::uint8_t>(36, 0))
        .add_raw("v", {32}, 0, std::vector<std::uint8_t>(128, 0))
        .add_raw("cube", {4, 2, 2}, 0, std::vector<std::uint8_t>(64, 0))
        .add_raw("flat3", {4, 2, 1}, 0, std::vector<std::uint8_t>(32, 0))
        .add("f", ggml_type::f32, one);
  }));
  CHECK(f.tensors().size() == 5);
  CHECK(f.find("q4").known_type());  // Q4_0 (2 blocks of 18 bytes): imported (tests/test_ggml_import.cpp)
  CHECK(f.find("q4").importable());
  CHECK(f.load_matrix("q4").rows == 2);
  CHECK_THROWS_WITH(f.import_q8_0("q4"), Contains("only Q8_0"));
  CHECK_THROWS_WITH(f.import_q8_0("f"), Contains("type = F32") && Contains("only Q8_0"));
  CHECK_THROWS_WITH(f.load_matrix("v"), Contains("ne = [32]") && Contains("not 2-D"));
  CHECK_THROWS_WITH(f.load_matrix("cube"), Contains("not 2-D"));
  CHECK(f.load_matrix("flat3").rows == 2);
  CHECK_THROWS_WITH(f.load_matrix("nope"), Contains("tensor = 'nope'") && Contains("unknown tensor name"));
  CHECK_THROWS_WITH(gguf_file::open("/nonexistent/x.gguf"), Contains("cannot open"));
}

TEST_CASE("gguf Q8_0 import refuses scales a master cannot hold", "[gguf][q8_0][errors]") {
  std::vector<std::int8_t> q(64, 3);
  for (std::uint16_t bad : {std::uint16_t{0x7C00}, std::uint16_t{0x7E00}}) {  // Inf, NaN
    const auto f = open_bytes(gguf_writer().add_q8_0("q", 1, 64, {0x3C00, bad}, q).bytes());
    CHECK_THROWS_WITH(f.import_q8_0("q"), Contains("block 1 (row 0)") && Contains("must be finite"));
    CHECK_THROWS_WITH(f.load_matrix("q"), Contains("block 1 (row 0)") && Contains("not finite"));
  }
  // A negative d is a value (ggml's quantizers choose its sign for Q4_0 and the k-quants).
  const auto neg = open_bytes(gguf_writer().add_q8_0("q", 1, 64, {0x3C00, 0xBC00}, q).bytes());
  CHECK(neg.import_q8_0("q").dequantize(0, 40) == -3.0f);
  CHECK(neg.load_matrix("q")(0, 40) == -3.0f);
  const auto z = open_bytes(gguf_writer().add_q8_0("q", 1, 32, {0x8000}, std::vector<std::int8_t>(32, 3)).bytes())
                     .import_q8_0("q");  // -0 is kept
  CHECK(z.dequantize(0, 5) == 0.0f);
}

TEST_CASE("gguf: random corruptions of the header either parse or throw bitdial::error", "[gguf][errors]") {
  BITDIAL_LOG_SEED();
  gguf_writer w;
  all_metadata(w).add("q", ggml_type::q8_0, sample(2, 64, 10)).add("f", ggml_type::f16, sample(3, 4, 11));
  const auto bytes = w.bytes();
  const auto f0 = open_bytes(bytes);
  std::mt19937_64 rng(test::seed());
  for (std::size_t i = 0; i < f0.data_start(); ++i)
    for (int trial = 0; trial < 3; ++trial) {
      auto b = bytes;
      b[i] = static_cast<std::uint8_t>(rng());
      INFO("byte " << i << " = " << int(b[i]));
      try {
        const auto f = open_bytes(b);
        for (const auto& t : f.tensors())
          if (t.known_type() && t.is_2d() && t.rows() * t.cols() > 0 && t.rows() * t.cols() < (1u << 20))
            (void)f.load_matrix(t.name);
      } catch (const error&) {
      }
    }
}

// ---------------------------------------------------------------------------------------------
// A file assembled byte by byte from the GGUF specification (ggml docs/gguf.md, v3), without the
// library's writer: the reader must agree with the spec, not only with bitdial's own writer.
// ---------------------------------------------------------------------------------------------

namespace {

/// Little-endian byte assembly, written here from the spec (no detail::put_le).
struct spec_bytes {
  std::vector<std::uint8_t> b;
  void u8(std::uint8_t v) { b.push_back(v); }
  void u16(std::uint16_t v) {
    for (int i = 0; i < 2; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void f32(float v) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    u32(bits);
  }
  void str(const std::string& s) {  // gguf_string_t: u64 length, then the bytes, no terminator
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  void pad_to(std::size_t alignment) {
    while (b.size() % alignment != 0) b.push_back(0);
  }
};

/// The fixture's Q8_0 tensor: 2 rows x 64 = 4 blocks. d per block (fp16 bits and their value,
/// decoded by hand: 0x3800 = 2^-1; 0x3555 = (1 + 341/1024)·2^-2; 0x1400 = 2^-10; 0x0001 = 2^-24,
/// the smallest subnormal) and codes q(r, c) covering -128..127, with -128, 127, 0, -1 first.
constexpr std::uint16_t fixture_d_bits[4] = {0x3800, 0x3555, 0x1400, 0x0001};
constexpr double fixture_d[4] = {0.5, 0.333251953125, 0.0009765625, 5.9604644775390625e-08};
std::int8_t fixture_q(std::size_t r, std::size_t c) {
  if (r == 0 && c < 4) return static_cast<std::int8_t>(c == 0 ? -128 : c == 1 ? 127 : c == 2 ? 0 : -1);
  return static_cast<std::int8_t>(static_cast<int>((c * 37 + r * 11) % 256) - 128);
}
constexpr float fixture_f32[6] = {1.5f, -2.0f, 0.1f, 3.0f, -0.125f, 1024.0f};  // 2 rows x 3

struct spec_fixture {
  std::vector<std::uint8_t> bytes;
  std::size_t data_start = 0;
  std::size_t q8_ne0_at = 0;  // file position of the Q8_0 tensor's ne[0]
};

/// GGUF v3, alignment 64 from general.alignment: the header ends at byte 261, so the data section
/// starts at 320 (the default alignment 32 would put it at 288).
/// Tensor infos list the Q8_0 tensor first but store its data second (offset 64), so the reader
/// must follow offsets, not the order of the infos.
spec_fixture spec_file(std::uint64_t q8_offset = 64) {
  spec_fixture f;
  spec_bytes o;
  o.u8('G'), o.u8('G'), o.u8('U'), o.u8('F');  // magic: 0x47 0x47 0x55 0x46
  o.u32(3);                                    // version
  o.u64(2);                                    // tensor_count
  o.u64(3);                                    // metadata_kv_count
  o.str("general.architecture");
  o.u32(8);  // GGUF_METADATA_VALUE_TYPE_STRING
  o.str("llama-hand");
  o.str("llama.context_length");
  o.u32(4);  // UINT32
  o.u32(4096);
  o.str("general.alignment");
  o.u32(4);
  o.u32(64);
  // tensor info: name, n_dims, ne[n_dims] (ne0 = contiguous row length), ggml_type, offset
  o.str("blk.0.ffn_down.weight");
  o.u32(2);
  f.q8_ne0_at = o.b.size();
  o.u64(64);  // ne0: 64 columns
  o.u64(2);   // ne1: 2 rows
  o.u32(8);   // GGML_TYPE_Q8_0
  o.u64(q8_offset);
  o.str("token_embd.weight");
  o.u32(2);
  o.u64(3);  // ne0: 3 columns
  o.u64(2);  // ne1: 2 rows
  o.u32(0);  // GGML_TYPE_F32
  o.u64(0);
  o.pad_to(64);
  f.data_start = o.b.size();
  for (float v : fixture_f32) o.f32(v);  // data + 0: F32, 24 bytes
  o.pad_to(64);
  for (std::size_t blk = 0; blk < 4; ++blk) {  // data + 64: Q8_0, 4 blocks of 34 bytes
    o.u16(fixture_d_bits[blk]);
    for (std::size_t i = 0; i < 32; ++i) o.u8(static_cast<std::uint8_t>(fixture_q(blk / 2, blk % 2 * 32 + i)));
  }
  o.pad_to(64);
  f.bytes = std::move(o.b);
  return f;
}

std::string write_temp(const std::vector<std::uint8_t>& bytes, const char* tag) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("bitdial_test_gguf_" + std::string(tag) + "_" + std::to_string(std::random_device{}()) + ".gguf");
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
  return path.string();
}

}  // namespace

TEST_CASE("gguf: a hand-assembled v3 file (spec bytes, no library writer) reads back exactly", "[gguf][spec]") {
  const spec_fixture fx = spec_file();
  // Header: 24 bytes + KVs (28 + 4 + 8 + 10 = 50, 28 + 4 + 4 = 36, 25 + 4 + 4 = 33) + infos (29 + 4 +
  // 16 + 4 + 8 = 61, 25 + 4 + 16 + 4 + 8 = 57) = 261, padded to 320; data 64 + 136, padded to 256.
  REQUIRE(fx.data_start == 320);
  REQUIRE(fx.bytes.size() == 320 + 256);
  const std::string path = write_temp(fx.bytes, "spec");
  const gguf_file f = gguf_file::open(path);
  std::filesystem::remove(path);

  CHECK(f.version() == 3);
  CHECK(f.alignment() == 64);
  CHECK(f.data_start() == fx.data_start);
  REQUIRE(f.metadata().size() == 3);
  const gguf_kv* arch = f.find_metadata("general.architecture");
  REQUIRE(arch != nullptr);
  CHECK(arch->type == gguf_type::string);
  CHECK(std::get<std::string>(arch->value) == "llama-hand");
  const gguf_kv* ctx = f.find_metadata("llama.context_length");
  REQUIRE(ctx != nullptr);
  CHECK(ctx->type == gguf_type::uint32);
  CHECK(std::get<std::uint64_t>(ctx->value) == 4096);
  CHECK(std::get<std::uint64_t>(f.find_metadata("general.alignment")->value) == 64);

  // Tensor infos in file order; ne as stored (ne0 first), rows = ne1, cols = ne0.
  REQUIRE(f.tensors().size() == 2);
  const gguf_tensor& q = f.tensors()[0];
  CHECK(q.name == "blk.0.ffn_down.weight");
  CHECK(q.ne == std::vector<std::uint64_t>{64, 2});
  CHECK(q.type == ggml_type::q8_0);
  CHECK(q.offset == 64);
  CHECK(q.bytes == 4 * 34);
  CHECK(q.rows() == 2);
  CHECK(q.cols() == 64);
  const gguf_tensor& e = f.tensors()[1];
  CHECK(e.name == "token_embd.weight");
  CHECK(e.ne == std::vector<std::uint64_t>{3, 2});
  CHECK(e.type == ggml_type::f32);
  CHECK(e.offset == 0);
  CHECK(e.bytes == 24);

  // F32: a 2 x 3 row-major matrix, bit for bit.
  const float_matrix emb = f.load_matrix("token_embd.weight");
  CHECK(emb.rows == 2);
  CHECK(emb.cols == 3);
  CHECK(emb.data == std::vector<float>(std::begin(fixture_f32), std::end(fixture_f32)));
  CHECK(emb(1, 0) == 3.0f);  // element (row 1, col 0) is the 4th value: ne0 is the row length

  // Q8_0 imported as the INT8 master: codes are the stored int8, scales the decoded fp16 d, one
  // per 32 consecutive elements of a row, in row-major block order; values d·q exactly.
  const auto m = f.import_q8_0("blk.0.ffn_down.weight");
  CHECK(m.rows == 2);
  CHECK(m.cols == 64);
  CHECK(m.bits == 8);
  CHECK(m.gran == granularity::per_group(32));
  CHECK(m.zero_points.empty());
  REQUIRE(m.scales.size() == 4);
  for (std::size_t blk = 0; blk < 4; ++blk) {
    INFO("block " << blk);
    CHECK(m.scales[blk] == static_cast<float>(fixture_d[blk]));
  }
  REQUIRE(m.codes.size() == 128);
  const float_matrix deq = f.load_matrix("blk.0.ffn_down.weight");
  REQUIRE(deq.rows == 2);
  REQUIRE(deq.cols == 64);
  for (std::size_t r = 0; r < 2; ++r)
    for (std::size_t c = 0; c < 64; ++c) {
      INFO("r = " << r << ", c = " << c);
      REQUIRE(m.codes[r * 64 + c] == fixture_q(r, c));
      const float want = static_cast<float>(fixture_d[r * 2 + c / 32] * fixture_q(r, c));  // exact: <= 19 bits
      REQUIRE(m.dequantize(r, c) == want);
      REQUIRE(deq(r, c) == want);
    }
  CHECK(m.codes[0] == -128);
  CHECK(m.codes[1] == 127);
  // Served from bit-planes, width 8 is the master itself.
  const auto stack = bit_plane_stack::pack(m);
  CHECK(view(stack, 8).dequantize(1, 40) == static_cast<float>(fixture_d[3] * fixture_q(1, 40)));
}

TEST_CASE("gguf: hand-assembled malformed files are rejected with the problem named", "[gguf][spec][errors]") {
  // The Q8_0 data (136 bytes) at offset 128 of a 256-byte data section runs past the end of the file.
  {
    const spec_fixture fx = spec_file(128);
    const std::string path = write_temp(fx.bytes, "past_eof");
    CHECK_THROWS_WITH(gguf_file::open(path), Contains("tensor 'blk.0.ffn_down.weight'") && Contains("offset = 128") &&
                                                 Contains("past the end of the file"));
    std::filesystem::remove(path);
  }
  // Offset 32 is aligned for the default 32 but not for this file's general.alignment = 64.
  CHECK_THROWS_WITH(open_bytes(spec_file(32).bytes), Contains("tensor 'blk.0.ffn_down.weight'") &&
                                                         Contains("offset = 32") && Contains("misaligned") &&
                                                         Contains("alignment 64"));
  // The file cut inside the Q8_0 data: the header is intact, the data is not.
  {
    auto cut = spec_file().bytes;
    cut.resize(320 + 64 + 100);
    CHECK_THROWS_WITH(open_bytes(cut), Contains("blk.0.ffn_down.weight") && Contains("past the end of the file"));
  }
  // A key whose u64 length runs past the end of the file.
  {
    auto b = spec_file().bytes;
    const std::size_t key_len_at = 24;  // first KV: its key's u64 length
    b[key_len_at + 4] = 0x01;           // length 20 + 2^32
    CHECK_THROWS_WITH(open_bytes(b), Contains("metadata key") && Contains("past the end of the file"));
  }
  // Q8_0 with ne0 = 48: not a whole number of 32-element blocks.
  {
    const spec_fixture fx = spec_file();
    auto b = fx.bytes;
    REQUIRE(b[fx.q8_ne0_at] == 64);
    b[fx.q8_ne0_at] = 48;
    CHECK_THROWS_WITH(open_bytes(b), Contains("ne[0] = 48") && Contains("multiple of the Q8_0 block"));
  }
}
