// Ternary (BitNet b1.58) kernels: the dedicated 2-bit layout on every ISA, forced in turn, against
// reference::ternary_gemm (identical floats), against the 2-plane route (pack_ternary_planes served at
// b = 2 through the plane front door: identical floats again), and the layout, errors and float bound.
#include <bitdial/kernels/ternary.hpp>
#include <bitdial/quant/ternary.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <random>
#include <tuple>

#include "test_support.hpp"

using namespace bitdial;

namespace {

enum class fill { random, plus_ones, minus_ones, alternating };

quantized_matrix<std::int8_t> ternary_codes(std::size_t rows, std::size_t cols, granularity g, std::uint64_t salt,
                                            fill f = fill::random) {
  std::mt19937_64 rng(test::seed() + salt);
  std::uniform_int_distribution<int> d(-1, 1);
  std::uniform_real_distribution<float> sd(0.01f, 2.0f);
  quantized_matrix<std::int8_t> q;
  q.rows = rows, q.cols = cols, q.bits = 2, q.gran = g;
  for (std::size_t i = 0; i < rows * cols; ++i) {
    int v = d(rng);
    if (f == fill::plus_ones) v = 1;
    if (f == fill::minus_ones) v = -1;
    if (f == fill::alternating) v = (i % 2) ? 1 : -1;
    q.codes.push_back(static_cast<std::int8_t>(v));
  }
  for (std::size_t i = 0; i < g.count(rows, cols); ++i) q.scales.push_back(sd(rng));
  return q;
}

struct acts {
  std::vector<std::int8_t> q;
  std::vector<float> s;
  std::size_t tokens, cols;
  token_batch batch() const { return token_batch{q.data(), s.data(), tokens, cols, cols}; }
};

acts make_acts(std::size_t tokens, std::size_t cols, std::uint64_t salt, int constant = 0) {
  std::mt19937_64 rng(test::seed() + 1000 + salt);
  std::uniform_int_distribution<int> d(-128, 127);
  std::uniform_real_distribution<float> sd(0.01f, 2.0f);
  acts a{{}, {}, tokens, cols};
  for (std::size_t i = 0; i < tokens * cols; ++i) a.q.push_back(static_cast<std::int8_t>(constant ? constant : d(rng)));
  for (std::size_t n = 0; n < tokens; ++n) a.s.push_back(sd(rng));
  return a;
}

/// Every ternary ISA × {1, 2} threads equals the reference; the plane route equals it too.
void check_all(const quantized_matrix<std::int8_t>& q, const acts& a, const char* what, bool planes = true) {
  const ternary_matrix w = ternary_matrix::pack(q);
  std::vector<float> want(a.tokens * q.rows), got(want.size());
  const matrix_view<float> Y(got.data(), a.tokens, q.rows);
  reference::ternary_gemm(q, a.batch(), matrix_view<float>(want.data(), a.tokens, q.rows));
  for (kernel_isa isa : ternary_isas())
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
      INFO(what << ": isa = " << to_string(isa) << ", threads = " << threads << ", shape = " << q.rows << "x" << q.cols
                << ", tokens = " << a.tokens);
      std::fill(got.begin(), got.end(), -1.0f);
      try {
        gemm(w, a.batch(), Y, {}, run_options{isa, nullptr, threads});
      } catch (const error& e) {
        CHECK_THAT(e.what(), Catch::Contains("is not a multiple of 16"));  // only odd group sizes are declined
        CHECK(q.gran.k == granularity::kind::per_group);
        CHECK(q.gran.group % 16 != 0);
        continue;
      }
      REQUIRE(got == want);
    }
  if (!planes) return;
  const bit_plane_stack st = pack_ternary_planes(q);
  std::fill(got.begin(), got.end(), -1.0f);
  gemm(view(st, 2), a.batch(), Y);
  INFO(what << ": plane route, shape = " << q.rows << "x" << q.cols);
  REQUIRE(got == want);
}

}  // namespace

TEST_CASE("ternary layout: pack, read back, unpack", "[ternary_kernels]") {
  BITDIAL_LOG_SEED();
  for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{1, 1}, {17, 33}, {16, 16}, {40, 100}}) {
    const auto q = ternary_codes(rows, cols, granularity::per_row(), rows * 7 + cols);
    const ternary_matrix w = ternary_matrix::pack(q);
    CHECK(w.row_groups() == (rows + 15) / 16);
    CHECK(w.slices() == (cols + 15) / 16);
    CHECK(w.bytes() == w.row_groups() * w.slices() * 64);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) REQUIRE(w.code(r, c) == q.code(r, c));
    const auto u = w.unpack();
    CHECK(u.codes == q.codes);
    CHECK(u.scales == q.scales);
    CHECK(u.bits == 2);
  }
  // Hand-placed codes: byte 4·r + j of slice s, bit pair f holds u = q + 1 of K = 16s + 4f + j.
  quantized_matrix<std::int8_t> q;
  q.rows = 2, q.cols = 16, q.bits = 2, q.gran = granularity::per_tensor(), q.scales = {1.0f};
  q.codes.assign(32, 0);
  q.codes[1 * 16 + 4 * 3 + 2] = 1;   // row 1, K 14: f = 3, j = 2 → byte 6, bits 6–7 = 2
  q.codes[0 * 16 + 4 * 1 + 0] = -1;  // row 0, K 4: f = 1, j = 0 → byte 0, bits 2–3 = 0
  const ternary_matrix w = ternary_matrix::pack(q);
  const auto* b = w.group(0);
  CHECK(b[6] == 0b10010101);  // u = 2 in field 3, u = 1 elsewhere
  CHECK(b[0] == 0b01010001);  // u = 0 in field 1
  CHECK(b[8] == 0);           // row 2 is padding
}

TEST_CASE("ternary kernels equal the reference and the plane route on awkward shapes", "[ternary_kernels]") {
  BITDIAL_LOG_SEED();
  const std::tuple<std::size_t, std::size_t, std::size_t> shapes[] = {
      {1, 1, 1},   {2, 3, 1},   {3, 5, 3},   {4, 7, 1},    {5, 9, 17},   {6, 2, 3},    {7, 10, 1},
      {8, 4, 3},   {9, 6, 1},   {10, 8, 17}, {7, 6, 5},    {19, 3, 11},  {30, 21, 43}, {15, 17, 1},
      {17, 15, 3}, {63, 65, 1}, {65, 63, 3}, {33, 64, 17}, {100, 48, 1}, {129, 80, 3}};
  std::uint64_t salt = 0;
  for (auto [rows, cols, tokens] : shapes) {
    const auto a = make_acts(tokens, cols, salt + 7777);
    check_all(ternary_codes(rows, cols, granularity::per_tensor(), ++salt), a, "per tensor");
    check_all(ternary_codes(rows, cols, granularity::per_row(), ++salt), a, "per row");
  }
}

TEST_CASE("ternary kernels: scale groups, including sizes the AVX-512 kernel declines", "[ternary_kernels]") {
  BITDIAL_LOG_SEED();
  std::uint64_t salt = 100;
  for (std::size_t g : {16u, 32u, 48u, 128u}) {
    const std::size_t cols = 3 * g;
    for (std::size_t tokens : {1u, 3u, 17u}) {
      ++salt;
      check_all(ternary_codes(37, cols, granularity::per_group(g), salt), make_acts(tokens, cols, salt + 7777),
                "group");
    }
  }
  // Groups of 4 and 8: portable and reference only (avx512 declines by name).
  ++salt;
  check_all(ternary_codes(21, 40, granularity::per_group(8), salt), make_acts(3, 40, salt + 7777), "group 8");
  ++salt;
  check_all(ternary_codes(21, 36, granularity::per_group(4), salt), make_acts(1, 36, salt + 7777), "group 4");
}

TEST_CASE("ternary kernels: extreme values and deep K stay exact", "[ternary_kernels]") {
  BITDIAL_LOG_SEED();
  std::uint64_t salt = 200;
  for (fill f : {fill::plus_ones, fill::minus_ones, fill::alternating})
    for (int x : {-128, 127}) {
      ++salt;
      check_all(ternary_codes(33, 96, granularity::per_row(), salt, f), make_acts(3, 96, salt + 7777, x), "extreme");
      ++salt;
      check_all(ternary_codes(1, 32768, granularity::per_tensor(), salt, f), make_acts(1, 32768, salt + 7777, x),
                "deep K", false);
    }
  // Beyond one 4096-slice segment (65 536 K): the int32 segments are flushed to int64.
  ++salt;
  check_all(ternary_codes(2, 70000, granularity::per_tensor(), salt, fill::plus_ones),
            make_acts(1, 70000, salt + 7777, -128), "two segments", false);
  ++salt;
  check_all(ternary_codes(1, 70000, granularity::per_tensor(), salt), make_acts(1, 70000, salt + 7777), "two segments",
            false);
}

TEST_CASE("ternary kernels: row ranges, bias, float front door", "[ternary_kernels]") {
  BITDIAL_LOG_SEED();
  const auto q = ternary_codes(70, 48, granularity::per_row(), 300);
  const auto a = make_acts(3, 48, 301);
  const ternary_matrix w = ternary_matrix::pack(q);
  std::vector<float> bias(70);
  for (std::size_t r = 0; r < 70; ++r) bias[r] = 0.25f * static_cast<float>(r) - 3.0f;
  std::vector<float> want(3 * 70, -7.0f);
  reference::ternary_gemm(q, a.batch(), matrix_view<float>(want.data(), 3, 70), gemm_params{bias.data(), 5, 53});
  for (kernel_isa isa : ternary_isas()) {
    INFO("isa = " << to_string(isa));
    std::vector<float> got(3 * 70, -7.0f);
    gemm(w, a.batch(), matrix_view<float>(got.data(), 3, 70), gemm_params{bias.data(), 5, 53},
         run_options{isa, nullptr, 2});
    REQUIRE(got == want);  // rows outside [5, 53) untouched (still −7)
  }

  // Float activations: the front door quantizes with BitNet's rule; compare with dequantize-then-dot.
  const auto wf = test::normal(24 * 64, 302);
  const auto tq = bitnet_ternary().quantize(const_matrix(wf.data(), 24, 64));
  const ternary_matrix tw = ternary_matrix::pack(tq);
  const auto x = test::normal(64, 303);
  std::vector<float> y(24);
  gemv(tw, x, y);
  std::vector<std::int8_t> xq(64);
  const token_params tp = per_token_quantizer<8>().quantize_token(x, xq);
  const auto wd = tq.dequantize();
  for (std::size_t r = 0; r < 24; ++r) {
    double ref = 0.0, mag = 0.0;
    for (std::size_t c = 0; c < 64; ++c) {
      const double t = double(wd[r * 64 + c]) * double(tp.scale) * double(xq[c]);
      ref += t, mag += std::fabs(t);
    }
    // y = fl(sx · fl(γ · fl(acc))) with acc exact (< 2^24): at most 2 roundings of the exact
    // product γ·sx·acc, and ŵ = fl(γ·q) is exact for q ∈ {−1, 0, 1}: |y − ref| ≤ 2^-23·|ref|.
    CHECK(std::fabs(double(y[r]) - ref) <= 0x1p-23 * mag + 1e-30);
  }
}

TEST_CASE("ternary kernels: argument errors name the argument", "[ternary_kernels]") {
  auto q = ternary_codes(4, 16, granularity::per_row(), 400);
  q.codes[3] = 2;
  CHECK_THROWS_WITH(ternary_matrix::pack(q), Catch::Contains("codes[3] = 2"));
  CHECK_THROWS_WITH(pack_ternary_planes(q), Catch::Contains("codes[3] = 2"));
  q.codes[3] = 0;
  q.scales[1] = std::nanf("");
  CHECK_THROWS_WITH(ternary_matrix::pack(q), Catch::Contains("scales[1] = nan"));
  q.scales[1] = 1.0f;
  q.zero_points = {0, 0, 0, 0};
  CHECK_THROWS_WITH(ternary_matrix::pack(q), Catch::Contains("zero_points.size() = 4"));
  q.zero_points.clear();
  q.scales.pop_back();
  CHECK_THROWS_WITH(ternary_matrix::pack(q), Catch::Contains("scales.size() = 3"));
  q.scales.push_back(1.0f);
  const ternary_matrix w = ternary_matrix::pack(q);
  const auto a = make_acts(1, 15, 401);
  std::vector<float> y(4);
  CHECK_THROWS_WITH(gemm(w, a.batch(), matrix_view<float>(y.data(), 1, 4)), Catch::Contains("activations.cols = 15"));
  const auto b = make_acts(1, 16, 402);
  CHECK_THROWS_WITH(gemm(w, b.batch(), matrix_view<float>(y.data(), 1, 3)), Catch::Contains("output shape = 1x3"));
  const ternary_matrix w8 = ternary_matrix::pack(ternary_codes(4, 16, granularity::per_group(8), 403));
  for (kernel_isa isa : {kernel_isa::avx2, kernel_isa::avx512, kernel_isa::neon, kernel_isa::dotprod})
    CHECK_THROWS_WITH(gemm(w8, b.batch(), matrix_view<float>(y.data(), 1, 4), {}, run_options{isa}),
                      Catch::Contains(std::string("isa = ") + to_string(isa)));
  CHECK_THROWS_WITH(gemm(w, b.batch(), matrix_view<float>(y.data(), 1, 4), gemm_params{nullptr, 4, 9}),
                    Catch::Contains("params.row_begin = 4"));
}

TEST_CASE("ternary kernels: the AVX-512 kernel is tested whenever the CPU has it", "[ternary_kernels]") {
  const auto isas = ternary_isas();
  CHECK(isas.front() == kernel_isa::reference);
  CHECK(isas.at(1) == kernel_isa::portable);
  CHECK((isas.back() == kernel_isa::avx512) == x86::plane_avx512_available());
  CHECK((isas.back() == kernel_isa::neon || isas.back() == kernel_isa::dotprod) == arm::plane_neon_available());
  const auto q = ternary_codes(3, 40, granularity::per_group(8), 500);
  CHECK(ternary_avx512_supports(ternary_matrix::pack(q)) == false);
  CHECK(ternary_avx2_supports(ternary_matrix::pack(q)) == false);
  CHECK(std::count(isas.begin(), isas.end(), kernel_isa::avx2) == (x86::plane_avx2_available() ? 1 : 0));
  CHECK(std::count(isas.begin(), isas.end(), kernel_isa::neon) == (arm::plane_neon_available() ? 1 : 0));
  CHECK(std::count(isas.begin(), isas.end(), kernel_isa::dotprod) == (arm::plane_dotprod_available() ? 1 : 0));
  CHECK(ternary_avx512_supports(ternary_matrix::pack(ternary_codes(3, 48, granularity::per_group(16), 501))) ==
        x86::plane_avx512_available());
}
