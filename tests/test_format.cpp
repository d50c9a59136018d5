// Bit-plane stack: layout geometry, pack/unpack round trips for every width and awkward shapes,
// padding, plane counts, and rejection of malformed masters.
#include <bitdial/format/bit_planes.hpp>

#include <random>

#include "test_support.hpp"

using namespace bitdial;

namespace {

template <class Code>
quantized_matrix<Code> random_master(std::size_t rows, std::size_t cols, int bits, granularity g, std::uint64_t salt) {
  std::mt19937_64 rng(test::seed() + salt);
  quantized_matrix<Code> m;
  m.rows = rows;
  m.cols = cols;
  m.bits = bits;
  m.gran = g;
  const int lo = std::is_signed_v<Code> ? signed_min(bits) : 0;
  const int hi = std::is_signed_v<Code> ? signed_max(bits) : unsigned_max(bits);
  std::uniform_int_distribution<int> d(lo, hi);
  m.codes.resize(rows * cols);
  for (auto& c : m.codes) c = static_cast<Code>(d(rng));
  m.scales.assign(g.count(rows, cols), 0.5f);
  if (!std::is_signed_v<Code>) m.zero_points.assign(m.scales.size(), 1 << (bits - 1));
  return m;
}

}  // namespace

TEST_CASE("nibble gather/spread are inverse for every 4-code word and bit", "[format]") {
  std::mt19937 rng(1);
  for (int n = 0; n < 2000; ++n) {
    const std::uint32_t w = rng();
    std::uint32_t back = 0;
    for (int i = 0; i < 8; ++i) {
      const std::uint32_t nib = detail::gather_nibble(w, i);
      for (int j = 0; j < 4; ++j) CHECK(((nib >> j) & 1u) == ((w >> (8 * j + i)) & 1u));
      back |= detail::spread_nibble(nib) << i;
    }
    CHECK(back == w);
  }
}

TEST_CASE("tile32x16 geometry: planes are MSB first and top-b bytes are b/B of the total", "[format]") {
  const tile32x16 g{4096, 14336, 8};
  CHECK(g.row_blocks() == 128);
  CHECK(g.k_tiles() == 896);
  CHECK(g.plane_bytes() == 896 * 64);
  CHECK(g.total_bytes() == std::size_t{4096} * 14336);  // 8 planes of 1 bit = 1 byte per weight
  for (std::size_t b = 1; b <= 8; ++b) CHECK(g.bytes_for_planes(b) * 8 == g.total_bytes() * b);
  CHECK(g.plane_offset(0, 7) == 0);
  CHECK(g.plane_offset(0, 0) == 7 * g.plane_bytes());
  CHECK(g.plane_offset(1, 7) == g.block_bytes());
  // Every (row, k) of a block maps to a distinct (byte, bit).
  std::vector<int> seen(64 * 8, 0);
  for (std::size_t r = 0; r < 32; ++r)
    for (std::size_t k = 0; k < 16; ++k) seen[tile32x16::byte_of(r, k) * 8 + tile32x16::bit_of(r, k)]++;
  for (int s : seen) CHECK(s == 1);
}

TEMPLATE_TEST_CASE_SIG("pack/unpack round trip at every master width", "[format]", ((int B), B), 1, 2, 3, 4, 5, 6, 7,
                       8) {
  BITDIAL_LOG_SEED();
  const std::pair<std::size_t, std::size_t> shapes[] = {{1, 1},   {1, 100}, {77, 1}, {33, 65},
                                                        {64, 64}, {5, 129}, {31, 17}};
  for (auto [rows, cols] : shapes) {
    INFO("shape " << rows << "x" << cols << ", B = " << B);
    const auto ms = random_master<std::int8_t>(rows, cols, B, granularity::per_row(), rows * 131 + cols);
    const auto s = bit_plane_stack::pack(ms);
    const auto back = s.template unpack<std::int8_t>();
    CHECK(back.codes == ms.codes);
    CHECK(back.scales == ms.scales);
    CHECK(back.bits == B);
    CHECK(s.bytes().size() == s.layout().total_bytes());
    CHECK(reinterpret_cast<std::uintptr_t>(s.bytes().data()) % 64 == 0);

    const auto mu = random_master<std::uint8_t>(rows, cols, B, granularity::per_row(), rows * 7 + cols);
    const auto su = bit_plane_stack::pack(mu);
    const auto backu = su.template unpack<std::uint8_t>();
    CHECK(backu.codes == mu.codes);
    CHECK(backu.zero_points == mu.zero_points);
  }
}

TEST_CASE("padding holds no set bits", "[format]") {
  // All codes -1 (every bit set): exactly rows*cols set bits per plane, none in the padding.
  quantized_matrix<std::int8_t> m;
  m.rows = 33;
  m.cols = 70;
  m.bits = 8;
  m.codes.assign(m.rows * m.cols, -1);
  m.scales.assign(m.rows, 1.0f);
  const auto s = bit_plane_stack::pack(m);
  std::size_t set = 0;
  for (std::byte b : s.bytes()) set += std::popcount(std::to_integer<unsigned>(b));
  CHECK(set == m.rows * m.cols * 8);
}

TEST_CASE("plane counts give exact group code sums", "[format]") {
  BITDIAL_LOG_SEED();
  const auto m = random_master<std::int8_t>(9, 96, 8, granularity::per_group(32), 5);
  const auto s = bit_plane_stack::pack(m);
  REQUIRE(s.groups_per_row() == 3);
  for (std::size_t r = 0; r < m.rows; ++r)
    for (std::size_t g = 0; g < 3; ++g) {
      std::int64_t sum = 0;
      for (std::size_t c = 32 * g; c < 32 * g + 32; ++c) sum += m.code(r, c);
      CHECK(s.group_code_sum(r, g) == sum);
    }
}

TEST_CASE("malformed masters are rejected by name", "[format][errors]") {
  auto m = random_master<std::int8_t>(4, 8, 4, granularity::per_row(), 9);
  m.codes[5] = 8;  // outside the 4-bit signed range
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Catch::Contains("codes[5] = 8"));
  m.codes[5] = 0;
  m.scales.pop_back();
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Catch::Contains("scales.size() = 3"));
  m.scales.push_back(1.0f);
  m.bits = 9;
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Catch::Contains("master bits = 9"));
  m.bits = 4;
  m.gran = granularity::per_group(3);
  m.scales.assign(100, 1.0f);
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Catch::Contains("group = 3"));
  quantized_matrix<std::int8_t> empty;
  CHECK_THROWS_WITH(bit_plane_stack::pack(empty), Catch::Contains("must not be empty"));
  const auto ok = bit_plane_stack::pack(random_master<std::int8_t>(2, 2, 3, granularity::per_row(), 1));
  CHECK_THROWS_WITH(ok.unpack<std::uint8_t>(), Catch::Contains("signedness"));
}
