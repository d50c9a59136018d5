// aarch64 plane kernels: the edges of their own arithmetic — the NEON lookup kernel's int16 window
// sums at exactly −32768 and 32512 and its int32 segments across the 2048-chunk flush; the SDOT
// unpack kernel's code rebuild (every width and rule, unsigned 8-bit masters stored as q − 128,
// token tails, windows that straddle scale groups) — declined group sizes, the prepare/run API,
// and the automatic choice between them (which must fall back to the lookup kernel on a CPU
// without FEAT_DotProd); the SMMLA kernel (FEAT_I8MM): its row-pair relayout at every width and
// rule, token pairs with an odd count, unsigned 8-bit masters, K tails, scale groups and row
// ranges, and its int32 tiles across the 8176-chunk flush at extreme codes. The general exactness
// matrix runs in test_kernels.cpp, test_oracle.cpp and the other kernel suites, which force every
// available ISA in turn.
// Cases that run a kernel are tagged [requires_neon] / [requires_dotprod] / [requires_i8mm]
// (tests/isa_gate.hpp): CTest runs them as test_kernels_arm_neon / _dotprod / _i8mm, reported
// "Skipped" where the CPU or build lacks the ISA (every x86 build; qemu's cortex-a53 for dotprod
// and i8mm, neoverse-n1 for i8mm), and the registration / fallback case as
// test_kernels_arm_any_cpu.
#include <bitdial/kernels/gemm.hpp>

#include <algorithm>
#include <random>
#include <string>

#if BITDIAL_ARM_SIMD && defined(__linux__)
#include <csetjmp>
#include <csignal>
#endif

#include "isa_gate.hpp"
#include "test_support.hpp"

using namespace bitdial;

namespace {

struct problem {
  bit_plane_stack stack;
  std::vector<std::int8_t> xq;
  std::vector<float> xs;
  std::size_t tokens = 0, cols = 0;
  token_batch batch() const { return token_batch{xq.data(), xs.data(), tokens, cols, cols}; }
};

/// codes(r, c) and x(n, c) from callables; scales 1 (exact float results for moderate sums).
template <class CodeFn, class XFn>
problem make(std::size_t rows, std::size_t cols, std::size_t tokens, granularity g, CodeFn code, XFn xv) {
  problem pr;
  pr.tokens = tokens;
  pr.cols = cols;
  quantized_matrix<std::int8_t> m;
  m.rows = rows, m.cols = cols, m.bits = 8, m.gran = g;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) m.codes.push_back(static_cast<std::int8_t>(code(r, c)));
  m.scales.assign(g.count(rows, cols), 1.0f);
  pr.stack = bit_plane_stack::pack(m);
  for (std::size_t n = 0; n < tokens; ++n)
    for (std::size_t c = 0; c < cols; ++c) pr.xq.push_back(static_cast<std::int8_t>(xv(n, c)));
  pr.xs.assign(tokens, 1.0f);
  return pr;
}

std::vector<float> run(const plane_view& v, const problem& pr, kernel_isa isa, std::size_t threads = 1) {
  std::vector<float> y(pr.tokens * v.rows(), -7.0f);
  gemm(v, pr.batch(), matrix_view<float>(y.data(), pr.tokens, v.rows()), {}, run_options{isa, nullptr, threads});
  return y;
}

std::vector<float> reference_of(const plane_view& v, const problem& pr) {
  std::vector<float> y(pr.tokens * v.rows());
  reference::gemm(v, pr.batch(), matrix_view<float>(y.data(), pr.tokens, v.rows()));
  return y;
}

constexpr rounding all_rules[] = {rounding::floor, rounding::half_up, rounding::half_even};

problem random_problem(std::size_t rows, std::size_t cols, std::size_t tokens, granularity g, std::uint64_t salt) {
  std::mt19937_64 rng(test::seed() + salt);
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int> codes(rows * cols), xs(tokens * cols);
  for (auto& c : codes) c = d(rng);
  for (auto& c : xs) c = d(rng);
  return make(
      rows, cols, tokens, g, [&](std::size_t r, std::size_t c) { return codes[r * cols + c]; },
      [&](std::size_t n, std::size_t c) { return xs[n * cols + c]; });
}

#if BITDIAL_ARM_SIMD && defined(__linux__)
// Ground truth for the detection: run one instruction of the feature and see whether the CPU
// raises SIGILL (an undefined instruction on a CPU without it, real or emulated).
sigjmp_buf probe_jump;
extern "C" void probe_on_sigill(int) { siglongjmp(probe_jump, 1); }

bool executes(void (*run)()) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = probe_on_sigill;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGILL, &sa, &old);
  bool ok = false;
  if (sigsetjmp(probe_jump, 1) == 0) {
    run();
    ok = true;
  }
  sigaction(SIGILL, &old, nullptr);
  return ok;
}
void run_sdot() { __asm__ volatile(".inst 0x4e809400" ::: "v0"); }   // sdot v0.4s, v0.16b, v0.16b
void run_smmla() { __asm__ volatile(".inst 0x4e80a400" ::: "v0"); }  // smmla v0.4s, v0.16b, v0.16b
#endif

}  // namespace

TEST_CASE("arm: cpu() reports dotprod and i8mm exactly when the CPU executes them", "[arm]") {
#if BITDIAL_ARM_SIMD && defined(__linux__)
  CHECK(cpu().dotprod == executes(&run_sdot));
  CHECK(cpu().i8mm == executes(&run_smmla));
  INFO("dotprod = " << cpu().dotprod << ", i8mm = " << cpu().i8mm);
  SUCCEED("detection matches the instructions' behaviour");
#else
  CHECK_FALSE(cpu().asimd);
  CHECK_FALSE(cpu().dotprod);
  CHECK_FALSE(cpu().i8mm);
#endif
}

TEST_CASE("arm: registered exactly where the CPU has it; automatic falls back without dotprod or i8mm", "[arm]") {
  const auto isas = available_isas();
  auto listed = [&](kernel_isa i) { return std::find(isas.begin(), isas.end(), i) != isas.end(); };
  CHECK(listed(kernel_isa::neon) == (BITDIAL_ARM_SIMD && cpu().asimd));
  CHECK(listed(kernel_isa::dotprod) == (BITDIAL_ARM_DOTPROD && cpu().asimd && cpu().dotprod));
  CHECK(listed(kernel_isa::i8mm) == (BITDIAL_ARM_I8MM && cpu().asimd && cpu().dotprod && cpu().i8mm));
  CHECK(arm::plane_i8mm_available() == listed(kernel_isa::i8mm));
  CHECK(std::string(to_string(kernel_isa::neon)) == "neon");
  CHECK(std::string(to_string(kernel_isa::dotprod)) == "dotprod");
  CHECK(std::string(to_string(kernel_isa::i8mm)) == "i8mm");
#if BITDIAL_ARM_SIMD
  CHECK(cpu().asimd);  // AdvSIMD is in the AArch64 base architecture: HWCAP_ASIMD is always reported
#endif
  const auto pr = random_problem(40, 64, 8, granularity::per_row(), 1);
  const auto v = view(pr.stack, 4, rounding::half_even);
  // The automatic choice: the i8mm row where FEAT_I8MM exists, else the dotprod row where
  // FEAT_DotProd does, else the NEON row (x86 builds: none of them); the dotprod row runs the lookup
  // for ≤ 2 tokens under `automatic` and the unpack + SDOT method for more, and always the latter
  // when forced; the i8mm row runs SMMLA from 4 tokens up under `automatic` (the dotprod row's
  // choice below), and always when forced.
  const kernel_isa chosen = chosen_isa<plane_gemm_kernels>(v);
  INFO("automatic = " << to_string(chosen));
  if (BITDIAL_ARM_SIMD && cpu().asimd)
    CHECK(chosen == (isa_available(kernel_isa::i8mm)        ? kernel_isa::i8mm
                     : BITDIAL_ARM_DOTPROD && cpu().dotprod ? kernel_isa::dotprod
                                                            : kernel_isa::neon));
  else
    CHECK((chosen != kernel_isa::neon && chosen != kernel_isa::dotprod && chosen != kernel_isa::i8mm));
  CHECK(arm::i8mm_min_tokens == 4);
  for (std::size_t tokens : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{4}, std::size_t{8}}) {
    INFO("tokens = " << tokens);
    CHECK(detail::plane_arm_method(run_options{}, tokens) ==
          (tokens > arm::lookup_max_tokens ? arm::arm_plane_method::unpack : arm::arm_plane_method::lookup));
    CHECK(detail::plane_arm_method(run_options{kernel_isa::dotprod}, tokens) == arm::arm_plane_method::unpack);
    CHECK(detail::plane_i8mm_smmla(run_options{}, tokens) == (tokens >= arm::i8mm_min_tokens));
    CHECK(detail::plane_i8mm_smmla(run_options{kernel_isa::i8mm}, tokens));
    // Whatever the automatic choice runs for this many tokens, it is the reference's floats.
    const auto pt = random_problem(40, 64, tokens, granularity::per_row(), 40 + tokens);
    CHECK(run(view(pt.stack, 4, rounding::half_even), pt, kernel_isa::automatic) ==
          reference_of(view(pt.stack, 4, rounding::half_even), pt));
  }
  // A view whose groups the ARM kernels decline: automatic takes the portable row.
  const auto g8 = random_problem(8, 64, 1, granularity::per_group(8), 2);
  CHECK(chosen_isa<plane_gemm_kernels>(view(g8.stack, 4)) == kernel_isa::portable);
  CHECK_FALSE(isa_serves<plane_gemm_kernels>(kernel_isa::neon, view(g8.stack, 4)));
  CHECK_FALSE(isa_serves<plane_gemm_kernels>(kernel_isa::dotprod, view(g8.stack, 4)));
  CHECK_FALSE(isa_serves<plane_gemm_kernels>(kernel_isa::i8mm, view(g8.stack, 4)));
  CHECK(isa_serves<plane_gemm_kernels>(kernel_isa::neon, v) == isa_available(kernel_isa::neon));
  CHECK(isa_serves<plane_gemm_kernels>(kernel_isa::dotprod, v) == isa_available(kernel_isa::dotprod));
  CHECK(isa_serves<plane_gemm_kernels>(kernel_isa::i8mm, v) == isa_available(kernel_isa::i8mm));
  // Automatic gives the reference's floats whatever it picked.
  CHECK(run(v, pr, kernel_isa::automatic) == reference_of(v, pr));
  std::vector<float> y(8 * 40);
  for (kernel_isa isa : {kernel_isa::neon, kernel_isa::dotprod})
    if (!isa_available(isa)) {
      WARN(to_string(isa) << " kernel not available on this CPU/build: its cases only check that it is declined");
      CHECK_THROWS_WITH(
          gemm(v, pr.batch(), matrix_view<float>(y.data(), 8, 40), {}, run_options{isa}),
          Catch::Contains(std::string("isa = ") + to_string(isa) + ": not supported by this CPU or build"));
      CHECK_THROWS_WITH(
          arm::prepare_plane_gemm_arm(
              v, pr.batch(), isa == kernel_isa::neon ? arm::arm_plane_method::lookup : arm::arm_plane_method::unpack),
          Catch::Contains("this CPU or build cannot run it"));
    }
  // Without FEAT_I8MM (x86, cortex-a53, neoverse-n1) the i8mm row is declined by name, its prepare
  // refuses, and the SMMLA kernel is never reached (automatic ran above and matched).
  if (!isa_available(kernel_isa::i8mm)) {
    WARN("i8mm kernel not available on this CPU/build: its cases only check that it is declined");
    CHECK_THROWS_WITH(gemm(v, pr.batch(), matrix_view<float>(y.data(), 8, 40), {}, run_options{kernel_isa::i8mm}),
                      Catch::Contains("isa = i8mm: not supported by this CPU or build"));
    CHECK_THROWS_WITH(arm::prepare_plane_gemm_i8mm(v, pr.batch()), Catch::Contains("this CPU or build cannot run it"));
  }
}

TEST_CASE("neon: int16 window sums at both ends of their range", "[arm][requires_neon]") {
  BITDIAL_REQUIRE_ISA("neon");
  // Code −1 sets every plane, so each K-group's subset sum is the extreme 4·x and a row gains
  // 4·4·x per chunk: −2048 for x = −128 (a window of 16 chunks reaches exactly −32768) and 2032
  // for x = 127 (32512). K = 560 is two full windows and a partial one; 33 rows leave a partial block.
  for (int xv : {-128, 127}) {
    const auto pr = make(
        33, 560, 2, granularity::per_row(), [](auto, auto) { return -1; },
        [xv](std::size_t n, std::size_t) { return n == 0 ? xv : -xv - (xv < 0); });
    for (int b = 1; b <= 8; ++b)
      for (rounding rule : all_rules) {
        const auto v = view(pr.stack, b, rule, reconstruction::floor);
        INFO("x = " << xv << ", b = " << b << ", rule = " << to_string(rule));
        const auto got = run(v, pr, kernel_isa::neon);
        REQUIRE(got == reference_of(v, pr));
        if (b == 8) REQUIRE(got[0] == static_cast<float>(-1 * xv * 560));  // hand-computed: q = −1 everywhere
      }
  }
}

TEST_CASE("neon: int32 segments flush across 2048 chunks; deep K at the extremes", "[arm][requires_neon]") {
  BITDIAL_REQUIRE_ISA("neon");
  const std::size_t K = 2051 * 16 + 5;  // 2052 chunks, the last one partial: two segments
  const auto pr = make(
      3, K, 1, granularity::per_row(),
      [](std::size_t r, std::size_t c) { return r == 2 ? static_cast<int>(c % 256) - 128 : (r ? 127 : -128); },
      [](auto, std::size_t c) { return c % 3 == 0 ? 127 : -128; });
  for (int b : {1, 4, 8})
    for (rounding rule : {rounding::floor, rounding::half_even}) {
      const auto v = view(pr.stack, b, rule);
      INFO("b = " << b << ", rule = " << to_string(rule));
      REQUIRE(run(v, pr, kernel_isa::neon) == reference_of(v, pr));
    }
  // Row 0 all −128, row 1 all 127, x all −128, K = 32767: 128·128·32767 and −127·128·32767.
  const auto deep = make(
      2, 32767, 1, granularity::per_row(), [](std::size_t r, auto) { return r == 0 ? -128 : 127; },
      [](auto, auto) { return -128; });
  const auto got = run(view(deep.stack, 8), deep, kernel_isa::neon);
  CHECK(got[0] == 536854528.0f);
  CHECK(got[1] == -532660352.0f);
}

TEST_CASE("dotprod: unpacked codes at every width and rule, token tails, unsigned 8-bit masters",
          "[arm][requires_dotprod]") {
  BITDIAL_REQUIRE_ISA("dotprod");
  // 1..5 tokens: the SDOT tile of 2 tokens and its 1-token tail; K = 600 is 38 chunks, three
  // unpack windows of 16; 70 rows: a partial third row block.
  for (std::size_t tokens = 1; tokens <= 5; ++tokens) {
    const auto pr = random_problem(70, 600, tokens, granularity::per_row(), 10 + tokens);
    for (int b = 1; b <= 8; ++b)
      for (rounding rule : all_rules) {
        const auto v = view(pr.stack, b, rule);
        INFO("tokens = " << tokens << ", b = " << b << ", rule = " << to_string(rule));
        REQUIRE(run(v, pr, kernel_isa::dotprod) == reference_of(v, pr));
      }
  }
  // Unsigned 8-bit master: codes 0..255 do not fit int8; the kernel stores q − 128 and adds 128·Σx.
  std::mt19937_64 rng(test::seed() + 33);
  std::uniform_int_distribution<int> d(0, 255), xd(-128, 127);
  quantized_matrix<std::uint8_t> m;
  m.rows = 37, m.cols = 96, m.bits = 8, m.gran = granularity::per_group(32);
  for (std::size_t i = 0; i < m.rows * m.cols; ++i) m.codes.push_back(static_cast<std::uint8_t>(i < 96 ? 255 : d(rng)));
  for (std::size_t i = 0; i < m.gran.count(m.rows, m.cols); ++i) {
    m.scales.push_back(0.5f + 0.01f * static_cast<float>(i));
    m.zero_points.push_back(static_cast<std::uint8_t>(d(rng)));
  }
  const auto stack = bit_plane_stack::pack(m);
  problem pr;
  pr.tokens = 4;
  pr.cols = 96;
  for (std::size_t i = 0; i < 4 * 96; ++i) pr.xq.push_back(static_cast<std::int8_t>(xd(rng)));
  pr.xs = {1.0f, 0.5f, 2.0f, 0.25f};
  for (int b = 1; b <= 8; ++b) {
    const auto v = view(stack, b);
    INFO("unsigned, b = " << b);
    std::vector<float> want(4 * 37), got(4 * 37);
    reference::gemm(v, pr.batch(), matrix_view<float>(want.data(), 4, 37));
    gemm(v, pr.batch(), matrix_view<float>(got.data(), 4, 37), {}, run_options{kernel_isa::dotprod, nullptr, 2});
    REQUIRE(got == want);
  }
}

TEST_CASE("arm: scale groups of one chunk and odd chunk counts; other sizes declined", "[arm][requires_neon]") {
  const bool dot = test::isa_missing("dotprod").empty();
  BITDIAL_REQUIRE_ISA("neon");
  for (std::size_t g : {std::size_t{16}, std::size_t{48}, std::size_t{240}, std::size_t{272}}) {
    const std::size_t K = g == 272 ? 544 : 480;  // 272 = 17 chunks: unpack windows straddle the group end
    const auto pr = random_problem(45, K, 3, granularity::per_group(g), g);
    for (int b = 1; b <= 8; ++b)
      for (rounding rule : all_rules) {
        const auto v = view(pr.stack, b, rule);
        INFO("group = " << g << ", b = " << b << ", rule = " << to_string(rule));
        const auto want = reference_of(v, pr);
        REQUIRE(run(v, pr, kernel_isa::neon) == want);
        if (dot) REQUIRE(run(v, pr, kernel_isa::dotprod, 2) == want);
      }
  }
  const auto g8 = make(
      4, 32, 1, granularity::per_group(8), [](auto, auto) { return 3; }, [](auto, auto) { return 5; });
  CHECK_FALSE(arm::plane_arm_groups_ok(view(g8.stack, 4)));
  std::vector<float> y(4);
  CHECK_THROWS_WITH(
      gemm(view(g8.stack, 4), g8.batch(), matrix_view<float>(y.data(), 1, 4), {}, run_options{kernel_isa::neon}),
      Catch::Contains("isa = neon: group size 8 is not a multiple of 16"));
  CHECK_THROWS_WITH(arm::prepare_plane_gemm_arm(view(g8.stack, 4), g8.batch(), arm::arm_plane_method::lookup),
                    Catch::Contains("group = 8"));
  // The front door still serves it (portable).
  gemm(view(g8.stack, 4), g8.batch(), matrix_view<float>(y.data(), 1, 4));
  CHECK(y == reference_of(view(g8.stack, 4), g8));
}

TEST_CASE("arm: one prepared call run on disjoint row ranges, shards, bias", "[arm][requires_neon]") {
  BITDIAL_REQUIRE_ISA("neon");
  const auto pr = random_problem(100, 80, 5, granularity::per_row(), 29);
  const auto v = shard(view(pr.stack, 3, rounding::half_even), 7, 95);  // starts mid-block
  std::vector<float> bias(v.rows());
  for (std::size_t r = 0; r < v.rows(); ++r) bias[r] = 0.25f * static_cast<float>(r % 7) - 1.0f;
  std::vector<float> want(5 * v.rows());
  reference::gemm(v, pr.batch(), matrix_view<float>(want.data(), 5, v.rows()), gemm_params{bias.data()});
  for (auto method : {arm::arm_plane_method::lookup, arm::arm_plane_method::unpack}) {
    if (method == arm::arm_plane_method::unpack && !arm::plane_dotprod_available()) continue;
    INFO("method = " << (method == arm::arm_plane_method::lookup ? "lookup" : "unpack"));
    std::vector<float> got(5 * v.rows(), 9.0f);
    const auto plan = arm::prepare_plane_gemm_arm(v, pr.batch(), method);
    const matrix_view<float> y(got.data(), 5, v.rows());
    arm::run_plane_gemm_arm(plan, y, bias.data(), 30, 57);
    for (std::size_t n = 0; n < 5; ++n)
      for (std::size_t r = 0; r < v.rows(); ++r) {
        INFO("n = " << n << ", r = " << r);
        REQUIRE(got[n * v.rows() + r] == (r >= 30 && r < 57 ? want[n * v.rows() + r] : 9.0f));
      }
    arm::run_plane_gemm_arm(plan, y, bias.data(), 0, 30);
    arm::run_plane_gemm_arm(plan, y, bias.data(), 57, v.rows());
    CHECK(got == want);
    CHECK_THROWS_WITH(arm::run_plane_gemm_arm(plan, y, nullptr, 10, 10), Catch::Contains("rows = [10, 10)"));
    std::vector<float> small(5);
    CHECK_THROWS_WITH(arm::run_plane_gemm_arm(plan, matrix_view<float>(small.data(), 5, 1), nullptr, 0, 1),
                      Catch::Contains("output shape = 5x1"));
  }
}

// ---- FEAT_I8MM: the SMMLA kernel ----------------------------------------------------------------

namespace {

/// An 8-bit unsigned master (codes 0..255, zero points) with random codes; row 0 all 255, row 1 all 0.
problem unsigned_problem(std::size_t rows, std::size_t cols, std::size_t tokens, granularity g, std::uint64_t salt) {
  std::mt19937_64 rng(test::seed() + salt);
  std::uniform_int_distribution<int> d(0, 255), xd(-128, 127);
  quantized_matrix<std::uint8_t> m;
  m.rows = rows, m.cols = cols, m.bits = 8, m.gran = g;
  for (std::size_t i = 0; i < rows * cols; ++i)
    m.codes.push_back(static_cast<std::uint8_t>(i < cols ? 255 : i < 2 * cols ? 0 : d(rng)));
  for (std::size_t i = 0; i < g.count(rows, cols); ++i) {
    m.scales.push_back(0.5f + 0.01f * static_cast<float>(i));
    m.zero_points.push_back(static_cast<std::uint8_t>(d(rng)));
  }
  problem pr;
  pr.stack = bit_plane_stack::pack(m);
  pr.tokens = tokens;
  pr.cols = cols;
  for (std::size_t i = 0; i < tokens * cols; ++i) pr.xq.push_back(static_cast<std::int8_t>(xd(rng)));
  for (std::size_t n = 0; n < tokens; ++n) pr.xs.push_back(0.25f * static_cast<float>(n + 1));
  return pr;
}

}  // namespace

TEST_CASE("i8mm: row pairs at every width and rule, odd token counts, unsigned 8-bit masters", "[arm][requires_i8mm]") {
  BITDIAL_REQUIRE_ISA("i8mm");
  // 1, 3, 5 tokens leave a zero-padded token in the last pair; 5 and 8 run the 2-pair loop and its
  // 1-pair tail (5: pairs {0, 1} then {2}). K = 600 is 37.5 chunks: three unpack windows of 16 (the
  // last partial) and a zero-padded K tail; 70 rows: a partial third row block.
  for (std::size_t tokens : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{5}, std::size_t{8}}) {
    const auto pr = random_problem(70, 600, tokens, granularity::per_row(), 60 + tokens);
    for (int b = 1; b <= 8; ++b)
      for (rounding rule : all_rules) {
        const auto v = view(pr.stack, b, rule);
        INFO("tokens = " << tokens << ", b = " << b << ", rule = " << to_string(rule));
        REQUIRE(run(v, pr, kernel_isa::i8mm) == reference_of(v, pr));
      }
  }
  // Unsigned 8-bit master: codes 0..255 are stored as q − 128 and 128·Σx is added back. Per group 32
  // (two chunks per group), and per row with K = 100 (a K tail whose padded codes are stored −128:
  // the padded activations must be zero).
  for (const auto& [cols, g] :
       {std::pair{std::size_t{96}, granularity::per_group(32)}, std::pair{std::size_t{100}, granularity::per_row()}}) {
    for (std::size_t tokens : {std::size_t{3}, std::size_t{4}}) {
      const auto pr = unsigned_problem(37, cols, tokens, g, 70 + cols + tokens);
      for (int b = 1; b <= 8; ++b) {
        const auto v = view(pr.stack, b);
        INFO("unsigned, K = " << cols << ", tokens = " << tokens << ", b = " << b);
        REQUIRE(run(v, pr, kernel_isa::i8mm, 2) == reference_of(v, pr));
      }
    }
  }
}

TEST_CASE("i8mm: scale groups of 16, 48 and 272, row ranges with bias, prepared runs", "[arm][requires_i8mm]") {
  BITDIAL_REQUIRE_ISA("i8mm");
  for (std::size_t g : {std::size_t{16}, std::size_t{48}, std::size_t{272}}) {
    const std::size_t K = g == 272 ? 544 : 480;  // 272 = 17 chunks: a window straddles each group end
    const auto pr = random_problem(45, K, 5, granularity::per_group(g), 80 + g);
    std::vector<float> bias(45);
    for (std::size_t r = 0; r < 45; ++r) bias[r] = 0.5f * static_cast<float>(r % 5) - 1.25f;
    for (int b = 1; b <= 8; ++b)
      for (rounding rule : all_rules) {
        const auto v = view(pr.stack, b, rule);
        INFO("group = " << g << ", b = " << b << ", rule = " << to_string(rule));
        REQUIRE(run(v, pr, kernel_isa::i8mm) == reference_of(v, pr));
        // Rows [5, 40) with bias on two threads: the rest of y untouched.
        const gemm_params params{bias.data(), 5, 40};
        std::vector<float> want(5 * 45, -3.0f), got(5 * 45, -3.0f);
        reference::gemm(v, pr.batch(), matrix_view<float>(want.data(), 5, 45), params);
        gemm(v, pr.batch(), matrix_view<float>(got.data(), 5, 45), params, run_options{kernel_isa::i8mm, nullptr, 2});
        REQUIRE(got == want);
        REQUIRE(got[0] == -3.0f);
      }
  }
  // One prepared call on a shard that starts mid-block, run on disjoint row ranges.
  const auto pr = random_problem(100, 80, 7, granularity::per_row(), 91);
  const auto v = shard(view(pr.stack, 3, rounding::half_even), 7, 95);
  std::vector<float> bias(v.rows());
  for (std::size_t r = 0; r < v.rows(); ++r) bias[r] = 0.25f * static_cast<float>(r % 7) - 1.0f;
  std::vector<float> want(7 * v.rows()), got(7 * v.rows(), 9.0f);
  reference::gemm(v, pr.batch(), matrix_view<float>(want.data(), 7, v.rows()), gemm_params{bias.data()});
  const auto plan = arm::prepare_plane_gemm_i8mm(v, pr.batch());
  const matrix_view<float> y(got.data(), 7, v.rows());
  arm::run_plane_gemm_i8mm(plan, y, bias.data(), 30, 57);
  for (std::size_t n = 0; n < 7; ++n)
    for (std::size_t r = 0; r < v.rows(); ++r) {
      INFO("n = " << n << ", r = " << r);
      REQUIRE(got[n * v.rows() + r] == (r >= 30 && r < 57 ? want[n * v.rows() + r] : 9.0f));
    }
  arm::run_plane_gemm_i8mm(plan, y, bias.data(), 0, 30);
  arm::run_plane_gemm_i8mm(plan, y, bias.data(), 57, v.rows());
  CHECK(got == want);
  CHECK_THROWS_WITH(arm::run_plane_gemm_i8mm(plan, y, nullptr, 10, 10), Catch::Contains("rows = [10, 10)"));
  std::vector<float> small(7);
  CHECK_THROWS_WITH(arm::run_plane_gemm_i8mm(plan, matrix_view<float>(small.data(), 7, 1), nullptr, 0, 1),
                    Catch::Contains("output shape = 7x1"));
  const auto g8 = make(
      4, 32, 1, granularity::per_group(8), [](auto, auto) { return 3; }, [](auto, auto) { return 5; });
  CHECK_THROWS_WITH(arm::prepare_plane_gemm_i8mm(view(g8.stack, 4), g8.batch()), Catch::Contains("group = 8"));
  std::vector<float> y8(4);
  CHECK_THROWS_WITH(
      gemm(view(g8.stack, 4), g8.batch(), matrix_view<float>(y8.data(), 1, 4), {}, run_options{kernel_isa::i8mm}),
      Catch::Contains("isa = i8mm: group size 8 is not a multiple of 16"));
}

TEST_CASE("i8mm: int32 tiles flushed within 8191 chunks; deep K at the extreme codes", "[arm][requires_i8mm]") {
  BITDIAL_REQUIRE_ISA("i8mm");
  // One scale group of 8193 chunks. A lane of code −128 against x = −128 gains 2^18 per chunk:
  // 8192 chunks without a flush would reach 2^31 and wrap. Row 0 all −128, row 1 all 127, row 2
  // mixed; token 0 all −128, token 1 all 127, token 2 mixed (3 tokens: a padded pair).
  const std::size_t K = 8193 * 16;
  const auto pr = make(
      3, K, 3, granularity::per_row(),
      [](std::size_t r, std::size_t c) { return r == 0   ? -128
                                                : r == 1 ? 127
                                                         : static_cast<int>(c % 256) - 128; },
      [](std::size_t n, std::size_t c) { return n == 0   ? -128
                                                : n == 1 ? 127
                                                         : (c % 3 == 0 ? 127 : -128); });
  const auto v8 = view(pr.stack, 8);
  const auto got = run(v8, pr, kernel_isa::i8mm);
  CHECK(got == reference_of(v8, pr));
  CHECK(got[0] == 2147745792.0f);   // 128 · 128 · 131088 = 2^31 + 2^18
  CHECK(got[1] == -2130966528.0f);  // −127 · 128 · 131088
  for (int b : {1, 7})
    for (rounding rule : {rounding::floor, rounding::half_even}) {
      const auto v = view(pr.stack, b, rule);
      INFO("b = " << b << ", rule = " << to_string(rule));
      REQUIRE(run(v, pr, kernel_isa::i8mm) == reference_of(v, pr));
    }
  // Unsigned 8-bit master of all-zero codes: stored −128 everywhere, so the int32 tiles reach the
  // same extreme against x = −128 before 128·Σx cancels them.
  quantized_matrix<std::uint8_t> m;
  m.rows = 2, m.cols = K, m.bits = 8, m.gran = granularity::per_row();
  m.codes.assign(2 * K, 0);
  for (std::size_t c = 0; c < K; ++c) m.codes[K + c] = 255;
  m.scales = {1.0f, 1.0f};
  m.zero_points = {0, 0};
  problem up;
  up.stack = bit_plane_stack::pack(m);
  up.tokens = 4;
  up.cols = K;
  for (std::size_t n = 0; n < 4; ++n)
    for (std::size_t c = 0; c < K; ++c) up.xq.push_back(static_cast<std::int8_t>(n % 2 == 0 ? -128 : 127));
  up.xs.assign(4, 1.0f);
  const auto uv = view(up.stack, 8);
  CHECK(run(uv, up, kernel_isa::i8mm) == reference_of(uv, up));
}
