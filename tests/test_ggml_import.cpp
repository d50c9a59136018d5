// GGUF quantized tensors imported as masters (format/ggml_quants.hpp). The expected values come
// from this file's own dequantizers, written after ggml's dequantize_row_* loops (half by half,
// shift by shift, as ggml walks a block) rather than the library's per-element index formulas, with
// ggml's float order: scale products rounded first, then times the code, then the min subtracted.
// Blocks are random bytes (fp16 fields drawn as finite halves), so every bit of every field is
// exercised; a few hand-built blocks pin known values.
#include <bitdial/format/gguf.hpp>
#include <bitdial/format/serialize.hpp>
#include <bitdial/kernels/gemm.hpp>
#include <bitdial/quant/activation.hpp>
#include <bitdial/select/fit.hpp>

#include <cstring>
#include <random>

#include "test_support.hpp"

using namespace bitdial;
using Catch::Matchers::Contains;

namespace {

// ---- the test's reference: ggml's dequantization, loop by loop -----------------------------------

float h2f(const std::uint8_t* p) { return half_to_float(static_cast<std::uint16_t>(p[0] | p[1] << 8)); }

/// value = a·b rounded, then ± c rounded: two roundings, as ggml's C and gguf-py's numpy compute.
float mul_add(float a, float b, float c) {
  volatile float p = a * b;
  return p + c;
}

/// Integer codes and values of one block, as ggml's loops produce them.
struct ref_block {
  std::vector<int> q;      // code before scaling (signed where ggml subtracts a bias)
  std::vector<float> y;    // dequantized value
  std::vector<float> d;    // per element: the float scale ggml multiplies by
  std::vector<float> min;  // per element: the float ggml subtracts (or minus what it adds)
};

ref_block ref_decode(ggml_type t, const std::uint8_t* b) {
  ref_block r;
  // ggml's three forms: d·q (no min), d·q + m (legacy _1 types), dl·q − ml (k-quants with mins).
  const bool has_min = ggml_info(t)->offsets;
  auto put = [&](int q, float d, float m) {
    r.q.push_back(q);
    r.d.push_back(d);
    r.min.push_back(m);
    r.y.push_back(has_min ? mul_add(d, float(q), -m) : d * float(q));
  };
  switch (t) {
    case ggml_type::q4_0:
    case ggml_type::q4_1: {
      const bool one = t == ggml_type::q4_1;
      const float d = h2f(b), m = one ? h2f(b + 2) : 0.0f;
      const std::uint8_t* qs = b + (one ? 4 : 2);
      std::vector<int> lo, hi;
      for (int j = 0; j < 16; ++j)
        lo.push_back((qs[j] & 0xF) - (one ? 0 : 8)), hi.push_back((qs[j] >> 4) - (one ? 0 : 8));
      for (int v : lo) put(v, d, -m);
      for (int v : hi) put(v, d, -m);
      break;
    }
    case ggml_type::q5_0:
    case ggml_type::q5_1: {
      const bool one = t == ggml_type::q5_1;
      const float d = h2f(b), m = one ? h2f(b + 2) : 0.0f;
      const std::uint8_t* qhp = b + (one ? 4 : 2);
      const std::uint32_t qh = qhp[0] | qhp[1] << 8 | qhp[2] << 16 | std::uint32_t{qhp[3]} << 24;
      const std::uint8_t* qs = qhp + 4;
      std::vector<int> lo, hi;
      for (int j = 0; j < 16; ++j) {
        const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
        lo.push_back(((qs[j] & 0xF) | h0) - (one ? 0 : 16));
        hi.push_back(((qs[j] >> 4) | h1) - (one ? 0 : 16));
      }
      for (int v : lo) put(v, d, -m);
      for (int v : hi) put(v, d, -m);
      break;
    }
    case ggml_type::q8_0:
      for (int j = 0; j < 32; ++j) put(static_cast<std::int8_t>(b[2 + j]), h2f(b), 0.0f);
      break;
    case ggml_type::q2_k: {
      const float d = h2f(b + 80), dmin = h2f(b + 82);
      const std::uint8_t* q = b + 16;
      int is = 0;
      for (int n = 0; n < 256; n += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
          for (int half = 0; half < 2; ++half) {
            const int sc = b[is++];
            const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
            for (int l = 0; l < 16; ++l) put((q[l + 16 * half] >> shift) & 3, dl, ml);
          }
      break;
    }
    case ggml_type::q3_k: {
      // Scales through ggml's 32-bit mask form (kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f).
      std::uint32_t aux[4];
      std::memcpy(aux, b + 96, 12);
      const std::uint32_t tmp = aux[2], k1 = 0x03030303u, k2 = 0x0f0f0f0fu;
      aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
      aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
      aux[0] = (aux[0] & k2) | (((tmp >> 0) & k1) << 4);
      aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
      std::int8_t sc[16];
      std::memcpy(sc, aux, 16);
      const float d = h2f(b + 108);
      const std::uint8_t* q = b + 32;
      const std::uint8_t* hm = b;
      std::uint8_t m = 1;
      int is = 0;
      for (int n = 0; n < 256; n += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2, m = static_cast<std::uint8_t>(m << 1))
          for (int half = 0; half < 2; ++half) {
            const float dl = d * float(sc[is++] - 32);
            for (int l = 0; l < 16; ++l) {
              const int i = l + 16 * half;
              put(((q[i] >> shift) & 3) - ((hm[i] & m) ? 0 : 4), dl, 0.0f);
            }
          }
      break;
    }
    case ggml_type::q4_k:
    case ggml_type::q5_k: {
      const bool five = t == ggml_type::q5_k;
      const float d = h2f(b), dmin = h2f(b + 2);
      const std::uint8_t* s = b + 4;
      const std::uint8_t* qh = b + 16;
      const std::uint8_t* ql = b + (five ? 48 : 16);
      auto scale_min = [&](int j, int& sc, int& mn) {
        if (j < 4) {
          sc = s[j] & 63, mn = s[j + 4] & 63;
        } else {
          sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
          mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        }
      };
      int is = 0;
      std::uint8_t u1 = 1, u2 = 2;
      for (int j = 0; j < 256; j += 64, ql += 32, is += 2, u1 = std::uint8_t(u1 << 2), u2 = std::uint8_t(u2 << 2)) {
        int sc, mn;
        scale_min(is, sc, mn);
        const float d1 = d * float(sc), m1 = dmin * float(mn);
        scale_min(is + 1, sc, mn);
        const float d2 = d * float(sc), m2 = dmin * float(mn);
        for (int l = 0; l < 32; ++l) put((ql[l] & 0xF) + (five && (qh[l] & u1) ? 16 : 0), d1, m1);
        for (int l = 0; l < 32; ++l) put((ql[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0), d2, m2);
      }
      break;
    }
    case ggml_type::q6_k: {
      const float d = h2f(b + 208);
      const std::uint8_t* ql = b;
      const std::uint8_t* qh = b + 128;
      const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192);
      std::vector<int> q(256);
      std::vector<float> dd(256);
      for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; ++l) {
          const int is = l / 16;
          q[n + l] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
          q[n + l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
          q[n + l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          q[n + l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          dd[n + l] = d * float(sc[is]);
          dd[n + l + 32] = d * float(sc[is + 2]);
          dd[n + l + 64] = d * float(sc[is + 4]);
          dd[n + l + 96] = d * float(sc[is + 6]);
        }
      for (int e = 0; e < 256; ++e) put(q[e], dd[e], 0.0f);
      break;
    }
    default:
      FAIL("no reference for type " << to_string(t));
  }
  return r;
}

// ---- random blocks ------------------------------------------------------------------------------

const ggml_type all_types[] = {ggml_type::q4_0, ggml_type::q4_1, ggml_type::q5_0, ggml_type::q5_1, ggml_type::q8_0,
                               ggml_type::q2_k, ggml_type::q3_k, ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k};

/// Offsets of the fp16 fields of a block.
std::vector<int> half_fields(ggml_type t) {
  switch (t) {
    case ggml_type::q4_0:
    case ggml_type::q5_0:
    case ggml_type::q8_0:
      return {0};
    case ggml_type::q4_1:
    case ggml_type::q5_1:
    case ggml_type::q4_k:
    case ggml_type::q5_k:
      return {0, 2};
    case ggml_type::q2_k:
      return {80, 82};
    case ggml_type::q3_k:
      return {108};
    case ggml_type::q6_k:
      return {208};
    default:
      return {};
  }
}

std::vector<std::uint8_t> random_blocks(ggml_type t, std::size_t blocks, std::uint64_t salt, bool zero_some = true) {
  const ggml_type_info* info = ggml_info(t);
  std::mt19937_64 rng(test::seed() + salt);
  std::vector<std::uint8_t> out(blocks * info->bytes);
  for (auto& v : out) v = static_cast<std::uint8_t>(rng());
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (std::size_t b = 0; b < blocks; ++b)
    for (int off : half_fields(t)) {
      float v = nd(rng);
      if (zero_some && b % 7 == 3) v = 0.0f;  // an all-zero-scale block, as real files have
      const std::uint16_t h = float_to_half(v);
      out[b * info->bytes + off] = static_cast<std::uint8_t>(h & 0xFF);
      out[b * info->bytes + off + 1] = static_cast<std::uint8_t>(h >> 8);
    }
  return out;
}

gguf_file open_bytes(const std::vector<std::uint8_t>& bytes) {
  return gguf_file::from_bytes(bytes.data(), bytes.size());
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

/// Served code of the documented rules (SEMANTICS §2–3), recomputed here.
std::int32_t rule_code(std::int32_t q, int k, int b, rounding rule) {
  if (rule == rounding::floor) return q >> k;  // floor(q / 2^k)
  const double x = std::ldexp(double(q), -k);
  double r = rule == rounding::half_up ? std::floor(x + 0.5) : std::nearbyint(x);
  r = std::clamp(r, -std::ldexp(1.0, b - 1), std::ldexp(1.0, b - 1) - 1);
  return static_cast<std::int32_t>(r);
}

}  // namespace

TEST_CASE("ggml import: every type's full-width view is ggml's dequantization, bit for bit", "[gguf][import]") {
  BITDIAL_LOG_SEED();
  for (const ggml_type t : all_types) {
    const ggml_type_info* info = ggml_info(t);
    INFO("type " << info->name);
    const std::size_t M = 5, K = 2 * std::size_t{info->block} * (info->block == 32 ? 4 : 1);
    const auto raw = random_blocks(t, M * K / info->block, static_cast<std::uint64_t>(t));
    const auto bytes = gguf_writer().add_raw("w", {K, M}, static_cast<std::uint32_t>(t), raw).bytes();
    const gguf_file f = open_bytes(bytes);
    REQUIRE(f.find("w").importable());
    const imported_master m = f.import_master("w");
    CHECK(m.bits() == info->master_bits);
    CHECK(m.is_signed() == info->is_signed);
    CHECK(m.gran() == granularity::per_group(info->group));
    CHECK(m.has_offsets() == info->offsets);
    const bit_plane_stack st = m.pack();
    const plane_view full = view(st, info->master_bits);
    const float_matrix loaded = f.load_matrix("w");
    std::size_t mismatches = 0;
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t blk = 0; blk < K / info->block; ++blk) {
        const ref_block ref = ref_decode(t, raw.data() + (r * K / info->block + blk) * info->bytes);
        for (std::size_t e = 0; e < info->block; ++e) {
          const std::size_t c = blk * info->block + e;
          CHECK(m.code(r, c) == ref.q[e]);
          CHECK(st.code(r, c) == ref.q[e]);
          mismatches += !same_bits(full.dequantize(r, c), ref.y[e]);
          mismatches += !same_bits(loaded(r, c), ref.y[e]);
          mismatches += !same_bits(m.dequantize(r, c), ref.y[e]);
        }
      }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("ggml import: every narrower width and rule serves the documented rule on the codes", "[gguf][import]") {
  BITDIAL_LOG_SEED();
  for (const ggml_type t : all_types) {
    const ggml_type_info* info = ggml_info(t);
    INFO("type " << info->name);
    const std::size_t M = 3, K = 256;
    const auto raw = random_blocks(t, M * K / info->block, 100 + static_cast<std::uint64_t>(t));
    const imported_master m =
        open_bytes(gguf_writer().add_raw("w", {K, M}, static_cast<std::uint32_t>(t), raw).bytes()).import_master("w");
    const bit_plane_stack st = m.pack();
    const int B = info->master_bits;
    std::vector<rounding> rules{rounding::floor};
    if (info->is_signed) rules.insert(rules.end(), {rounding::half_up, rounding::half_even});
    if (!info->is_signed) CHECK_THROWS_WITH(view(st, 1, rounding::half_up), Contains("signed master"));
    std::size_t bad = 0, checked = 0;
    for (const rounding rule : rules)
      for (int b = 1; b < B; ++b)
        for (const reconstruction rc : {reconstruction::midpoint, reconstruction::floor}) {
          if (rule != rounding::floor && rc == reconstruction::floor) continue;
          const plane_view v = view(st, b, rule, rc);
          const int k = B - b;
          for (std::size_t r = 0; r < M; ++r)
            for (std::size_t blk = 0; blk < K / info->block; ++blk) {
              const ref_block ref = ref_decode(t, raw.data() + (r * K / info->block + blk) * info->bytes);
              for (std::size_t e = 0; e < info->block; ++e) {
                const std::size_t c = blk * info->block + e;
                const std::int32_t qb = rule_code(ref.q[e], k, b, rule);
                // Literal value: s·(2^k·q_b + m_k), one rounding (exact real in double), then − min.
                const double mid =
                    (rule == rounding::floor && rc == reconstruction::midpoint) ? (std::ldexp(1.0, k) - 1) / 2 : 0.0;
                const float prod = static_cast<float>(double(ref.d[e]) * (std::ldexp(double(qb), k) + mid));
                volatile float p = prod;
                const float want = info->offsets ? p - ref.min[e] : prod;
                bad += v.code(r, c) != qb || !same_bits(v.dequantize(r, c), want);
                ++checked;
              }
            }
        }
    CHECK(checked > 0);
    CHECK(bad == 0);
  }
}

TEST_CASE("ggml import: hand-built blocks give the values written by hand", "[gguf][import]") {
  // Q4_1: d = 0.5, m = -1, nibbles 0..15 then 15..0: value 0.5·q − 1.
  std::vector<std::uint8_t> q41(20, 0);
  q41[0] = 0x00, q41[1] = 0x38;  // fp16 0.5
  q41[2] = 0x00, q41[3] = 0xBC;  // fp16 -1
  for (int j = 0; j < 16; ++j) q41[4 + j] = static_cast<std::uint8_t>(j | (15 - j) << 4);
  // Q4_K, one super-block: d = 1, dmin = 0.25; sub-block j has scale j + 1 and min 2j (6-bit packed),
  // every nibble = 3: value (j + 1)·3 − 0.25·2j.
  std::vector<std::uint8_t> q4k(144, 0);
  q4k[0] = 0x00, q4k[1] = 0x3C;  // fp16 1
  q4k[2] = 0x00, q4k[3] = 0x34;  // fp16 0.25
  for (int j = 0; j < 8; ++j) {
    const int sc = j + 1, mn = 2 * j;
    if (j < 4) {
      q4k[4 + j] = static_cast<std::uint8_t>(sc);
      q4k[4 + j + 4] = static_cast<std::uint8_t>(mn);
    } else {
      q4k[4 + j + 4] = static_cast<std::uint8_t>((sc & 0xF) | (mn & 0xF) << 4);
      q4k[4 + j - 4] |= static_cast<std::uint8_t>((sc >> 4) << 6);
      q4k[4 + j] |= static_cast<std::uint8_t>((mn >> 4) << 6);
    }
  }
  for (int i = 0; i < 128; ++i) q4k[16 + i] = 0x33;
  const auto f = open_bytes(gguf_writer()
                                .add_raw("a", {32, 1}, static_cast<std::uint32_t>(ggml_type::q4_1), q41)
                                .add_raw("k", {256, 1}, static_cast<std::uint32_t>(ggml_type::q4_k), q4k)
                                .bytes());
  const auto a = f.load_matrix("a");
  for (int j = 0; j < 16; ++j) {
    CHECK(a(0, j) == 0.5f * float(j) - 1.0f);
    CHECK(a(0, 16 + j) == 0.5f * float(15 - j) - 1.0f);
  }
  const auto k = f.import_master("k");
  for (int e = 0; e < 256; ++e) CHECK(k.dequantize(0, e) == float((e / 32 + 1) * 3) - 0.25f * float(2 * (e / 32)));
  // At 2 bits (truncated, floor): code 3 >> 2 = 0, so every value is − min.
  const auto st = k.pack();
  const plane_view v2 = view(st, 2, rounding::floor, reconstruction::floor);
  for (int e = 0; e < 256; ++e) CHECK(v2.dequantize(0, e) == -0.25f * float(2 * (e / 32)));
}

TEST_CASE("ggml import: kernels serve imported masters exactly on every ISA and width", "[gguf][import][kernels]") {
  BITDIAL_LOG_SEED();
  const std::size_t M = 70, K = 512, N = 3;
  const auto x = test::normal(N * K, 9);
  const auto xq = per_token_quantizer<8>().quantize(const_matrix(x.data(), N, K));
  const token_batch tok = as_tokens(xq);
  for (const ggml_type t : {ggml_type::q4_1, ggml_type::q2_k, ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k,
                            ggml_type::q3_k, ggml_type::q4_0}) {
    const ggml_type_info* info = ggml_info(t);
    const auto raw = random_blocks(t, M * K / info->block, 200 + static_cast<std::uint64_t>(t));
    bit_plane_stack st = open_bytes(gguf_writer().add_raw("w", {K, M}, static_cast<std::uint32_t>(t), raw).bytes())
                             .import_master("w")
                             .pack();
    fit_reconstruction(st);  // fitted views too: α, β on top of the offsets
    for (int b = 1; b <= info->master_bits; ++b)
      for (const reconstruction rc : {reconstruction::midpoint, reconstruction::fitted}) {
        if (rc == reconstruction::fitted && b == info->master_bits) continue;
        const plane_view v = view(st, b, rounding::floor, rc);
        INFO("type " << info->name << ", b = " << b << ", " << to_string(rc));
        // The oracle: Σ ŵ·x̂ in double from the view's dequantized values and the activations' values.
        std::vector<double> want(N * M, 0.0), mag(N * M, 0.0);
        for (std::size_t n = 0; n < N; ++n)
          for (std::size_t r = 0; r < M; ++r)
            for (std::size_t c = 0; c < K; ++c) {
              const double p = double(v.dequantize(r, c)) * double(xq.scales[n]) * double(xq.codes[n * K + c]);
              want[n * M + r] += p;
              mag[n * M + r] += std::fabs(p);
            }
        std::vector<float> ref(N * M);
        gemm(v, tok, matrix_view<float>(ref.data(), N, M), {}, {.isa = kernel_isa::reference});
        for (std::size_t i = 0; i < ref.size(); ++i)
          REQUIRE(std::fabs(double(ref[i]) - want[i]) <= 1e-5 * mag[i] + 1e-30);
        for (const kernel_isa isa : available_isas())
          for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
            std::vector<float> y(N * M, -7.0f);
            gemm(v, tok, matrix_view<float>(y.data(), N, M), {}, {.isa = isa, .threads = threads});
            INFO("isa = " << to_string(isa) << ", threads = " << threads);
            for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(same_bits(y[i], ref[i]));
          }
      }
  }
}

TEST_CASE("ggml import: fitted widths of an imported master beat the literal ones", "[gguf][import][fit]") {
  const std::size_t M = 32, K = 1024;
  const auto raw = random_blocks(ggml_type::q4_k, M * K / 256, 300, false);
  const imported_master m = open_bytes(gguf_writer().add_raw("w", {K, M}, 12, raw).bytes()).import_master("w");
  bit_plane_stack st = m.pack();
  fit_reconstruction(st);
  const auto w = m.dequantize();
  for (int b = 1; b < 4; ++b) {
    double lit = 0, fit = 0;
    const plane_view vl = view(st, b, rounding::floor, reconstruction::midpoint);
    const plane_view vf = view(st, b, rounding::floor, reconstruction::fitted);
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t c = 0; c < K; ++c) {
        lit += std::pow(double(vl.dequantize(r, c)) - w[r * K + c], 2);
        fit += std::pow(double(vf.dequantize(r, c)) - w[r * K + c], 2);
      }
    INFO("b = " << b << ": literal " << lit << ", fitted " << fit);
    CHECK(fit <= lit);
  }
}

TEST_CASE("ggml import: a stack with offsets and fits round-trips through the file format", "[gguf][import][format]") {
  const std::size_t M = 33, K = 512;
  const auto raw = random_blocks(ggml_type::q5_k, M * K / 256, 400);
  bit_plane_stack st = open_bytes(gguf_writer().add_raw("w", {K, M}, 13, raw).bytes()).import_master("w").pack();
  for (const bool fitted : {false, true}) {
    if (fitted) fit_reconstruction(st);
    const auto bytes = serialize(st);
    std::uint32_t version;
    std::memcpy(&version, bytes.data() + 8, 4);
    CHECK(version == 3);
    const bit_plane_stack back = deserialize(bytes.data(), bytes.size());
    REQUIRE(back.has_offsets());
    CHECK(back.fitted() == fitted);
    for (int b = 1; b <= 5; ++b) {
      const plane_view a = view(st, b), c = view(back, b);
      for (std::size_t r = 0; r < M; ++r)
        for (std::size_t k = 0; k < K; k += 7) REQUIRE(same_bits(a.dequantize(r, k), c.dequantize(r, k)));
    }
    // A corrupted offset count is named.
    auto bad = bytes;
    const std::size_t at = 80 + st.scales().size() * 4 + st.bytes().size();  // after scales and planes
    bad[at] ^= 1;
    const std::uint64_t sum = detail::fnv1a64(bad.data(), bad.size() - 8);
    std::memcpy(bad.data() + bad.size() - 8, &sum, 8);
    CHECK_THROWS_WITH(deserialize(bad.data(), bad.size()), Contains("offset count"));
  }
}

TEST_CASE("ggml import: malformed and unsupported tensors are rejected by name", "[gguf][import][validation]") {
  const auto raw = random_blocks(ggml_type::q4_k, 2, 500);
  // Row length not a whole number of super-blocks.
  CHECK_THROWS_WITH(open_bytes(gguf_writer().add_raw("w", {128, 2}, 12, raw).bytes()),
                    Contains("ne[0] = 128") && Contains("multiple of the Q4_K block (256)"));
  // Data cut short: the tensor runs past the end of the file.
  auto cut = gguf_writer().add_raw("w", {256, 2}, 12, raw).bytes();
  cut.resize(cut.size() - 10);
  CHECK_THROWS_WITH(open_bytes(cut), Contains("tensor 'w'") && Contains("past the end"));
  // A NaN scale (fp16 0x7E00 in d) and an infinite min.
  auto nan = raw;
  nan[144 + 0] = 0x00, nan[144 + 1] = 0x7E;
  CHECK_THROWS_WITH(open_bytes(gguf_writer().add_raw("w", {256, 2}, 12, nan).bytes()).import_master("w"),
                    Contains("block 1") && Contains("scale = nan") && Contains("not finite"));
  auto inf = raw;
  inf[2] = 0x00, inf[3] = 0x7C;
  inf[4 + 4] = 1;  // min of sub-block 0 non-zero: dmin·1 = inf
  CHECK_THROWS_WITH(open_bytes(gguf_writer().add_raw("w", {256, 2}, 12, inf).bytes()).import_master("w"),
                    Contains("block 0") && Contains("min = inf"));
  // Types that do not import say why.
  const auto iq =
      gguf_writer()
          .add_raw("iq", {256, 1}, static_cast<std::uint32_t>(ggml_type::iq2_xxs), std::vector<std::uint8_t>(66))
          .add_raw("tq", {256, 1}, static_cast<std::uint32_t>(ggml_type::tq2_0), std::vector<std::uint8_t>(66))
          .add_raw("odd", {32, 1}, 99, {})
          .bytes();
  const auto f = open_bytes(iq);
  CHECK(f.find("iq").known_type());
  CHECK_FALSE(f.find("iq").importable());
  CHECK_FALSE(f.find("odd").known_type());
  CHECK_THROWS_WITH(f.import_master("iq"), Contains("IQ2_XXS") && Contains("codebook"));
  CHECK_THROWS_WITH(f.load_matrix("tq"), Contains("TQ2_0") && Contains("ternary"));
  CHECK_THROWS_WITH(f.import_master("odd"), Contains("type = unknown (99)"));
  // The decoder itself checks the byte count against the shape.
  CHECK_THROWS_WITH(decode_ggml_master(ggml_type::q6_k, raw.data(), 209, 1, 256),
                    Contains("209 bytes") && Contains("expected 1 Q6_K blocks of 210"));
}

TEST_CASE("master_from_codes: codes you already have, e.g. an affine uint8 tensor", "[import][codes]") {
  // An ONNX-style affine uint8 tensor: per-tensor scale and zero point.
  const std::size_t M = 4, K = 48;
  std::vector<std::uint8_t> codes(M * K);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  const float scale = 0.0123f;
  const std::int32_t zp = 131;
  const auto m = master_from_codes<std::uint8_t>(codes, M, K, 8, granularity::per_tensor(), {&scale, 1}, {&zp, 1});
  const auto st = m.pack();
  const plane_view v = view(st, 8);
  for (std::size_t i = 0; i < codes.size(); ++i)
    REQUIRE(same_bits(v.dequantize(i / K, i % K), scale * float(int(codes[i]) - zp)));
  // Every width serves the documented truncation with midpoint.
  for (int b = 1; b < 8; ++b) {
    const plane_view vb = view(st, b, rounding::floor, reconstruction::midpoint);
    const int k = 8 - b;
    for (std::size_t i = 0; i < codes.size(); i += 5) {
      const double t = std::ldexp(double(codes[i] >> k), k) + (std::ldexp(1.0, k) - 1) / 2 - zp;
      REQUIRE(same_bits(vb.dequantize(i / K, i % K), static_cast<float>(double(scale) * t)));
    }
  }
  // Bad input is named.
  CHECK_THROWS_WITH(master_from_codes<std::uint8_t>(codes, M, K, 4, granularity::per_tensor(), {&scale, 1}),
                    Contains("row 0, column 1 = 48") && Contains("4-bit unsigned range"));
  CHECK_THROWS_WITH(master_from_codes<std::uint8_t>(codes, M, K, 8, granularity::per_row(), {&scale, 1}),
                    Contains("scales = 1") && Contains("expected 4 (one per row)"));
  const std::int32_t badz = 300;
  CHECK_THROWS_WITH(master_from_codes<std::uint8_t>(codes, M, K, 8, granularity::per_tensor(), {&scale, 1}, {&badz, 1}),
                    Contains("zero_points[0] = 300"));
  const float nanv = std::nanf("");
  CHECK_THROWS_WITH(master_from_codes<std::uint8_t>(codes, M, K, 8, granularity::per_tensor(), {&nanv, 1}),
                    Contains("scales[0] = nan"));
  std::vector<std::int8_t> sc(M * K, 1);
  CHECK_THROWS_WITH(master_from_codes<std::int8_t>(sc, M, K, 8, granularity::per_tensor(), {&scale, 1}, {&zp, 1}),
                    Contains("zero points with signed codes"));
  CHECK_THROWS_WITH(master_from_codes<std::uint8_t>(codes, M, K + 1, 8, granularity::per_tensor(), {&scale, 1}),
                    Contains("codes = 192") && Contains("expected rows x cols = 196"));
}
