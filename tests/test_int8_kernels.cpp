// The plain int8 × int8 baseline (kernels/int8_gemm.hpp): every ISA that runs here (reference,
// avx512, neon, dotprod), forced in turn and on 1 or 2 threads, equals an oracle computed in this
// file from the caller's int8 matrix — exact int64 dot products, then the documented epilogue
// sx · fl(s_r · float(acc)), rounded, + bias — bit for bit. Shapes with padded rows and K, token
// counts on both sides of the kernels' token tiles, row ranges, and a K deep enough that int32
// sums at the most extreme codes overflow unless the kernels flush them.
#include <bitdial/kernels/int8_gemm.hpp>

#include <cstring>
#include <random>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

struct int8_case {
  std::size_t rows, cols, tokens;
  std::vector<std::int8_t> w, x;
  std::vector<float> ws, xs, bias;
};

int8_case make_case(std::size_t rows, std::size_t cols, std::size_t tokens, std::uint64_t salt, int constant = 0) {
  std::mt19937_64 rng(test::seed() + 9100 + salt);
  std::uniform_int_distribution<int> d(-128, 127);
  std::uniform_real_distribution<float> sd(0.001f, 0.5f), bd(-4.0f, 4.0f);
  int8_case c{rows, cols, tokens, {}, {}, {}, {}, {}};
  for (std::size_t i = 0; i < rows * cols; ++i) c.w.push_back(static_cast<std::int8_t>(constant ? constant : d(rng)));
  for (std::size_t i = 0; i < tokens * cols; ++i) c.x.push_back(static_cast<std::int8_t>(constant ? constant : d(rng)));
  for (std::size_t r = 0; r < rows; ++r) c.ws.push_back(sd(rng));
  for (std::size_t n = 0; n < tokens; ++n) c.xs.push_back(sd(rng));
  for (std::size_t r = 0; r < rows; ++r) c.bias.push_back(bd(rng));
  return c;
}

/// The oracle: y(n, r) for rows [r0, r1) from the caller's matrix, the epilogue written out here.
std::vector<float> oracle(const int8_case& c, bool with_bias, std::size_t r0, std::size_t r1) {
  std::vector<float> y(c.tokens * c.rows, -7.0f);
  for (std::size_t n = 0; n < c.tokens; ++n)
    for (std::size_t r = r0; r < r1; ++r) {
      std::int64_t acc = 0;
      for (std::size_t k = 0; k < c.cols; ++k)
        acc += std::int64_t{c.w[r * c.cols + k]} * std::int64_t{c.x[n * c.cols + k]};
      volatile float inner = c.ws[r] * static_cast<float>(acc);  // volatile: each product rounded to float
      volatile float v = c.xs[n] * inner;
      y[n * c.rows + r] = with_bias ? c.bias[r] + v : v;
    }
  return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void check_all_isas(const int8_case& c, bool with_bias, std::size_t r0, std::size_t r1) {
  const int8_matrix m = int8_matrix::pack(c.w.data(), c.rows, c.cols, c.cols, c.ws.data());
  const token_batch x{c.x.data(), c.xs.data(), c.tokens, c.cols, c.cols};
  const auto want = oracle(c, with_bias, r0, r1);
  const auto isas = kernel_isas<int8_kernels>();
  REQUIRE(isas.front() == kernel_isa::reference);
  for (kernel_isa isa : isas)
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
      INFO("shape = " << c.rows << "x" << c.cols << ", tokens = " << c.tokens << ", rows [" << r0 << ", " << r1
                      << "), bias = " << with_bias << ", isa = " << to_string(isa) << ", threads = " << threads);
      std::vector<float> got(c.tokens * c.rows, -7.0f);
      gemm(m, x, matrix_view<float>(got.data(), c.tokens, c.rows),
           gemm_params{with_bias ? c.bias.data() : nullptr, r0, r1}, run_options{isa, nullptr, threads});
      CHECK(same_bits(got, want));
    }
}

}  // namespace

TEST_CASE("int8 kernels equal the oracle on every ISA, shape, token count and row range", "[int8]") {
  BITDIAL_LOG_SEED();
  INFO("kernels here: " << [] {
    std::string s;
    for (kernel_isa i : kernel_isas<int8_kernels>()) s += std::string(to_string(i)) + " ";
    return s;
  }());
  const struct { std::size_t rows, cols; } shapes[] = {{1, 1}, {32, 16}, {33, 17}, {45, 70}, {64, 256}, {7, 300}};
  std::uint64_t salt = 0;
  for (const auto& s : shapes)
    for (std::size_t tokens : {1, 2, 3, 5}) {
      const int8_case c = make_case(s.rows, s.cols, tokens, ++salt);
      check_all_isas(c, (salt & 1) != 0, 0, s.rows);
      if (s.rows > 8) check_all_isas(c, true, 3, s.rows - 2);  // a range inside row blocks
    }
}

TEST_CASE("int8 kernels stay exact at extreme codes over a deep K", "[int8]") {
  BITDIAL_LOG_SEED();
  // (−128)·(−128)·K: at K = 2^17 + 16 the row sum is 2^31 + 2^18, past int32, so every kernel must
  // carry its partial sums into int64 before the int32 lanes wrap.
  const std::size_t K = (std::size_t{1} << 17) + 16;
  for (int v : {-128, 127}) {
    INFO("every code = " << v);
    int8_case c = make_case(33, K, 2, 77, v);
    for (float& s : c.ws) s = 1.0f;
    check_all_isas(c, false, 0, c.rows);
  }
}

TEST_CASE("int8 front door rejects bad operands by name", "[int8]") {
  const int8_case c = make_case(8, 20, 1, 5);
  const int8_matrix m = int8_matrix::pack(c.w.data(), c.rows, c.cols, c.cols, c.ws.data());
  std::vector<float> y(c.rows);
  const token_batch x{c.x.data(), c.xs.data(), 1, c.cols, c.cols};
  CHECK_THROWS_WITH(
      gemm(m, token_batch{c.x.data(), c.xs.data(), 1, c.cols - 1, c.cols}, matrix_view<float>(y.data(), 1, c.rows)),
      Catch::Matchers::Contains("activations.cols"));
  CHECK_THROWS_WITH(gemm(m, x, matrix_view<float>(y.data(), 1, c.rows - 1)), Catch::Matchers::Contains("output shape"));
  CHECK_THROWS_WITH(gemm(m, x, matrix_view<float>(y.data(), 1, c.rows), gemm_params{nullptr, 8, 8}),
                    Catch::Matchers::Contains("empty row range"));
}
