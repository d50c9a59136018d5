// Stack files: byte-identical round trips; truncated, padded, corrupted and forged files rejected
// by name, never read past their end.
#include <bitdial/format/serialize.hpp>

#include <cstdio>
#include <random>

#include "test_support.hpp"

using namespace bitdial;

namespace {

bit_plane_stack sample(granularity g, bool is_signed, int bits = 8) {
  std::mt19937_64 rng(test::seed());
  const std::size_t rows = 37, cols = 96;
  if (is_signed) {
    quantized_matrix<std::int8_t> m{rows, cols, bits, g, {}, {}, {}};
    std::uniform_int_distribution<int> d(signed_min(bits), signed_max(bits));
    for (std::size_t i = 0; i < rows * cols; ++i) m.codes.push_back(static_cast<std::int8_t>(d(rng)));
    for (std::size_t i = 0; i < g.count(rows, cols); ++i) m.scales.push_back(0.25f + float(i));
    return bit_plane_stack::pack(m);
  }
  quantized_matrix<std::uint8_t> m{rows, cols, bits, g, {}, {}, {}};
  std::uniform_int_distribution<int> d(0, unsigned_max(bits));
  for (std::size_t i = 0; i < rows * cols; ++i) m.codes.push_back(static_cast<std::uint8_t>(d(rng)));
  for (std::size_t i = 0; i < g.count(rows, cols); ++i) {
    m.scales.push_back(0.5f);
    m.zero_points.push_back(d(rng));
  }
  return bit_plane_stack::pack(m);
}

/// Rewrites the checksum so a forged field reaches the field checks.
void reseal(std::vector<std::uint8_t>& f) {
  const std::uint64_t s = detail::fnv1a64(f.data(), f.size() - 8);
  std::memcpy(f.data() + f.size() - 8, &s, 8);
}

}  // namespace

TEST_CASE("save/load round trip is byte-identical", "[serialize]") {
  BITDIAL_LOG_SEED();
  for (auto g : {granularity::per_row(), granularity::per_group(32), granularity::per_tensor()})
    for (bool sg : {true, false})
      for (int bits : {1, 3, 8}) {
        const auto s = sample(g, sg, bits);
        const auto bytes = serialize(s);
        const auto back = deserialize(bytes.data(), bytes.size());
        CHECK(serialize(back) == bytes);
        CHECK(std::equal(back.bytes().begin(), back.bytes().end(), s.bytes().begin(), s.bytes().end()));
        for (std::size_t r = 0; r < s.rows(); ++r)
          for (std::size_t grp = 0; grp < s.groups_per_row(); ++grp)
            CHECK(back.group_code_sum(r, grp) == s.group_code_sum(r, grp));
      }
  // A mid-rise (code offset) stack keeps its offset.
  quantized_matrix<std::uint8_t> mr{2, 3, 2, granularity::per_row(), {0, 1, 2, 3, 0, 1}, {0.5f, 2.0f}, {}};
  const auto ms = bit_plane_stack::pack(mr, -3);
  const auto mb = serialize(ms);
  CHECK(deserialize(mb.data(), mb.size()).code_offset2() == -3);
  const auto s = sample(granularity::per_row(), true);
  const std::string path = "bitdial_test_stack.bin";
  save(s, path);
  CHECK(serialize(load(path)) == serialize(s));
  std::remove(path.c_str());
}

TEST_CASE("every truncation and every single-byte corruption is rejected", "[serialize][errors]") {
  const auto bytes = serialize(sample(granularity::per_row(), true, 2));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK_THROWS_AS(deserialize(bytes.data(), n), error);
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x5a;
    INFO("byte " << i << " flipped");
    CHECK_THROWS_AS(deserialize(bad.data(), bad.size()), error);
  }
  auto padded = bytes;
  padded.insert(padded.end() - 8, 0);
  reseal(padded);
  CHECK_THROWS_WITH(deserialize(padded.data(), padded.size()), Catch::Contains("trailing bytes"));
}

TEST_CASE("forged headers are rejected by field name", "[serialize][errors]") {
  const auto good = serialize(sample(granularity::per_row(), true));
  auto forge = [&](std::size_t off, auto value) {
    auto f = good;
    std::memcpy(f.data() + off, &value, sizeof value);
    reseal(f);
    return f;
  };
  auto expect = [](const std::vector<std::uint8_t>& f, const char* what) {
    CHECK_THROWS_WITH(deserialize(f.data(), f.size()), Catch::Contains(what));
  };
  expect(forge(8, std::uint32_t{4}), "version = 4");
  expect(forge(8, std::uint32_t{2}), "fit count");          // version 2 needs its fit block
  expect(forge(8, std::uint32_t{3}), "version 3 offsets");  // version 3 needs its offset block
  expect(forge(12, std::uint32_t{7}), "kind = 7");
  expect(forge(16, std::uint64_t{1} << 62), "larger than the file");
  expect(forge(24, std::uint64_t{95}), "padding bit set");
  expect(forge(24, std::uint64_t{200}), "plane bytes");
  expect(forge(32, std::uint32_t{9}), "master bits = 9");
  expect(forge(36, std::uint32_t{4}), "flags = 4");
  expect(forge(40, std::uint32_t{3}), "granularity = 3");
  expect(forge(44, std::int32_t{-1}), "code_offset2 = -1");
  expect(forge(56, std::uint64_t{36}), "scale count = 36");
  expect(forge(64, std::uint64_t{5}), "zero-point count = 5");
  expect(forge(80, std::numeric_limits<float>::quiet_NaN()), "scales[0] = nan");
  auto f = good;
  f[0] = 'X';
  expect(f, "magic");
  CHECK_THROWS_WITH(load("/nonexistent/dir/x.bin"), Catch::Contains("file = /nonexistent/dir/x.bin"));
  CHECK_THROWS_WITH(save(sample(granularity::per_row(), true), "/nonexistent/dir/x.bin"),
                    Catch::Contains("cannot open for writing"));
}
