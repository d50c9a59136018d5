// AVX-512 plane kernels and the int8 VNNI baseline: integers and floats equal reference::gemm
// exactly for every shape, width, rule, granularity, token count, method, shard and row range.
// Those cases are tagged [requires_avx512] (tests/isa_gate.hpp): CTest runs them as test_kernels_x86,
// reported "Skipped" where the CPU or build lacks AVX-512, and the CPU-detection case as
// test_kernels_x86_any_cpu.
#include <bitdial/core/cpu.hpp>
#include <bitdial/kernels/reference/gemm.hpp>
#include <bitdial/kernels/x86/int8_vnni.hpp>
#include <bitdial/kernels/x86/plane_avx512.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>

#include "isa_gate.hpp"
#include "test_support.hpp"

using namespace bitdial;

namespace {

/// Random master: uniform codes, ~1/8 of them at the range ends, some rows all at one extreme.
bit_plane_stack random_stack(std::size_t rows, std::size_t cols, int B, bool is_signed, granularity g,
                             std::uint64_t salt) {
  std::mt19937_64 rng(test::seed() * 31 + salt);
  const int lo = is_signed ? signed_min(B) : 0, hi = is_signed ? signed_max(B) : unsigned_max(B);
  std::uniform_int_distribution<int> code(lo, hi), pick(0, 7);
  std::uniform_real_distribution<float> sc(0.01f, 2.0f);
  auto fill = [&](auto& m) {
    m.rows = rows;
    m.cols = cols;
    m.bits = B;
    m.gran = g;
    m.codes.resize(rows * cols);
    for (std::size_t r = 0; r < rows; ++r) {
      const int mode = rows > 2 && r % 7 == 3 ? 1 + static_cast<int>(r % 2) : 0;  // whole rows at lo / hi
      for (std::size_t c = 0; c < cols; ++c) {
        int v = mode == 1 ? lo : mode == 2 ? hi : code(rng);
        if (mode == 0 && pick(rng) == 0) v = pick(rng) < 4 ? lo : hi;
        m.codes[r * cols + c] = static_cast<typename std::decay_t<decltype(m.codes)>::value_type>(v);
      }
    }
    m.scales.resize(g.count(rows, cols));
    for (auto& s : m.scales) s = sc(rng);
  };
  if (is_signed) {
    quantized_matrix<std::int8_t> m;
    fill(m);
    return bit_plane_stack::pack(m);
  }
  quantized_matrix<std::uint8_t> m;
  fill(m);
  m.zero_points.resize(m.scales.size());
  for (auto& z : m.zero_points) z = code(rng);
  return bit_plane_stack::pack(m);
}

struct activations {
  std::vector<std::int8_t> codes;
  std::vector<float> scales;
  token_batch batch;
};

activations random_tokens(std::size_t tokens, std::size_t cols, std::uint64_t salt, std::size_t pad = 3) {
  std::mt19937_64 rng(test::seed() * 17 + salt);
  std::uniform_int_distribution<int> code(-128, 127), pick(0, 7);
  std::uniform_real_distribution<float> sc(0.001f, 1.0f);
  activations a;
  const std::size_t stride = cols + pad;
  a.codes.resize(tokens * stride);
  for (std::size_t n = 0; n < tokens; ++n)
    for (std::size_t c = 0; c < stride; ++c) {
      int v = code(rng);
      if (n % 5 == 1) v = -128;  // whole tokens at the extremes
      if (n % 5 == 2) v = 127;
      if (n % 5 == 0 && pick(rng) == 0) v = pick(rng) < 4 ? -128 : 127;
      a.codes[n * stride + c] = static_cast<std::int8_t>(v);
    }
  a.scales.resize(tokens);
  for (auto& s : a.scales) s = sc(rng);
  a.batch = token_batch{a.codes.data(), a.scales.data(), tokens, cols, stride};
  return a;
}

/// Same integers and epilogue as reference::gemm, faster for large shapes: served codes read
/// through plane_view::code once, then int64 dot products (used only where reference::gemm is slow,
/// and itself checked against reference::gemm below).
std::vector<float> oracle(const plane_view& w, const token_batch& x, const float* bias) {
  const std::size_t groups = w.stack->groups_per_row(), glen = w.cols() / groups;
  std::vector<std::int32_t> q(w.rows() * w.cols());
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (std::size_t c = 0; c < w.cols(); ++c) q[r * w.cols() + c] = w.code(r, c);
  std::vector<float> y(x.tokens * w.rows());
  std::vector<std::int64_t> acc(groups), sumx(groups);
  for (std::size_t n = 0; n < x.tokens; ++n) {
    detail::group_sums(x.token(n), x.cols, groups, sumx.data());
    for (std::size_t r = 0; r < w.rows(); ++r) {
      std::fill(acc.begin(), acc.end(), 0);
      for (std::size_t c = 0; c < w.cols(); ++c) acc[c / glen] += std::int64_t{q[r * w.cols() + c]} * x.token(n)[c];
      y[n * w.rows() + r] = detail::finish_row(w, r, acc.data(), sumx.data(), x.scales[n], bias);
    }
  }
  return y;
}

std::vector<float> reference_out(const plane_view& w, const token_batch& x, const float* bias) {
  std::vector<float> y(x.tokens * w.rows());
  reference::gemm(w, x, matrix_view<float>(y.data(), x.tokens, w.rows()), gemm_params{bias});
  return y;
}

/// Index of the first element where a and b differ (as floats, NaN never equal), or -1.
long first_mismatch(const std::vector<float>& a, const std::vector<float>& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i])) return static_cast<long>(i);
  return -1;
}

std::vector<float> run_x86(const plane_view& w, const token_batch& x, const float* bias, x86::plane_method m) {
  std::vector<float> y(x.tokens * w.rows(), -1.0f);
  x86::plane_gemm_avx512(w, x, matrix_view<float>(y.data(), x.tokens, w.rows()), bias, 0, w.rows(), m);
  return y;
}

const rounding all_rules[] = {rounding::floor, rounding::half_up, rounding::half_even};
const x86::plane_method all_methods[] = {x86::plane_method::lookup, x86::plane_method::unpack};

void check_shape(std::size_t M, std::size_t K, std::initializer_list<granularity> grans, bool fast_oracle,
                 std::uint64_t salt, std::initializer_list<std::size_t> token_counts = {1, 3, 17},
                 bool with_unsigned = true, std::initializer_list<int> widths = {1, 2, 3, 4, 5, 6, 7, 8}) {
  BITDIAL_LOG_SEED();
  for (granularity g : grans)
    for (int is_signed = 1; is_signed >= (with_unsigned ? 0 : 1); --is_signed) {
      const int B = 8;
      const auto s = random_stack(M, K, B, is_signed != 0, g, salt + 7 * static_cast<std::uint64_t>(g.group));
      std::vector<float> bias(M);
      for (std::size_t r = 0; r < M; ++r) bias[r] = 0.25f * static_cast<float>(r % 5) - 0.5f;
      for (std::size_t N : token_counts) {
        const auto x = random_tokens(N, K, salt + N);
        for (int b : widths)
          for (rounding rule : all_rules) {
            if (!is_signed && rule != rounding::floor) continue;
            for (auto recon : {reconstruction::midpoint, reconstruction::floor}) {
              if (recon == reconstruction::floor && rule != rounding::floor) continue;
              const auto v = view(s, b, rule, recon);
              const float* bp = (b % 2) ? bias.data() : nullptr;
              const auto want = fast_oracle ? oracle(v, x.batch, bp) : reference_out(v, x.batch, bp);
              for (auto m : all_methods) {
                const auto got = run_x86(v, x.batch, bp, m);
                const long bad = first_mismatch(got, want);
                INFO("M = " << M << ", K = " << K << ", N = " << N << ", b = " << b << ", rule = " << to_string(rule)
                            << ", signed = " << is_signed << ", gran kind = " << int(g.k) << ", group = " << g.group
                            << ", method = " << x86::to_string(m) << ", first mismatch at " << bad);
                if (bad >= 0)
                  INFO("got " << got[static_cast<std::size_t>(bad)] << ", want "
                              << want[static_cast<std::size_t>(bad)]);
                REQUIRE(bad == -1);
              }
            }
          }
      }
    }
}

}  // namespace

TEST_CASE("cpu features are detected consistently", "[x86]") {
  const cpu_features& f = cpu();
  CHECK(&f == &cpu());
  if (f.avx512_kernels()) {
    CHECK(f.avx512f);
    CHECK(f.avx2);
  }
  if (f.avx512bw || f.avx512vl || f.avx512dq || f.avx512vnni || f.avx512vbmi || f.avx512vpopcntdq) CHECK(f.avx512f);
#if !BITDIAL_X86_SIMD
  // SIMD compiled out (or not x86): every flag is false and no x86 kernel is available.
  CHECK_FALSE((f.avx2 || f.fma || f.avx512f || f.avx512bw || f.avx512vl || f.avx512dq || f.avx512vnni || f.avx512vbmi ||
               f.avx512vpopcntdq || f.gfni));
  CHECK_FALSE(x86::plane_avx512_available());
#endif
}

TEST_CASE("every master code, width and rule: served code through the x86 kernels", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  // Row r holds one master code at every column; token = e_0, scale 1, floor reconstruction, so
  // y(r) = 2^k · q_b(r) exactly.
  for (int B = 1; B <= 8; ++B)
    for (int is_signed = 0; is_signed <= 1; ++is_signed) {
      const int lo = is_signed ? signed_min(B) : 0, hi = is_signed ? signed_max(B) : unsigned_max(B);
      const std::size_t M = static_cast<std::size_t>(hi - lo + 1), K = 20;
      bit_plane_stack s;
      if (is_signed) {
        quantized_matrix<std::int8_t> m{M, K, B, granularity::per_tensor(), {}, {1.0f}, {}};
        for (int q = lo; q <= hi; ++q)
          for (std::size_t c = 0; c < K; ++c) m.codes.push_back(static_cast<std::int8_t>(q));
        s = bit_plane_stack::pack(m);
      } else {
        quantized_matrix<std::uint8_t> m{M, K, B, granularity::per_tensor(), {}, {1.0f}, {}};
        for (int q = lo; q <= hi; ++q)
          for (std::size_t c = 0; c < K; ++c) m.codes.push_back(static_cast<std::uint8_t>(q));
        s = bit_plane_stack::pack(m);
      }
      std::vector<std::int8_t> x(K, 0);
      x[0] = 1;
      const float one = 1.0f;
      const token_batch t{x.data(), &one, 1, K, K};
      for (int b = 1; b <= B; ++b)
        for (rounding rule : all_rules) {
          if (!is_signed && rule != rounding::floor) continue;
          const auto v = view(s, b, rule, reconstruction::floor);
          for (auto m : all_methods) {
            const auto y = run_x86(v, t, nullptr, m);
            for (std::size_t r = 0; r < M; ++r) {
              INFO("B = " << B << ", signed = " << is_signed << ", q = " << lo + int(r) << ", b = " << b
                          << ", rule = " << to_string(rule) << ", method = " << x86::to_string(m));
              REQUIRE(y[r] == std::ldexp(static_cast<float>(v.code(r, 0)), B - b));
            }
          }
        }
    }
}

TEST_CASE("integer accumulators equal reference::accumulators (scale 1, floor)", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  BITDIAL_LOG_SEED();
  // |acc| < 2^24 here, so y = 2^k · acc is exact and recovers the integer.
  const std::size_t M = 45, K = 200;
  quantized_matrix<std::int8_t> m{M, K, 8, granularity::per_tensor(), {}, {1.0f}, {}};
  std::mt19937_64 rng(test::seed());
  std::uniform_int_distribution<int> d(-128, 127);
  for (std::size_t i = 0; i < M * K; ++i) m.codes.push_back(static_cast<std::int8_t>(d(rng)));
  const auto s = bit_plane_stack::pack(m);
  auto x = random_tokens(3, K, 99, 0);
  std::fill(x.scales.begin(), x.scales.end(), 1.0f);
  for (int b = 1; b <= 8; ++b)
    for (rounding rule : all_rules) {
      const auto v = view(s, b, rule, reconstruction::floor);
      const auto acc = reference::accumulators(v, x.batch);
      for (auto meth : all_methods) {
        const auto y = run_x86(v, x.batch, nullptr, meth);
        for (std::size_t i = 0; i < y.size(); ++i) {
          INFO("b = " << b << ", rule = " << to_string(rule) << ", i = " << i << ", method = " << x86::to_string(meth));
          REQUIRE(static_cast<std::int64_t>(std::ldexp(y[i], b - 8)) == acc[i]);
        }
      }
    }
}

TEST_CASE("small shapes 1..10 x 1..10, all widths, rules, token counts", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  for (std::size_t M = 1; M <= 10; M += 3)
    for (std::size_t K = 1; K <= 10; ++K)
      check_shape(M, K, {granularity::per_row(), granularity::per_tensor()}, false, M * 100 + K);
  for (std::size_t M = 1; M <= 10; ++M) check_shape(M, 7, {granularity::per_row()}, false, M * 1000 + 7);
}

TEST_CASE("powers of two +-1 and odd mixes", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  for (std::size_t n : {15, 17, 63, 65}) {
    check_shape(n, n, {granularity::per_row(), granularity::per_tensor()}, false, n);
    check_shape(3, n, {granularity::per_row()}, false, n + 1000);
  }
  check_shape(7, 6, {granularity::per_row()}, false, 765);  // 7×6×5: M × K, N = 5 below
  check_shape(7, 6, {granularity::per_row()}, false, 766, {5});
  check_shape(19, 11, {granularity::per_row()}, false, 19311, {3});
  check_shape(30, 43, {granularity::per_row(), granularity::per_tensor()}, false, 302143, {21});
}

TEST_CASE("per-group scales (groups of 16, 32, 48, 96)", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  check_shape(
      37, 96,
      {granularity::per_group(16), granularity::per_group(32), granularity::per_group(48), granularity::per_group(96)},
      false, 3796);
}

TEST_CASE("deep K: 1 x 32767 x 1 and a flush past 65536 K, extremes everywhere", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  check_shape(1, 32767, {granularity::per_row()}, true, 32767, {1});
  check_shape(2, 70001, {granularity::per_row()}, true, 70001, {1, 3});
  // Worst-case magnitudes: every code -128 (and 127), every activation -128.
  for (int q : {-128, 127}) {
    const std::size_t K = 70000;
    quantized_matrix<std::int8_t> m{
        2, K, 8, granularity::per_row(), std::vector<std::int8_t>(2 * K, static_cast<std::int8_t>(q)), {1.0f, 0.5f},
        {}};
    const auto s = bit_plane_stack::pack(m);
    std::vector<std::int8_t> x(K, -128);
    const float one = 1.0f;
    const token_batch t{x.data(), &one, 1, K, K};
    for (int b : {1, 2, 7, 8})
      for (rounding rule : all_rules) {
        const auto v = view(s, b, rule);
        const auto want = oracle(v, t, nullptr);
        for (auto meth : all_methods) REQUIRE(first_mismatch(run_x86(v, t, nullptr, meth), want) == -1);
      }
  }
}

TEST_CASE("one 256 x 4096 matrix, all widths and rules, per row and per group of 128", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  // Oracle checked against reference::gemm on a slice first.
  {
    const auto s = random_stack(64, 4096, 8, true, granularity::per_group(128), 4242);
    const auto x = random_tokens(1, 4096, 4243);
    const auto v = view(s, 3, rounding::half_even);
    REQUIRE(first_mismatch(oracle(v, x.batch, nullptr), reference_out(v, x.batch, nullptr)) == -1);
  }
  // Signed masters here (unsigned ones are covered by every other shape) to keep the suite fast.
  // Widths 1, 2, 7, 8 cover both ends of every rule (all widths run on every smaller shape).
  check_shape(256, 4096, {granularity::per_row(), granularity::per_group(128)}, true, 2564096, {1, 3}, false,
              {1, 2, 7, 8});
}

TEST_CASE("shards and row ranges write exactly their rows", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  BITDIAL_LOG_SEED();
  const auto s = random_stack(100, 77, 8, true, granularity::per_row(), 100);
  const auto x = random_tokens(3, 77, 101);
  const float sentinel = 12345.0f;
  for (int b : {1, 4, 7})
    for (rounding rule : all_rules)
      for (auto [sb, se] : {std::pair<std::size_t, std::size_t>{0, 100}, {5, 77}, {33, 34}, {31, 97}, {64, 100}}) {
        const auto v = shard(view(s, b, rule), sb, se);
        const auto want = reference_out(v, x.batch, nullptr);
        for (auto meth : all_methods)
          for (auto [r0, r1] : {std::pair<std::size_t, std::size_t>{0, v.rows()},
                                {0, 1},
                                {v.rows() / 3, v.rows()},
                                {v.rows() / 4, v.rows() / 2 + 1}}) {
            if (r0 >= r1) continue;
            std::vector<float> y(3 * v.rows(), sentinel);
            x86::plane_gemm_avx512(v, x.batch, matrix_view<float>(y.data(), 3, v.rows()), nullptr, r0, r1, meth);
            for (std::size_t n = 0; n < 3; ++n)
              for (std::size_t r = 0; r < v.rows(); ++r) {
                INFO("shard [" << sb << ", " << se << "), rows [" << r0 << ", " << r1 << "), b = " << b
                               << ", rule = " << to_string(rule) << ", n = " << n << ", r = " << r);
                if (r >= r0 && r < r1)
                  REQUIRE(y[n * v.rows() + r] == want[n * v.rows() + r]);
                else
                  REQUIRE(y[n * v.rows() + r] == sentinel);
              }
          }
        // Prepared once, run over every block split by a fake parallel-for.
        std::vector<float> y(3 * v.rows(), sentinel);
        x86::plane_gemm_avx512_parallel(v, x.batch, matrix_view<float>(y.data(), 3, v.rows()), nullptr, 0, v.rows(),
                                        [](std::size_t blocks, auto&& fn) {
                                          for (std::size_t i = 0; i < blocks; i += 2) fn(i, std::min(blocks, i + 2));
                                        });
        REQUIRE(first_mismatch(y, want) == -1);
      }
}

TEST_CASE("masters narrower than 8 bits", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  for (int B : {2, 3, 5})
    for (int is_signed = 0; is_signed <= 1; ++is_signed) {
      const auto s = random_stack(40, 50, B, is_signed != 0, granularity::per_row(), 500 + B);
      const auto x = random_tokens(3, 50, 600 + B);
      for (int b = 1; b <= B; ++b)
        for (rounding rule : all_rules) {
          if (!is_signed && rule != rounding::floor) continue;
          const auto v = view(s, b, rule);
          const auto want = reference_out(v, x.batch, nullptr);
          for (auto meth : all_methods) {
            INFO("B = " << B << ", signed = " << is_signed << ", b = " << b << ", rule = " << to_string(rule));
            REQUIRE(first_mismatch(run_x86(v, x.batch, nullptr, meth), want) == -1);
          }
        }
    }
}

TEST_CASE("prepare rejects what the kernel cannot serve", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  const auto s = random_stack(4, 40, 8, true, granularity::per_group(8), 7);
  const auto x = random_tokens(1, 40, 8);
  CHECK_FALSE(x86::plane_avx512_supports(view(s, 4)));
  CHECK_THROWS_WITH(x86::prepare_plane_gemm_avx512(view(s, 4), x.batch), Catch::Contains("group = 8"));
  const auto s2 = random_stack(4, 48, 8, true, granularity::per_row(), 9);
  CHECK_THROWS_WITH(x86::prepare_plane_gemm_avx512(view(s2, 4), x.batch), Catch::Contains("activations.cols = 40"));
  const auto x2 = random_tokens(1, 48, 10);
  const auto plan = x86::prepare_plane_gemm_avx512(view(s2, 4), x2.batch);
  std::vector<float> y(4);
  CHECK_THROWS_WITH(x86::run_plane_gemm_avx512(plan, matrix_view<float>(y.data(), 1, 4), nullptr, 2, 5),
                    Catch::Contains("rows = [2, 5)"));
  CHECK_THROWS_WITH(x86::run_plane_gemm_avx512(plan, matrix_view<float>(y.data(), 1, 3), nullptr, 0, 3),
                    Catch::Contains("output shape = 1x3"));
}

TEST_CASE("int8 VNNI baseline equals the int64 dot product", "[x86][requires_avx512]") {
  BITDIAL_REQUIRE_ISA("avx512");
  BITDIAL_LOG_SEED();
  for (auto [M, K] : {std::pair<std::size_t, std::size_t>{1, 1}, {7, 6}, {33, 65}, {64, 4096}, {3, 70001}}) {
    std::mt19937_64 rng(test::seed() + M * K);
    std::uniform_int_distribution<int> d(-128, 127);
    std::vector<std::int8_t> w(M * K);
    for (auto& v : w) v = static_cast<std::int8_t>(d(rng));
    if (M > 1) std::fill(w.begin(), w.begin() + static_cast<long>(K), std::int8_t{-128});
    std::vector<float> ws(M);
    for (std::size_t r = 0; r < M; ++r) ws[r] = 0.01f * static_cast<float>(r + 1);
    const auto packed = x86::int8_matrix::pack(w.data(), M, K, K, ws.data());
    for (std::size_t N : {1, 3, 17}) {
      const auto x = random_tokens(N, K, M + K + N);
      std::vector<float> y(N * M, -1.0f);
      x86::int8_gemm(packed, x.batch, matrix_view<float>(y.data(), N, M), 0, M);
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t r = 0; r < M; ++r) {
          std::int64_t acc = 0;
          for (std::size_t c = 0; c < K; ++c) acc += std::int64_t{w[r * K + c]} * x.batch.token(n)[c];
          INFO("M = " << M << ", K = " << K << ", N = " << N << ", n = " << n << ", r = " << r);
          REQUIRE(y[n * M + r] == x86::int8_matrix::finish(acc, ws[r], x.scales[n]));
        }
    }
  }
}
