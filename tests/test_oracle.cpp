// An independent float64 oracle for every kernel family, run on every ISA this build and CPU offer
// (each forced in turn) with 1 and 2 threads.
//
// WHAT THE ORACLE COMPUTES. For every front door — plane gemm / gemv (kernels/gemm.hpp), residual
// slices gemm_slices and BitStack gemv_bitstack (kernels/slices.hpp), bit-serial W×A
// (kernels/bitserial.hpp), ternary × int8 (kernels/ternary.hpp), FP4 MXFP4 / NVFP4 / BitMoD × int8
// (kernels/minifloat_gemm.hpp) and the int8 × int8 baseline (kernels/int8_gemm.hpp) —
//     y(n, r) = bias[r] + Σ_c ŵ(r, c) · x̂(n, c)                                    in double,
// with ŵ taken from PUBLIC dequantized values only (plane_view::dequantize, a quantizer's scale·code,
// E2M1 value × block scale, BitStack's u·sign, …) and x̂ = scale·(code − zero point) of activations this
// file quantized itself with the public per-token quantizers (quant/activation.hpp, uniform_midrise),
// so oracle and kernel see the same activation codes. Nothing here calls a kernel helper
// (detail::finish_row, detail::group_sums, plane_view::offset2 / offset256 / multiplier, a lookup
// table) or a reference:: kernel.
// r is always relative to the VIEW: a shard's bias has exactly the shard's rows (sized so, so ASan sees
// any over-read) and y(n, r) = bias[r] + Σ_c ŵ(row_begin + r, c)·x̂(n, c).
//
// plane_view::dequantize shares code(), its offsets and its row factor with the kernels, so a bug
// there would move the kernels and this oracle together. Every plane view is therefore also checked
// element by element, bit for bit, against SEMANTICS.md §2–3 recomputed here in double from the
// master codes this file generated (x̂ = s·(2^k·q_b + m_k + o/2 − z), exact in double, rounded once
// to float), and fitted views (§3b) against fl(fl(s·α_r)·(q_b + (o/2 − z)/2^k + β_r/256)) with α, β
// drawn here.
//
// THE BOUND (u = 2^-24, the binary32 unit roundoff). Every kernel computes exact integer
// accumulators, so the only error is its float epilogue; we bound it to first order, multiply by
// (1 + 2^-8) for the second-order terms (≤ n·u/2 relative for a chain of n ≤ 600 roundings), and add
// the oracle's own double error, (K + 2)·2^-53·A_c with A_c = Σ_c |ŵ·x̂| (one rounding per product,
// K − 1 additions; products such as scale·scale·code need up to 56 bits).
//
//   Plane / bit-serial (kernels/epilogue.hpp), per token n and row r, per scale group g (G groups):
//     I_g = the exact integer (accumulator and Σx offset term, scaled to whole units);
//     t_g = fl(s'_g · (fl(I_g)·2^-j))   s'_g = the group's served scale: s_g·2^k for the literal rules,
//                                       exact; fl(s_g·α_r) for fitted views, which dequantize shares,
//                                       so it is part of the exact weight below.
//                                       2 roundings: |t_g − T_g| ≤ 2u·|T_g|
//     S = t_0 + t_1 + …  (float, ascending)                G − 1 roundings: ≤ (G − 1)u·Σ|T_g|
//     y = fl(sx · S)                                        1 rounding:     ≤ u·Σ|T_g|
//     out = fl(bias + y)                                    1 rounding:     ≤ u·(|bias| + Σ|T_g|)
//   with T_g = sx·s'_g·I_g·2^-j the exact group term, so
//     |out − Y| ≤ u·((G + 3)·A_g + |bias|),     A_g = Σ_g |Σ_{c∈g} ŵ·x̂|  (computed by the oracle).
//   The oracle's ŵ = plane_view::dequantize is the exact weight rounded once to float (checked bit for
//   bit above), which moves the oracle by ≤ u·A_c; hence
//     bound = (1 + 2^-8)·u·((G + 3)·A_g + A_c + |bias|) + (K + 2)·2^-53·A_c.
//   Ternary (same epilogue shape, exact scale·code weights): (1 + 2^-8)·u·((G + 3)·A_g + |bias|) + slack.
//   FP4 (reference/minifloat_gemm.hpp): p_b = fl(σ_b·fl(dot_b)) (2), ordered block sum (B − 1),
//     fl(S·κ) (1), fl(sx·…) (1), bias (1): (1 + 2^-8)·u·((B + 4)·A_b + |bias|) + slack, weights exact.
//   int8 × int8: fl(sx·fl(s_r·fl(acc))) + bias: G = 1 in the plane formula, weights exact.
//   Slices (gemm_slices, J = the token's slice count): each slice is a plane epilogue without bias
//     (G + 2 roundings on its A_j), slice 0 adds the bias (u·(|bias| + A_0)), then J − 1 float
//     additions, each ≤ u·(|bias| + Σ_j A_j); weights σ_j·code_j exact:
//     bound = (1 + 2^-8)·u·(Σ_j (G + 2)·A_j + A_0 + |bias| + (J − 1)·(|bias| + Σ_j A_j)) + slack.
//   BitStack (gemv_bitstack, C = slices × rank components, one group each, no bias): 3 roundings per
//     component, then C − 1 float additions: (1 + 2^-8)·u·(C + 2)·Σ_comp |T_comp| + slack.
// An error in an integer accumulator, Σx, an offset, a scale or a bias index moves y by orders of
// magnitude more than these few-ulp bounds.
#include <bitdial/format/slice_stack.hpp>
#include <bitdial/kernels/bitserial.hpp>
#include <bitdial/kernels/gemm.hpp>
#include <bitdial/kernels/minifloat_gemm.hpp>
#include <bitdial/kernels/slices.hpp>
#include <bitdial/kernels/ternary.hpp>
#include <bitdial/kernels/int8_gemm.hpp>
#include <bitdial/quant/activation.hpp>
#include <bitdial/quant/bitmod.hpp>
#include <bitdial/quant/double_rounding.hpp>
#include <bitdial/quant/mx.hpp>
#include <bitdial/quant/nvfp4.hpp>
#include <bitdial/quant/bitstack.hpp>
#include <bitdial/quant/residual.hpp>
#include <bitdial/quant/ternary.hpp>
#include <bitdial/quant/uniform.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "isa_gate.hpp"
#include "test_support.hpp"

using namespace bitdial;

namespace {

constexpr double unit = 0x1p-24;               // binary32 unit roundoff
constexpr double second_order = 1.0 + 0x1p-8;  // see the header comment
const float sentinel = std::numeric_limits<float>::quiet_NaN();

/// The oracle's own double error over K products whose magnitudes sum to a_elems.
double oracle_slack(std::size_t K, double a_elems) { return double(K + 2) * 0x1p-53 * a_elems; }

// ---- the oracle's result and the comparison ---------------------------------------------------

struct oracle {
  std::size_t tokens = 0, rows = 0;
  std::vector<double> y, bound;  // tokens × rows

  oracle(std::size_t n, std::size_t m) : tokens(n), rows(m), y(n * m, 0.0), bound(n * m, 0.0) {}
};

/// Empty when rows [r0, r1) of `got` are within the bound of the oracle and every other row still
/// holds the NaN sentinel; otherwise how many outputs fail and the worst of them.
std::string mismatch(const oracle& o, const std::vector<float>& got, std::size_t r0, std::size_t r1) {
  std::size_t bad = 0;
  double worst = -1.0;
  std::string worst_msg;
  for (std::size_t n = 0; n < o.tokens; ++n)
    for (std::size_t r = 0; r < o.rows; ++r) {
      const float g = got[n * o.rows + r];
      const bool inside = r >= r0 && r < r1;
      const double want = o.y[n * o.rows + r], b = o.bound[n * o.rows + r];
      const double d = std::fabs(static_cast<double>(g) - want);
      if (inside ? d <= b : std::isnan(g)) continue;  // a NaN output fails inside the range
      const double ratio = (!inside || std::isnan(d) || b <= 0.0) ? std::numeric_limits<double>::infinity() : d / b;
      ++bad;
      if (ratio <= worst) continue;
      worst = ratio;
      std::ostringstream s;
      if (!inside)
        s << "y(" << n << ", " << r << ") = " << g << " written outside rows [" << r0 << ", " << r1 << ")";
      else
        s << "y(" << n << ", " << r << ") = " << g << ", oracle " << want << ", |diff| = " << d << ", bound " << b
          << " (" << ratio << " x bound)";
      worst_msg = s.str();
    }
  if (bad == 0) return {};
  std::ostringstream s;
  s << bad << " of " << o.tokens * o.rows << " outputs wrong; worst: " << worst_msg;
  return s.str();
}

/// How often each ISA actually ran (and declined) in one family: every available ISA must run at
/// least once, so no ISA passes by never being exercised.
struct tally {
  std::map<kernel_isa, int> ran, declined;
  void require_every_isa_ran(const std::vector<kernel_isa>& isas, const char* family) const {
    for (kernel_isa isa : isas) {
      INFO(family << ": isa = " << to_string(isa));
      CHECK(ran.count(isa) == 1);
    }
  }
};

using runner = std::function<void(kernel_isa, std::size_t threads, std::vector<float>& y)>;

/// Runs `call` on every ISA (threads 1 and 2) that `serves` accepts and compares with the oracle; an
/// ISA that declines the shape must make the front door throw (an explicit skip, never a silent pass).
void run_on_isas(const std::vector<kernel_isa>& isas, const std::function<bool(kernel_isa)>& serves, const runner& call,
                 const oracle& o, std::size_t r0, std::size_t r1, const std::string& label, tally& t) {
  std::vector<float> y(o.tokens * o.rows);
  for (kernel_isa isa : isas) {
    if (!serves(isa)) {
      INFO(label << ": isa = " << to_string(isa) << " does not serve this shape: the front door must refuse it");
      std::fill(y.begin(), y.end(), sentinel);
      CHECK_THROWS_AS(call(isa, 1, y), bitdial::error);
      ++t.declined[isa];
      continue;
    }
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
      std::fill(y.begin(), y.end(), sentinel);
      call(isa, threads, y);
      const std::string m = mismatch(o, y, r0, r1);
      INFO(label << ": isa = " << to_string(isa) << ", threads = " << threads << ": " << m);
      CHECK(m.empty());
      ++t.ran[isa];
    }
  }
}

// ---- activations: quantized here with the public per-token quantizers -------------------------

struct activations {
  quantized_activations q;
  std::vector<double> xhat;  // tokens × K: scale·(code − zero point), exact in double
  token_batch batch() const { return as_tokens(q); }
};

activations int8_tokens(std::size_t tokens, std::size_t cols, std::uint64_t salt) {
  const auto xf = test::heavy_tailed(tokens * cols, salt);
  activations a{per_token_quantizer<8>().quantize(const_matrix(xf.data(), tokens, cols)), {}};
  a.xhat.resize(tokens * cols);
  for (std::size_t n = 0; n < tokens; ++n)
    for (std::size_t c = 0; c < cols; ++c)
      a.xhat[n * cols + c] = double(a.q.scales[n]) * double(a.q.code(n, c) - a.q.zero_points[n]);
  return a;
}

std::vector<float> make_bias(std::size_t rows, std::uint64_t salt) {
  return test::normal(rows, salt, 3.0f);  // exactly `rows` elements: an over-read is an ASan error
}

// ---- bit-plane masters, generated here so their codes are known independently of the planes ----

struct master {
  std::size_t rows = 0, cols = 0;
  int bits = 8;
  bool is_signed = true;
  granularity gran;
  std::int32_t code_offset2 = 0;
  std::vector<std::int32_t> codes;
  std::vector<float> scales;
  std::vector<std::int32_t> zero_points;
  bit_plane_stack stack;

  std::size_t group_len() const { return gran.k == granularity::kind::per_group ? gran.group : cols; }
  std::size_t groups() const { return cols / group_len(); }
  std::size_t scale_index(std::size_t r, std::size_t c) const {
    switch (gran.k) {
      case granularity::kind::per_tensor:
        return 0;
      case granularity::kind::per_row:
        return r;
      case granularity::kind::per_group:
        return r * groups() + c / gran.group;
    }
    return 0;
  }
};

template <class Code>
master from_matrix(const quantized_matrix<Code>& m, std::int32_t code_offset2 = 0) {
  master s;
  s.rows = m.rows, s.cols = m.cols, s.bits = m.bits, s.gran = m.gran, s.code_offset2 = code_offset2;
  s.is_signed = std::is_signed_v<Code>;
  for (Code c : m.codes) s.codes.push_back(c);
  s.scales = m.scales;
  s.zero_points = m.zero_points;
  if constexpr (std::is_signed_v<Code>)
    s.stack = bit_plane_stack::pack(m);
  else
    s.stack = bit_plane_stack::pack(m, code_offset2);
  return s;
}

/// Random codes with the extremes (and so the clamp and tie corners) over-represented.
template <class Code>
quantized_matrix<Code> random_master(std::size_t rows, std::size_t cols, int bits, granularity g, bool zero_points,
                                     std::uint64_t salt) {
  std::mt19937_64 rng(test::seed() + salt);
  const int lo = std::is_signed_v<Code> ? signed_min(bits) : 0;
  const int hi = std::is_signed_v<Code> ? signed_max(bits) : unsigned_max(bits);
  std::uniform_int_distribution<int> code(lo, hi), pick(0, 15);
  std::uniform_real_distribution<float> scale(0.01f, 2.0f);
  quantized_matrix<Code> m;
  m.rows = rows, m.cols = cols, m.bits = bits, m.gran = g;
  for (std::size_t i = 0; i < rows * cols; ++i) {
    const int p = pick(rng);
    m.codes.push_back(static_cast<Code>(p == 0 ? lo : p == 1 ? hi : p == 2 ? hi - 1 : code(rng)));
  }
  const std::size_t n = g.count(rows, cols);
  for (std::size_t i = 0; i < n; ++i) m.scales.push_back(scale(rng));
  if (n > 2) m.scales[1] = 0.0f;  // an all-zero group serves zeros
  if (zero_points) {
    std::uniform_int_distribution<int> z(0, unsigned_max(bits));
    for (std::size_t i = 0; i < n; ++i) m.zero_points.push_back(z(rng));
  }
  return m;
}

/// SEMANTICS.md §2–3 in double, from the master code: exact (a float scale times a half-integer
/// below 2^10), rounded once to float by the caller.
double semantic_value(const master& m, std::size_t row, std::size_t c, int b, rounding rule, reconstruction recon) {
  const int k = m.bits - b;
  const double p = std::ldexp(1.0, k);
  const double q = m.codes[row * m.cols + c];
  const double lo = m.is_signed ? -std::ldexp(1.0, b - 1) : 0.0;
  const double hi = m.is_signed ? std::ldexp(1.0, b - 1) - 1.0 : std::ldexp(1.0, b) - 1.0;
  double twice = 0.0;  // twice the value in master steps
  switch (rule) {
    case rounding::floor:  // q_b = floor(q / 2^k); midpoint m_k = (2^k − 1)/2
      twice = 2.0 * p * std::floor(q / p) + (recon == reconstruction::midpoint ? p - 1.0 : 0.0);
      break;
    case rounding::half_up:  // q_b = clamp(floor(q / 2^k + 1/2))
      twice = 2.0 * p * std::clamp(std::floor(q / p + 0.5), lo, hi);
      break;
    case rounding::half_even:  // q_b = clamp(RNE(q / 2^k)); nearbyint rounds ties to even
      twice = 2.0 * p * std::clamp(std::nearbyint(q / p), lo, hi);
      break;
    case rounding::half_away:
    case rounding::half_down:
      break;  // no view rules
  }
  const std::size_t g = m.scale_index(row, c);
  const double z = m.zero_points.empty() ? 0.0 : m.zero_points[g];
  twice += double(m.code_offset2) - 2.0 * z;
  return double(m.scales[g]) * (twice * 0.5);
}

/// Empty when v.dequantize equals the independently recomputed semantics for every element.
std::string dequant_mismatch(const master& m, const plane_view& v) {
  std::size_t bad = 0;
  std::ostringstream s;
  for (std::size_t r = 0; r < v.rows(); ++r)
    for (std::size_t c = 0; c < v.cols(); ++c) {
      const float want = static_cast<float>(semantic_value(m, v.row_begin + r, c, v.bits, v.rule, v.recon));
      const float got = v.dequantize(r, c);
      if (!(got == want) && bad++ == 0)
        s << "dequantize(" << r << ", " << c << ") = " << got << ", semantics " << want << " (master code "
          << m.codes[(v.row_begin + r) * m.cols + c] << ")";
    }
  if (bad == 0) return {};
  return std::to_string(bad) + " elements differ; first: " + s.str();
}

/// The plane / bit-serial oracle (bound in the header comment) for a view of master m.
oracle plane_oracle(const master& m, const plane_view& v, const std::vector<double>& xhat, std::size_t tokens,
                    const float* bias) {
  const std::size_t M = v.rows(), K = v.cols(), G = m.groups(), L = m.group_len();
  std::vector<double> w(M * K);
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t c = 0; c < K; ++c) w[r * K + c] = v.dequantize(r, c);
  oracle o(tokens, M);
  for (std::size_t n = 0; n < tokens; ++n)
    for (std::size_t r = 0; r < M; ++r) {
      double sum = 0.0, a_terms = 0.0, a_elems = 0.0;
      for (std::size_t g = 0; g < G; ++g) {
        double t = 0.0;
        for (std::size_t c = g * L; c < (g + 1) * L; ++c) {
          const double p = w[r * K + c] * xhat[n * K + c];
          t += p;
          a_elems += std::fabs(p);
        }
        sum += t;
        a_terms += std::fabs(t);
      }
      const double b = bias ? bias[r] : 0.0;
      o.y[n * M + r] = b + sum;
      o.bound[n * M + r] =
          second_order * unit * (double(G + 3) * a_terms + a_elems + std::fabs(b)) + oracle_slack(K, a_elems);
    }
  return o;
}

/// Whether the plane front door runs `isa` on this view (gemm.hpp's rules: the portable lookup needs
/// scale groups that are whole 4-K nibbles; the x86 kernels say so themselves).
bool plane_serves(kernel_isa isa, const plane_view& v) {
  const granularity& g = v.stack->gran();
  switch (isa) {
    case kernel_isa::reference:
      return true;
    case kernel_isa::portable:
      return g.k != granularity::kind::per_group || g.group == v.cols() || g.group % 4 == 0;
    case kernel_isa::avx2:
      return x86::plane_avx2_supports(v);
    case kernel_isa::avx512:
      return x86::plane_avx512_supports(v);
    case kernel_isa::neon:
    case kernel_isa::dotprod:
    case kernel_isa::i8mm:
      return isa_available(isa) && arm::plane_arm_groups_ok(v);
    default:
      return false;
  }
}

std::string describe(const plane_view& v) {
  std::ostringstream s;
  s << "b = " << v.bits << "/" << v.master_bits() << ", rule = " << to_string(v.rule) << " (" << to_string(v.recon)
    << ")"
    << ", rows [" << v.row_begin << ", " << v.row_end << ") of " << v.stack->rows() << " x " << v.cols();
  return s.str();
}

/// Every (rule, reconstruction) a master can be served with.
std::vector<std::pair<rounding, reconstruction>> rules_for(const master& m) {
  std::vector<std::pair<rounding, reconstruction>> r = {{rounding::floor, reconstruction::midpoint},
                                                        {rounding::floor, reconstruction::floor}};
  if (m.is_signed) {
    r.push_back({rounding::half_up, reconstruction::midpoint});
    r.push_back({rounding::half_even, reconstruction::midpoint});
  }
  return r;
}

/// Dequantization check plus gemm on every ISA and thread count for one view.
void check_plane_view(const master& m, const plane_view& v, const activations& x, const float* bias,
                      const gemm_params& p, const std::string& label, tally& t) {
  const std::string full =
      label + ": " + describe(v) + ", tokens = " + std::to_string(x.q.rows) + (bias ? ", bias" : "");
  {
    const std::string d = dequant_mismatch(m, v);
    INFO(full << ": " << d);
    CHECK(d.empty());
  }
  const oracle o = plane_oracle(m, v, x.xhat, x.q.rows, bias);
  gemm_params pp = p;
  pp.bias = bias;
  const std::size_t r1 = std::min(p.row_end, v.rows());
  run_on_isas(
      available_isas(), [&](kernel_isa isa) { return plane_serves(isa, v); },
      [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
        gemm(v, x.batch(), matrix_view<float>(y.data(), x.q.rows, v.rows()), pp, run_options{isa, nullptr, threads});
      },
      o, p.row_begin, r1, full, t);
}

}  // namespace

// ================================================================================================

TEST_CASE("oracle: plane_view::dequantize is SEMANTICS.md §2-3 for every master code, width and rule", "[oracle]") {
  BITDIAL_LOG_SEED();
  REQUIRE(std::nearbyint(2.5) == 2.0);  // the semantics below round ties to even through nearbyint
  REQUIRE(std::nearbyint(-0.5) == 0.0);
  for (int B : {8, 5}) {
    // Every code of the master width, laid out 16 per row, per-row scales (and zero points).
    const std::size_t count = std::size_t{1} << B, rows = std::max<std::size_t>(1, count / 16);
    quantized_matrix<std::int8_t> sm = random_master<std::int8_t>(rows, 16, B, granularity::per_row(), false, 11);
    quantized_matrix<std::uint8_t> um = random_master<std::uint8_t>(rows, 16, B, granularity::per_row(), true, 12);
    for (std::size_t i = 0; i < count; ++i) {
      sm.codes[i] = static_cast<std::int8_t>(signed_min(B) + static_cast<int>(i));
      um.codes[i] = static_cast<std::uint8_t>(i);
    }
    quantized_matrix<std::uint8_t> midrise = um;  // mid-rise (bipolar) grid: code offset −(2^B − 1)
    midrise.zero_points.clear();
    for (const master& m : {from_matrix(sm), from_matrix(um), from_matrix(midrise, -unsigned_max(B))})
      for (int b = 1; b <= B; ++b)
        for (auto [rule, recon] : rules_for(m)) {
          const plane_view v = view(m.stack, b, rule, recon);
          const std::string d = dequant_mismatch(m, v);
          INFO(describe(v) << (m.is_signed ? ", signed" : ", unsigned") << ": " << d);
          CHECK(d.empty());
        }
  }
}

TEST_CASE("oracle: plane gemm at every width, rule, master, granularity and odd shape", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t;
  struct shape {
    std::size_t rows, cols;
    granularity gran;
    std::vector<std::size_t> tokens;
  };
  const std::vector<shape> shapes = {
      {37, 48, granularity::per_group(16), {1, 3, 17}},  // M not a multiple of 32
      {70, 100, granularity::per_row(), {1, 3, 17}},     // K not a multiple of 16
      {37, 80, granularity::per_tensor(), {3}},
      {33, 36, granularity::per_group(12), {3}},  // groups of 4-K nibbles: portable only (split path)
      {17, 20, granularity::per_group(20), {3}},  // one 20-wide group per row
      {5, 20, granularity::per_group(10), {3}},   // groups that split a nibble: reference only
      {64, 256, granularity::per_group(64), {3}},
  };
  std::uint64_t salt = 100;
  for (const shape& sh : shapes) {
    const std::size_t M = sh.rows, K = sh.cols;
    std::vector<master> masters;
    masters.push_back(from_matrix(random_master<std::int8_t>(M, K, 8, sh.gran, false, ++salt)));
    masters.push_back(from_matrix(random_master<std::uint8_t>(M, K, 8, sh.gran, true, ++salt)));
    {  // a real double-rounding master (absmax, RNE) of heavy-tailed weights
      const auto w = test::heavy_tailed(M * K, ++salt);
      masters.push_back(from_matrix(double_rounding<8>().quantize_master(const_matrix(w.data(), M, K), sh.gran)));
    }
    if (M == 37 && K == 48) {  // narrower masters
      masters.push_back(from_matrix(random_master<std::int8_t>(M, K, 5, sh.gran, false, ++salt)));
      masters.push_back(from_matrix(random_master<std::uint8_t>(M, K, 5, sh.gran, true, ++salt)));
    }
    for (std::size_t N : sh.tokens) {
      const activations x = int8_tokens(N, K, ++salt);
      const std::vector<float> bias = make_bias(M, ++salt);
      for (std::size_t mi = 0; mi < masters.size(); ++mi) {
        const master& m = masters[mi];
        const auto rules = rules_for(m);
        for (int b = 1; b <= m.bits; ++b)
          for (std::size_t ri = 0; ri < rules.size(); ++ri) {
            const plane_view v = view(m.stack, b, rules[ri].first, rules[ri].second);
            REQUIRE((v.rule == rules[ri].first && v.recon == rules[ri].second && !v.fitted()));  // literal
            const bool with_bias = (mi + ri + std::size_t(b)) % 2 == 0;  // every rule and width with and without
            check_plane_view(m, v, x, with_bias ? bias.data() : nullptr, {},
                             std::string(m.is_signed ? "signed" : "unsigned+zp") + " master", t);
          }
      }
    }
  }
  t.require_every_isa_ran(available_isas(), "plane gemm");
}

TEST_CASE("oracle: plane gemm at deep K (Σx epilogue term non-zero)", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t;
  const std::size_t M = 37, N = 3;
  std::uint64_t salt = 300;
  struct deep {
    std::size_t cols;
    granularity gran;
    bool is_signed;
  };
  for (const deep& d : {deep{16384, granularity::per_group(128), true}, deep{16384, granularity::per_row(), false},
                        deep{8192, granularity::per_tensor(), true}, deep{8192, granularity::per_group(256), false}}) {
    const std::size_t K = d.cols;
    const master m = d.is_signed ? from_matrix(random_master<std::int8_t>(M, K, 8, d.gran, false, ++salt))
                                 : from_matrix(random_master<std::uint8_t>(M, K, 8, d.gran, true, ++salt));
    const activations x = int8_tokens(N, K, ++salt);
    const std::vector<float> bias = make_bias(M, ++salt);
    for (int b = 1; b <= 8; ++b) {
      check_plane_view(m, view(m.stack, b, rounding::floor, reconstruction::midpoint), x, bias.data(), {}, "deep K", t);
      if (d.is_signed && (b == 1 || b == 3 || b == 6)) {
        check_plane_view(m, view(m.stack, b, rounding::half_up, reconstruction::midpoint), x, nullptr, {}, "deep K", t);
        check_plane_view(m, view(m.stack, b, rounding::half_even, reconstruction::midpoint), x, bias.data(), {},
                         "deep K", t);
      }
    }
  }
  t.require_every_isa_ran(available_isas(), "plane gemm, deep K");
}

TEST_CASE("oracle: fitted per-width reconstruction (SEMANTICS 3b) on every ISA", "[oracle][fitted]") {
  BITDIAL_LOG_SEED();
  // Per row r and width b < B the stack may store α_r (float) and β_r (int16, 1/256 of a served
  // step); the served value is x̂ = fl(fl(s_g·α_r)·(q_b + (o/2 − z)/2^k + β_r/256)) with the rule's
  // literal served code q_b (plane_view.hpp). α and β are drawn here (any fit must be served
  // exactly), so the expected values need nothing from the fitting code.
  tally t;
  std::uint64_t salt = 1200;
  struct shape {
    std::size_t rows, cols, tokens;
    granularity gran;
  };
  for (const shape& sh : {shape{37, 48, 3, granularity::per_group(16)}, shape{70, 100, 17, granularity::per_row()},
                          shape{33, 36, 1, granularity::per_group(12)}}) {
    const std::size_t M = sh.rows, K = sh.cols, N = sh.tokens;
    std::vector<master> masters;
    masters.push_back(from_matrix(random_master<std::int8_t>(M, K, 8, sh.gran, false, ++salt)));
    masters.push_back(from_matrix(random_master<std::uint8_t>(M, K, 8, sh.gran, true, ++salt)));
    const activations x = int8_tokens(N, K, ++salt);
    const std::vector<float> bias = make_bias(M, ++salt);
    std::mt19937_64 rng(test::seed() + ++salt);
    std::uniform_real_distribution<float> af(0.3f, 1.7f);
    std::uniform_int_distribution<int> bf(-600, 600);
    for (master& m : masters) {
      const std::vector<rounding> rules =
          m.is_signed ? std::vector<rounding>{rounding::floor, rounding::half_up, rounding::half_even}
                      : std::vector<rounding>{rounding::floor};
      // fits[rule][b]: α, β per row
      std::map<std::pair<int, int>, std::pair<std::vector<float>, std::vector<std::int16_t>>> fits;
      for (rounding rule : rules)
        for (int b = 1; b < m.bits; ++b) {
          std::vector<float> alpha(M);
          std::vector<std::int16_t> beta(M);
          for (std::size_t r = 0; r < M; ++r) {
            alpha[r] = std::ldexp(af(rng), m.bits - b) * (r % 7 == 3 ? -1.0f : 1.0f);
            beta[r] = static_cast<std::int16_t>(bf(rng));
          }
          alpha[M / 2] = 0.0f;  // a degenerate row serves zeros
          m.stack.set_fit(fit_index(rule), b, alpha, beta);
          fits[{fit_index(rule), b}] = {alpha, beta};
        }
      for (rounding rule : rules)
        for (int b = 1; b < m.bits; ++b) {
          const plane_view v = view(m.stack, b, rule, reconstruction::fitted);
          // view() may serve fitted double rounding at b = B − 1 with the truncated codes and their
          // fit (plane_view.hpp); the expected values follow the rule the view reports.
          CHECK((v.rule == rule || (b == m.bits - 1 && v.rule == rounding::floor)));
          CHECK(v.fitted());
          const auto& [alpha, beta] = fits.at({fit_index(v.rule), b});
          const std::string label = std::string(m.is_signed ? "signed" : "unsigned+zp") + " fitted: " + describe(v) +
                                    ", tokens = " + std::to_string(N);
          {  // SEMANTICS §3b from the master code and the α, β drawn above, in double
            const int k = m.bits - b;
            const double p = std::ldexp(1.0, k), lo = -std::ldexp(1.0, b - 1), hi = std::ldexp(1.0, b - 1) - 1.0;
            std::size_t bad = 0;
            std::ostringstream first;
            for (std::size_t r = 0; r < M; ++r)
              for (std::size_t c = 0; c < K; ++c) {
                const double q = m.codes[r * K + c];
                const double qb = v.rule == rounding::floor     ? std::floor(q / p)
                                  : v.rule == rounding::half_up ? std::clamp(std::floor(q / p + 0.5), lo, hi)
                                                                : std::clamp(std::nearbyint(q / p), lo, hi);
                const std::size_t g = m.scale_index(r, c);
                const double z = m.zero_points.empty() ? 0.0 : m.zero_points[g];
                const double term = qb + (m.code_offset2 / 2.0 - z) / p + beta[r] / 256.0;
                const float sa = static_cast<float>(double(m.scales[g]) * double(alpha[r]));  // fl(s·α)
                const float want = static_cast<float>(double(sa) * term);
                const float got = v.dequantize(r, c);
                if (!(got == want) && bad++ == 0)
                  first << "dequantize(" << r << ", " << c << ") = " << got << ", semantics " << want;
              }
            INFO(label << ": " << bad << " elements differ; first: " << first.str());
            CHECK(bad == 0);
          }
          const oracle o = plane_oracle(m, v, x.xhat, N, bias.data());
          run_on_isas(
              available_isas(), [&](kernel_isa isa) { return plane_serves(isa, v); },
              [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
                gemm(v, x.batch(), matrix_view<float>(y.data(), N, M), {bias.data()},
                     run_options{isa, nullptr, threads});
              },
              o, 0, M, label, t);
          // A shard of the fitted view with its own bias.
          const std::size_t r0 = 5, r1 = M - 3;
          const plane_view sv = shard(v, r0, r1);
          const std::vector<float> sb = make_bias(r1 - r0, ++salt);
          const oracle so = plane_oracle(m, sv, x.xhat, N, sb.data());
          run_on_isas(
              available_isas(), [&](kernel_isa isa) { return plane_serves(isa, sv); },
              [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
                gemm(sv, x.batch(), matrix_view<float>(y.data(), N, sv.rows()), {sb.data()},
                     run_options{isa, nullptr, threads});
              },
              so, 0, sv.rows(), label + ", shard", t);
        }
    }
  }
  t.require_every_isa_ran(available_isas(), "plane gemm, fitted");
}

TEST_CASE("oracle: float front doors gemv and gemm quantize per token like quant/activation.hpp", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t;
  const std::size_t M = 70, K = 100;
  const master sm = from_matrix(random_master<std::int8_t>(M, K, 8, granularity::per_row(), false, 401));
  const master um = from_matrix(random_master<std::uint8_t>(M, K, 8, granularity::per_group(20), true, 402));
  const std::vector<float> bias = make_bias(M, 403);
  for (std::size_t N : {std::size_t{1}, std::size_t{3}}) {
    const auto xf = test::heavy_tailed(N * K, 404 + N);
    const activations x = [&] {
      activations a{per_token_quantizer<8>().quantize(const_matrix(xf.data(), N, K)), {}};
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t c = 0; c < K; ++c) a.xhat.push_back(double(a.q.scales[n]) * a.q.code(n, c));
      return a;
    }();
    for (const master* m : {&sm, &um})
      for (int b = 1; b <= 8; ++b) {
        const plane_view v = view(m->stack, b, rounding::floor, reconstruction::midpoint);
        const oracle o = plane_oracle(*m, v, x.xhat, N, bias.data());
        const std::string label = "float front door: " + describe(v) + ", tokens = " + std::to_string(N);
        run_on_isas(
            available_isas(), [&](kernel_isa isa) { return plane_serves(isa, v); },
            [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
              const run_options opt{isa, nullptr, threads};
              if (N == 1)
                gemv(v, std::span<const float>(xf.data(), K), std::span<float>(y.data(), M), {bias.data()}, opt);
              else
                gemm(v, const_matrix(xf.data(), N, K), matrix_view<float>(y.data(), N, M), {bias.data()}, opt);
            },
            o, 0, M, label, t);
      }
  }
  t.require_every_isa_ran(available_isas(), "float front doors");
}

TEST_CASE("oracle: shards carry a bias indexed by the view's own rows", "[oracle][shard]") {
  BITDIAL_LOG_SEED();
  // Known bug at the time of writing: detail::finish_row (and the AVX-512 vector epilogue) index the
  // bias by stack row; the contract is y(n, r) = bias[r] + …, r relative to the view.
  tally t, tb;
  const std::size_t M = 70, K = 48, N = 3;
  const master sm = from_matrix(random_master<std::int8_t>(M, K, 8, granularity::per_group(16), false, 501));
  const master um = from_matrix(random_master<std::uint8_t>(M, K, 8, granularity::per_row(), true, 502));
  const activations x = int8_tokens(N, K, 503);
  const std::vector<std::pair<std::size_t, std::size_t>> ranges = {{5, 45}, {33, 70}, {0, 37}, {40, 41}, {32, 64}};
  std::uint64_t salt = 510;
  for (const master* m : {&sm, &um})
    for (auto [r0, r1] : ranges)
      for (int b = 1; b <= 8; ++b)
        for (auto [rule, recon] : rules_for(*m)) {
          const plane_view v = shard(view(m->stack, b, rule, recon), r0, r1);
          REQUIRE(v.rows() == r1 - r0);
          const std::vector<float> bias = make_bias(r1 - r0, ++salt);  // exactly the shard's rows
          check_plane_view(*m, v, x, bias.data(), {}, "shard", t);
          if (b == 4 && r1 - r0 > 20)  // a row range inside the shard as well
            check_plane_view(*m, v, x, bias.data(), gemm_params{nullptr, 3, r1 - r0 - 2}, "shard, row range", t);
        }
  t.require_every_isa_ran(available_isas(), "plane gemm, shards");

  // The bit-serial front door finishes rows with the same epilogue.
  const auto xf = test::heavy_tailed(N * K, 520);
  const auto q = per_token_quantizer<>(8).quantize(const_matrix(xf.data(), N, K));
  std::vector<double> xhat;
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t c = 0; c < K; ++c) xhat.push_back(double(q.scales[n]) * q.code(n, c));
  const bitserial_activations xa = bitserial_activations::from(q);
  for (auto [r0, r1] : ranges)
    for (int b : {1, 3, 8}) {
      const plane_view v = shard(view(um.stack, b, rounding::floor, reconstruction::midpoint), r0, r1);
      const std::vector<float> bias = make_bias(r1 - r0, ++salt);
      const oracle o = plane_oracle(um, v, xhat, N, bias.data());
      run_on_isas(
          bitserial_isas(),
          [&](kernel_isa isa) {
            return isa == kernel_isa::reference || um.gran.k != granularity::kind::per_group || um.gran.group % 32 == 0;
          },
          [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
            bitserial_gemm(v, xa, matrix_view<float>(y.data(), N, v.rows()), {bias.data()},
                           run_options{isa, nullptr, threads});
          },
          o, 0, v.rows(), "bit-serial shard: " + describe(v), tb);
    }
  tb.require_every_isa_ran(bitserial_isas(), "bit-serial, shards");
}

TEST_CASE("oracle: bit-serial W x A for every weight and activation encoding", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t;
  struct acts {
    int bits;
    act_encoding enc;
  };
  const acts act_list[] = {{8, act_encoding::twos_complement},
                           {3, act_encoding::zero_point},
                           {2, act_encoding::bipolar},
                           {1, act_encoding::bipolar},
                           {5, act_encoding::twos_complement}};
  struct shape {
    std::size_t rows, cols, tokens;
    granularity gran;
  };
  std::uint64_t salt = 600;
  for (const shape& sh : {shape{37, 96, 3, granularity::per_group(32)}, shape{33, 100, 17, granularity::per_row()},
                          shape{20, 60, 1, granularity::per_group(20)}}) {
    const std::size_t M = sh.rows, K = sh.cols, N = sh.tokens;
    std::vector<std::pair<master, std::string>> ws;
    ws.emplace_back(from_matrix(random_master<std::int8_t>(M, K, 8, sh.gran, false, ++salt)), "signed");
    ws.emplace_back(from_matrix(random_master<std::uint8_t>(M, K, 8, sh.gran, false, ++salt)), "unsigned");
    ws.emplace_back(from_matrix(random_master<std::uint8_t>(M, K, 8, sh.gran, true, ++salt)), "unsigned+zp");
    ws.emplace_back(from_matrix(random_master<std::uint8_t>(M, K, 8, sh.gran, false, ++salt), -255), "bipolar");
    const auto xf = test::heavy_tailed(N * K, ++salt);
    const std::vector<float> bias = make_bias(M, ++salt);
    int which = 0;
    for (const acts& a : act_list) {
      // Activations quantized here with the public quantizers; x̂ = scale·(code − z) or s·(j + 1/2).
      bitserial_activations xa;
      std::vector<double> xhat(N * K);
      if (a.enc == act_encoding::bipolar) {
        const midrise_matrix mr =
            uniform_midrise<>(a.bits, {granularity::per_row()}).quantize(const_matrix(xf.data(), N, K));
        for (std::size_t n = 0; n < N; ++n)
          for (std::size_t c = 0; c < K; ++c) xhat[n * K + c] = double(mr.scales[n]) * (mr.code(n, c) + 0.5);
        xa = bitserial_activations::from(mr);
      } else {
        const per_token_options po{a.enc == act_encoding::zero_point ? activation_mode::asymmetric
                                                                     : activation_mode::symmetric};
        const auto q = per_token_quantizer<>(a.bits, po).quantize(const_matrix(xf.data(), N, K));
        for (std::size_t n = 0; n < N; ++n)
          for (std::size_t c = 0; c < K; ++c)
            xhat[n * K + c] = double(q.scales[n]) * double(q.code(n, c) - q.zero_points[n]);
        xa = bitserial_activations::from(q);
      }
      for (const auto& entry : ws) {
        const master& m = entry.first;
        const std::string& name = entry.second;
        const auto rules = rules_for(m);
        for (int b = 1; b <= 8; ++b)
          for (std::size_t ri = 0; ri < rules.size(); ++ri) {
            if (name != "signed" && rules[ri].second == reconstruction::floor) continue;  // bipolar: midpoint
            const plane_view v = view(m.stack, b, rules[ri].first, rules[ri].second);
            const float* bp = (ri + std::size_t(b) + std::size_t(which)) % 2 ? bias.data() : nullptr;
            const std::string label = "bit-serial " + name + " weights, a = " + std::to_string(a.bits) + " " +
                                      to_string(a.enc) + ", " + describe(v) + ", tokens = " + std::to_string(N);
            if (b == 8 || b == 3) {
              const std::string d = dequant_mismatch(m, v);
              INFO(label << ": " << d);
              CHECK(d.empty());
            }
            const oracle o = plane_oracle(m, v, xhat, N, bp);
            run_on_isas(
                bitserial_isas(),
                [&](kernel_isa isa) {  // packed kernels: one group per row or whole 32-K steps
                  return isa == kernel_isa::reference || m.gran.k != granularity::kind::per_group ||
                         m.gran.group % 32 == 0;
                },
                [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
                  bitserial_gemm(v, xa, matrix_view<float>(y.data(), N, M), {bp}, run_options{isa, nullptr, threads});
                },
                o, 0, M, label, t);
          }
      }
      ++which;
    }
  }
  t.require_every_isa_ran(bitserial_isas(), "bit-serial");
}

TEST_CASE("oracle: residual slice stacks with per-token slice counts", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t;
  const std::size_t M = 37, K = 96, N = 17;
  const auto wf = test::heavy_tailed(M * K, 700);
  const const_matrix W(wf.data(), M, K);
  const activations x = int8_tokens(N, K, 701);
  const std::vector<float> bias = make_bias(M, 702);
  std::mt19937_64 rng(test::seed() + 703);
  struct named {
    quantized_slice_stack q;
    std::string name;
  };
  std::vector<named> stacks;
  stacks.push_back({uniform_residual({2, 2, 2, 2}).quantize(W), "uniform residual 2+2+2+2 per row"});
  stacks.push_back(
      {uniform_residual({3, 2, 2}, {.gran = granularity::per_group(32), .scales = residual_scales::power_of_two})
           .quantize(W),
       "power-of-two tiled 3+2+2 per group 32"});
  stacks.push_back({uniform_residual({4, 4}, {.gran = granularity::per_group(12)}).quantize(W),
                    "uniform residual 4+4 per group 12"});
  stacks.push_back({residual_binarizer(3).quantize(W), "residual binarization x3"});
  for (const named& s : stacks) {
    const plane_slice_stack planes = plane_slice_stack::pack(s.q);
    const std::size_t S = s.q.slices();
    // Exact slice values σ_j·code_j (the quantizer's own, public) — the oracle's weights.
    std::vector<std::vector<double>> wj(S, std::vector<double>(M * K));
    for (std::size_t j = 0; j < S; ++j) {
      const auto& qj = s.q.slice(j);
      for (std::size_t r = 0; r < M; ++r)
        for (std::size_t c = 0; c < K; ++c)
          wj[j][r * K + c] = double(qj.scales[qj.scale_index(r, c)]) * double(qj.code(r, c));
    }
    {  // the public dequantize of the served prefix: Σ_j exact slice values, rounded once
      const slice_view all = planes.view_slices(S);
      std::size_t bad = 0;
      for (std::size_t r = 0; r < M; ++r)
        for (std::size_t c = 0; c < K; ++c) {
          double e = 0.0;
          for (std::size_t j = 0; j < S; ++j) e += wj[j][r * K + c];
          bad += all.dequantize(r, c) != static_cast<float>(e);
        }
      INFO(s.name << ": slice_view::dequantize differs from the slices' sum in " << bad << " elements");
      CHECK(bad == 0);
    }
    const std::size_t G = s.q.slice(0).gran.groups_per_row(K), L = K / G;
    for (std::size_t n_max = 1; n_max <= S; ++n_max)
      for (bool per_token : {false, true}) {
        std::vector<int> counts;
        if (per_token) {
          std::uniform_int_distribution<int> d(1, static_cast<int>(n_max));
          for (std::size_t i = 0; i < N; ++i) counts.push_back(d(rng));
        }
        const float* bp = per_token ? bias.data() : nullptr;
        oracle o(N, M);
        for (std::size_t n = 0; n < N; ++n) {
          const std::size_t J = per_token ? std::size_t(counts[n]) : n_max;
          for (std::size_t r = 0; r < M; ++r) {
            double y = 0.0, a_all = 0.0, a_first = 0.0, weighted = 0.0, a_elems = 0.0;
            for (std::size_t j = 0; j < J; ++j) {
              double a_j = 0.0;
              for (std::size_t g = 0; g < G; ++g) {
                double tg = 0.0;
                for (std::size_t c = g * L; c < (g + 1) * L; ++c) {
                  const double p = wj[j][r * K + c] * x.xhat[n * K + c];
                  tg += p;
                  a_elems += std::fabs(p);
                }
                y += tg;
                a_j += std::fabs(tg);
              }
              a_all += a_j;
              weighted += double(G + 2) * a_j;
              if (j == 0) a_first = a_j;
            }
            const double b = bp ? bp[r] : 0.0;
            o.y[n * M + r] = b + y;
            o.bound[n * M + r] =
                second_order * unit * (weighted + a_first + std::fabs(b) + double(J - 1) * (std::fabs(b) + a_all)) +
                oracle_slack(J * K, a_elems);
          }
        }
        const slice_view sv = planes.view_slices(n_max);
        const std::string label = s.name + ": n = " + std::to_string(n_max) + (per_token ? ", per-token counts" : "");
        run_on_isas(
            available_isas(), [&](kernel_isa isa) { return plane_serves(isa, sv.slice(0)); },
            [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
              gemm_slices(sv, x.batch(), matrix_view<float>(y.data(), N, M), counts, {bp},
                          run_options{isa, nullptr, threads});
            },
            o, 0, M, label, t);
      }
  }
  t.require_every_isa_ran(available_isas(), "slices");
}

TEST_CASE("oracle: BitStack sign x low-rank slices", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t;
  const std::size_t M = 37, K = 100, R = 2, S = 3;
  const auto wf = test::heavy_tailed(M * K, 800);
  const bitstack_matrix bs = bitstack(S, {.rank = R}).quantize(const_matrix(wf.data(), M, K));
  const bitstack_planes planes = bitstack_planes::pack(bs);
  const auto xf = test::heavy_tailed(K, 801);
  for (std::size_t n = 1; n <= S; ++n) {
    // Per component: z = v_jk ⊙ x (float products, as the front door forms them), quantized per
    // token here; weight u_jk(r)·S_j(r, c) from the BitStack factors (public, not the planes).
    oracle o(1, M);
    std::vector<double> a_sum(M, 0.0), a_elems(M, 0.0);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < R; ++k) {
        const auto vk = bs.v(j, k);
        const auto uk = bs.u(j, k);
        std::vector<float> z(K);
        for (std::size_t c = 0; c < K; ++c) z[c] = vk[c] * xf[c];
        std::vector<std::int8_t> zq(K);
        const token_params tp = per_token_quantizer<8>().quantize_token(z, zq);
        for (std::size_t r = 0; r < M; ++r) {
          double part = 0.0;
          for (std::size_t c = 0; c < K; ++c) {
            const double p = double(uk[r]) * bs.sign(j, r, c) * (double(tp.scale) * zq[c]);
            part += p;
            a_elems[r] += std::fabs(p);
          }
          o.y[r] += part;
          a_sum[r] += std::fabs(part);
        }
      }
    const double C = double(n * R);
    for (std::size_t r = 0; r < M; ++r)
      o.bound[r] = second_order * unit * (C + 2.0) * a_sum[r] + oracle_slack(n * R * K, a_elems[r]);
    run_on_isas(
        available_isas(), [&](kernel_isa isa) { return plane_serves(isa, planes.component(0, 0)); },
        [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
          gemv_bitstack(planes, n, xf, y, run_options{isa, nullptr, threads});
        },
        o, 0, M, "bitstack n = " + std::to_string(n), t);
  }
  t.require_every_isa_ran(available_isas(), "bitstack");
}

TEST_CASE("oracle: ternary x int8 (dedicated layout and 2-bit planes)", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t, tp;
  struct named {
    quantized_matrix<std::int8_t> q;
    std::string name;
  };
  std::uint64_t salt = 900;
  auto weights = [&](std::size_t M, std::size_t K) {
    const auto w = test::heavy_tailed(M * K, ++salt);
    return std::vector<float>(w);
  };
  std::vector<named> cases;
  {
    auto w = weights(37, 100);
    cases.push_back({bitnet_ternary().quantize(const_matrix(w.data(), 37, 100)), "bitnet per tensor 37x100"});
  }
  {
    auto w = weights(70, 48);
    cases.push_back(
        {twn_ternary({.gran = granularity::per_row()}).quantize(const_matrix(w.data(), 70, 48)), "twn per row 70x48"});
  }
  {
    auto w = weights(33, 256);
    cases.push_back({tequila_ternary().quantize(const_matrix(w.data(), 33, 256)), "tequila per group 128 33x256"});
  }
  {
    auto w = weights(20, 60);
    cases.push_back({bitnet_ternary({.gran = granularity::per_group(20)}).quantize(const_matrix(w.data(), 20, 60)),
                     "bitnet per group 20 (not whole 16-K slices) 20x60"});
  }
  {
    auto w = weights(17, 8192);
    cases.push_back({tequila_ternary({.gran = granularity::per_group(16)}).quantize(const_matrix(w.data(), 17, 8192)),
                     "tequila per group 16, deep K 17x8192"});
  }
  for (const named& c : cases) {
    const std::size_t M = c.q.rows, K = c.q.cols, G = c.q.gran.groups_per_row(K), L = K / G;
    const ternary_matrix tm = ternary_matrix::pack(c.q);
    const bit_plane_stack ts = pack_ternary_planes(c.q);
    const std::vector<float> bias = make_bias(M, ++salt);
    const std::function<bool(kernel_isa)> ternary_serves = [&](kernel_isa isa) {
      if (isa == kernel_isa::neon || isa == kernel_isa::dotprod) return ternary_simd_groups(tm);
      return isa == kernel_isa::avx512 ? ternary_avx512_supports(tm)
             : isa == kernel_isa::avx2 ? ternary_avx2_supports(tm)
                                       : true;
    };
    for (std::size_t N : {std::size_t{1}, std::size_t{3}, std::size_t{17}}) {
      if (K > 1000 && N == 17) continue;
      const activations x = int8_tokens(N, K, ++salt);
      const float* bp = N == 3 ? nullptr : bias.data();
      oracle o(N, M);
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t r = 0; r < M; ++r) {
          double y = 0.0, a = 0.0, a_elems = 0.0;
          for (std::size_t g = 0; g < G; ++g) {
            double tg = 0.0;
            for (std::size_t k = g * L; k < (g + 1) * L; ++k) {
              const double p = double(c.q.scales[c.q.scale_index(r, k)]) * c.q.code(r, k) * x.xhat[n * K + k];
              tg += p;
              a_elems += std::fabs(p);
            }
            y += tg;
            a += std::fabs(tg);
          }
          const double b = bp ? bp[r] : 0.0;
          o.y[n * M + r] = b + y;
          o.bound[n * M + r] = second_order * unit * (double(G + 3) * a + std::fabs(b)) + oracle_slack(K, a_elems);
        }
      const std::string label = "ternary " + c.name + ", tokens = " + std::to_string(N);
      run_on_isas(
          ternary_isas(), ternary_serves,
          [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
            gemm(tm, x.batch(), matrix_view<float>(y.data(), N, M), {bp}, run_options{isa, nullptr, threads});
          },
          o, 0, M, label, t);
      // The 2-bit plane route: the plane front door on the same codes (weights exact here too, so
      // the ternary bound applies).
      const plane_view v = view(ts, 2);
      run_on_isas(
          available_isas(), [&](kernel_isa isa) { return plane_serves(isa, v); },
          [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
            gemm(v, x.batch(), matrix_view<float>(y.data(), N, M), {bp}, run_options{isa, nullptr, threads});
          },
          o, 0, M, label + " (2-bit planes)", tp);
      if (N == 1) {                                   // the float front door quantizes the token like int8_tokens did
        const auto xf = test::heavy_tailed(K, salt);  // the same draw int8_tokens made
        run_on_isas(
            ternary_isas(), ternary_serves,
            [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
              gemv(tm, xf, y, {bp}, run_options{isa, nullptr, threads});
            },
            o, 0, M, label + " (float gemv)", t);
      }
    }
  }
  t.require_every_isa_ran(ternary_isas(), "ternary");
  tp.require_every_isa_ran(available_isas(), "ternary planes");
}

TEST_CASE("oracle: FP4 MXFP4, NVFP4 and BitMoD x int8", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t;
  // Exact dequantized weights in double: E2M1 value × block scale (× tensor scale), BitMoD level × s_g.
  struct named {
    fp4_matrix packed;
    std::vector<double> w;  // rows × cols
    std::size_t rows, cols, block;
    std::string name;
  };
  std::vector<named> cases;
  std::uint64_t salt = 1000;
  auto add_mx = [&](std::size_t M, std::size_t K) {
    const auto wf = test::heavy_tailed(M * K, ++salt);
    const mx_matrix q = mx_quantizer().quantize(const_matrix(wf.data(), M, K));
    std::vector<double> w(M * K);
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t c = 0; c < K; ++c)
        w[r * K + c] = double(q.format.decode(q.code(r, c))) * double(q.scale(r, c / mx_block_size));
    cases.push_back(
        {fp4_matrix::pack(q), w, M, K, mx_block_size, "mxfp4 " + std::to_string(M) + "x" + std::to_string(K)});
  };
  auto add_nv = [&](std::size_t M, std::size_t K, bool tensor_scale) {
    const auto wf = test::heavy_tailed(M * K, ++salt);
    const nvfp4_matrix q = nvfp4_quantizer({.tensor_scale = tensor_scale}).quantize(const_matrix(wf.data(), M, K));
    std::vector<double> w(M * K);
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t c = 0; c < K; ++c)
        w[r * K + c] =
            double(e2m1.decode(q.code(r, c))) * double(q.block_scale(r, c / nvfp4_block_size)) * double(q.tensor_scale);
    cases.push_back({fp4_matrix::pack(q), w, M, K, nvfp4_block_size,
                     std::string("nvfp4 ") + (tensor_scale ? "" : "(no tensor scale) ") + std::to_string(M) + "x" +
                         std::to_string(K)});
  };
  auto add_bitmod = [&](std::size_t M, std::size_t K, std::size_t group, std::vector<float> menu) {
    const auto wf = test::heavy_tailed(M * K, ++salt);
    const bitmod_matrix q = bitmod_quantizer({.group = group, .menu = menu}).quantize(const_matrix(wf.data(), M, K));
    std::vector<double> w(M * K);
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t c = 0; c < K; ++c) {
        const std::size_t g = q.group_index(r, c);
        w[r * K + c] = double(q.scales[g]) * double(q.level(g, q.code(r, c)));
      }
    cases.push_back({fp4_matrix::pack(q), w, M, K, group,
                     "bitmod group " + std::to_string(group) + ", menu of " + std::to_string(menu.size()) + " " +
                         std::to_string(M) + "x" + std::to_string(K)});
  };
  add_mx(37, 96);
  add_mx(70, 4096);
  add_nv(33, 48, true);
  add_nv(37, 80, false);
  add_bitmod(37, 256, 128, {5.0f, -5.0f, 8.0f, -8.0f});
  add_bitmod(20, 96, 32, {5.0f, -5.0f, 8.0f, -8.0f});
  add_bitmod(17, 72, 36, {5.0f, -5.0f, 8.0f, -8.0f});         // blocks that are not whole 8-K slices
  add_bitmod(33, 64, 32, {5.0f, -5.0f, 8.0f, -8.0f, 10.0f});  // more than 4 menu entries
  for (const named& c : cases) {
    const std::size_t M = c.rows, K = c.cols, B = K / c.block;
    const std::vector<float> bias = make_bias(M, ++salt);
    for (std::size_t N : {std::size_t{1}, std::size_t{3}, std::size_t{17}}) {
      const activations x = int8_tokens(N, K, ++salt);
      const float* bp = N == 3 ? nullptr : bias.data();
      oracle o(N, M);
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t r = 0; r < M; ++r) {
          double y = 0.0, a = 0.0, a_elems = 0.0;
          for (std::size_t b = 0; b < B; ++b) {
            double tb = 0.0;
            for (std::size_t k = b * c.block; k < (b + 1) * c.block; ++k) {
              const double p = c.w[r * K + k] * x.xhat[n * K + k];
              tb += p;
              a_elems += std::fabs(p);
            }
            y += tb;
            a += std::fabs(tb);
          }
          const double bb = bp ? bp[r] : 0.0;
          o.y[n * M + r] = bb + y;
          o.bound[n * M + r] = second_order * unit * (double(B + 4) * a + std::fabs(bb)) + oracle_slack(K, a_elems);
        }
      run_on_isas(
          fp4_isas(),
          [&](kernel_isa isa) {  // the rule restated: whole 8-K slice blocks, ≤ 4 menu entries; AVX2 MX/NVFP4
            const bool slices = c.block % 8 == 0 && c.block <= 65536 && c.packed.menu_size() <= 4;
            return isa == kernel_isa::avx512 || isa == kernel_isa::neon || isa == kernel_isa::dotprod ? slices
                   : isa == kernel_isa::avx2 ? c.packed.format() != fp4_format::bitmod
                                             : true;
          },
          [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
            gemm(c.packed, x.batch(), matrix_view<float>(y.data(), N, M), {bp}, run_options{isa, nullptr, threads});
          },
          o, 0, M, c.name + ", tokens = " + std::to_string(N), t);
    }
  }
  t.require_every_isa_ran(fp4_isas(), "fp4");
}

// The int8 × int8 front door on every ISA with a kernel here (reference, avx512, neon, dotprod).
TEST_CASE("oracle: int8 x int8 baseline", "[oracle]") {
  BITDIAL_LOG_SEED();
  tally t;
  std::uint64_t salt = 1100;
  for (auto shape : {std::pair<std::size_t, std::size_t>{70, 100}, {37, 20}, {33, 16384}}) {
    const std::size_t M = shape.first, K = shape.second;
    std::mt19937_64 rng(test::seed() + ++salt);
    std::uniform_int_distribution<int> code(-128, 127);
    std::uniform_real_distribution<float> scale(0.01f, 2.0f);
    std::vector<std::int8_t> w(M * K);
    for (auto& v : w) v = static_cast<std::int8_t>(code(rng));
    std::vector<float> s(M);
    for (auto& v : s) v = scale(rng);
    const int8_matrix wm = int8_matrix::pack(w.data(), M, K, K, s.data());
    const std::vector<float> bias = make_bias(M, ++salt);
    for (std::size_t N : {std::size_t{1}, std::size_t{3}, std::size_t{17}}) {
      const activations x = int8_tokens(N, K, ++salt);
      const float* bp = N == 3 ? nullptr : bias.data();
      oracle o(N, M);
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t r = 0; r < M; ++r) {
          double y = 0.0, a_elems = 0.0;
          for (std::size_t c = 0; c < K; ++c) {
            const double p = double(s[r]) * w[r * K + c] * x.xhat[n * K + c];
            y += p;
            a_elems += std::fabs(p);
          }
          const double b = bp ? bp[r] : 0.0;
          o.y[n * M + r] = b + y;
          o.bound[n * M + r] =  // G = 1
              second_order * unit * (4.0 * std::fabs(y) + std::fabs(b)) + oracle_slack(K, a_elems);
        }
      run_on_isas(
          kernel_isas<int8_kernels>(), [](kernel_isa) { return true; },
          [&](kernel_isa isa, std::size_t threads, std::vector<float>& y) {
            gemm(wm, x.batch(), matrix_view<float>(y.data(), N, M), {bp}, run_options{isa, nullptr, threads});
          },
          o, 0, M, "int8 " + std::to_string(M) + "x" + std::to_string(K) + ", tokens = " + std::to_string(N), t);
    }
  }
  t.require_every_isa_ran(kernel_isas<int8_kernels>(), "int8");
}
