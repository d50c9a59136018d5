// Plane kernels on every ISA this CPU and build support, forced in turn, against the reference
// kernel: exact integers, hence identical floats, for every width, rule, shape, granularity,
// token count, row range and thread count.
#include <bitdial/kernels/gemm.hpp>

#include <random>

#include "test_support.hpp"

using namespace bitdial;

namespace {

struct problem {
  bit_plane_stack stack;
  std::vector<std::int8_t> xq;
  std::vector<float> xs;
  std::size_t tokens, cols;
  token_batch batch() const { return token_batch{xq.data(), xs.data(), tokens, cols, cols}; }
};

problem make_problem(std::size_t rows, std::size_t cols, std::size_t tokens, int master_bits, bool is_signed,
                     granularity g, std::uint64_t salt, bool extreme = false) {
  std::mt19937_64 rng(test::seed() + salt);
  problem pr{{}, {}, {}, tokens, cols};
  std::uniform_real_distribution<float> sd(0.01f, 2.0f);
  if (is_signed) {
    quantized_matrix<std::int8_t> m;
    m.rows = rows, m.cols = cols, m.bits = master_bits, m.gran = g;
    std::uniform_int_distribution<int> d(signed_min(master_bits), signed_max(master_bits));
    for (std::size_t i = 0; i < rows * cols; ++i)
      m.codes.push_back(
          static_cast<std::int8_t>(extreme ? (i % 2 ? signed_min(master_bits) : signed_max(master_bits)) : d(rng)));
    for (std::size_t i = 0; i < g.count(rows, cols); ++i) m.scales.push_back(sd(rng));
    pr.stack = bit_plane_stack::pack(m);
  } else {
    quantized_matrix<std::uint8_t> m;
    m.rows = rows, m.cols = cols, m.bits = master_bits, m.gran = g;
    std::uniform_int_distribution<int> d(0, unsigned_max(master_bits));
    for (std::size_t i = 0; i < rows * cols; ++i) m.codes.push_back(static_cast<std::uint8_t>(d(rng)));
    for (std::size_t i = 0; i < g.count(rows, cols); ++i) {
      m.scales.push_back(sd(rng));
      m.zero_points.push_back(d(rng));
    }
    pr.stack = bit_plane_stack::pack(m);
  }
  std::uniform_int_distribution<int> xd(-128, 127);
  for (std::size_t i = 0; i < tokens * cols; ++i) pr.xq.push_back(static_cast<std::int8_t>(extreme ? -128 : xd(rng)));
  for (std::size_t n = 0; n < tokens; ++n) pr.xs.push_back(sd(rng));
  return pr;
}

void check_all_isas(const plane_view& v, const problem& pr, const char* what) {
  std::vector<float> want(pr.tokens * v.rows()), got(want.size());
  reference::gemm(v, pr.batch(), matrix_view<float>(want.data(), pr.tokens, v.rows()));
  for (kernel_isa isa : available_isas()) {
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
      std::fill(got.begin(), got.end(), -1.0f);
      INFO(what << ": isa = " << to_string(isa) << ", threads = " << threads << ", b = " << v.bits << ", rule = "
                << to_string(v.rule) << ", shape = " << v.rows() << "x" << v.cols() << ", tokens = " << pr.tokens);
      try {
        gemm(v, pr.batch(), matrix_view<float>(got.data(), pr.tokens, v.rows()), {},
             run_options{isa, nullptr, threads});
      } catch (const error& e) {
        // An ISA may decline a view (e.g. odd group sizes); the front door says so by name.
        CHECK_THAT(e.what(), Catch::Contains("isa = "));
        continue;
      }
      REQUIRE(got == want);
    }
  }
}

}  // namespace

TEST_CASE("plane kernels equal the reference on awkward shapes, every width and rule", "[kernels]") {
  BITDIAL_LOG_SEED();
  const std::tuple<std::size_t, std::size_t, std::size_t> shapes[] = {
      {1, 1, 1},   {2, 3, 1},   {5, 7, 2}, {10, 10, 3}, {15, 17, 1},  {17, 15, 2},
      {63, 65, 1}, {65, 63, 3}, {7, 6, 5}, {19, 3, 11}, {30, 21, 43}, {33, 64, 2}};
  std::uint64_t salt = 0;
  for (auto [rows, cols, tokens] : shapes)
    for (int b = 1; b <= 8; ++b)
      for (auto rule : {rounding::floor, rounding::half_up, rounding::half_even}) {
        const auto pr = make_problem(rows, cols, tokens, 8, true, granularity::per_row(), ++salt);
        check_all_isas(view(pr.stack, b, rule), pr, "per-row");
      }
}

TEST_CASE("plane kernels: granularities, unsigned masters, narrow masters, floor reconstruction", "[kernels]") {
  BITDIAL_LOG_SEED();
  for (int b = 1; b <= 8; ++b) {
    const auto g32 = make_problem(40, 128, 2, 8, true, granularity::per_group(32), 100 + b);
    check_all_isas(view(g32.stack, b, rounding::half_even), g32, "per-group 32");
    const auto g4 = make_problem(9, 24, 2, 8, true, granularity::per_group(4), 200 + b);
    check_all_isas(view(g4.stack, b, rounding::half_up), g4, "per-group 4");
    const auto g6 = make_problem(9, 24, 2, 8, true, granularity::per_group(6), 300 + b);
    check_all_isas(view(g6.stack, b, rounding::floor), g6, "per-group 6");
    const auto pt = make_problem(33, 50, 3, 8, true, granularity::per_tensor(), 400 + b);
    check_all_isas(view(pt.stack, b, rounding::floor, reconstruction::floor), pt, "per-tensor floor");
    const auto un = make_problem(33, 50, 3, 8, false, granularity::per_row(), 500 + b);
    check_all_isas(view(un.stack, b), un, "unsigned");
  }
  for (int B = 2; B <= 7; ++B)
    for (int b = 1; b <= B; ++b) {
      const auto pr = make_problem(35, 40, 2, B, true, granularity::per_row(), 600 + 10 * B + b);
      for (auto rule : {rounding::floor, rounding::half_up, rounding::half_even})
        check_all_isas(view(pr.stack, b, rule), pr, "narrow master");
    }
}

TEST_CASE("plane kernels: extreme codes and activations, deep K", "[kernels]") {
  BITDIAL_LOG_SEED();
  const auto ex = make_problem(64, 4096, 2, 8, true, granularity::per_row(), 700, true);
  for (int b = 1; b <= 8; ++b) check_all_isas(view(ex.stack, b, rounding::half_up), ex, "extreme");
  const auto deep = make_problem(1, 32767, 1, 8, true, granularity::per_row(), 701, true);
  for (int b : {1, 4, 8}) check_all_isas(view(deep.stack, b), deep, "deep K");
}

TEST_CASE("plane kernels: shards and output row ranges", "[kernels]") {
  BITDIAL_LOG_SEED();
  const auto pr = make_problem(100, 48, 3, 8, true, granularity::per_row(), 800);
  const auto full = view(pr.stack, 3, rounding::half_even);
  for (auto [a, b] : {std::pair<std::size_t, std::size_t>{0, 100}, {5, 37}, {32, 64}, {33, 99}, {99, 100}})
    check_all_isas(shard(full, a, b), pr, "shard");
  std::vector<float> want(3 * 100), got(3 * 100, 7.0f);
  reference::gemm(full, pr.batch(), matrix_view<float>(want.data(), 3, 100));
  for (kernel_isa isa : available_isas()) {
    std::fill(got.begin(), got.end(), 7.0f);
    gemm(full, pr.batch(), matrix_view<float>(got.data(), 3, 100), gemm_params{nullptr, 10, 70}, run_options{isa});
    for (std::size_t n = 0; n < 3; ++n)
      for (std::size_t r = 0; r < 100; ++r) {
        INFO("isa = " << to_string(isa) << ", n = " << n << ", r = " << r);
        REQUIRE(got[n * 100 + r] == (r >= 10 && r < 70 ? want[n * 100 + r] : 7.0f));  // outside the range: untouched
      }
  }
}

TEST_CASE("gemm rejects bad arguments by name", "[kernels][errors]") {
  const auto pr = make_problem(4, 8, 1, 8, true, granularity::per_row(), 900);
  const auto v = view(pr.stack, 4);
  std::vector<float> y(4);
  auto x = pr.batch();
  x.cols = 7;
  CHECK_THROWS_WITH(gemm(v, x, matrix_view<float>(y.data(), 1, 4)), Catch::Contains("activations.cols = 7"));
  CHECK_THROWS_WITH(gemm(v, pr.batch(), matrix_view<float>(y.data(), 1, 3)), Catch::Contains("output shape = 1x3"));
  auto xs = pr.xs;
  xs[0] = std::nanf("");
  token_batch xn{pr.xq.data(), xs.data(), 1, 8, 8};
  CHECK_THROWS_WITH(gemm(v, xn, matrix_view<float>(y.data(), 1, 4)), Catch::Contains("activations.scales[0] = nan"));
  CHECK_THROWS_WITH(gemm(v, pr.batch(), matrix_view<float>(y.data(), 1, 4), gemm_params{nullptr, 4, 4}),
                    Catch::Contains("row_begin = 4"));
}

TEST_CASE("float front door quantizes per token with the BitNet rule, then matches the reference", "[kernels]") {
  BITDIAL_LOG_SEED();
  const auto pr = make_problem(70, 200, 1, 8, true, granularity::per_row(), 1000);
  const auto x = test::normal(3 * 200, 5);
  const auto q = per_token_quantizer<8>().quantize(const_matrix(x.data(), 3, 200));
  for (int b : {2, 5, 8}) {
    const auto v = view(pr.stack, b, rounding::half_up);
    std::vector<float> want(3 * 70), got(3 * 70), one(70);
    reference::gemm(v, as_tokens(q), matrix_view<float>(want.data(), 3, 70));
    gemm(v, const_matrix(x.data(), 3, 200), matrix_view<float>(got.data(), 3, 70));
    CHECK(got == want);
    gemv(v, std::span<const float>(x.data() + 200, 200), one);
    CHECK(std::equal(one.begin(), one.end(), want.begin() + 70));
  }
  std::vector<float> y(70), bad(200, 1.0f);
  bad[17] = INFINITY;
  CHECK_THROWS_WITH(gemv(view(pr.stack, 4), bad, y), Catch::Contains("activations(0, 17) = inf"));
  std::vector<float> y2(69);
  CHECK_THROWS_WITH(gemv(view(pr.stack, 4), std::span<const float>(x.data(), 200), y2),
                    Catch::Contains("y.size() = 69"));
}
