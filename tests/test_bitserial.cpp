// Bit-serial W×A kernels on every ISA this CPU and build support, forced in turn, against
// reference::bitserial: exact integer accumulators and identical floats for every weight width and
// rule, activation width, weight and activation encoding, shape, granularity, row range and thread
// count; plus hand-computed products for each encoding and the argument checks.
#include <bitdial/kernels/bitserial.hpp>

#include <cmath>
#include <random>
#include <tuple>

#include "test_support.hpp"

using namespace bitdial;

namespace {

enum class wenc { twos_complement, unsigned_plain, zero_point, bipolar };

const char* name(wenc e) {
  switch (e) {
    case wenc::twos_complement:
      return "two's complement";
    case wenc::unsigned_plain:
      return "unsigned";
    case wenc::zero_point:
      return "zero point";
    case wenc::bipolar:
      return "bipolar";
  }
  return "?";
}

bit_plane_stack make_stack(std::size_t rows, std::size_t cols, int B, wenc e, granularity g, std::uint64_t salt,
                           bool extreme = false) {
  std::mt19937_64 rng(test::seed() + salt);
  std::uniform_real_distribution<float> sd(0.01f, 2.0f);
  if (e == wenc::twos_complement) {
    quantized_matrix<std::int8_t> m;
    m.rows = rows, m.cols = cols, m.bits = B, m.gran = g;
    std::uniform_int_distribution<int> d(signed_min(B), signed_max(B));
    for (std::size_t i = 0; i < rows * cols; ++i)
      m.codes.push_back(static_cast<std::int8_t>(extreme ? (i % 3 ? signed_min(B) : signed_max(B)) : d(rng)));
    for (std::size_t i = 0; i < g.count(rows, cols); ++i) m.scales.push_back(sd(rng));
    return bit_plane_stack::pack(m);
  }
  quantized_matrix<std::uint8_t> m;
  m.rows = rows, m.cols = cols, m.bits = B, m.gran = g;
  std::uniform_int_distribution<int> d(0, unsigned_max(B));
  for (std::size_t i = 0; i < rows * cols; ++i)
    m.codes.push_back(static_cast<std::uint8_t>(extreme ? unsigned_max(B) : d(rng)));
  for (std::size_t i = 0; i < g.count(rows, cols); ++i) {
    m.scales.push_back(sd(rng));
    if (e == wenc::zero_point) m.zero_points.push_back(d(rng));
  }
  return bit_plane_stack::pack(m, e == wenc::bipolar ? -unsigned_max(B) : 0);
}

/// Random a-bit codes in the given encoding, built through the public from() constructors.
bitserial_activations make_acts(std::size_t tokens, std::size_t cols, int a, act_encoding enc, std::uint64_t salt,
                                bool extreme = false) {
  std::mt19937_64 rng(test::seed() + 1000003 * salt + 17);
  std::uniform_real_distribution<float> sd(0.01f, 2.0f);
  std::uniform_int_distribution<int> d(signed_min(a), signed_max(a));
  if (enc == act_encoding::bipolar) {
    midrise_matrix m;
    m.rows = tokens, m.cols = cols, m.bits = a, m.gran = granularity::per_row();
    for (std::size_t i = 0; i < tokens * cols; ++i)
      m.codes.push_back(static_cast<std::int8_t>(extreme ? signed_max(a) : d(rng)));
    for (std::size_t n = 0; n < tokens; ++n) m.scales.push_back(sd(rng));
    return bitserial_activations::from(m);
  }
  quantized_activations q;
  q.rows = tokens, q.cols = cols, q.bits = a;
  q.mode = enc == act_encoding::twos_complement ? activation_mode::symmetric : activation_mode::asymmetric;
  for (std::size_t i = 0; i < tokens * cols; ++i)
    q.codes.push_back(static_cast<std::int8_t>(extreme ? signed_min(a) : d(rng)));
  for (std::size_t n = 0; n < tokens; ++n) {
    q.scales.push_back(sd(rng));
    q.zero_points.push_back(enc == act_encoding::twos_complement ? 0 : (extreme ? signed_max(a) : d(rng)));
  }
  return bitserial_activations::from(q);
}

/// Every ISA, threads 1 and 2: integers equal the reference, floats equal the reference floats.
void check_all(const plane_view& v, const bitserial_activations& x, const std::string& what) {
  const auto want = reference::bitserial_accumulators(v, x);
  std::vector<float> yw(x.tokens() * v.rows()), yg(yw.size());
  reference::bitserial_gemm(v, x, matrix_view<float>(yw.data(), x.tokens(), v.rows()));
  for (kernel_isa isa : bitserial_isas())
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
      INFO(what << ": isa = " << to_string(isa) << ", threads = " << threads << ", b = " << v.bits
                << ", rule = " << to_string(v.rule) << ", a = " << x.bits() << ", act = " << to_string(x.encoding())
                << ", shape M x K x N = " << v.rows() << "x" << v.cols() << "x" << x.tokens());
      if (!detail::bitserial_groups_ok(v) && isa != kernel_isa::reference) {
        CHECK_THROWS_WITH(bitserial_accumulators(v, x, run_options{isa, nullptr, threads}),
                          Catch::Contains("isa = ") && Catch::Contains("not a multiple of 32"));
        continue;
      }
      REQUIRE(bitserial_accumulators(v, x, run_options{isa, nullptr, threads}) == want);
      std::fill(yg.begin(), yg.end(), -1.0f);
      bitserial_gemm(v, x, matrix_view<float>(yg.data(), x.tokens(), v.rows()), {}, run_options{isa, nullptr, threads});
      REQUIRE(yg == yw);
    }
}

constexpr act_encoding all_acts[] = {act_encoding::twos_complement, act_encoding::zero_point, act_encoding::bipolar};
constexpr wenc all_wencs[] = {wenc::twos_complement, wenc::unsigned_plain, wenc::zero_point, wenc::bipolar};

}  // namespace

TEST_CASE("bit-serial: hand-computed products for every encoding", "[bitserial]") {
  // W (1 x 4, signed 2-bit master, scale 1) = [1, -2, -1, 0]; served at b = 2, truncate: codes as is.
  quantized_matrix<std::int8_t> m;
  m.rows = 1, m.cols = 4, m.bits = 2, m.gran = granularity::per_row();
  m.codes = {1, -2, -1, 0};
  m.scales = {1.0f};
  const auto st = bit_plane_stack::pack(m);
  const auto v = view(st, 2);
  std::vector<float> y(1);
  for (kernel_isa isa : bitserial_isas()) {
    INFO("isa = " << to_string(isa));
    // two's complement a = 3: x = [3, -4, 1, -1], scale 0.5 → acc = 3 + 8 − 1 + 0 = 10, y = 5.
    quantized_activations q;
    q.rows = 1, q.cols = 4, q.bits = 3, q.mode = activation_mode::symmetric;
    q.codes = {3, -4, 1, -1};
    q.scales = {0.5f};
    q.zero_points = {0};
    q.code_sums = {-1};
    auto x = bitserial_activations::from(q);
    CHECK(x.value(0, 1) == -4);
    CHECK(bitserial_accumulators(v, x, {isa}) == std::vector<std::int64_t>{10});
    bitserial_gemm(v, x, matrix_view<float>(y.data(), 1, 1), {}, {isa});
    CHECK(y[0] == 5.0f);
    // zero point a = 2: stored q = u − 2, zp = z − 2 = −1 (z = 1): u = [3, 0, 2, 1] → xint = [2, −1, 1, 0]
    // acc = 2 + 2 − 1 + 0 = 3; scale 0.25 → 0.75.
    q.bits = 2, q.mode = activation_mode::asymmetric;
    q.codes = {1, -2, 0, -1};
    q.zero_points = {-1};
    q.scales = {0.25f};
    x = bitserial_activations::from(q);
    CHECK(x.offset(0) == -1);
    CHECK(x.value(0, 0) == 2);
    CHECK(bitserial_accumulators(v, x, {isa}) == std::vector<std::int64_t>{3});
    bitserial_gemm(v, x, matrix_view<float>(y.data(), 1, 1), {}, {isa});
    CHECK(y[0] == 0.75f);
    // bipolar a = 1: j = [0, -1, -1, 0] → xint = 2j + 1 = [1, −1, −1, 1]; step 2 → scale 1.
    // acc = 1 + 2 + 1 + 0 = 4.
    midrise_matrix mr;
    mr.rows = 1, mr.cols = 4, mr.bits = 1, mr.gran = granularity::per_row();
    mr.codes = {0, -1, -1, 0};
    mr.scales = {2.0f};
    x = bitserial_activations::from(mr);
    CHECK(x.value(0, 1) == -1);
    CHECK(x.scale(0) == 1.0f);
    CHECK(bitserial_accumulators(v, x, {isa}) == std::vector<std::int64_t>{4});
    bitserial_gemm(v, x, matrix_view<float>(y.data(), 1, 1), {}, {isa});
    CHECK(y[0] == 4.0f);
  }
}

TEST_CASE("bit-serial: bipolar x bipolar runs the XNOR form: K − 2·popcnt(A xor B)", "[bitserial]") {
  // 1-bit mid-rise weights (code_offset2 = −1): value s·(u − 1/2); u = [1, 0, 0, 1, 1] → ±1/2.
  quantized_matrix<std::uint8_t> m;
  m.rows = 1, m.cols = 5, m.bits = 1, m.gran = granularity::per_row();
  m.codes = {1, 0, 0, 1, 1};
  m.scales = {2.0f};  // weights ±1
  const auto st = bit_plane_stack::pack(m, -1);
  const auto v = view(st, 1);
  midrise_matrix mr;
  mr.rows = 1, mr.cols = 5, mr.bits = 1, mr.gran = granularity::per_row();
  mr.codes = {0, 0, -1, -1, 0};  // ±1: [+, +, −, −, +]
  mr.scales = {2.0f};
  const auto x = bitserial_activations::from(mr);
  CHECK(detail::make_bitserial_job(v, x).xnor);
  // ±1 product: A = [+,−,−,+,+], B = [+,+,−,−,+]: xor popcount 2 → 5 − 4 = 1.
  std::vector<float> y(1);
  for (kernel_isa isa : bitserial_isas()) {
    INFO("isa = " << to_string(isa));
    bitserial_gemm(v, x, matrix_view<float>(y.data(), 1, 1), {}, {isa});
    CHECK(y[0] == 1.0f);
  }
  // Not XNOR when either side is not bipolar.
  CHECK_FALSE(detail::make_bitserial_job(v, make_acts(1, 5, 1, act_encoding::twos_complement, 1)).xnor);
  const auto zp = make_stack(3, 64, 4, wenc::zero_point, granularity::per_row(), 2);
  CHECK_FALSE(detail::make_bitserial_job(view(zp, 2), make_acts(1, 64, 2, act_encoding::bipolar, 2)).xnor);
  const auto bp = make_stack(3, 64, 4, wenc::bipolar, granularity::per_row(), 3);
  CHECK(detail::make_bitserial_job(view(bp, 2), make_acts(1, 64, 2, act_encoding::bipolar, 3)).xnor);
  CHECK_FALSE(detail::make_bitserial_job(view(bp, 2, rounding::floor, reconstruction::floor),
                                         make_acts(1, 64, 2, act_encoding::bipolar, 3))
                  .xnor);
}

TEST_CASE("bit-serial: SIMD transforms equal the portable rows32x32 transform", "[bitserial]") {
  BITDIAL_LOG_SEED();
  for (std::size_t cols : {16, 32, 48, 100}) {
    const auto st = make_stack(40, cols, 8, wenc::twos_complement, granularity::per_row(), 50 + cols);
    const auto x = make_acts(1, cols, 2, act_encoding::twos_complement, 4);
    for (int b = 1; b <= 8; ++b)
      for (auto rule : {rounding::floor, rounding::half_up, rounding::half_even}) {
        const auto j = detail::make_bitserial_job(view(st, b, rule), x);
        std::vector<std::uint32_t> want(j.block_words());
        aligned_buffer got(j.block_words() * 4);
        for (std::size_t blk = 0; blk < 2; ++blk) {
          detail::transform_block_portable(j, st.plane(blk, 7), want.data());
          // Each dword is one row's 32 K in natural order.
          for (std::size_t r = 0; r < 32 && blk * 32 + r < 40; ++r)
            for (std::size_t c = 0; c < cols && rule == rounding::floor; ++c) {
              const std::uint32_t bit =
                  (want[(c / 32 * static_cast<std::size_t>(j.terms) + 0) * 32 + r] >> (c % 32)) & 1u;
              REQUIRE(bit == ((static_cast<std::uint32_t>(st.code(blk * 32 + r, c)) >> 7) & 1u));
            }
#if BITDIAL_X86_SIMD
          if (x86::bitserial_avx512_available()) {
            x86::detail::bitserial512::transform_block(j, st.plane(blk, 7),
                                                       reinterpret_cast<std::uint32_t*>(got.data()));
            REQUIRE(std::memcmp(got.data(), want.data(), want.size() * 4) == 0);
          }
          if (x86::bitserial_avx2_available()) {
            x86::detail::bitserial256::transform_block(j, st.plane(blk, 7),
                                                       reinterpret_cast<std::uint32_t*>(got.data()));
            REQUIRE(std::memcmp(got.data(), want.data(), want.size() * 4) == 0);
          }
#endif
        }
      }
  }
}

TEST_CASE("bit-serial: every weight width x activation width x encoding on small shapes", "[bitserial]") {
  BITDIAL_LOG_SEED();
  std::uint64_t salt = 0;
  for (wenc we : all_wencs)
    for (act_encoding ae : all_acts) {
      const auto st = make_stack(37, 70, 8, we, granularity::per_row(), ++salt);
      for (int b = 1; b <= 8; ++b)
        for (int a = 1; a <= 8; ++a)
          check_all(view(st, b), make_acts(3, 70, a, ae, ++salt), std::string("weights ") + name(we));
    }
}

TEST_CASE("bit-serial: awkward shapes", "[bitserial]") {
  BITDIAL_LOG_SEED();
  std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> shapes;  // M x K x N
  for (std::size_t s = 1; s <= 10; ++s) shapes.emplace_back(s, s, s);
  for (std::size_t s : {15, 17, 63, 65}) shapes.emplace_back(s, s, s % 5 + 1);
  shapes.emplace_back(7, 6, 5);
  shapes.emplace_back(19, 3, 11);
  shapes.emplace_back(30, 21, 43);
  shapes.emplace_back(65, 17, 9);  // 9 tokens: one full 8-token tile and a remainder
  const std::pair<int, int> widths[] = {{1, 1}, {2, 2}, {4, 4}, {8, 8}, {3, 7}, {7, 3}, {1, 8}, {8, 1}};
  std::uint64_t salt = 5000;
  for (auto [M, K, N] : shapes)
    for (auto [b, a] : widths) {
      const wenc we = all_wencs[salt % 4];
      const act_encoding ae = all_acts[salt % 3];
      const auto st = make_stack(M, K, 8, we, granularity::per_row(), ++salt);
      for (auto rule : {rounding::floor, rounding::half_up, rounding::half_even}) {
        if (rule != rounding::floor && we != wenc::twos_complement) continue;
        check_all(view(st, b, rule), make_acts(N, K, a, ae, ++salt), std::string("shape, weights ") + name(we));
      }
    }
}

TEST_CASE("bit-serial: rules, granularities, narrow masters, floor reconstruction", "[bitserial]") {
  BITDIAL_LOG_SEED();
  std::uint64_t salt = 9000;
  for (int b = 1; b <= 8; ++b) {
    const int a = 9 - b;
    const auto g32 = make_stack(40, 128, 8, wenc::twos_complement, granularity::per_group(32), ++salt);
    for (auto rule : {rounding::half_up, rounding::half_even})
      check_all(view(g32, b, rule), make_acts(2, 128, a, all_acts[b % 3], ++salt), "per-group 32");
    const auto g64 = make_stack(33, 192, 8, wenc::zero_point, granularity::per_group(64), ++salt);
    check_all(view(g64, b), make_acts(3, 192, a, act_encoding::zero_point, ++salt), "per-group 64 zero point");
    const auto bip = make_stack(33, 96, 8, wenc::bipolar, granularity::per_group(32), ++salt);
    check_all(view(bip, b), make_acts(2, 96, a, act_encoding::bipolar, ++salt), "per-group 32 bipolar XNOR");
    const auto g16 = make_stack(9, 48, 8, wenc::twos_complement, granularity::per_group(16), ++salt);
    check_all(view(g16, b), make_acts(2, 48, a, act_encoding::twos_complement, ++salt), "per-group 16");
    const auto pt = make_stack(33, 50, 8, wenc::twos_complement, granularity::per_tensor(), ++salt);
    check_all(view(pt, b, rounding::floor, reconstruction::floor), make_acts(3, 50, a, act_encoding::bipolar, ++salt),
              "per-tensor floor");
  }
  for (int B = 1; B <= 7; ++B)
    for (int b = 1; b <= B; ++b) {
      const auto st = make_stack(35, 40, B, wenc::twos_complement, granularity::per_row(), ++salt);
      for (auto rule : {rounding::floor, rounding::half_up, rounding::half_even})
        check_all(view(st, b, rule), make_acts(2, 40, 1 + (b + B) % 8, all_acts[(b + B) % 3], ++salt), "narrow master");
      const auto bp = make_stack(35, 40, B, wenc::bipolar, granularity::per_row(), ++salt);
      check_all(view(bp, b), make_acts(2, 40, 1 + b % 8, act_encoding::bipolar, ++salt), "narrow bipolar master");
    }
}

TEST_CASE("bit-serial: extreme codes and deep K", "[bitserial]") {
  BITDIAL_LOG_SEED();
  const auto ex = make_stack(64, 2048, 8, wenc::twos_complement, granularity::per_row(), 11, true);
  for (auto [b, a] : {std::pair{8, 8}, std::pair{1, 8}, std::pair{8, 1}})
    for (act_encoding ae : all_acts)
      check_all(view(ex, b, rounding::half_up), make_acts(2, 2048, a, ae, 12, true), "extreme");
  // 1 x 32767 x 1: windows of 256 steps and the int32 window bound with the largest weights.
  for (wenc we : {wenc::twos_complement, wenc::unsigned_plain, wenc::bipolar}) {
    const auto deep = make_stack(1, 32767, 8, we, granularity::per_row(), 13, true);
    for (auto [b, a] : {std::pair{1, 1}, std::pair{4, 4}, std::pair{8, 8}})
      for (act_encoding ae : all_acts) check_all(view(deep, b), make_acts(1, 32767, a, ae, 14, true), "deep K");
  }
}

TEST_CASE("bit-serial: shards and output row ranges", "[bitserial]") {
  BITDIAL_LOG_SEED();
  const auto st = make_stack(100, 96, 8, wenc::twos_complement, granularity::per_row(), 21);
  const auto x = make_acts(3, 96, 3, act_encoding::zero_point, 22);
  const auto full = view(st, 3, rounding::half_even);
  for (auto [a, b] : {std::pair<std::size_t, std::size_t>{0, 100}, {5, 37}, {32, 64}, {33, 99}, {99, 100}})
    check_all(shard(full, a, b), x, "shard");
  std::vector<float> want(3 * 100), got(3 * 100);
  reference::bitserial_gemm(full, x, matrix_view<float>(want.data(), 3, 100));
  std::vector<float> bias(100);
  for (std::size_t r = 0; r < 100; ++r) bias[r] = 0.25f * static_cast<float>(r);
  std::vector<float> want_b(3 * 100);
  reference::bitserial_gemm(full, x, matrix_view<float>(want_b.data(), 3, 100), gemm_params{bias.data()});
  for (kernel_isa isa : bitserial_isas()) {
    std::fill(got.begin(), got.end(), 7.0f);
    bitserial_gemm(full, x, matrix_view<float>(got.data(), 3, 100), gemm_params{nullptr, 10, 70}, run_options{isa});
    for (std::size_t n = 0; n < 3; ++n)
      for (std::size_t r = 0; r < 100; ++r) {
        INFO("isa = " << to_string(isa) << ", n = " << n << ", r = " << r);
        REQUIRE(got[n * 100 + r] == (r >= 10 && r < 70 ? want[n * 100 + r] : 7.0f));
      }
    bitserial_gemm(full, x, matrix_view<float>(got.data(), 3, 100), gemm_params{bias.data()}, run_options{isa});
    CHECK(got == want_b);
  }
}

TEST_CASE("bit-serial: float front door quantizes per token, then matches the reference", "[bitserial]") {
  BITDIAL_LOG_SEED();
  const auto st = make_stack(70, 256, 8, wenc::twos_complement, granularity::per_row(), 31);
  const auto xf = test::normal(3 * 256, 32);
  const const_matrix X(xf.data(), 3, 256);
  for (act_encoding ae : all_acts)
    for (int a : {1, 2, 4, 8}) {
      INFO("act = " << to_string(ae) << ", a = " << a);
      const auto xq = quantize_bitserial(X, a, ae);
      CHECK(xq.bits() == a);
      CHECK(xq.encoding() == ae);
      const auto v = view(st, 4, rounding::half_up);
      std::vector<float> want(3 * 70), got(3 * 70), one(70);
      reference::bitserial_gemm(v, xq, matrix_view<float>(want.data(), 3, 70));
      bitserial_gemm(v, X, matrix_view<float>(got.data(), 3, 70), {}, bitserial_options{a, ae});
      CHECK(got == want);
      bitserial_gemv(v, std::span<const float>(xf.data() + 256, 256), one, {}, bitserial_options{a, ae});
      CHECK(std::equal(one.begin(), one.end(), want.begin() + 70));
      // The activations dequantize as the quantizers say: the same codes and scales.
      if (ae == act_encoding::twos_complement) {
        const auto q = per_token_quantizer<>(a).quantize(X);
        for (std::size_t c = 0; c < 256; ++c) REQUIRE(xq.value(1, c) == q.code(1, c));
        CHECK(xq.scale(1) == q.scales[1]);
      }
      if (ae == act_encoding::zero_point) {
        const auto q = per_token_quantizer<>(a, per_token_options{activation_mode::asymmetric}).quantize(X);
        for (std::size_t c = 0; c < 256; ++c) REQUIRE(xq.value(0, c) == q.code(0, c) - q.zero_points[0]);
        CHECK(xq.scale(0) == q.scales[0]);
      }
      if (ae == act_encoding::bipolar) {
        const auto m = uniform_midrise<>(a).quantize(X);
        for (std::size_t c = 0; c < 256; ++c)
          REQUIRE(xq.scale(2) * static_cast<float>(xq.value(2, c)) == m.dequantize(2, c));
      }
    }
  // 8-bit two's complement activations are BitNet's rule: same result as the int8 plane kernel.
  const auto v = view(st, 5);
  std::vector<float> a8(3 * 70), p8(3 * 70);
  bitserial_gemm(v, X, matrix_view<float>(a8.data(), 3, 70), {}, bitserial_options{8});
  gemm(v, X, matrix_view<float>(p8.data(), 3, 70));
  CHECK(a8 == p8);
}

TEST_CASE("bit-serial: rejects bad arguments by name", "[bitserial][errors]") {
  const auto st = make_stack(4, 64, 8, wenc::twos_complement, granularity::per_row(), 41);
  const auto v = view(st, 4);
  const auto x = make_acts(1, 64, 2, act_encoding::twos_complement, 42);
  std::vector<float> y(4);
  CHECK_THROWS_WITH(
      bitserial_gemm(v, make_acts(1, 63, 2, act_encoding::twos_complement, 43), matrix_view<float>(y.data(), 1, 4)),
      Catch::Contains("activations.cols = 63"));
  CHECK_THROWS_WITH(bitserial_gemm(v, x, matrix_view<float>(y.data(), 1, 3)), Catch::Contains("output shape = 1x3"));
  CHECK_THROWS_WITH(bitserial_gemm(v, x, matrix_view<float>(y.data(), 1, 4), gemm_params{nullptr, 4, 9}),
                    Catch::Contains("row_begin = 4"));
  std::vector<float> xf(64, 1.0f);
  CHECK_THROWS_WITH(bitserial_gemv(v, xf, y, {}, bitserial_options{0}), Catch::Contains("act_bits = 0"));
  CHECK_THROWS_WITH(bitserial_gemv(v, xf, y, {}, bitserial_options{9}), Catch::Contains("act_bits = 9"));
  xf[5] = NAN;
  CHECK_THROWS_WITH(bitserial_gemv(v, xf, y, {}, bitserial_options{4}), Catch::Contains("activations(0, 5) = nan"));
  std::vector<float> y3(3);
  CHECK_THROWS_WITH(bitserial_gemv(v, xf, y3, {}, bitserial_options{4}), Catch::Contains("y.size() = 3"));
  quantized_activations q;
  q.rows = 1, q.cols = 2, q.bits = 2, q.codes = {1, 2}, q.scales = {1.0f}, q.zero_points = {0};
  CHECK_THROWS_WITH(bitserial_activations::from(q), Catch::Contains("activations.codes[1] = 2"));
  q.codes = {1, 1};
  q.scales = {-1.0f};
  CHECK_THROWS_WITH(bitserial_activations::from(q), Catch::Contains("activations.scales[0] = -1"));
  q.bits = 9;
  CHECK_THROWS_WITH(bitserial_activations::from(q), Catch::Contains("activations.bits = 9"));
  midrise_matrix mg;
  mg.rows = 1, mg.cols = 4, mg.bits = 1, mg.gran = granularity::per_group(2), mg.codes = {0, 0, 0, 0},
  mg.scales = {1, 1};
  CHECK_THROWS_WITH(bitserial_activations::from(mg), Catch::Contains("activations.gran = per_group"));
  const auto g16 = make_stack(4, 64, 8, wenc::twos_complement, granularity::per_group(16), 44);
  CHECK_THROWS_WITH(bitserial_gemm(view(g16, 2), x, matrix_view<float>(y.data(), 1, 4), {}, {kernel_isa::portable}),
                    Catch::Contains("isa = portable: group size 16"));
  bitserial_gemm(view(g16, 2), x, matrix_view<float>(y.data(), 1, 4));  // automatic: the reference serves it
}
