// Integer checkpoints in safetensors (format/checkpoint_import.hpp): compressed-tensors int8 and
// packed int4, GPTQ (v1 and v2 zero points, 2/4/8 bits) and AWQ. The files are written here by this
// test's own packers, which follow each project's documented layout in the packing direction (codes
// → words); the importer unpacks. Expected values are scale·(q − z) from the codes the test chose.
#include <bitdial/format/checkpoint_import.hpp>
#include <bitdial/kernels/gemm.hpp>
#include <bitdial/quant/activation.hpp>

#include <cstring>
#include <random>

#include "test_support.hpp"

using namespace bitdial;
using Catch::Matchers::Contains;

namespace {

struct layer_codes {
  std::size_t N = 0, K = 0, G = 1;
  int bits = 4;
  std::vector<int> q;    // [n][k], unsigned codes 0..2^b − 1 (signed for symmetric CT: stored − 2^(b−1))
  std::vector<int> z;    // [g][n] (GPTQ/AWQ), true zero points
  std::vector<float> s;  // [g][n] (GPTQ/AWQ) or [n][g] (compressed-tensors)
};

std::vector<std::uint8_t> words_bytes(const std::vector<std::uint32_t>& w) {
  std::vector<std::uint8_t> b(w.size() * 4);
  std::memcpy(b.data(), w.data(), b.size());
  return b;
}

/// fp16-representable scales, some zero (all-zero groups).
std::vector<float> random_scales(std::size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(0.001f, 0.05f);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i % 11 == 5 ? 0.0f : half_to_float(float_to_half(u(rng)));
  return v;
}

layer_codes random_layer(std::size_t N, std::size_t K, std::size_t G, int bits, std::uint64_t salt) {
  std::mt19937_64 rng(test::seed() + salt);
  layer_codes l;
  l.N = N, l.K = K, l.G = G, l.bits = bits;
  const int hi = (1 << bits) - 1;
  std::uniform_int_distribution<int> code(0, hi), zero(1, hi);  // v1 cannot store a zero point of 0
  l.q.resize(N * K);
  for (auto& v : l.q) v = code(rng);
  l.z.resize(G * N);
  for (auto& v : l.z) v = zero(rng);
  l.s = random_scales(G * N, rng);
  return l;
}

/// GPTQ tensors: qweight [K/pf, N] packs inputs, qzeros [G, N/pf] packs columns (stored z − 1 in v1).
safetensors_writer& write_gptq(safetensors_writer& w, const std::string& p, const layer_codes& l, bool v1,
                               bool with_g_idx) {
  const std::size_t pf = 32 / static_cast<std::size_t>(l.bits);
  std::vector<std::uint32_t> qw(l.K / pf * l.N, 0), qz(l.G * l.N / pf, 0);
  for (std::size_t k = 0; k < l.K; ++k)
    for (std::size_t n = 0; n < l.N; ++n)
      qw[(k / pf) * l.N + n] |= static_cast<std::uint32_t>(l.q[n * l.K + k]) << (l.bits * (k % pf));
  for (std::size_t g = 0; g < l.G; ++g)
    for (std::size_t n = 0; n < l.N; ++n)
      qz[g * (l.N / pf) + n / pf] |= static_cast<std::uint32_t>(l.z[g * l.N + n] - (v1 ? 1 : 0)) << (l.bits * (n % pf));
  w.add_raw(p + ".qweight", "I32", {l.K / pf, l.N}, words_bytes(qw))
      .add_raw(p + ".qzeros", "I32", {l.G, l.N / pf}, words_bytes(qz))
      .add(p + ".scales", st_dtype::f16, {l.G, l.N}, l.s);
  if (with_g_idx) {
    std::vector<std::uint32_t> gi(l.K);
    for (std::size_t k = 0; k < l.K; ++k) gi[k] = static_cast<std::uint32_t>(k / (l.K / l.G));
    w.add_raw(p + ".g_idx", "I32", {l.K}, words_bytes(gi));
  }
  return w;
}

/// AWQ tensors: qweight [K, N/8], qzeros [G, N/8]; column 8c + j in nibble [0,4,1,5,2,6,3,7][j].
safetensors_writer& write_awq(safetensors_writer& w, const std::string& p, const layer_codes& l) {
  // The packer's view: nibble i of a word holds column 8c + order[i], order = [0,2,4,6,1,3,5,7].
  const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  std::vector<std::uint32_t> qw(l.K * l.N / 8, 0), qz(l.G * l.N / 8, 0);
  for (std::size_t k = 0; k < l.K; ++k)
    for (std::size_t c = 0; c < l.N / 8; ++c)
      for (int i = 0; i < 8; ++i)
        qw[k * (l.N / 8) + c] |= static_cast<std::uint32_t>(l.q[(8 * c + order[i]) * l.K + k]) << (4 * i);
  for (std::size_t g = 0; g < l.G; ++g)
    for (std::size_t c = 0; c < l.N / 8; ++c)
      for (int i = 0; i < 8; ++i)
        qz[g * (l.N / 8) + c] |= static_cast<std::uint32_t>(l.z[g * l.N + 8 * c + order[i]]) << (4 * i);
  return w.add_raw(p + ".qweight", "I32", {l.K, l.N / 8}, words_bytes(qw))
      .add_raw(p + ".qzeros", "I32", {l.G, l.N / 8}, words_bytes(qz))
      .add(p + ".scales", st_dtype::f16, {l.G, l.N}, l.s);
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

/// Checks codes, zero points and full-width values of a GPTQ/AWQ-style import against the layer.
void check_affine(const imported_master& m, const layer_codes& l) {
  REQUIRE(m.rows() == l.N);
  REQUIRE(m.cols() == l.K);
  REQUIRE(m.bits() == l.bits);
  REQUIRE_FALSE(m.is_signed());
  const bit_plane_stack st = m.pack();
  const plane_view v = view(st, l.bits);
  std::size_t bad = 0;
  for (std::size_t n = 0; n < l.N; ++n)
    for (std::size_t k = 0; k < l.K; ++k) {
      const std::size_t g = k / (l.K / l.G);
      const float want = l.s[g * l.N + n] * float(l.q[n * l.K + k] - l.z[g * l.N + n]);
      bad += m.code(n, k) != l.q[n * l.K + k];
      bad += !same_bits(v.dequantize(n, k), want);
    }
  CHECK(bad == 0);
}

safetensors_file open_bytes(const std::vector<std::uint8_t>& b) {
  return safetensors_file::from_bytes(b.data(), b.size());
}

}  // namespace

TEST_CASE("GPTQ: 2/4/8-bit, v1 and v2 zero points, with and without g_idx", "[import][gptq]") {
  BITDIAL_LOG_SEED();
  for (const int bits : {2, 4, 8})
    for (const bool v1 : {true, false})
      for (const bool gidx : {true, false}) {
        INFO("bits " << bits << ", v1 " << v1 << ", g_idx " << gidx);
        const layer_codes l = random_layer(32, 256, 4, bits, 10 + bits);
        safetensors_writer w;
        write_gptq(w, "model.layers.0.mlp.down_proj", l, v1, gidx);
        const auto f = open_bytes(w.bytes());
        const auto layers = find_checkpoint_layers(f);
        REQUIRE(layers.size() == 1);
        CHECK(layers[0].layout == checkpoint_layout::gptq);
        checkpoint_options o;
        o.bits = gidx ? 0 : bits;  // with g_idx the width follows from K
        o.gptq_v1_zeros = v1;
        const imported_master m = import_checkpoint_layer(f, "model.layers.0.mlp.down_proj", o);
        CHECK(m.source == "GPTQ int" + std::to_string(bits));
        check_affine(m, l);
      }
}

TEST_CASE("AWQ: interleaved nibbles, groups, every width served by truncation", "[import][awq]") {
  BITDIAL_LOG_SEED();
  const layer_codes l = random_layer(64, 384, 3, 4, 20);
  safetensors_writer w;
  write_awq(w, "q_proj", l);
  const auto f = open_bytes(w.bytes());
  const auto layers = find_checkpoint_layers(f);
  REQUIRE(layers.size() == 1);
  CHECK(layers[0].layout == checkpoint_layout::awq);
  const imported_master m = import_checkpoint_layer(f, "q_proj");
  check_affine(m, l);
  // Narrower widths: truncation with midpoint, s·(2^k·(q >> k) + (2^k − 1)/2 − z), one rounding.
  const bit_plane_stack st = m.pack();
  for (int b = 1; b < 4; ++b) {
    const plane_view v = view(st, b, rounding::floor, reconstruction::midpoint);
    const int k = 4 - b;
    for (std::size_t n = 0; n < l.N; n += 3)
      for (std::size_t c = 0; c < l.K; c += 5) {
        const std::size_t g = c / (l.K / l.G);
        const double t = std::ldexp(double(l.q[n * l.K + c] >> k), k) + (std::ldexp(1.0, k) - 1) / 2 - l.z[g * l.N + n];
        REQUIRE(same_bits(v.dequantize(n, c), static_cast<float>(double(l.s[g * l.N + n]) * t)));
      }
  }
}

TEST_CASE("compressed-tensors: int8 channel/group/tensor scales, symmetric and asymmetric", "[import][compressed]") {
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 30);
  const std::size_t N = 40, K = 96;
  std::vector<std::uint8_t> q(N * K);
  for (auto& v : q) v = static_cast<std::uint8_t>(rng());
  for (const std::size_t G : {std::size_t{0}, std::size_t{1}, std::size_t{3}})  // 0: per tensor
    for (const bool asym : {false, true}) {
      INFO("groups " << G << ", asymmetric " << asym);
      const std::size_t ns = G == 0 ? 1 : N * G;
      auto s = random_scales(ns, rng);
      std::vector<std::uint8_t> zp(ns);
      for (auto& v : zp) v = asym ? static_cast<std::uint8_t>(rng() % 200) : 0;
      if (asym) zp[0] = 3;  // at least one non-zero
      safetensors_writer w;
      w.add_raw("l.weight", "I8", {N, K}, q);
      w.add("l.weight_scale", st_dtype::bf16, G == 0 ? std::vector<std::uint64_t>{1} : std::vector<std::uint64_t>{N, G},
            s);
      if (asym)
        w.add_raw("l.weight_zero_point", "I8",
                  G == 0 ? std::vector<std::uint64_t>{1} : std::vector<std::uint64_t>{N, G}, zp);
      const auto f = open_bytes(w.bytes());
      REQUIRE(find_checkpoint_layers(f).size() == 1);
      const imported_master m = import_checkpoint_layer(f, "l");
      CHECK(m.is_signed() == !asym);
      const bit_plane_stack st = m.pack();
      const plane_view v = view(st, 8);
      std::size_t bad = 0;
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t k = 0; k < K; ++k) {
          const std::size_t gi = G == 0 ? 0 : n * G + k / (K / G);
          const float sc = bf16_to_float(float_to_bf16(s[gi]));  // the file holds BF16
          const float want =
              sc * float(int(static_cast<std::int8_t>(q[n * K + k])) - int(static_cast<std::int8_t>(zp[gi])));
          bad += !same_bits(v.dequantize(n, k), want);
        }
      CHECK(bad == 0);
    }
}

TEST_CASE("compressed-tensors: pack-quantized int4 (offset binary, rows padded), symmetric and asymmetric",
          "[import][compressed]") {
  BITDIAL_LOG_SEED();
  std::mt19937_64 rng(test::seed() + 40);
  const std::size_t N = 20, K = 100, G = 5;  // K not a multiple of 8: the last word of a row is padded
  std::vector<int> stored(N * K);
  for (auto& v : stored) v = static_cast<int>(rng() % 16);
  std::vector<std::uint32_t> words(N * ((K + 7) / 8), 0);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t k = 0; k < K; ++k)
      words[n * ((K + 7) / 8) + k / 8] |= static_cast<std::uint32_t>(stored[n * K + k]) << (4 * (k % 8));
  const auto s = random_scales(N * G, rng);
  std::vector<int> zs(N * G);
  for (auto& v : zs) v = static_cast<int>(rng() % 16);
  std::vector<std::uint32_t> zw(((N + 7) / 8) * G, 0);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t g = 0; g < G; ++g)
      zw[(n / 8) * G + g] |= static_cast<std::uint32_t>(zs[n * G + g]) << (4 * (n % 8));
  for (const bool asym : {false, true}) {
    INFO("asymmetric " << asym);
    const std::vector<std::int64_t> shape{std::int64_t(N), std::int64_t(K)};
    std::vector<std::uint8_t> shape_bytes(16);
    std::memcpy(shape_bytes.data(), shape.data(), 16);
    safetensors_writer w;
    w.add_raw("p.weight_packed", "I32", {N, (K + 7) / 8}, words_bytes(words))
        .add_raw("p.weight_shape", "I64", {2}, shape_bytes)
        .add("p.weight_scale", st_dtype::f16, {N, G}, s);
    if (asym) w.add_raw("p.weight_zero_point", "I32", {(N + 7) / 8, G}, words_bytes(zw));
    const auto f = open_bytes(w.bytes());
    const imported_master m = import_checkpoint_layer(f, "p");
    CHECK(m.bits() == 4);
    CHECK(m.is_signed() == !asym);
    const bit_plane_stack st = m.pack();
    const plane_view vv = view(st, 4);
    std::size_t bad = 0;
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t k = 0; k < K; ++k) {
        const std::size_t gi = n * G + k / (K / G);
        const int qs = stored[n * K + k] - 8, z = asym ? zs[gi] - 8 : 0;
        bad += !same_bits(vv.dequantize(n, k), s[gi] * float(qs - z));
      }
    CHECK(bad == 0);
  }
}

TEST_CASE("checkpoint import: kernels serve an imported GPTQ layer exactly on every ISA", "[import][kernels]") {
  const layer_codes l = random_layer(72, 512, 4, 4, 50);  // 72 rows: a partial 32-row block
  safetensors_writer w;
  write_gptq(w, "x", l, true, true);
  const auto f = open_bytes(w.bytes());
  const bit_plane_stack st = import_checkpoint_layer(f, "x").pack();
  const auto x = test::normal(2 * l.K, 51);
  const auto xq = per_token_quantizer<8>().quantize(const_matrix(x.data(), 2, l.K));
  for (int b = 1; b <= 4; ++b) {
    const plane_view v = view(st, b);
    std::vector<float> ref(2 * l.N);
    gemm(v, as_tokens(xq), matrix_view<float>(ref.data(), 2, l.N), {}, {.isa = kernel_isa::reference});
    for (std::size_t n = 0; n < 2; ++n)
      for (std::size_t r = 0; r < l.N; ++r) {
        double want = 0, mag = 0;
        for (std::size_t c = 0; c < l.K; ++c) {
          const double p = double(v.dequantize(r, c)) * xq.scales[n] * xq.codes[n * l.K + c];
          want += p, mag += std::fabs(p);
        }
        REQUIRE(std::fabs(ref[n * l.N + r] - want) <= 1e-5 * mag + 1e-30);
      }
    for (const kernel_isa isa : available_isas()) {
      std::vector<float> y(2 * l.N);
      gemm(v, as_tokens(xq), matrix_view<float>(y.data(), 2, l.N), {}, {.isa = isa});
      for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(same_bits(y[i], ref[i]));
    }
  }
}

TEST_CASE("checkpoint import: malformed layers are rejected by name", "[import][validation]") {
  const layer_codes l = random_layer(16, 64, 2, 4, 60);
  auto gptq_file = [&](auto&& edit) {
    safetensors_writer w;
    write_gptq(w, "a", l, true, false);
    edit(w);
    return w.bytes();
  };
  // Missing companion tensor.
  {
    safetensors_writer w;
    write_gptq(w, "a", l, true, false);
    const auto f = open_bytes(w.bytes());
    CHECK_THROWS_WITH(import_checkpoint_layer(f, "b"), Contains("layer 'b'") && Contains("no quantized layer"));
  }
  // Scales of the wrong dtype and shape.
  {
    safetensors_writer w;
    const std::size_t pf = 8;
    std::vector<std::uint32_t> qw(l.K / pf * l.N), qz(l.G * l.N / pf);
    w.add_raw("a.qweight", "I32", {l.K / pf, l.N}, words_bytes(qw))
        .add_raw("a.qzeros", "I32", {l.G, l.N / pf}, words_bytes(qz))
        .add_raw("a.scales", "I32", {l.G, l.N}, words_bytes(std::vector<std::uint32_t>(l.G * l.N)));
    CHECK_THROWS_WITH(import_checkpoint_layer(open_bytes(w.bytes()), "a", checkpoint_layout::gptq),
                      Contains("a.scales") && Contains("dtype = I32") && Contains("F32, F16 or BF16"));
    safetensors_writer w2;
    w2.add_raw("a.qweight", "I32", {l.K / pf, l.N}, words_bytes(qw))
        .add_raw("a.qzeros", "I32", {l.G + 1, l.N / pf}, words_bytes(std::vector<std::uint32_t>((l.G + 1) * l.N / pf)))
        .add("a.scales", st_dtype::f16, {l.G, l.N}, std::vector<float>(l.G * l.N, 1.0f));
    CHECK_THROWS_WITH(import_checkpoint_layer(open_bytes(w2.bytes()), "a", checkpoint_layout::gptq),
                      Contains("a.qzeros") && Contains("shape = [3, 2]") && Contains("expected [2, 2]"));
  }
  // g_idx out of range, and act-order g_idx.
  for (const std::uint32_t bad : {7u, 1u}) {
    std::vector<std::uint32_t> gi(l.K);
    for (std::size_t k = 0; k < l.K; ++k) gi[k] = static_cast<std::uint32_t>(k / 32);
    gi[5] = bad;
    const auto f =
        open_bytes(gptq_file([&](safetensors_writer& w) { w.add_raw("a.g_idx", "I32", {l.K}, words_bytes(gi)); }));
    CHECK_THROWS_WITH(import_checkpoint_layer(f, "a"), Contains("g_idx[5] = " + std::to_string(bad)) &&
                                                           Contains(bad == 7 ? "outside [0, 2)" : "act-order"));
  }
  // A NaN scale; a zero scale is a value.
  {
    auto s = l.s;
    s[3] = std::nanf("");
    layer_codes l2 = l;
    l2.s = s;
    safetensors_writer w;
    write_gptq(w, "a", l2, true, false);
    CHECK_THROWS_WITH(import_checkpoint_layer(open_bytes(w.bytes()), "a"),
                      Contains("a.scales") && Contains("value 3 = nan") && Contains("finite"));
    l2.s.assign(l.s.size(), 0.0f);
    safetensors_writer w0;
    write_gptq(w0, "a", l2, true, false);
    const auto m = import_checkpoint_layer(open_bytes(w0.bytes()), "a");
    CHECK(m.dequantize(3, 7) == 0.0f);
  }
  // A v1 zero word whose "minus one" wrapped (stored 15 → 16 for 4 bits).
  {
    layer_codes l3 = l;
    l3.z[0] = 16;  // written as 15
    safetensors_writer w;
    write_gptq(w, "a", l3, true, false);
    CHECK_THROWS_WITH(import_checkpoint_layer(open_bytes(w.bytes()), "a"),
                      Contains("zero point of group 0, column 0 = 16") && Contains("gptq_v1_zeros = false"));
  }
  // Packed shape mismatch (compressed-tensors): 13 words per row for K = 100.
  {
    const std::vector<std::int64_t> shape{16, 100};
    std::vector<std::uint8_t> sb(16);
    std::memcpy(sb.data(), shape.data(), 16);
    safetensors_writer w;
    w.add_raw("p.weight_packed", "I32", {16, 12}, words_bytes(std::vector<std::uint32_t>(16 * 12)))
        .add_raw("p.weight_shape", "I64", {2}, sb)
        .add("p.weight_scale", st_dtype::f16, {16, 1}, std::vector<float>(16, 1.0f));
    CHECK_THROWS_WITH(import_checkpoint_layer(open_bytes(w.bytes()), "p"),
                      Contains("p.weight_packed") && Contains("packed shape mismatch"));
  }
  // 3-bit GPTQ is refused by name.
  {
    safetensors_writer w;
    write_gptq(w, "a", l, true, false);
    checkpoint_options o;
    o.bits = 3;
    CHECK_THROWS_WITH(import_checkpoint_layer(open_bytes(w.bytes()), "a", o), Contains("3-bit GPTQ"));
  }
}
