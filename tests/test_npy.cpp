// .npy: files the test writes (v1/v2/v3, <f4 and <f2, 1-D and 2-D) and NumPy's own header
// spellings, exact round trips, and malformed files — every truncation, header corruptions — each
// rejected by name.
#include <bitdial/format/npy.hpp>

#include <cstdio>
#include <string>

#include "test_support.hpp"

using namespace bitdial;
using Catch::Contains;

namespace {

/// A v1 file with a hand-written header dict and `data` bytes.
std::vector<std::uint8_t> v1(const std::string& dict, const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> f = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  detail::put_le(f, static_cast<std::uint16_t>(dict.size()));
  f.insert(f.end(), dict.begin(), dict.end());
  f.insert(f.end(), data.begin(), data.end());
  return f;
}

std::vector<std::uint8_t> floats(std::initializer_list<float> v) {
  std::vector<std::uint8_t> out;
  for (float x : v) detail::put_le(out, x);
  return out;
}

npy_array parse(const std::vector<std::uint8_t>& b) { return parse_npy(b.data(), b.size()); }

}  // namespace

TEST_CASE("npy round trip: v1/v2/v3, f32 exact, f16 the narrowed values, 1-D and 2-D", "[npy]") {
  BITDIAL_LOG_SEED();
  const float_matrix m{3, 5, test::normal(15, 1)};
  const float_matrix row{1, 7, test::normal(7, 2)};
  for (int major : {1, 2, 3}) {
    INFO("version " << major);
    const auto b = npy_bytes(m, npy_dtype::f32, false, major);
    CHECK((b.size() - 60) % 64 == 0);  // data starts on a 64-byte boundary, as NumPy writes it
    CHECK(b[b.size() - 61] == '\n');
    const auto a = parse(b);
    CHECK(a.dims == 2);
    CHECK(a.dtype == npy_dtype::f32);
    CHECK(a.matrix.rows == 3);
    CHECK(a.matrix.cols == 5);
    CHECK(a.matrix.data == m.data);
    const auto h = parse(npy_bytes(m, npy_dtype::f16, false, major));
    CHECK(h.dtype == npy_dtype::f16);
    for (std::size_t i = 0; i < m.data.size(); ++i)
      REQUIRE(h.matrix.data[i] == half_to_float(float_to_half(m.data[i])));
    const auto r = parse(npy_bytes(row, npy_dtype::f32, true, major));
    CHECK(r.dims == 1);
    CHECK(r.matrix.rows == 1);
    CHECK(r.matrix.data == row.data);
  }
  const std::string path = "bitdial_test.npy";
  write_npy(path, m);
  CHECK(read_npy(path).matrix.data == m.data);
  std::remove(path.c_str());
}

TEST_CASE("npy: NumPy's header spellings are read", "[npy]") {
  // As numpy.save writes a (2, 2) float32 array, padded, newline-terminated.
  const auto a =
      parse(v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }          \n", floats({1, 2, 3, 4})));
  CHECK(a.matrix.data == std::vector<float>{1, 2, 3, 4});
  // 1-D "(3,)", keys in another order, double quotes, no trailing comma, Python 2 long.
  const auto b = parse(v1(R"({"shape": (3L,), "fortran_order": True, "descr": "f4"})", floats({5, 6, 7})));
  CHECK(b.dims == 1);
  CHECK(b.matrix.cols == 3);
  CHECK(b.matrix.data == std::vector<float>{5, 6, 7});
  // Half bytes: 1.0, -2.0, 65504, the smallest subnormal.
  const std::vector<std::uint8_t> h = {0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00};
  CHECK(parse(v1("{'descr':'<f2','fortran_order':False,'shape':(4,)}", h)).matrix.data ==
        std::vector<float>{1.0f, -2.0f, 65504.0f, 0x1p-24f});
}

TEST_CASE("npy: every truncation of a small file is rejected", "[npy][errors]") {
  const auto b = npy_bytes(float_matrix{2, 3, {1, 2, 3, 4, 5, 6}}, npy_dtype::f16, false, 2);
  for (std::size_t n = 0; n < b.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK_THROWS_WITH(parse_npy(b.data(), n), Contains("truncated"));
  }
  CHECK_NOTHROW(parse_npy(b.data(), b.size()));
  auto longer = b;
  longer.push_back(0);
  CHECK_THROWS_WITH(parse(longer), Contains("trailing bytes"));
}

TEST_CASE("npy: malformed headers and unsupported arrays are rejected with the problem named", "[npy][errors]") {
  const auto d4 = floats({1, 2, 3, 4});
  auto bad_magic = v1("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", d4);
  bad_magic[1] = 'M';
  CHECK_THROWS_WITH(parse(bad_magic), Contains("magic") && Contains("not a .npy file"));
  auto bad_version = v1("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", d4);
  bad_version[6] = 4;
  CHECK_THROWS_WITH(parse(bad_version), Contains("version = 4.0") && Contains("unsupported"));
  bad_version[6] = 1, bad_version[7] = 1;
  CHECK_THROWS_WITH(parse(bad_version), Contains("version = 1.1"));
  {
    std::vector<std::uint8_t> f = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0};
    detail::put_le(f, std::uint32_t{0xFFFFFFFF});
    f.resize(64, ' ');
    CHECK_THROWS_WITH(parse(f), Contains("header length = 4294967295") && Contains("absurd"));
    f.resize(8);
    detail::put_le(f, std::uint32_t{1000});
    f.resize(64, ' ');
    CHECK_THROWS_WITH(parse(f), Contains("header length = 1000") && Contains("past the end"));
  }
  const auto hdr = [&](const std::string& dict, const std::vector<std::uint8_t>& data) {
    return parse(v1(dict, data));
  };
  CHECK_THROWS_WITH(hdr("{'descr': '>f4', 'fortran_order': False, 'shape': (4,)}", d4),
                    Contains("descr = '>f4'") && Contains("big-endian"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", d4), Contains("unsupported dtype"));
  CHECK_THROWS_WITH(hdr("{'descr': '<i4', 'fortran_order': False, 'shape': (4,)}", d4), Contains("descr = '<i4'"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}", d4),
                    Contains("fortran_order = True"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", floats({1})), Contains("must be 1-D"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2)}", d4),
                    Contains("shape = [1, 2, 2]"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4)}", {}), Contains("empty array"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", d4),
                    Contains("overflow"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", d4),
                    Contains("overflows 64 bits"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,)}", d4),
                    Contains("truncated file"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (5,)}", d4),
                    Contains("data = 16 bytes") && Contains("needs 20") && Contains("truncated file"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", d4), Contains("trailing bytes"));
  // Malformed dicts.
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False}", d4), Contains("missing key"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'extra': 1}", d4),
                    Contains("key 'extra'") && Contains("unexpected"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", d4),
                    Contains("'descr' given twice"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': false, 'shape': (4,)}", d4), Contains("True or False"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,)}", d4),
                    Contains("non-negative integer"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (4 4)}", d4),
                    Contains("expected ',' or ')'"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4, 'fortran_order': False, 'shape': (4,)}", d4), Contains("malformed header"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4' 'fortran_order': False, 'shape': (4,)}", d4), Contains("expected ',' or '}'"));
  CHECK_THROWS_WITH(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} x", d4), Contains("after the dict"));
  CHECK_THROWS_WITH(hdr("['descr']", d4), Contains("expected '{'"));
  CHECK_THROWS_WITH(hdr("{'descr': 'a\\'b'}", d4), Contains("escape"));
  CHECK_THROWS_WITH(hdr("{'descr", d4), Contains("unterminated string"));
  CHECK_THROWS_WITH(read_npy("/nonexistent/x.npy"), Contains("cannot open"));
  CHECK_THROWS_WITH(npy_bytes(float_matrix{2, 2, {1, 2, 3, 4}}, npy_dtype::f32, true),
                    Contains("a 1-D array is one row"));
}

TEST_CASE("npy: random corruptions of the header either parse or throw bitdial::error", "[npy][errors]") {
  BITDIAL_LOG_SEED();
  const auto b = npy_bytes(float_matrix{2, 3, {1, 2, 3, 4, 5, 6}});
  std::mt19937_64 rng(test::seed());
  for (std::size_t i = 0; i < b.size() - 24; ++i)
    for (int trial = 0; trial < 8; ++trial) {
      auto c = b;
      c[i] = static_cast<std::uint8_t>(rng());
      try {
        (void)parse(c);
      } catch (const error&) {
      }
    }
}
