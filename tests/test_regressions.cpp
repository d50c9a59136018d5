// Regressions found by fuzzing (tests/fuzz/): each input that once broke an invariant, as a test.
// The raw inputs are also kept in tests/fuzz/corpus/<target>/regress_* and replayed by the
// replay_fuzz_* tests.
#include <bitdial/format/serialize.hpp>

#include <cstring>

#include "test_support.hpp"

using namespace bitdial;

namespace {

std::vector<std::uint8_t> one_by_one_file() {
  const quantized_matrix<std::int8_t> m{1, 1, 8, granularity::per_row(), {-3}, {0.5f}, {}};
  return serialize(bit_plane_stack::pack(m));
}

void reseal(std::vector<std::uint8_t>& f) {
  const std::uint64_t s = detail::fnv1a64(f.data(), f.size() - 8);
  std::memcpy(f.data() + f.size() - 8, &s, 8);
}

}  // namespace

TEST_CASE("fuzz_deserialize: a file without zero points reads back (no memcpy from null)", "[regression]") {
  // deserialize copied the empty zero-point block with memcpy(vector<int>().data() = null, p, 0),
  // undefined behaviour (UBSan: "null pointer passed as argument 1"). Sanitizer builds replay it.
  const auto f = one_by_one_file();
  const auto s = deserialize(f.data(), f.size());
  CHECK(s.zero_points().empty());
  CHECK(s.code(0, 0) == -3);
}

TEST_CASE("fuzz_deserialize: a group size with per-row granularity is rejected", "[regression]") {
  // The reader ignored the group field unless the granularity was per group, so 2^15 different
  // files decoded to one stack and serialize(deserialize(f)) != f. Offset 48 is the u64 group.
  auto f = one_by_one_file();
  const std::uint64_t group = 32768;
  std::memcpy(f.data() + 48, &group, 8);
  reseal(f);
  CHECK_THROWS_WITH(deserialize(f.data(), f.size()), Catch::Contains("group = 32768") && Catch::Contains("must be 0"));
}
