// safetensors: files the test writes (F32, F16, BF16, other dtypes, metadata), exact round trips,
// and malformed files — every truncation, header corruptions, forged fields — each rejected by name.
#include <bitdial/format/safetensors.hpp>

#include <cstdio>
#include <string>

#include "test_support.hpp"

using namespace bitdial;
using Catch::Contains;

namespace {

float_matrix sample(std::size_t rows, std::size_t cols, std::uint64_t salt) {
  return {rows, cols, test::normal(rows * cols, salt, 0.5f)};
}

/// A file with a raw JSON header and `data_bytes` zero bytes of data.
std::vector<std::uint8_t> raw_file(const std::string& json, std::size_t data_bytes) {
  std::vector<std::uint8_t> f;
  detail::put_le(f, std::uint64_t{json.size()});
  f.insert(f.end(), json.begin(), json.end());
  f.resize(f.size() + data_bytes, 0);
  return f;
}

safetensors_file open_bytes(const std::vector<std::uint8_t>& b) {
  return safetensors_file::from_bytes(b.data(), b.size());
}

}  // namespace

TEST_CASE("safetensors round trip: F32 exact, F16 and BF16 exactly the narrowed values", "[safetensors]") {
  BITDIAL_LOG_SEED();
  const auto a = sample(5, 7, 1), b = sample(3, 16, 2), c = sample(4, 4, 3);
  safetensors_writer w;
  w.metadata("format", "pt")
      .add("w.f32", st_dtype::f32, a)
      .add("w.f16", st_dtype::f16, b)
      .add("w.bf16", st_dtype::bf16, c);
  w.add("bias", st_dtype::f32, {7}, std::vector<float>(7, 0.5f));           // 1-D
  w.add_raw("positions", "I64", {2, 2}, std::vector<std::uint8_t>(32, 1));  // listed, not loaded
  w.add("scalar", st_dtype::f32, {}, {3.0f});                               // 0-D
  const auto bytes = w.bytes();
  const auto f = open_bytes(bytes);
  REQUIRE(f.tensors().size() == 6);
  CHECK(f.tensors()[0].name == "w.f32");  // header order is kept
  CHECK(f.find("w.f16").dtype == st_dtype::f16);
  CHECK(f.find("w.f16").shape == std::vector<std::uint64_t>{3, 16});
  CHECK(f.find("positions").dtype == st_dtype::i64);
  CHECK(f.find("scalar").shape.empty());
  CHECK((f.data_start() - 8) % 8 == 0);

  const auto ra = f.load_matrix("w.f32");
  CHECK(ra.rows == 5);
  CHECK(ra.cols == 7);
  CHECK(ra.data == a.data);
  const auto rb = f.load_matrix("w.f16");
  for (std::size_t i = 0; i < b.data.size(); ++i) REQUIRE(rb.data[i] == half_to_float(float_to_half(b.data[i])));
  const auto rc = f.load_matrix("w.bf16");
  for (std::size_t i = 0; i < c.data.size(); ++i) REQUIRE(rc.data[i] == bf16_to_float(float_to_bf16(c.data[i])));

  const auto all = f.load_matrices();  // the three 2-D float tensors, in order
  REQUIRE(all.size() == 3);
  CHECK(all[0].name == "w.f32");
  CHECK(all[1].name == "w.f16");
  CHECK(all[2].matrix.data == rc.data);

  // Hand-built F16 / BF16 bytes: 1.0, -2.0, 65504, smallest subnormal, 0.333984375.
  const std::vector<std::uint8_t> h = {0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0x58, 0x35, 0x00, 0x00};
  const auto hf = open_bytes(safetensors_writer().add_raw("h", "F16", {2, 3}, h).bytes()).load_matrix("h");
  CHECK(hf.data == std::vector<float>{1.0f, -2.0f, 65504.0f, 0x1p-24f, 0.333984375f, 0.0f});
  const std::vector<std::uint8_t> bf = {0x80, 0x3F, 0x00, 0xC0};  // 1.0, -2.0
  CHECK(open_bytes(safetensors_writer().add_raw("b", "BF16", {1, 2}, bf).bytes()).load_matrix("b").data ==
        std::vector<float>{1.0f, -2.0f});

  // Through a file on disk.
  const std::string path = "bitdial_test.safetensors";
  w.save(path);
  CHECK(safetensors_file::open(path).load_matrix("w.f32").data == a.data);
  std::remove(path.c_str());
}

TEST_CASE("safetensors: out-of-order, overlapping and padded layouts are accepted when in bounds", "[safetensors]") {
  // b's data first, a overlapping it; header padded with spaces; a trailing hole.
  const std::string json =
      R"({"a":{"dtype":"F32","shape":[1,2],"data_offsets":[4,12]},"b":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},)"
      R"("__metadata__":{"k":"v"}}    )";
  auto bytes = raw_file(json, 16);
  const float v[3] = {1.5f, -2.0f, 4.0f};
  std::memcpy(bytes.data() + 8 + json.size(), v, sizeof v);
  const auto f = open_bytes(bytes);
  CHECK(f.load_matrix("b").data == std::vector<float>{1.5f, -2.0f});
  CHECK(f.load_matrix("a").data == std::vector<float>{-2.0f, 4.0f});
  CHECK(open_bytes(raw_file("{}", 0)).tensors().empty());
}

TEST_CASE("safetensors: every truncation of a small file is rejected, never read out of bounds",
          "[safetensors][errors]") {
  const auto bytes =
      safetensors_writer().add("m", st_dtype::f16, sample(2, 3, 4)).add("n", st_dtype::f32, sample(1, 2, 5)).bytes();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    const std::string expect = n < 8 ? "truncated header" : "truncated file";
    CHECK_THROWS_WITH(safetensors_file::from_bytes(bytes.data(), n), Contains(expect));
  }
  CHECK_NOTHROW(safetensors_file::from_bytes(bytes.data(), bytes.size()));
}

TEST_CASE("safetensors: malformed headers are rejected with the problem named", "[safetensors][errors]") {
  auto with_len = [](std::uint64_t len, std::size_t total) {
    std::vector<std::uint8_t> f;
    detail::put_le(f, len);
    f.resize(total, '{');
    return f;
  };
  CHECK_THROWS_WITH(open_bytes(with_len(1000, 100)), Contains("header length = 1000") && Contains("past the end"));
  CHECK_THROWS_WITH(open_bytes(with_len(UINT64_MAX, 100)), Contains("absurd"));
  CHECK_THROWS_WITH(open_bytes(with_len(100'000'001, 100)), Contains("absurd"));
  CHECK_THROWS_WITH(open_bytes(with_len(0, 8)), Contains("header length = 0"));

  const auto bad = [](const std::string& json, std::size_t data = 64) { return open_bytes(raw_file(json, data)); };
  CHECK_THROWS_WITH(bad("{\"a\": "), Contains("invalid JSON"));
  CHECK_THROWS_WITH(bad("{\"a\":1} trailing"), Contains("invalid JSON"));
  CHECK_THROWS_WITH(bad("[1, 2]"), Contains("expected an object"));
  CHECK_THROWS_WITH(bad(R"({"a": 3})"), Contains("tensor 'a'") && Contains("expected an object"));
  CHECK_THROWS_WITH(bad(R"({"a":{"shape":[1],"data_offsets":[0,4]}})"), Contains("dtype: missing"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})"),
                    Contains("dtype = \"Q4\"") && Contains("unknown dtype"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})"),
                    Contains("dtype: missing or not a string"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})"), Contains("shape: missing"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})"),
                    Contains("not a non-negative integer"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})"),
                    Contains("not a non-negative integer"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[1]}})"), Contains("data_offsets = (missing)"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})"),
                    Contains("two non-negative integers"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})"), Contains("begin after end"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})"),
                    Contains("hold 20 bytes") && Contains("needs 24") && Contains("shape/offset mismatch"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,24]}})"),
                    Contains("shape/offset mismatch"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[56,72]}})"),
                    Contains("data_offsets end = 72") && Contains("past the end"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
                    Contains("overflow") && Contains("absurd"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})"),
                    Contains("byte size overflows"));
  CHECK_THROWS_WITH(bad(R"({"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}})"),
                    Contains("not a non-negative integer"));
}

TEST_CASE("safetensors: requests for missing, non-2-D or non-float tensors are refused", "[safetensors][errors]") {
  safetensors_writer w;
  w.add("v", st_dtype::f32, {4}, std::vector<float>(4, 1.0f))
      .add("t", st_dtype::f32, {2, 2, 2}, std::vector<float>(8, 1.0f))
      .add("e", st_dtype::f32, {0, 3}, {})
      .add_raw("i", "I32", {2, 2}, std::vector<std::uint8_t>(16, 0));
  const auto f = open_bytes(w.bytes());
  CHECK_THROWS_WITH(f.load_matrix("nope"), Contains("tensor = 'nope'") && Contains("unknown tensor name"));
  CHECK_THROWS_WITH(f.load_matrix("v"), Contains("shape = [4]") && Contains("not 2-D"));
  CHECK_THROWS_WITH(f.load_matrix("t"), Contains("not 2-D"));
  CHECK_THROWS_WITH(f.load_matrix("e"), Contains("empty matrix"));
  CHECK_THROWS_WITH(f.load_matrix("i"), Contains("dtype = I32") && Contains("unsupported dtype"));
  CHECK(f.load_matrices().empty());
  CHECK_THROWS_WITH(safetensors_file::open("/nonexistent/x.safetensors"), Contains("cannot open"));
  CHECK_THROWS_WITH(safetensors_writer().add("x", st_dtype::i8, {1}, {1.0f}), Contains("writer stores"));
  CHECK_THROWS_WITH(safetensors_writer().add("x", st_dtype::f32, {2}, {1.0f}), Contains("values.size() = 1"));
}

TEST_CASE("safetensors: random single-byte corruptions of the header either parse or throw bitdial::error",
          "[safetensors][errors]") {
  BITDIAL_LOG_SEED();
  const auto bytes = safetensors_writer().add("m", st_dtype::f16, sample(3, 5, 6)).metadata("a", "b").bytes();
  std::uint64_t hlen = 0;
  std::memcpy(&hlen, bytes.data(), 8);
  std::mt19937_64 rng(test::seed());
  for (std::size_t i = 0; i < 8 + hlen; ++i)
    for (int trial = 0; trial < 4; ++trial) {
      auto b = bytes;
      b[i] = static_cast<std::uint8_t>(rng());
      INFO("byte " << i << " = " << int(b[i]));
      try {
        const auto f = open_bytes(b);
        for (const auto& t : f.tensors())
          if (safetensors_file::is_float_matrix(t)) (void)f.load_matrix(t.name);
      } catch (const error&) {
        // rejected by name: fine
      }
    }
}
