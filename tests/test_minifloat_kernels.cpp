// FP4 × int8 kernels (MXFP4, NVFP4, BitMoD): every ISA, forced in turn, returns the floats of
// reference::minifloat_gemm on the quantizer's own matrix bit for bit (exact integer block dots, one
// shared epilogue); the packed layout reads back; results stay within a stated bound of
// dequantize-then-dot; extreme scales, codes and deep K stay exact; errors name their argument.
#include <bitdial/kernels/minifloat_gemm.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>

#include "test_support.hpp"

using namespace bitdial;

namespace {

struct acts {
  std::vector<std::int8_t> q;
  std::vector<float> s;
  std::size_t tokens, cols;
  token_batch batch() const { return token_batch{q.data(), s.data(), tokens, cols, cols}; }
};

acts make_acts(std::size_t tokens, std::size_t cols, std::uint64_t salt, int constant = 0) {
  std::mt19937_64 rng(test::seed() + 5000 + salt);
  std::uniform_int_distribution<int> d(-128, 127);
  std::uniform_real_distribution<float> sd(0.01f, 2.0f);
  acts a{{}, {}, tokens, cols};
  for (std::size_t i = 0; i < tokens * cols; ++i) a.q.push_back(static_cast<std::int8_t>(constant ? constant : d(rng)));
  for (std::size_t n = 0; n < tokens; ++n) a.s.push_back(sd(rng));
  return a;
}

std::vector<float> weights(std::size_t rows, std::size_t cols, std::uint64_t salt) {
  auto w = test::heavy_tailed(rows * cols, salt);
  for (std::size_t i = 0; i < w.size(); i += 7) w[i] *= 0.01f;  // a spread of block magnitudes
  return w;
}

std::vector<std::uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<std::uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), 4 * v.size());
  return b;
}

/// Every FP4 ISA × {1, 2} threads, and the reference on the packed matrix, equal the reference on
/// the quantizer's matrix (compared as bit patterns, so Inf/NaN results count too).
template <class Q>
void check_all(const Q& m, const acts& a, const char* what) {
  const fp4_matrix w = fp4_matrix::pack(m);
  std::vector<float> want(a.tokens * m.rows, -1.0f), got(want.size());
  const matrix_view<float> Y(got.data(), a.tokens, m.rows);
  reference::minifloat_gemm(m, a.batch(), matrix_view<float>(want.data(), a.tokens, m.rows));
  INFO(what << ": format = " << to_string(w.format()) << ", shape = " << m.rows << "x" << m.cols
            << ", tokens = " << a.tokens << ", block = " << w.block());
  std::fill(got.begin(), got.end(), -1.0f);
  reference::minifloat_gemm(w, a.batch(), Y);
  REQUIRE(bits_of(got) == bits_of(want));
  for (kernel_isa isa : fp4_isas())
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
      INFO("isa = " << to_string(isa) << ", threads = " << threads);
      std::fill(got.begin(), got.end(), -1.0f);
      try {
        gemm(w, a.batch(), Y, {}, run_options{isa, nullptr, threads});
      } catch (const error& e) {
        CHECK_THAT(e.what(), Catch::Contains(std::string("isa = ") + to_string(isa)));
        CHECK(!(isa == kernel_isa::avx512 ? w.simd_ready() : w.avx2_ready()));
        continue;
      }
      REQUIRE(bits_of(got) == bits_of(want));
    }
}

mx_matrix mx_of(std::size_t rows, std::size_t cols, std::uint64_t salt) {
  const auto w = weights(rows, cols, salt);
  return mx_quantizer(mxfp4).quantize(const_matrix(w.data(), rows, cols));
}
nvfp4_matrix nv_of(std::size_t rows, std::size_t cols, std::uint64_t salt, bool tensor_scale = true) {
  const auto w = weights(rows, cols, salt);
  return nvfp4_quantizer(nvfp4_options{tensor_scale, nvfp4_scale_floor::min_normal})
      .quantize(const_matrix(w.data(), rows, cols));
}
bitmod_matrix bm_of(std::size_t rows, std::size_t cols, std::size_t group, std::uint64_t salt,
                    std::vector<float> menu = {5.0f, -5.0f, 8.0f, -8.0f}) {
  const auto w = weights(rows, cols, salt);
  return bitmod_quantizer(bitmod_options{group, std::move(menu)}).quantize(const_matrix(w.data(), rows, cols));
}

/// Random codes and scale codes over the whole legal range (not what a quantizer would produce).
mx_matrix mx_random_codes(std::size_t rows, std::size_t cols, std::uint64_t salt, int lo_scale, int hi_scale) {
  std::mt19937_64 rng(test::seed() + salt);
  mx_matrix m;
  m.format = mxfp4, m.rows = rows, m.cols = cols;
  m.codes = packed_codes(4, rows * cols);
  std::uniform_int_distribution<int> cd(0, 15), sd(lo_scale, hi_scale);
  for (std::size_t i = 0; i < rows * cols; ++i) m.codes.set(i, static_cast<std::uint8_t>(cd(rng)));
  for (std::size_t i = 0; i < rows * m.blocks_per_row(); ++i) m.scales.push_back(static_cast<std::uint8_t>(sd(rng)));
  return m;
}

nvfp4_matrix nv_random_codes(std::size_t rows, std::size_t cols, std::uint64_t salt, float tensor_scale) {
  std::mt19937_64 rng(test::seed() + salt);
  nvfp4_matrix m;
  m.rows = rows, m.cols = cols, m.tensor_scale = tensor_scale;
  m.codes = packed_codes(4, rows * cols);
  std::uniform_int_distribution<int> cd(0, 15), sd(0, 0x7E);  // every non-negative, non-NaN E4M3 code
  for (std::size_t i = 0; i < rows * cols; ++i) m.codes.set(i, static_cast<std::uint8_t>(cd(rng)));
  for (std::size_t i = 0; i < rows * m.blocks_per_row(); ++i) m.scales.push_back(static_cast<std::uint8_t>(sd(rng)));
  return m;
}

}  // namespace

TEST_CASE("fp4 kernels: hand-computed MXFP4, NVFP4 and BitMoD rows", "[minifloat_kernels]") {
  // MXFP4 (SEMANTICS.md §6): [7, 5, −2.5, 0.25, 1, 0…] → X = 1, elements [6, 4, −2, 0, 1, 0…].
  std::vector<float> row(32, 0.0f);
  row[0] = 7.0f, row[1] = 5.0f, row[2] = -2.5f, row[3] = 0.25f, row[4] = 1.0f;
  const mx_matrix mx = mx_quantizer(mxfp4).quantize(const_matrix(row.data(), 1, 32));
  REQUIRE(mx.scale_code(0, 0) == 127);
  acts ones = make_acts(1, 32, 0, 1);
  ones.s = {1.0f};
  // dot = Σ 2·E2M1 · 1 = 2·(6 + 4 − 2 + 0 + 1) = 18;  y = fl(1 · fl(18 · 1/2)) = 9.
  for (kernel_isa isa : fp4_isas()) {
    float y = 0.0f;
    gemm(fp4_matrix::pack(mx), ones.batch(), matrix_view<float>(&y, 1, 1), {}, run_options{isa});
    CHECK(y == 9.0f);
  }
  // NVFP4 without tensor scale: amax 6 → block scale 1; [6, −3, 1.5, 0…] · [2, 1, −4, 0…] = 12 − 3 − 6 = 3.
  std::vector<float> nrow(16, 0.0f);
  nrow[0] = 6.0f, nrow[1] = -3.0f, nrow[2] = 1.5f;
  const nvfp4_matrix nv = nvfp4_quantizer(nvfp4_options{false}).quantize(const_matrix(nrow.data(), 1, 16));
  acts xs = make_acts(1, 16, 0, 0);
  std::fill(xs.q.begin(), xs.q.end(), std::int8_t{0});
  xs.q[0] = 2, xs.q[1] = 1, xs.q[2] = -4;
  xs.s = {0.5f};
  for (kernel_isa isa : fp4_isas()) {
    float y = 0.0f;
    gemm(fp4_matrix::pack(nv), xs.batch(), matrix_view<float>(&y, 1, 1), {}, run_options{isa});
    CHECK(y == 1.5f);  // 0.5 · 3
  }
  // BitMoD: the −0 code carries the group's extra value: a row of 16 with one 5·s.
  bitmod_matrix bm;
  bm.rows = 1, bm.cols = 16, bm.group = 16, bm.menu = {5.0f, -5.0f, 8.0f, -8.0f};
  bm.codes = packed_codes(4, 16);
  bm.codes.set(0, bitmod_matrix::extra_code);  // extra value
  bm.codes.set(1, 0x7);                        // 6
  bm.codes.set(2, 0xF);                        // −6
  bm.scales = {0.25f};
  bm.extra_index = {3};  // −8
  xs = make_acts(1, 16, 0, 0);
  std::fill(xs.q.begin(), xs.q.end(), std::int8_t{0});
  xs.q[0] = 1, xs.q[1] = 2, xs.q[2] = 1;
  xs.s = {1.0f};
  for (kernel_isa isa : fp4_isas()) {
    if (isa == kernel_isa::avx2) continue;  // BitMoD: no AVX2 kernel
    float y = 0.0f;
    gemm(fp4_matrix::pack(bm), xs.batch(), matrix_view<float>(&y, 1, 1), {}, run_options{isa});
    CHECK(y == 0.25f * (-8.0f + 12.0f - 6.0f));  // −0.5
  }
}

TEST_CASE("fp4 layout: codes, levels and scales read back", "[minifloat_kernels]") {
  BITDIAL_LOG_SEED();
  const auto mx = mx_random_codes(19, 96, 1, 0, 254);
  const fp4_matrix w = fp4_matrix::pack(mx);
  CHECK(w.row_groups() == 2);
  CHECK(w.slices() == 12);
  CHECK(w.bytes() == 2 * 12 * 64 + 2 * 3 * 16);
  for (std::size_t r = 0; r < 19; ++r) {
    for (std::size_t c = 0; c < 96; ++c) {
      REQUIRE(w.code(r, c) == mx.code(r, c));
      REQUIRE(w.level(r, c) == 2.0f * mxfp4.decode(mx.code(r, c)));
    }
    for (std::size_t b = 0; b < 3; ++b) REQUIRE(w.sigma(r, b) == mx.scale(r, b));
  }
  const auto nv = nv_random_codes(17, 48, 2, 0.75f);
  const fp4_matrix wn = fp4_matrix::pack(nv);
  CHECK(wn.kappa() == 0.375f);
  for (std::size_t r = 0; r < 17; ++r)
    for (std::size_t b = 0; b < 3; ++b) {
      const float s = nv.block_scale(r, b);
      REQUIRE(wn.sigma(r, b) == (s == 0.0f ? 1.0f : s));  // every E4M3 value rebuilt from its packed byte
      for (std::size_t c = 16 * b; c < 16 * b + 16; ++c) REQUIRE(wn.code(r, c) == (s == 0.0f ? 0 : nv.code(r, c)));
    }
  const auto bm = bm_of(5, 64, 32, 3, {5.5f, -2.25f});
  const fp4_matrix wb = fp4_matrix::pack(bm);
  CHECK(wb.level_multiplier() == 4);  // 5.5·2 = 11 but −2.25·2 is not an integer; ·4 both are
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t c = 0; c < 64; ++c)
      REQUIRE(wb.level(r, c) == 4.0f * bm.level(bm.group_index(r, c), bm.code(r, c)));
}

TEST_CASE("fp4 kernels equal the reference on awkward shapes, N in {1, 3, 17}", "[minifloat_kernels]") {
  BITDIAL_LOG_SEED();
  const std::tuple<std::size_t, std::size_t, std::size_t> shapes[] = {
      {1, 1, 1},  {2, 2, 3}, {3, 3, 1},   {4, 1, 17},  {5, 2, 1},   {6, 3, 3},  {7, 1, 1},  {8, 2, 17}, {9, 1, 3},
      {10, 3, 1}, {7, 6, 5}, {19, 3, 11}, {30, 2, 43}, {15, 1, 17}, {17, 4, 3}, {63, 2, 1}, {65, 3, 3}, {129, 1, 1}};
  std::uint64_t salt = 10;
  for (auto [rows, blocks32, tokens] : shapes) {
    ++salt;
    const acts a = make_acts(tokens, 32 * blocks32, salt);
    check_all(mx_of(rows, 32 * blocks32, salt), a, "mx");
    check_all(nv_of(rows, 32 * blocks32, salt), a, "nvfp4");
    check_all(nv_of(rows, 32 * blocks32, salt + 1, false), a, "nvfp4 no tensor scale");
    check_all(bm_of(rows, 32 * blocks32, 32, salt), a, "bitmod G32");
    const acts a16 = make_acts(tokens, 16 * blocks32, salt + 2);
    check_all(nv_of(rows, 16 * blocks32, salt + 3), a16, "nvfp4 K=16n");
    check_all(bm_of(rows, 16 * blocks32, 16, salt + 3), a16, "bitmod G16");
  }
  for (std::size_t tokens : {1u, 3u, 17u}) {
    ++salt;
    const acts a = make_acts(tokens, 384, salt);
    check_all(bm_of(37, 384, 128, salt), a, "bitmod G128");
    check_all(bm_of(37, 384, 384, salt + 1), a, "bitmod G = K");
    check_all(bm_of(37, 384, 8, salt + 2), a, "bitmod G8");
    check_all(bm_of(21, 384, 128, salt + 3, {5.5f, -2.25f, 30.0f}), a, "bitmod L=4 menu");
    check_all(bm_of(21, 384, 64, salt + 4, {5.0f, -5.0f, 8.0f, -8.0f, 10.0f}), a, "bitmod 5-entry menu (portable)");
    check_all(bm_of(11, 36, 12, salt + 5), make_acts(tokens, 36, salt), "bitmod G12 (portable, padded K)");
  }
}

TEST_CASE("fp4 kernels: extreme scales, codes and deep K stay exact", "[minifloat_kernels]") {
  BITDIAL_LOG_SEED();
  // Every E8M0 scale from 2^-127 to 2^127 (products overflow to ±Inf, sums may give NaN: compared as bits).
  for (std::size_t tokens : {1u, 3u}) {
    check_all(mx_random_codes(33, 256, 20 + tokens, 0, 254), make_acts(tokens, 256, 21), "mx full scale range");
    check_all(mx_random_codes(33, 256, 22 + tokens, 0, 3), make_acts(tokens, 256, 23), "mx subnormal scales");
    check_all(nv_random_codes(33, 256, 24 + tokens, 0.37f), make_acts(tokens, 256, 25), "nv every E4M3 scale");
    check_all(nv_random_codes(33, 256, 26 + tokens, 1e-30f), make_acts(tokens, 256, 27), "nv tiny tensor scale");
  }
  // All codes at the largest magnitude against −128 and 127, K deep.
  for (int x : {-128, 127})
    for (std::uint8_t code : {std::uint8_t{0x7}, std::uint8_t{0xF}}) {
      mx_matrix mx = mx_random_codes(2, 32768, 30, 120, 130);
      for (std::size_t i = 0; i < mx.codes.count; ++i) mx.codes.set(i, code);
      check_all(mx, make_acts(1, 32768, 31, x), "mx deep");
      nvfp4_matrix nv = nv_random_codes(2, 32768, 32, 1.0f);
      for (std::size_t i = 0; i < nv.codes.count; ++i) nv.codes.set(i, code);
      check_all(nv, make_acts(1, 32768, 33, x), "nv deep");
    }
  // BitMoD with one group of 65 536 K, every code the extra value 60 (ℓ = 120): the largest block the
  // AVX-512 kernel takes; |dot| = 65 536·120·128 ≈ 2^30, biased sum just below 2^31.
  for (int x : {-128, 127}) {
    bitmod_matrix bm;
    bm.rows = 1, bm.cols = 65536, bm.group = 65536, bm.menu = {60.0f, -60.0f};
    bm.codes = packed_codes(4, 65536);
    for (std::size_t i = 0; i < 65536; ++i) bm.codes.set(i, bitmod_matrix::extra_code);
    bm.scales = {0.5f};
    bm.extra_index = {x < 0 ? std::uint8_t{0} : std::uint8_t{1}};
    const fp4_matrix w = fp4_matrix::pack(bm);
    CHECK(w.simd_ready());
    check_all(bm, make_acts(1, 65536, 34, x), "bitmod 65536");
    float y = 0.0f;
    const acts a = make_acts(1, 65536, 34, x);
    gemm(w, a.batch(), matrix_view<float>(&y, 1, 1));
    const double want = 0.5 * double(a.s[0]) * 60.0 * (x < 0 ? 1.0 : -1.0) * double(x) * 65536.0;
    CHECK(std::fabs(y - want) <= 1e-6 * std::fabs(want));
  }
}

TEST_CASE("fp4 kernels stay within the rounding bound of dequantize-then-dot", "[minifloat_kernels]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 40, cols = 1024, tokens = 3;
  const auto xf = test::normal(tokens * cols, 77);
  const auto qa = per_token_quantizer<8>().quantize(const_matrix(xf.data(), tokens, cols));
  const auto xd = qa.dequantize();
  auto check = [&](const auto& m, const char* what) {
    const fp4_matrix w = fp4_matrix::pack(m);
    const auto wd = m.dequantize();
    std::vector<float> y(tokens * rows);
    gemm(w, as_tokens(qa), matrix_view<float>(y.data(), tokens, rows));
    const double nb = static_cast<double>(w.blocks_per_row());
    for (std::size_t n = 0; n < tokens; ++n)
      for (std::size_t r = 0; r < rows; ++r) {
        double ref = 0.0, mag = 0.0;
        for (std::size_t c = 0; c < cols; ++c) {
          const double t = double(wd[r * cols + c]) * double(xd[n * cols + c]);
          ref += t, mag += std::fabs(t);
        }
        // With u = 2^-24: the dequantized operands are each within 2u (NVFP4: fl(decode·fl(s_b·s_t)))
        // or u (x̂ = fl(sx·q); BitMoD ŵ = fl(s·level)) of their exact values — 3u·mag at most; the
        // kernel's p_b are exact (MX, NVFP4) or within u, the ordered float sum of nb terms adds at
        // most (nb − 1)·u·Σ|p_b| ≤ (nb − 1)·u·mag, and the two final products 2u. Total ≤ (nb + 5)·u·mag,
        // checked with (nb + 8)·u·mag for second-order terms.
        INFO(what << ": token " << n << ", row " << r << ", y = " << y[n * rows + r] << ", ref = " << ref);
        CHECK(std::fabs(double(y[n * rows + r]) - ref) <= (nb + 8.0) * 0x1p-24 * mag + 1e-30);
      }
  };
  check(mx_of(rows, cols, 70), "mx");
  check(nv_of(rows, cols, 71), "nvfp4");
  check(bm_of(rows, cols, 128, 72), "bitmod");
}

TEST_CASE("fp4 kernels: row ranges, bias, float front door", "[minifloat_kernels]") {
  BITDIAL_LOG_SEED();
  const auto nv = nv_of(70, 64, 90);
  const fp4_matrix w = fp4_matrix::pack(nv);
  const acts a = make_acts(3, 64, 91);
  std::vector<float> bias(70);
  for (std::size_t r = 0; r < 70; ++r) bias[r] = 0.5f * static_cast<float>(r) - 9.0f;
  std::vector<float> want(3 * 70, -7.0f);
  reference::minifloat_gemm(nv, a.batch(), matrix_view<float>(want.data(), 3, 70), gemm_params{bias.data(), 3, 50});
  for (kernel_isa isa : fp4_isas()) {
    INFO("isa = " << to_string(isa));
    std::vector<float> got(3 * 70, -7.0f);
    gemm(w, a.batch(), matrix_view<float>(got.data(), 3, 70), gemm_params{bias.data(), 3, 50},
         run_options{isa, nullptr, 2});
    REQUIRE(got == want);
  }
  const auto x = test::normal(64, 92);
  std::vector<float> y(70), y2(70);
  gemv(w, x, y);
  std::vector<std::int8_t> xq(64);
  const token_params tp = per_token_quantizer<8>().quantize_token(x, xq);
  reference::minifloat_gemm(nv, token_batch{xq.data(), &tp.scale, 1, 64, 64}, matrix_view<float>(y2.data(), 1, 70));
  CHECK(y == y2);
}

TEST_CASE("fp4 kernels: argument errors name the argument", "[minifloat_kernels]") {
  std::vector<float> w(4 * 32, 0.5f);
  const mx_matrix m6 = mx_quantizer(mxfp6_e2m3).quantize(const_matrix(w.data(), 4, 32));
  CHECK_THROWS_WITH(fp4_matrix::pack(m6), Catch::Contains("format = MXFP6_E2M3"));
  mx_matrix mx = mx_of(4, 32, 1);
  mx.scales[2] = 0xFF;
  CHECK_THROWS_WITH(fp4_matrix::pack(mx), Catch::Contains("scales[2] = 0xFF"));
  nvfp4_matrix nv = nv_of(4, 32, 2);
  nv.scales[1] = 0x7F;
  CHECK_THROWS_WITH(fp4_matrix::pack(nv), Catch::Contains("scales[1] = 127"));
  nv.scales[1] = 0xB8;  // −1.0
  CHECK_THROWS_WITH(fp4_matrix::pack(nv), Catch::Contains("scales[1] = 184"));
  nv.scales[1] = 0x38;
  nv.tensor_scale = INFINITY;
  CHECK_THROWS_WITH(fp4_matrix::pack(nv), Catch::Contains("tensor_scale = inf"));
  bitmod_matrix bm = bm_of(4, 32, 16, 3);
  bm.menu = {0.3f};
  CHECK_THROWS_WITH(fp4_matrix::pack(bm), Catch::Contains("menu = {0.3}"));
  CHECK_THROWS_WITH(reference::minifloat_gemm(bm, make_acts(1, 32, 4).batch(), matrix_view<float>(w.data(), 1, 4)),
                    Catch::Contains("menu = {0.3}"));
  bm.menu = {5.0f};
  std::fill(bm.extra_index.begin(), bm.extra_index.end(), std::uint8_t{0});
  bm.extra_index[3] = 1;
  CHECK_THROWS_WITH(fp4_matrix::pack(bm), Catch::Contains("extra_index[3] = 1"));

  const fp4_matrix f = fp4_matrix::pack(mx_of(4, 32, 5));
  std::vector<float> y(4);
  CHECK_THROWS_WITH(gemm(f, make_acts(1, 31, 6).batch(), matrix_view<float>(y.data(), 1, 4)),
                    Catch::Contains("activations.cols = 31"));
  const acts a = make_acts(1, 32, 7);
  CHECK_THROWS_WITH(gemm(f, a.batch(), matrix_view<float>(y.data(), 1, 3)), Catch::Contains("output shape = 1x3"));
  const fp4_matrix fb = fp4_matrix::pack(bm_of(4, 32, 16, 9));
  CHECK_THROWS_WITH(gemm(fb, a.batch(), matrix_view<float>(y.data(), 1, 4), {}, run_options{kernel_isa::avx2}),
                    Catch::Contains("isa = avx2"));
  if (fp4_isa_available(kernel_isa::avx512)) {
    const fp4_matrix big_menu = fp4_matrix::pack(bm_of(4, 32, 16, 8, {5.0f, -5.0f, 8.0f, -8.0f, 10.0f}));
    CHECK_THROWS_WITH(
        gemm(big_menu, a.batch(), matrix_view<float>(y.data(), 1, 4), {}, run_options{kernel_isa::avx512}),
        Catch::Contains("isa = avx512"));
  }
}

TEST_CASE("fp4 kernels: the AVX-512 kernel is tested whenever the CPU has it", "[minifloat_kernels]") {
  const auto isas = fp4_isas();
  CHECK(isas.front() == kernel_isa::reference);
  CHECK(isas.at(1) == kernel_isa::portable);
  CHECK((isas.back() == kernel_isa::avx512) == x86::plane_avx512_available());
  CHECK(fp4_matrix::pack(mx_of(2, 64, 1)).simd_ready());
  CHECK(fp4_matrix::pack(nv_of(2, 64, 2)).simd_ready());
  CHECK(fp4_matrix::pack(bm_of(2, 64, 16, 3)).simd_ready());
  CHECK_FALSE(fp4_matrix::pack(bm_of(2, 36, 12, 4)).simd_ready());
  CHECK(fp4_matrix::pack(mx_of(2, 64, 1)).avx2_ready());
  CHECK(fp4_matrix::pack(nv_of(2, 64, 2)).avx2_ready());
  CHECK_FALSE(fp4_matrix::pack(bm_of(2, 64, 16, 3)).avx2_ready());
  CHECK(std::count(isas.begin(), isas.end(), kernel_isa::avx2) == (x86::plane_avx2_available() ? 1 : 0));
}
