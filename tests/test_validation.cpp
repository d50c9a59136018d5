// Validation audit: every public entry point rejects bad input with a bitdial::error that names the
// argument and its value (core/error.hpp's policy). One section per layer — quantizers (a sweep
// over every matrix-taking quantizer: empty, null, stride, NaN, ±Inf, group size), the stored stack
// (scales NaN/negative/huge, zero points, codes, shapes), files, views/shards, elastic weights,
// width maps, the budget allocator, the router, the cross-width report and the kernel front doors.
// Also: denormal and huge values either quantize to finite values with bounded error or are
// rejected by name — never a silent NaN/Inf.
#include <bitdial/bitdial.hpp>
#include <bitdial/quant/bitstack.hpp>

#include <cstdio>
#include <functional>
#include <limits>

#include "test_support.hpp"

using namespace bitdial;
using Catch::Contains;

namespace {

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();
constexpr float max_f = std::numeric_limits<float>::max();

using quantize_fn = std::function<std::vector<float>(const_matrix)>;

struct named_quantizer {
  const char* name;
  quantize_fn run;  // quantizes and dequantizes
};

std::vector<named_quantizer> quantizers() {
  return {
      {"uniform_symmetric", [](const_matrix w) { return uniform_symmetric<4>().quantize(w).dequantize(); }},
      {"uniform_asymmetric", [](const_matrix w) { return uniform_asymmetric<4>().quantize(w).dequantize(); }},
      {"uniform_midrise", [](const_matrix w) { return uniform_midrise<3>().quantize(w).dequantize(); }},
      {"mse_scales", [](const_matrix w) { return quantize_mse(uniform_symmetric<4>(), w).dequantize(); }},
      {"double_rounding",
       [](const_matrix w) { return double_rounding<8>().dequantize(double_rounding<8>().quantize_master(w), 3); }},
      {"truncation_ready", [](const_matrix w) { return truncation_ready<8>().quantize(w).dequantize(); }},
      {"uniform_residual",
       [](const_matrix w) {
         return uniform_residual({2, 2}).quantize(w).dequantize(2);
       }},
      {"residual_binarizer", [](const_matrix w) { return residual_binarizer(2).quantize(w).dequantize(2); }},
      {"bitnet_ternary", [](const_matrix w) { return bitnet_ternary().quantize(w).dequantize(); }},
      {"twn_ternary", [](const_matrix w) { return twn_ternary().quantize(w).dequantize(); }},
      {"tequila_ternary", [](const_matrix w) { return tequila_ternary().quantize(w).dequantize(); }},
      {"mx_quantizer", [](const_matrix w) { return mx_quantizer(mxfp4).quantize(w).dequantize(); }},
      {"nvfp4_quantizer", [](const_matrix w) { return nvfp4_quantizer().quantize(w).dequantize(); }},
      {"bitmod_quantizer", [](const_matrix w) { return bitmod_quantizer().quantize(w).dequantize(); }},
      {"minifloat_quantizer", [](const_matrix w) { return minifloat_quantizer().quantize(w).dequantize(); }},
      {"per_token_quantizer", [](const_matrix w) { return per_token_quantizer<8>().quantize(w).dequantize(); }},
  };
}

/// A 2 x 128 matrix (every quantizer's group/block size divides 128).
std::vector<float> sample(float scale = 1.0f) {
  auto w = test::normal(256, 77);
  for (auto& v : w) v *= scale;
  return w;
}

quantized_matrix<std::int8_t> small_master() {
  return {2, 32, 8, granularity::per_row(), std::vector<std::int8_t>(64, std::int8_t{5}), {0.5f, 0.25f}, {}};
}

}  // namespace

TEST_CASE("quantizers: empty, null, stride, NaN and ±Inf inputs are rejected by name", "[validation][quant]") {
  auto w = sample();
  for (const auto& q : quantizers()) {
    INFO(q.name);
    CHECK_THROWS_WITH(q.run(const_matrix(w.data(), 0, 128)), Contains(q.name) && Contains("shape = 0x128"));
    CHECK_THROWS_WITH(q.run(const_matrix(w.data(), 2, 0)), Contains("shape = 2x0"));
    CHECK_THROWS_WITH(q.run(const_matrix(nullptr, 2, 128)), Contains(".data = null"));
    CHECK_THROWS_WITH(q.run(const_matrix(w.data(), 2, 128, 64)),
                      Contains(".stride = 64") && Contains("less than cols = 128"));
    for (float bad : {nan_f, inf_f, -inf_f}) {
      auto v = w;
      v[128 + 7] = bad;
      const std::string value = std::isnan(bad) ? "(1, 7) = nan" : bad > 0 ? "(1, 7) = inf" : "(1, 7) = -inf";
      CHECK_THROWS_WITH(q.run(const_matrix(v.data(), 2, 128)), Contains(value) && Contains("finite"));
    }
    CHECK_NOTHROW(q.run(const_matrix(w.data(), 2, 128)));
  }
}

TEST_CASE("quantizers: group sizes and widths are checked at the boundary", "[validation][quant]") {
  auto w = sample();
  const const_matrix W(w.data(), 2, 128);
  CHECK_THROWS_WITH(uniform_symmetric<4>({.gran = granularity::per_group(0)}).quantize(W), Contains("group = 0"));
  CHECK_THROWS_WITH(uniform_symmetric<4>({.gran = granularity::per_group(48)}).quantize(W),
                    Contains("group = 48") && Contains("does not divide K = 128"));
  CHECK_THROWS_WITH(uniform_symmetric<>(0), Contains("bits = 0"));
  CHECK_THROWS_WITH(uniform_symmetric<>(9), Contains("bits = 9"));
  CHECK_THROWS_WITH(double_rounding<8>().quantize_master(W, granularity::per_group(40)), Contains("group = 40"));
  CHECK_THROWS_WITH(uniform_residual({2, 0}), Contains("slice_bits[1] = 0"));
  CHECK_THROWS_WITH(residual_binarizer(0), Contains("slices = 0"));
  CHECK_THROWS_WITH(bitmod_quantizer({.group = 48}).quantize(W), Contains("group = 48"));
  CHECK_THROWS_WITH(mx_quantizer(mxfp4).quantize(const_matrix(w.data(), 4, 48)), Contains("K = 48"));
  const auto scales = std::vector<float>{1.0f, nan_f};
  CHECK_THROWS_WITH(uniform_symmetric<4>().quantize_with_scales(W, scales), Contains("scales[1] = nan"));
  const auto neg = std::vector<float>{1.0f, -2.0f};
  CHECK_THROWS_WITH(uniform_symmetric<4>().quantize_with_scales(W, neg), Contains("scales[1] = -2"));
  CHECK_THROWS_WITH(uniform_symmetric<4>().quantize_with_scales(W, std::vector<float>{1.0f}),
                    Contains("scales.size() = 1"));
}

TEST_CASE("quantizers: denormal weights give finite values within the group's magnitude", "[validation][quant]") {
  // amax = 1e-40 (denormal): scales amax/qmax are denormal or underflow to 0. Codes and values must
  // stay finite, and every value within amax of the weight (a zero group is a valid answer).
  // The smallest denormal (1.4e-45) is the sharpest case: amax/6 underflows to 0, and BitMoD used
  // to divide by it (0/0 = NaN inside its FP4 encoder).
  for (float tiny : {1e-40f, std::numeric_limits<float>::denorm_min()}) {
    auto w = sample(tiny / 4.0f);
    for (auto& v : w) v = std::clamp(v, -tiny, tiny);
    w[3] = tiny;
    for (const auto& q : quantizers()) {
      INFO(q.name << ", amax = " << tiny);
      std::vector<float> d;
      REQUIRE_NOTHROW(d = q.run(const_matrix(w.data(), 2, 128)));
      for (std::size_t i = 0; i < d.size(); ++i) {
        REQUIRE(std::isfinite(d[i]));
        if (std::string(q.name) != "per_token_quantizer")  // activations: eps = 1e-5 floors the scale
          REQUIRE(std::fabs(double(d[i]) - w[i]) <= 2.0 * tiny);
      }
    }
  }
}

TEST_CASE("a stored master rejects scales that are NaN, infinite or overflow when served; negative ones serve",
          "[validation][format]") {
  auto m = small_master();
  CHECK_NOTHROW(bit_plane_stack::pack(m));
  for (float bad : {nan_f, inf_f}) {
    m.scales[1] = bad;
    CHECK_THROWS_WITH(bit_plane_stack::pack(m),
                      Contains("bit_plane_stack::pack: scales[1] = ") && Contains("must be finite"));
  }
  // Checkpoint formats store signed scales (ggml's Q4_0, Q3_K, Q6_K): a negative scale is a value.
  m.scales[1] = -1.0f;
  {
    const auto st = bit_plane_stack::pack(m);
    for (std::size_t r = 0; r < m.rows; ++r)
      for (std::size_t c = 0; c < m.cols; ++c) REQUIRE(view(st, m.bits).dequantize(r, c) == m.dequantize(r, c));
  }
  m.offsets.assign(m.scales.size(), 0.5f);
  m.offsets[0] = inf_f;
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Contains("offsets[0] = inf") && Contains("must be finite"));
  m.offsets.resize(1);
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Contains("offsets.size() = 1"));
  m.offsets.clear();
  // s·2^(B−1) must be finite: a signed 8-bit master serves −2^7·s at width 1 (q_b = −1, k = 7).
  m.scales[1] = max_f / 128.0f;
  CHECK_NOTHROW(bit_plane_stack::pack(m));
  m.scales[1] = max_f / 127.0f;
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Contains("scales[1] = ") && Contains("overflows float"));
  m.scales[1] = 0.0f;  // an all-zero group
  CHECK_NOTHROW(bit_plane_stack::pack(m));
  // A master quantized from weights near FLT_MAX gets a scale of at most FLT_MAX/128 (the quantizer
  // keeps its largest code finite), so it packs and serves finite values at every width
  // (tests/test_float_edges.cpp); only a hand-made scale like the one above is refused.
  auto w = sample();
  w[0] = max_f;
  const auto near_max = double_rounding<8>().quantize_master(const_matrix(w.data(), 2, 128));
  CHECK(near_max.scales[0] == max_f / 128.0f);
  CHECK_NOTHROW(bit_plane_stack::pack(near_max));
  m = small_master();
  m.codes[7] = -128;
  m.bits = 7;
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Contains("codes[7] = -128") && Contains("7-bit range"));
  m = small_master();
  m.rows = 0;
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Contains("shape = 0x32"));
  m = small_master();
  m.bits = 9;
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Contains("master bits = 9"));
  m = small_master();
  m.scales.push_back(1.0f);
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Contains("scales.size() = 3"));
  m = small_master();
  m.gran = granularity::per_group(5);
  CHECK_THROWS_WITH(bit_plane_stack::pack(m), Contains("group = 5") && Contains("does not divide K = 32"));

  quantized_matrix<std::uint8_t> u{1, 16, 4, granularity::per_row(), std::vector<std::uint8_t>(16, 3), {1.0f}, {16}};
  CHECK_THROWS_WITH(bit_plane_stack::pack(u), Contains("zero_points[0] = 16") && Contains("[0, 15]"));
  u.zero_points = {1, 2};
  CHECK_THROWS_WITH(bit_plane_stack::pack(u), Contains("zero_points.size() = 2"));
  u.zero_points = {15};
  CHECK_THROWS_WITH(bit_plane_stack::pack(u, 513), Contains("code_offset2 = 513"));
  CHECK_NOTHROW(bit_plane_stack::pack(u, -15));
}

TEST_CASE("files: empty stacks, null data, bad scales and zero points are rejected by name", "[validation][format]") {
  CHECK_THROWS_WITH(serialize(bit_plane_stack{}), Contains("serialize") && Contains("the stack is empty"));
  CHECK_THROWS_WITH(deserialize(nullptr, 100), Contains("data = null"));
  CHECK_THROWS_WITH(deserialize(nullptr, 0), Contains("file size = 0"));
  CHECK_THROWS_WITH(load("/nonexistent/bitdial/file.bdl"), Contains("file = /nonexistent/bitdial/file.bdl"));
  const auto s = bit_plane_stack::pack(small_master());
  aligned_buffer planes(s.bytes().size());
  std::memcpy(planes.data(), s.bytes().data(), planes.size());
  CHECK_THROWS_WITH(
      bit_plane_stack::from_parts(2, 32, 8, true, granularity::per_row(), {0.5f, nan_f}, {}, aligned_buffer(planes)),
      Contains("from_parts: scales[1] = nan"));
  CHECK_THROWS_WITH(bit_plane_stack::from_parts(2, 32, 8, true, granularity::per_row(), {0.5f, 1.0f}, {3, 256},
                                                aligned_buffer(planes)),
                    Contains("from_parts: zero_points[1] = 256"));
  CHECK_THROWS_WITH(
      bit_plane_stack::from_parts(2, 32, 8, true, granularity::per_row(), {0.5f, 1.0f}, {}, aligned_buffer(64)),
      Contains("plane bytes = 64"));
}

TEST_CASE("views, shards and elastic weights validate widths, rules and row ranges", "[validation][select]") {
  const auto s = bit_plane_stack::pack(small_master());
  CHECK_THROWS_WITH(view(s, 0), Contains("view: bits = 0"));
  CHECK_THROWS_WITH(view(s, 9), Contains("view: bits = 9") && Contains("1..8"));
  CHECK_THROWS_WITH(view(bit_plane_stack{}, 4), Contains("the stack is empty"));
  quantized_matrix<std::uint8_t> u{1, 16, 4, granularity::per_row(), std::vector<std::uint8_t>(16, 3), {1.0f}, {}};
  const auto us = bit_plane_stack::pack(u);
  CHECK_THROWS_WITH(view(us, 2, rounding::half_up), Contains("rule = half_up") && Contains("signed master"));
  CHECK_THROWS_WITH(view(us, 5), Contains("bits = 5") && Contains("1..4"));
  const auto v = view(s, 4);
  CHECK_THROWS_WITH(shard(v, 1, 1), Contains("rows = [1, 1)"));
  CHECK_THROWS_WITH(shard(v, 0, 3), Contains("rows = [0, 3)") && Contains("[0, 2)"));
  CHECK_THROWS_WITH(shard(shard(v, 1, 2), 0, 2), Contains("[0, 1)"));
  CHECK_THROWS_WITH(elastic_weight(bit_plane_stack{}, rounding::floor), Contains("the stack is empty"));
  elastic_weight ew(bit_plane_stack::pack(small_master()), rounding::half_even);
  CHECK_THROWS_WITH(ew.set_bits(9), Contains("set_bits: bits = 9"));
  CHECK_THROWS_WITH(ew.view(0), Contains("bits = 0"));
}

TEST_CASE("width maps and the budget allocator reject bad sizes, widths and budgets", "[validation][select]") {
  CHECK_THROWS_WITH(width_map(0), Contains("entries = 0"));
  CHECK_THROWS_WITH(width_map(3, 9), Contains("initial_bits = 9"));
  width_map m(3, 4);
  CHECK_THROWS_WITH(m.get(3), Contains("index = 3"));
  CHECK_THROWS_WITH(m.set(5, 4), Contains("index = 5"));
  CHECK_THROWS_WITH(m.set(0, 0), Contains("bits = 0"));
  const std::vector<int> two{4, 4};
  CHECK_THROWS_WITH(m.assign(two), Contains("widths.size() = 2"));
  const std::vector<int> bad{4, 4, 11};
  CHECK_THROWS_WITH(m.assign(bad), Contains("bits = 11"));
  CHECK(m.get(2) == 4);  // a rejected assign changes nothing
  const std::vector<std::size_t> zero_weights{0, 0, 0};
  CHECK_THROWS_WITH(m.average_bits(zero_weights), Contains("weights sum to 0"));

  std::vector<std::array<double, 8>> err(2);
  for (int b = 0; b < 8; ++b) err[0][b] = err[1][b] = 1.0 / (b + 1);
  const std::vector<std::size_t> sizes{10, 20};
  CHECK_THROWS_WITH(allocate_widths({}, sizes, 4.0), Contains("error: empty"));
  CHECK_THROWS_WITH(allocate_widths(err, std::vector<std::size_t>{10}, 4.0), Contains("sizes.size() = 1"));
  CHECK_THROWS_WITH(allocate_widths(err, sizes, std::nan("")), Contains("target_average_bits = nan"));
  CHECK_THROWS_WITH(allocate_widths(err, sizes, 1.5, 2), Contains("target_average_bits = 1.5"));
  CHECK_THROWS_WITH(allocate_widths(err, sizes, 4.0, 5, 3), Contains("min_bits = 5") && Contains("max_bits = 3"));
  CHECK_THROWS_WITH(allocate_widths(err, sizes, 4.0, 0), Contains("min_bits = 0"));
  CHECK_THROWS_WITH(allocate_widths(err, std::vector<std::size_t>{0, 0}, 4.0), Contains("sizes sum to 0"));
  err[1][3] = std::nan("");
  CHECK_THROWS_WITH(allocate_widths(err, sizes, 4.0), Contains("error[1][3] = nan"));
}

TEST_CASE("the router rejects bad counts, thresholds and non-finite tokens", "[validation][select]") {
  CHECK_THROWS_WITH(statistic_router(0, 2, {1.0, 2.0}), Contains("counts = [0, 2]"));
  CHECK_THROWS_WITH(statistic_router(3, 2, {}), Contains("counts = [3, 2]"));
  CHECK_THROWS_WITH(statistic_router(1, 3, {1.0}), Contains("thresholds.size() = 1"));
  CHECK_THROWS_WITH(statistic_router(1, 3, {2.0, 1.0}), Contains("non-decreasing"));
  CHECK_THROWS_WITH(statistic_router(1, 3, {1.0, std::nan("")}), Contains("thresholds[1] = nan"));
  const statistic_router r(1, 3, {1.5, 2.5});
  std::vector<float> t{1.0f, -1.0f, 3.0f, 0.5f};
  CHECK(r.route(t) >= 1);
  t[2] = nan_f;
  CHECK_THROWS_WITH(r.route(t), Contains("route: token[2] = nan"));
  t[2] = inf_f;
  CHECK_THROWS_WITH(r.route(t), Contains("token[2] = inf"));
  CHECK_THROWS_WITH(r.route(std::span<const float>()), Contains("token: empty span"));
  CHECK_THROWS_WITH(r.route_all(const_matrix(t.data(), 1, 4)), Contains("token[2] = inf"));
  CHECK_THROWS_WITH(r.route_all(const_matrix(t.data(), 0, 4)), Contains("tokens shape = 0x4"));
  auto calib = sample();
  CHECK_THROWS_WITH(statistic_router::calibrate(const_matrix(calib.data(), 2, 128), 1, 4, 5.0),
                    Contains("target_average = 5"));
  calib[9] = nan_f;
  CHECK_THROWS_WITH(statistic_router::calibrate(const_matrix(calib.data(), 2, 128), 1, 4, 2.0),
                    Contains("tokens(0, 9) = nan"));
}

TEST_CASE("the cross-width report checks tokens and its outlier factor", "[validation][select]") {
  const elastic_weight ew(bit_plane_stack::pack(small_master()), rounding::half_up);
  auto x = test::normal(64, 5);
  CHECK_THROWS_WITH(cross_width_report(ew, const_matrix(x.data(), 4, 16)),
                    Contains("tokens.cols = 16") && Contains("K = 32"));
  CHECK_THROWS_WITH(cross_width_report(ew, const_matrix(x.data(), 2, 32), 0.0), Contains("outlier_factor = 0"));
  CHECK_THROWS_WITH(cross_width_report(ew, const_matrix(x.data(), 2, 32), std::nan("")),
                    Contains("outlier_factor = nan"));
  CHECK_THROWS_WITH(cross_width_report(ew, const_matrix(x.data(), 0, 32)), Contains("tokens shape = 0x32"));
  x[33] = -inf_f;
  CHECK_THROWS_WITH(cross_width_report(ew, const_matrix(x.data(), 2, 32)), Contains("(1, 1) = -inf"));
}

TEST_CASE("kernel front doors: views, activations, outputs, row ranges and scales by name", "[validation][kernels]") {
  const auto s = bit_plane_stack::pack(small_master());
  const plane_view v = view(s, 4);
  std::vector<std::int8_t> xq(3 * 32, 1);
  std::vector<float> xs(3, 0.5f), y(3 * 2);
  const token_batch x{xq.data(), xs.data(), 3, 32, 32};
  const matrix_view<float> Y(y.data(), 3, 2);
  CHECK_NOTHROW(gemm(v, x, Y));
  CHECK_THROWS_WITH(gemm(plane_view{}, x, Y), Contains("weights: empty view"));
  plane_view hand = v;
  hand.bits = 9;
  CHECK_THROWS_WITH(gemm(hand, x, Y), Contains("weights.bits = 9"));
  hand = v;
  hand.row_end = 5;
  CHECK_THROWS_WITH(gemm(hand, x, matrix_view<float>(y.data(), 3, 5)), Contains("weights rows = [0, 5)"));
  quantized_matrix<std::uint8_t> u{1, 32, 4, granularity::per_row(), std::vector<std::uint8_t>(32, 3), {1.0f}, {}};
  const auto us = bit_plane_stack::pack(u);
  hand = view(us, 2);
  hand.rule = rounding::half_even;
  CHECK_THROWS_WITH(gemm(hand, x, matrix_view<float>(y.data(), 3, 1)), Contains("weights.rule = half_even"));
  hand.rule = rounding::half_down;  // a tie rule no view serves
  CHECK_THROWS_WITH(gemm(hand, x, matrix_view<float>(y.data(), 3, 1)),
                    Contains("weights.rule = half_down") && Contains("a view serves floor"));
  CHECK_THROWS_WITH(gemm(v, token_batch{xq.data(), xs.data(), 0, 32, 32}, Y), Contains("activations.tokens = 0"));
  CHECK_THROWS_WITH(gemm(v, token_batch{nullptr, xs.data(), 3, 32, 32}, Y), Contains("null codes"));
  CHECK_THROWS_WITH(gemm(v, token_batch{xq.data(), nullptr, 3, 32, 32}, Y), Contains("null codes or scales"));
  CHECK_THROWS_WITH(gemm(v, token_batch{xq.data(), xs.data(), 3, 16, 16}, Y), Contains("activations.cols = 16"));
  CHECK_THROWS_WITH(gemm(v, token_batch{xq.data(), xs.data(), 3, 32, 8}, Y), Contains("activations.stride = 8"));
  CHECK_THROWS_WITH(gemm(v, x, matrix_view<float>(nullptr, 3, 2)), Contains("output: null data"));
  CHECK_THROWS_WITH(gemm(v, x, matrix_view<float>(y.data(), 2, 3)), Contains("output shape = 2x3"));
  CHECK_THROWS_WITH(gemm(v, x, matrix_view<float>(y.data(), 3, 2, 1)), Contains("output.stride = 1"));
  CHECK_THROWS_WITH(gemm(v, x, Y, gemm_params{nullptr, 2, 5}), Contains("params.row_begin = 2"));
  for (float bad : {nan_f, inf_f, -0.5f}) {
    xs[1] = bad;
    CHECK_THROWS_WITH(gemm(v, x, Y), Contains("activations.scales[1] = "));
  }
  xs[1] = 0.5f;
  for (kernel_isa isa : {kernel_isa::avx2, kernel_isa::avx512})
    if (!isa_available(isa)) CHECK_THROWS_WITH(gemm(v, x, Y, {}, {isa}), Contains("not supported"));

  // Float front doors: the per-token quantizer names NaN/Inf and empty inputs.
  std::vector<float> xf(3 * 32, 0.25f);
  xf[40] = nan_f;
  CHECK_THROWS_WITH(gemm(v, const_matrix(xf.data(), 3, 32), Y), Contains("activations(1, 8) = nan"));
  CHECK_THROWS_WITH(gemv(v, std::span<const float>(xf.data(), 32), std::span<float>(y.data(), 3)),
                    Contains("y.size() = 3"));
  CHECK_THROWS_WITH(gemv(v, std::span<const float>(xf.data(), 16), std::span<float>(y.data(), 2)),
                    Contains("activations.cols = 16"));
  CHECK_THROWS_WITH(gemv(v, std::span<const float>(), std::span<float>(y.data(), 2)), Contains("shape = 1x0"));
}

TEST_CASE("slice front doors: counts, slice views and BitStack arguments by name", "[validation][kernels]") {
  auto wf = sample();
  const auto ps = plane_slice_stack::pack(uniform_residual({2, 2, 2}).quantize(const_matrix(wf.data(), 2, 128)));
  std::vector<std::int8_t> xq(2 * 128, 3);
  std::vector<float> xs(2, 0.1f), y(2 * 2);
  const token_batch x{xq.data(), xs.data(), 2, 128, 128};
  const matrix_view<float> Y(y.data(), 2, 2);
  CHECK_NOTHROW(gemm_slices(ps.view_slices(3), x, Y));
  CHECK_THROWS_WITH(ps.view_slices(4), Contains("n = 4"));
  CHECK_THROWS_WITH(ps.slice(3), Contains("j = 3"));
  CHECK_THROWS_WITH(gemm_slices(slice_view{}, x, Y), Contains("slices: empty view"));
  CHECK_THROWS_WITH(gemm_slices(slice_view{&ps, 5}, x, Y), Contains("slices.n = 5") && Contains("holds 3"));
  const std::vector<int> one{2};
  CHECK_THROWS_WITH(gemm_slices(ps.view_slices(3), x, Y, one), Contains("counts.size() = 1"));
  const std::vector<int> zero{1, 0};
  CHECK_THROWS_WITH(gemm_slices(ps.view_slices(3), x, Y, zero), Contains("counts[1] = 0"));
  const std::vector<int> four{4, 1};
  CHECK_THROWS_WITH(gemm_slices(ps.view_slices(3), x, Y, four), Contains("counts[0] = 4") && Contains("1..3"));
  CHECK_THROWS_WITH(plane_slice_stack::pack(quantized_slice_stack{}), Contains("slices = 0"));

  const auto bs = bitstack_planes::pack(bitstack(2).quantize(const_matrix(wf.data(), 2, 128)));
  std::vector<float> x1(wf.begin(), wf.begin() + 128), y1(2);
  CHECK_NOTHROW(gemv_bitstack(bs, 2, x1, y1));
  CHECK_THROWS_WITH(gemv_bitstack(bs, 3, x1, y1), Contains("n = 3"));
  CHECK_THROWS_WITH(gemv_bitstack(bs, 1, std::span<const float>(x1.data(), 64), y1), Contains("x.size() = 64"));
  CHECK_THROWS_WITH(gemv_bitstack(bs, 1, x1, std::span<float>(y1.data(), 1)), Contains("y.size() = 1"));
  x1[5] = nan_f;
  CHECK_THROWS_WITH(gemv_bitstack(bs, 1, x1, y1), Contains("x[5] = nan"));
  CHECK_THROWS_WITH(bs.component(2, 0), Contains("(j, k) = (2, 0)"));
}
