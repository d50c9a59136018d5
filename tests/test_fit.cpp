// Fitted per-width reconstruction (SEMANTICS §3b, select/fit.hpp): the served values, their
// quality against the literal rules and the dedicated references, degenerate rows, the file
// format, and the kernels (every ISA equals the reference kernel bit for bit on fitted views).
#include <bitdial/format/serialize.hpp>
#include <bitdial/kernels/gemm.hpp>
#include <bitdial/quant/calibrate.hpp>
#include <bitdial/quant/metrics.hpp>
#include <bitdial/quant/uniform.hpp>
#include <bitdial/select/fit.hpp>

#include <cmath>
#include <string>
#include <type_traits>

#include "test_support.hpp"

using namespace bitdial;

namespace {

constexpr rounding all_rules[] = {rounding::floor, rounding::half_up, rounding::half_even};

std::vector<float> dequantized(const plane_view& v) {
  std::vector<float> out(v.rows() * v.cols());
  for (std::size_t r = 0; r < v.rows(); ++r)
    for (std::size_t c = 0; c < v.cols(); ++c) out[r * v.cols() + c] = v.dequantize(r, c);
  return out;
}

/// Heavy-tailed rows with outlier columns, one all-zero row and one all-zero group of 32.
std::vector<float> weights(std::size_t M, std::size_t K, std::uint64_t salt) {
  auto w = test::heavy_tailed(M * K, salt);
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t c = 0; c < K; ++c) {
      w[r * K + c] *= 0.02f;
      if (c % 37 == 5) w[r * K + c] *= 8.0f;  // outlier input channels
    }
  std::fill(w.begin() + 3 * K, w.begin() + 4 * K, 0.0f);                       // row 3: all zero
  std::fill(w.begin() + 5 * K + 32, w.begin() + 5 * K + 64, 0.0f);             // row 5, group 1: all zero
  for (std::size_t c = 0; c < K; ++c) w[7 * K + c] = std::fabs(w[7 * K + c]);  // row 7: one-signed
  return w;
}

bit_plane_stack fitted_stack(const std::vector<float>& w, std::size_t M, std::size_t K, granularity g) {
  const auto m = uniform_symmetric<8>({.gran = g}).quantize(const_matrix(w.data(), M, K));
  auto s = bit_plane_stack::pack(m);
  fit_reconstruction(s, const_matrix(w.data(), M, K));
  return s;
}

}  // namespace

TEST_CASE("fit: served values follow x = (s*alpha)*(t + beta/256) with the stored tables", "[fit]") {
  // Independent of plane_view's arithmetic: the served term is recomputed here from the master code
  // and the SEMANTICS rules, in double, and the one float rounding order of the epilogue applied.
  const std::size_t M = 40, K = 96;
  const auto w = weights(M, K, 11);
  for (const granularity g : {granularity::per_row(), granularity::per_group(32), granularity::per_tensor()}) {
    const auto s = fitted_stack(w, M, K, g);
    for (const rounding rule : all_rules)
      for (int b = 1; b < 8; ++b) {
        const int k = 8 - b;
        const plane_view v = view(s, b, rule);
        REQUIRE(v.fitted());
        // Fitted double rounding at b = B − 1 serves the truncated codes with their fit.
        const rounding eff = b == 7 ? rounding::floor : rule;
        REQUIRE(v.rule == eff);
        const float* alpha = s.fit_alpha(fit_index(eff), b);
        const std::int16_t* beta = s.fit_offset(fit_index(eff), b);
        for (std::size_t r = 0; r < M; ++r)
          for (std::size_t c = 0; c < K; ++c) {
            const int q = s.code(r, c);
            double qb = std::floor(q / std::ldexp(1.0, k));  // truncation: floor(q / 2^k)
            const double rem = q - qb * std::ldexp(1.0, k), half = std::ldexp(1.0, k - 1);
            if (eff != rounding::floor) {
              if (rem > half || (rem == half && (eff == rounding::half_up || std::fmod(qb, 2.0) != 0.0))) qb += 1;
              qb = std::clamp(qb, -std::ldexp(1.0, b - 1), std::ldexp(1.0, b - 1) - 1);
            }
            const float sa = s.scales()[g.index(r, c, K)] * alpha[r];
            const float want = sa * static_cast<float>(qb + beta[r] / 256.0);
            INFO("rule " << to_string(rule) << " b " << b << " (" << r << ", " << c << ") q " << q);
            REQUIRE(v.dequantize(r, c) == want);
          }
      }
  }
}

TEST_CASE("fit: literal rules stay bit-exact and selectable", "[fit]") {
  const std::size_t M = 33, K = 64;
  const auto w = weights(M, K, 12);
  const auto s = fitted_stack(w, M, K, granularity::per_group(32));
  for (int b = 1; b < 8; ++b) {
    const int k = 8 - b;
    const plane_view mid = view(s, b, rounding::floor, reconstruction::midpoint);
    const plane_view flo = view(s, b, rounding::floor, reconstruction::floor);
    const plane_view rhu = view(s, b, rounding::half_up, reconstruction::midpoint);
    REQUIRE_FALSE(mid.fitted());
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t c = 0; c < K; ++c) {
        const double sc = s.scales()[r * 2 + c / 32];
        const int q = s.code(r, c);
        const double qb = std::floor(q / std::ldexp(1.0, k));
        REQUIRE(mid.dequantize(r, c) == static_cast<float>(sc * (std::ldexp(qb, k) + (std::ldexp(1.0, k) - 1) / 2)));
        REQUIRE(flo.dequantize(r, c) == static_cast<float>(sc * std::ldexp(qb, k)));
        const double up =
            std::clamp(std::floor(q / std::ldexp(1.0, k) + 0.5), -std::ldexp(1.0, b - 1), std::ldexp(1.0, b - 1) - 1);
        REQUIRE(rhu.dequantize(r, c) == static_cast<float>(sc * std::ldexp(up, k)));
      }
  }
  // The full width serves the master itself, fitted or not.
  const plane_view full = view(s, 8);
  REQUIRE_FALSE(full.fitted());
  for (std::size_t c = 0; c < K; ++c) REQUIRE(full.dequantize(0, c) == s.scales()[c / 32] * float(s.code(0, c)));
  // Asking for a fit the stack does not store is an error naming it.
  const auto plain = bit_plane_stack::pack(uniform_symmetric<8>().quantize(const_matrix(w.data(), M, K)));
  REQUIRE_THROWS_WITH(view(plain, 3, rounding::floor, reconstruction::fitted),
                      Catch::Contains("reconstruction = fitted") && Catch::Contains("bits = 3"));
  REQUIRE_FALSE(view(plain, 3).fitted());  // automatic: literal midpoint without a fit
}

TEST_CASE("fit: never worse than the literal rule, b = 1 a binarization, zeros stay zeros", "[fit]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 64, K = 256;
  const auto w = weights(M, K, 13);
  const granularity g = granularity::per_group(128);
  const auto s = fitted_stack(w, M, K, g);
  for (const rounding rule : all_rules)
    for (int b = 1; b < 8; ++b) {
      // Per row, the literal map is one point of the fitted family (α = 2^k, β = 256·m_k/2^k is a
      // multiple of 1/256 for k ≤ 7), so the least-squares fit cannot be worse (float rounding of α
      // aside: 1e-6 relative).
      const auto fit = dequantized(view(s, b, rule));
      const auto lit = dequantized(view(s, b, rule, reconstruction::midpoint));
      for (std::size_t r = 0; r < M; ++r) {
        const std::span<const float> wr(w.data() + r * K, K);
        const double ef = mse(wr, std::span<const float>(fit.data() + r * K, K));
        const double el = mse(wr, std::span<const float>(lit.data() + r * K, K));
        INFO("rule " << to_string(rule) << " b " << b << " row " << r);
        REQUIRE(ef <= el * (1 + 1e-6) + 1e-30);
      }
      // All-zero row 3 and all-zero group: zeros, never NaN.
      for (std::size_t c = 0; c < K; ++c) REQUIRE(fit[3 * K + c] == 0.0f);
      for (const float v : fit) REQUIRE(std::isfinite(v));
    }
  // b = 1 truncation (the sign plane) against per-group binarization s·sign(w), s = mean|w|.
  std::vector<float> bin(w.size());
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t g0 = 0; g0 < K; g0 += 128) {
      double a = 0;
      for (std::size_t c = g0; c < g0 + 128; ++c) a += std::fabs(w[r * K + c]);
      a /= 128;
      for (std::size_t c = g0; c < g0 + 128; ++c) bin[r * K + c] = float(w[r * K + c] >= 0 ? a : -a);
    }
  const double sq_bin = sqnr_db(w, bin);
  const double sq_fit = sqnr_db(w, dequantized(view(s, 1)));
  const double sq_lit = sqnr_db(w, dequantized(view(s, 1, rounding::floor, reconstruction::midpoint)));
  INFO("b=1 SQNR: fitted " << sq_fit << " dB, literal " << sq_lit << " dB, binarization " << sq_bin << " dB");
  REQUIRE(sq_fit >= sq_bin - 0.5);
  REQUIRE(sq_fit > sq_lit + 1.0);
  REQUIRE(sq_fit > 0.0);
}

TEST_CASE("fit: double rounding at b = B - 1 is never worse than truncation (and reads no more planes)", "[fit]") {
  const std::size_t M = 64, K = 256;
  const auto w = weights(M, K, 19);
  const auto s = fitted_stack(w, M, K, granularity::per_group(128));
  const double tr = sqnr_db(w, dequantized(view(s, 7)));
  for (const rounding rule : {rounding::half_up, rounding::half_even}) {
    const plane_view v = view(s, 7, rule);
    REQUIRE(v.planes_used() == 7);
    REQUIRE(sqnr_db(w, dequantized(v)) >= tr);
    // The literal rule (all 8 planes) is what the fitted view improves on.
    REQUIRE(sqnr_db(w, dequantized(view(s, 7, rule, reconstruction::midpoint))) < tr);
  }
  // Below B − 1 the double-rounding views keep their own codes.
  REQUIRE(view(s, 6, rounding::half_up).rule == rounding::half_up);
}

TEST_CASE("fit: all-zero matrix and masters without weights", "[fit]") {
  const std::size_t M = 4, K = 96;
  std::vector<float> z(M * K, 0.0f);
  auto s = fitted_stack(z, M, K, granularity::per_group(32));
  for (const rounding rule : all_rules)
    for (int b = 1; b <= 8; ++b)
      for (const float v : dequantized(view(s, b, rule))) REQUIRE(v == 0.0f);
  // Fit against the master's own values (an imported master): b = 7 fitted is at least as good
  // against the master as the literal rule.
  const auto w = weights(32, 64, 14);
  auto m = bit_plane_stack::pack(uniform_symmetric<8>().quantize(const_matrix(w.data(), 32, 64)));
  fit_reconstruction(m);
  const auto master = dequantized(view(m, 8));
  for (int b = 1; b < 8; ++b)
    REQUIRE(mse(master, dequantized(view(m, b))) <=
            mse(master, dequantized(view(m, b, rounding::floor, reconstruction::midpoint))) * (1 + 1e-6));
}

TEST_CASE("fit: unsigned masters with zero points", "[fit]") {
  const std::size_t M = 35, K = 64;
  auto w = weights(M, K, 15);
  for (auto& v : w) v += 0.01f;  // shift so the zero points differ per group
  const auto m = uniform_asymmetric<8>({.gran = granularity::per_group(32)}).quantize(const_matrix(w.data(), M, K));
  auto s = bit_plane_stack::pack(m);
  fit_reconstruction(s, const_matrix(w.data(), M, K));
  REQUIRE_FALSE(s.has_fit(fit_index(rounding::half_up), 4));  // double rounding: signed masters only
  for (int b = 1; b < 8; ++b) {
    const auto fit = dequantized(view(s, b));
    const auto lit = dequantized(view(s, b, rounding::floor, reconstruction::midpoint));
    REQUIRE(mse(w, fit) <= mse(w, lit) * (1 + 1e-6));
  }
}

TEST_CASE("fit: files of version 2 keep the fits; version 1 files still load", "[fit][serialize]") {
  const std::size_t M = 37, K = 48;
  const auto w = weights(M, K, 16);
  const auto s = fitted_stack(w, M, K, granularity::per_group(16));
  const auto bytes = serialize(s);
  const auto back = deserialize(bytes.data(), bytes.size());
  REQUIRE(back.fit_bytes() == s.fit_bytes());
  REQUIRE(s.fit_bytes() == 21 * M * 6);
  for (const rounding rule : all_rules)
    for (int b = 1; b < 8; ++b) REQUIRE(dequantized(view(back, b, rule)) == dequantized(view(s, b, rule)));
  REQUIRE(serialize(back) == bytes);
  // A stack without fits is written as version 1 (one encoding per stack) and reads back unfitted.
  auto plain = s;
  plain.clear_fits();
  const auto v1 = serialize(plain);
  std::uint32_t version = 0;
  std::memcpy(&version, v1.data() + 8, 4);
  REQUIRE(version == 1);
  REQUIRE(v1.size() + 4 + 21 * M * 6 + 21 * 8 == bytes.size());
  const auto old = deserialize(v1.data(), v1.size());
  REQUIRE_FALSE(old.fitted());
  REQUIRE(dequantized(view(old, 3)) == dequantized(view(plain, 3)));
  // A truncated fit block is rejected by name.
  auto cut = bytes;
  cut.erase(cut.end() - 20, cut.end() - 8);
  const std::uint64_t sum2 = detail::fnv1a64(cut.data(), cut.size() - 8);
  std::memcpy(cut.data() + cut.size() - 8, &sum2, 8);
  REQUIRE_THROWS_WITH(deserialize(cut.data(), cut.size()), Catch::Contains("fit count"));
}

TEST_CASE("fit: every ISA equals the reference kernel on fitted views (shards, bias, zero points)", "[fit][kernels]") {
  const std::size_t M = 70, K = 128, N = 3;
  const auto w = weights(M, K, 17);
  const auto xs = test::normal(N * K, 18);
  const auto q = per_token_quantizer<8>().quantize(const_matrix(xs.data(), N, K));
  const token_batch t = as_tokens(q);
  auto su = bit_plane_stack::pack(
      uniform_asymmetric<8>({.gran = granularity::per_group(32)}).quantize(const_matrix(w.data(), M, K)));
  fit_reconstruction(su, const_matrix(w.data(), M, K));
  const auto ss = fitted_stack(w, M, K, granularity::per_group(64));
  for (const bit_plane_stack* s : std::initializer_list<const bit_plane_stack*>{&ss, &su})
    for (const rounding rule : all_rules) {
      if (!s->is_signed() && rule != rounding::floor) continue;
      for (int b = 1; b <= 8; ++b) {
        const plane_view v = shard(view(*s, b, rule), 3, 67);
        const std::size_t rows = v.rows();
        std::vector<float> bias(rows);
        for (std::size_t r = 0; r < rows; ++r) bias[r] = 0.25f * float(r);
        std::vector<float> want(N * rows);
        reference::gemm(v, t, matrix_view<float>(want.data(), N, rows), {.bias = bias.data()});
        // The reference kernel against the served values in double (independent of the epilogue):
        for (std::size_t n = 0; n < N; ++n)
          for (std::size_t r = 0; r < rows; ++r) {
            double acc = 0, mag = 0;
            for (std::size_t c = 0; c < K; ++c) {
              const double p = double(v.dequantize(r, c)) * t.token(n)[c];
              acc += p, mag += std::fabs(p);
            }
            const double y = bias[r] + q.scales[n] * acc;
            REQUIRE(std::fabs(want[n * rows + r] - y) <= 1e-5 * (q.scales[n] * mag + std::fabs(bias[r])) + 1e-30);
          }
        for (const kernel_isa isa : available_isas())
          for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
            std::vector<float> got(N * rows, -7.0f);
            gemm(v, t, matrix_view<float>(got.data(), N, rows), {.bias = bias.data()},
                 {.isa = isa, .threads = threads});
            INFO("isa " << to_string(isa) << " rule " << to_string(rule) << " b " << b << " signed " << s->is_signed());
            REQUIRE(got == want);
          }
      }
    }
}

TEST_CASE("served_scale is the served step: s·2^k under the literal rules, s·α_r when fitted", "[fit][select]") {
  const std::size_t M = 40, K = 96;
  const auto w = weights(M, K, 12);
  const auto s = fitted_stack(w, M, K, granularity::per_group(32));
  for (const rounding rule : all_rules)
    for (int b = 1; b <= 8; ++b) {
      INFO("rule " << to_string(rule) << " b " << b);
      const plane_view lit = view(s, b, rule, reconstruction::midpoint);
      const plane_view fit = shard(view(s, b, rule, reconstruction::automatic), 3, M);
      CHECK(!lit.fitted());
      CHECK(fit.fitted() == (b < 8));
      for (std::size_t r = 0; r < fit.rows(); ++r)
        for (std::size_t c = 0; c < K; c += 32) {
          const std::size_t g = s.gran().index(3 + r, c, K);
          REQUIRE(lit.served_scale(g, 3 + r) == std::ldexp(lit.scale(g), lit.shift()));
          const float alpha = b < 8 ? fit.fit_alpha[3 + r] : std::ldexp(1.0f, 0);
          REQUIRE(fit.served_scale(g, r) == fit.scale(g) * alpha);
          // dequantize is the served step times the served term, one rounding
          const float t = static_cast<float>(std::int64_t{fit.code(r, c)} * 256 + fit.offset256(g, 3 + r)) * 0x1p-8f;
          REQUIRE(fit.dequantize(r, c) == fit.served_scale(g, r) * t);
        }
    }
}

TEST_CASE("view rules are bitdial::rounding: the tie rules no view serves are rejected by name", "[fit][select]") {
  const std::size_t M = 8, K = 32;
  const auto w = weights(M, K, 13);
  const auto s = fitted_stack(w, M, K, granularity::per_row());
  for (const rounding bad : {rounding::half_away, rounding::half_down}) {
    CHECK(fit_index(bad) == -1);
    CHECK_THROWS_WITH(view(s, 4, bad), Catch::Contains(std::string("rule = ") + to_string(bad)) &&
                                           Catch::Contains("a view serves floor (truncation), half_up or half_even"));
  }
  CHECK(fit_index(rounding::floor) == 0);
  CHECK(fit_index(rounding::half_up) == 1);
  CHECK(fit_index(rounding::half_even) == 2);
  // The view rules keep the former serve_rule's numbers, which are also the fit slots: code that
  // passed int(rule) to has_fit / fit_alpha / set_fit keeps working.
  for (const rounding r : {rounding::floor, rounding::half_up, rounding::half_even})
    CHECK(static_cast<int>(r) == fit_index(r));
    // The former names are deprecated aliases of the same values.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  STATIC_REQUIRE(std::is_same_v<serve_rule, rounding>);
  STATIC_REQUIRE(std::is_same_v<truncation_reconstruction, reconstruction>);
  STATIC_REQUIRE(serve_rule::truncate == rounding::floor);
  STATIC_REQUIRE(serve_rule::round_half_up == rounding::half_up);
  STATIC_REQUIRE(serve_rule::round_half_even == rounding::half_even);
  CHECK(view(s, 3, serve_rule::round_half_up).rule == rounding::half_up);
#pragma GCC diagnostic pop
}
