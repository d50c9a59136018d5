// The kernel dispatch table (kernels/dispatch.hpp) and the front doors' common shapes:
//   - per family, isa_serves<Family>(isa, w) is exactly what the front door accepts when the ISA is
//     forced (a served call equals the reference bit for bit, a declined one throws naming the ISA),
//     and `automatic` runs the best ISA that serves;
//   - the rules themselves, stated literally (the portable plane kernel's groups of 4, the x86
//     plane kernels' groups of 16, bit-serial's 32, ternary's 16, FP4's formats);
//   - the float front door of gemm_slices / gemv_slices, the bit-serial argument order, the
//     shared operand checks, and ternary_matrix's scale rule.
#include <bitdial/serving.hpp>
#include <bitdial/quant/bitmod.hpp>
#include <bitdial/quant/mx.hpp>
#include <bitdial/quant/residual.hpp>
#include <bitdial/quant/ternary.hpp>
#include <bitdial/quant/uniform.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;
using Catch::Contains;

namespace {

const kernel_isa all_isas[] = {kernel_isa::reference, kernel_isa::portable, kernel_isa::avx2, kernel_isa::avx512,
                               kernel_isa::neon,      kernel_isa::dotprod,  kernel_isa::i8mm};

struct acts {
  std::vector<std::int8_t> q;
  std::vector<float> s;
  std::size_t tokens, cols;
  token_batch batch() const { return {q.data(), s.data(), tokens, cols, cols}; }
};

acts make_acts(std::size_t tokens, std::size_t cols, std::uint64_t salt) {
  std::mt19937_64 rng(test::seed() + salt);
  std::uniform_int_distribution<int> d(-127, 127);
  acts a{{}, {}, tokens, cols};
  for (std::size_t i = 0; i < tokens * cols; ++i) a.q.push_back(static_cast<std::int8_t>(d(rng)));
  for (std::size_t n = 0; n < tokens; ++n) a.s.push_back(0.01f + 0.001f * float(n));
  return a;
}

bit_plane_stack plane_stack(std::size_t rows, std::size_t cols, granularity g, std::uint64_t salt) {
  const auto w = test::normal(rows * cols, salt);
  return bit_plane_stack::pack(uniform_symmetric<8>({.gran = g}).quantize(const_matrix(w.data(), rows, cols)));
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// For every ISA: forced, the front door serves exactly when isa_serves says so (and then equals the
/// reference bit for bit); `automatic` runs the best serving ISA.
template <class Family, class W>
void check_family(const W& w, std::size_t tokens, std::size_t rows,
                  const std::function<void(const W&, std::vector<float>&, kernel_isa)>& call, const std::string& what) {
  std::vector<float> want(tokens * rows), got(tokens * rows);
  call(w, want, kernel_isa::reference);
  const auto here = kernel_isas<Family>();
  for (kernel_isa isa : all_isas) {
    INFO(what << ": isa = " << to_string(isa));
    const bool runs = std::find(here.begin(), here.end(), isa) != here.end();
    CHECK(kernel_isa_available<Family>(isa) == runs);
    if (!runs) {
      CHECK_FALSE(isa_serves<Family>(isa, w));
      CHECK_THROWS_WITH(call(w, got, isa), Contains("isa = " + std::string(to_string(isa))) &&
                                               Contains("not supported by this CPU or build"));
      continue;
    }
    if (isa_serves<Family>(isa, w)) {
      std::fill(got.begin(), got.end(), -7.0f);
      call(w, got, isa);
      CHECK(same_bits(got, want));
    } else {
      CHECK_THROWS_WITH(call(w, got, isa), Contains("isa = " + std::string(to_string(isa)) + ": "));
    }
  }
  kernel_isa best = kernel_isa::reference;
  for (kernel_isa isa : here)
    if (isa_serves<Family>(isa, w)) best = isa;
  CHECK(chosen_isa<Family>(w) == best);
  std::fill(got.begin(), got.end(), -7.0f);
  call(w, got, kernel_isa::automatic);
  CHECK(same_bits(got, want));
}

}  // namespace

TEST_CASE("the ISA table lists every ISA once, worst first, and names them", "[dispatch]") {
  std::vector<kernel_isa> listed;
  for (const isa_entry& e : isa_table) {
    CHECK(std::string(to_string(e.isa)) == e.name);
    CHECK(std::find(listed.begin(), listed.end(), e.isa) == listed.end());
    listed.push_back(e.isa);
  }
  CHECK(listed == std::vector<kernel_isa>(std::begin(all_isas), std::end(all_isas)));
  const auto here = available_isas();
  REQUIRE(here.size() >= 2);
  CHECK(here[0] == kernel_isa::reference);
  CHECK(here[1] == kernel_isa::portable);
  CHECK(isa_available(kernel_isa::automatic));
  CHECK(isa_available(kernel_isa::avx512) == (BITDIAL_X86_SIMD && cpu().avx512_kernels()));
  CHECK(isa_available(kernel_isa::avx2) == (BITDIAL_X86_SIMD && cpu().avx2_kernels()));
  CHECK(isa_available(kernel_isa::avx2) == x86::plane_avx2_available());
  CHECK(isa_available(kernel_isa::neon) == (BITDIAL_ARM_SIMD && cpu().asimd));
  CHECK(isa_available(kernel_isa::dotprod) == (BITDIAL_ARM_DOTPROD && cpu().asimd && cpu().dotprod));
  CHECK(isa_available(kernel_isa::i8mm) == (BITDIAL_ARM_I8MM && cpu().asimd && cpu().dotprod && cpu().i8mm));
  CHECK(std::string(to_string(kernel_isa::automatic)) == "automatic");
}

TEST_CASE("plane views: the query states each kernel's group rule and the front door follows it", "[dispatch]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 40, N = 3;
  struct shape {
    std::size_t k;
    granularity g;
    bool portable, of16;  // of16: whole 16-K chunks (the x86 and ARM kernels)
  };
  // Literal rules: portable needs groups of whole 4-K lookups, avx2/avx512/neon/dotprod/i8mm whole 16-K
  // chunks; one group per row (per_row, per_tensor) always serves.
  const shape shapes[] = {
      {60, granularity::per_group(10), false, false}, {48, granularity::per_group(8), true, false},
      {64, granularity::per_group(16), true, true},   {20, granularity::per_row(), true, true},
      {37, granularity::per_tensor(), true, true},    {96, granularity::per_group(12), true, false},
  };
  for (const shape& sh : shapes) {
    const auto s = plane_stack(M, sh.k, sh.g, sh.k);
    const auto a = make_acts(N, sh.k, sh.k + 1);
    for (int b : {2, 8}) {
      const plane_view v = view(s, b, rounding::half_even);
      INFO("K = " << sh.k << ", groups = " << s.groups_per_row() << ", b = " << b);
      CHECK(isa_serves<plane_gemm_kernels>(kernel_isa::reference, v));
      CHECK(isa_serves<plane_gemm_kernels>(kernel_isa::automatic, v));
      CHECK(isa_serves<plane_gemm_kernels>(kernel_isa::portable, v) == sh.portable);
      for (kernel_isa isa :
           {kernel_isa::avx2, kernel_isa::avx512, kernel_isa::neon, kernel_isa::dotprod, kernel_isa::i8mm})
        CHECK(isa_serves<plane_gemm_kernels>(isa, v) == (sh.of16 && isa_available(isa)));
      if (!sh.portable)
        CHECK_THROWS_WITH(gemm(v, a.batch(), matrix_view<float>(nullptr, 0, 0), {}, {kernel_isa::portable}),
                          Contains("output: null data"));  // operands are checked before the kernel
      check_family<plane_gemm_kernels, plane_view>(
          v, N, M,
          [&](const plane_view& w, std::vector<float>& y, kernel_isa isa) {
            gemm(w, a.batch(), matrix_view<float>(y.data(), N, M), {}, {isa});
          },
          "plane");
    }
  }
  const auto s10 = plane_stack(8, 60, granularity::per_group(10), 5);
  const auto a10 = make_acts(1, 60, 6);
  std::vector<float> y(8);
  CHECK_THROWS_WITH(gemm(view(s10, 4), a10.batch(), matrix_view<float>(y.data(), 1, 8), {}, {kernel_isa::portable}),
                    Contains("gemm: isa = portable: group size 10 is not a multiple of 4"));
}

TEST_CASE("bit-serial: packed kernels need groups of 32, and the query says so", "[dispatch]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 33, N = 2;
  for (const auto& [k, g, packed] :
       {std::tuple{64, granularity::per_group(16), false}, std::tuple{96, granularity::per_group(32), true},
        std::tuple{50, granularity::per_row(), true}}) {
    const auto s = plane_stack(M, std::size_t(k), g, 40 + std::size_t(k));
    const plane_view v = view(s, 3);
    const auto xf = test::normal(N * std::size_t(k), 41);
    const auto xa = quantize_bitserial(const_matrix(xf.data(), N, std::size_t(k)), 4);
    INFO("K = " << k << ", groups = " << s.groups_per_row());
    CHECK(isa_serves<bitserial_kernels>(kernel_isa::portable, v) == packed);
    CHECK(isa_serves<bitserial_kernels>(kernel_isa::neon, v) == (packed && isa_available(kernel_isa::neon)));
    CHECK_FALSE(isa_serves<bitserial_kernels>(kernel_isa::dotprod, v));  // no SDOT form of the bit-serial loop
    CHECK_FALSE(isa_serves<bitserial_kernels>(kernel_isa::i8mm, v));
    check_family<bitserial_kernels, plane_view>(
        v, N, M,
        [&](const plane_view& w, std::vector<float>& y, kernel_isa isa) {
          bitserial_gemm(w, xa, matrix_view<float>(y.data(), N, M), {}, {isa});
        },
        "bitserial");
  }
}

TEST_CASE("ternary and FP4: one query shape, the same forced-ISA behaviour", "[dispatch]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 21, N = 2;
  for (const auto& [k, g, simd] :
       {std::tuple{48, granularity::per_group(8), false}, std::tuple{64, granularity::per_group(32), true},
        std::tuple{40, granularity::per_tensor(), true}}) {
    const auto wf = test::normal(M * std::size_t(k), 50 + std::size_t(k));
    const auto q = twn_ternary({.gran = g}).quantize(const_matrix(wf.data(), M, std::size_t(k)));
    const ternary_matrix t = ternary_matrix::pack(q);
    const auto a = make_acts(N, std::size_t(k), 51);
    INFO("ternary K = " << k);
    CHECK(isa_serves<ternary_kernels>(kernel_isa::portable, t));
    for (kernel_isa isa : {kernel_isa::avx2, kernel_isa::avx512, kernel_isa::neon, kernel_isa::dotprod})
      CHECK(isa_serves<ternary_kernels>(isa, t) == (simd && isa_available(isa)));
    check_family<ternary_kernels, ternary_matrix>(
        t, N, M,
        [&](const ternary_matrix& w, std::vector<float>& y, kernel_isa isa) {
          gemm(w, a.batch(), matrix_view<float>(y.data(), N, M), {}, {isa});
        },
        "ternary");
  }
  const std::size_t K = 64;
  const auto wf = test::normal(M * K, 60);
  const auto a = make_acts(N, K, 61);
  const fp4_matrix mx = fp4_matrix::pack(mx_quantizer(mxfp4).quantize(const_matrix(wf.data(), M, K)));
  const fp4_matrix bm = fp4_matrix::pack(
      bitmod_quantizer(bitmod_options{32, {5.0f, -5.0f, 8.0f, -8.0f}}).quantize(const_matrix(wf.data(), M, K)));
  CHECK(isa_serves<fp4_kernels>(kernel_isa::avx2, mx) == isa_available(kernel_isa::avx2));
  CHECK_FALSE(isa_serves<fp4_kernels>(kernel_isa::avx2, bm));  // the AVX2 kernel serves MXFP4 and NVFP4 only
  CHECK(isa_serves<fp4_kernels>(kernel_isa::avx512, bm) == isa_available(kernel_isa::avx512));
  for (const fp4_matrix* f : {&mx, &bm})
    check_family<fp4_kernels, fp4_matrix>(
        *f, N, M,
        [&](const fp4_matrix& w, std::vector<float>& y, kernel_isa isa) {
          gemm(w, a.batch(), matrix_view<float>(y.data(), N, M), {}, {isa});
        },
        to_string(f->format()));
}

TEST_CASE("int8 weights: the reference and the VNNI kernel through one front door", "[dispatch]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 45, K = 70, N = 3;
  std::mt19937_64 rng(test::seed() + 110);
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<std::int8_t> w(M * K);
  for (auto& v : w) v = static_cast<std::int8_t>(d(rng));
  std::vector<float> s(M);
  for (std::size_t r = 0; r < M; ++r) s[r] = 0.003f * float(r + 1);
  const auto m = x86::int8_matrix::pack(w.data(), M, K, K, s.data());
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t c = 0; c < K; ++c) REQUIRE(m.code(r, c) == w[r * K + c]);
  const auto a = make_acts(N, K, 111);
  std::vector<float> bias(M, -1.5f);
  check_family<int8_kernels, x86::int8_matrix>(
      m, N, M,
      [&](const x86::int8_matrix& wm, std::vector<float>& y, kernel_isa isa) {
        gemm(wm, a.batch(), matrix_view<float>(y.data(), N, M), {bias.data()}, {isa});
      },
      "int8");
  CHECK(kernel_isas<int8_kernels>().front() == kernel_isa::reference);
  std::vector<float> y(N * M);
  CHECK_THROWS_WITH(gemm(m, a.batch(), matrix_view<float>(y.data(), N, M), {}, {kernel_isa::portable}),
                    Contains("isa = portable: no kernel for int8 weights"));
  // The reference row states the epilogue on its own: it must equal the formula literally.
  gemm(m, a.batch(), matrix_view<float>(y.data(), N, M), gemm_params{nullptr, 0, 1}, {kernel_isa::reference});
  std::int64_t acc = 0;
  for (std::size_t c = 0; c < K; ++c) acc += std::int64_t{w[c]} * a.q[c];
  CHECK(y[0] == a.s[0] * (s[0] * static_cast<float>(acc)));
}

TEST_CASE("every family checks its operands the same way", "[dispatch]") {
  const std::size_t M = 16, K = 32;
  const auto wf = test::normal(M * K, 70);
  const auto s = plane_stack(M, K, granularity::per_row(), 71);
  const ternary_matrix t = ternary_matrix::pack(twn_ternary().quantize(const_matrix(wf.data(), M, K)));
  const fp4_matrix f = fp4_matrix::pack(mx_quantizer(mxfp4).quantize(const_matrix(wf.data(), M, K)));
  std::vector<std::int8_t> w8(M * K, 3);
  const std::vector<float> s8(M, 0.5f);
  const auto i8 = x86::int8_matrix::pack(w8.data(), M, K, K, s8.data());
  const auto a = make_acts(2, K, 72);
  std::vector<float> y(2 * 2 * M);
  // An output stride below its columns, a non-finite token scale, and an empty row range: rejected
  // by name by every int8 front door.
  const matrix_view<float> bad_stride(y.data(), 2, M, M - 1);
  auto nan_scales = a;
  nan_scales.s[1] = std::nanf("");
  const matrix_view<float> Y(y.data(), 2, M);
  const std::vector<std::function<void(const token_batch&, matrix_view<float>, const gemm_params&)>> doors = {
      [&](const token_batch& x, matrix_view<float> out, const gemm_params& p) { gemm(view(s, 4), x, out, p); },
      [&](const token_batch& x, matrix_view<float> out, const gemm_params& p) { gemm(t, x, out, p); },
      [&](const token_batch& x, matrix_view<float> out, const gemm_params& p) { gemm(f, x, out, p); },
      [&](const token_batch& x, matrix_view<float> out, const gemm_params& p) { gemm(i8, x, out, p); },
  };
  for (std::size_t i = 0; i < doors.size(); ++i) {
    INFO("front door " << i);
    CHECK_THROWS_WITH(doors[i](a.batch(), bad_stride, {}), Contains("output.stride = 15"));
    CHECK_THROWS_WITH(doors[i](nan_scales.batch(), Y, {}), Contains("activations.scales[1] = nan"));
    CHECK_THROWS_WITH(doors[i](a.batch(), Y, gemm_params{nullptr, M, M + 4}), Contains("params.row_begin = 16"));
    doors[i](a.batch(), Y, {});
  }
}

TEST_CASE("ternary_matrix rejects negative scales like pack_ternary_planes", "[dispatch][ternary]") {
  const std::size_t M = 4, K = 16;
  const auto wf = test::normal(M * K, 80);
  auto q = twn_ternary({.gran = granularity::per_row()}).quantize(const_matrix(wf.data(), M, K));
  q.scales[2] = -0.5f;
  CHECK_THROWS_WITH(ternary_matrix::pack(q), Contains("scales[2] = -0.5") && Contains(">= 0"));
  CHECK_THROWS_WITH(pack_ternary_planes(q), Contains("scales[2] = -0.5") && Contains(">= 0"));
  q.scales[2] = 0.0f;  // zero is a valid scale (an all-zero row)
  CHECK(ternary_matrix::pack(q).rows() == M);
}

TEST_CASE("gemm_slices and gemv_slices on float activations quantize per token like gemm", "[dispatch][slices]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 45, K = 80, N = 4;
  const auto wf = test::normal(M * K, 90);
  const auto p = plane_slice_stack::pack(uniform_residual({3, 2, 2}).quantize(const_matrix(wf.data(), M, K)));
  const auto xf = test::normal(N * K, 91);
  const const_matrix X(xf.data(), N, K);
  const auto q = per_token_quantizer<8>().quantize(X);
  std::vector<float> bias(M);
  for (std::size_t r = 0; r < M; ++r) bias[r] = 0.25f * float(r);
  const int counts[] = {3, 1, 2, 3};
  for (std::size_t n = 1; n <= 3; ++n) {
    const slice_view v = view_slices(p, n);
    CHECK(v.n == p.view_slices(n).n);
    std::vector<float> want(N * M), got(N * M, -1.0f);
    gemm_slices(v, as_tokens(q), matrix_view<float>(want.data(), N, M), {}, gemm_params{bias.data()});
    gemm_slices(v, X, matrix_view<float>(got.data(), N, M), {}, gemm_params{bias.data()});
    CHECK(same_bits(got, want));
    for (std::size_t t = 0; t < N; ++t) {
      std::vector<float> one(M, -1.0f);
      gemv_slices(v, std::span<const float>(xf.data() + t * K, K), one, gemm_params{bias.data()});
      CHECK(same_bits(one, std::vector<float>(want.begin() + t * M, want.begin() + (t + 1) * M)));
    }
    if (n == 3) {
      gemm_slices(v, as_tokens(q), matrix_view<float>(want.data(), N, M), counts);
      gemm_slices(v, X, matrix_view<float>(got.data(), N, M), counts);
      CHECK(same_bits(got, want));
    }
  }
  std::vector<float> y(M);
  CHECK_THROWS_WITH(gemv_slices(view_slices(p, 2), std::span<const float>(xf.data(), K - 1), y),
                    Contains("activations.cols = 79"));
  CHECK_THROWS_WITH(
      gemm_slices(view_slices(p, 2), const_matrix(xf.data(), 1, K - 1), matrix_view<float>(y.data(), 1, M)),
      Contains("activations.cols = 79"));
}

TEST_CASE("bit-serial float front doors take params before options; the old order still works", "[dispatch]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 35, K = 64, N = 3;
  const auto s = plane_stack(M, K, granularity::per_row(), 100);
  const plane_view v = view(s, 4);
  const auto xf = test::normal(N * K, 101);
  const const_matrix X(xf.data(), N, K);
  std::vector<float> bias(M, 0.5f);
  const gemm_params p{bias.data(), 3, 30};
  const bitserial_options b{5, act_encoding::zero_point};
  std::vector<float> want(N * M, 0.0f), got(N * M, 0.0f), old(N * M, 0.0f);
  bitserial_gemm(v, quantize_bitserial(X, b.act_bits, b.encoding), matrix_view<float>(want.data(), N, M), p);
  bitserial_gemm(v, X, matrix_view<float>(got.data(), N, M), p, b);
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
  bitserial_gemm(v, X, matrix_view<float>(old.data(), N, M), b, p);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
  CHECK(same_bits(got, want));
  CHECK(same_bits(old, want));
  std::vector<float> one(M, 0.0f);
  bitserial_gemv(v, std::span<const float>(xf.data() + K, K), one, p, b);
  for (std::size_t r = p.row_begin; r < p.row_end; ++r) CHECK(one[r] == want[M + r]);
}
