// bitdial_demo_check — test helper for the demo (run through CTest, examples/CMakeLists.txt).
//
//   bitdial_demo_check write DIR
//       writes small inputs for the demo: DIR/w.safetensors (mlp.down 96x320 F16, mlp.up 64x128
//       BF16, a 1-D norm), DIR/w.gguf (blk.0.ffn_down.weight 96x256 Q8_0 quantized by ggml's rule,
//       a 1-D F32), DIR/x.npy (8x320 f32, v1) and DIR/x1.npy (256 f16, 1-D, v2).
//       DIR/w.gguf also holds blk.0.ffn_up.weight 96x512 Q4_K (random blocks), and
//       DIR/w_gptq.safetensors a GPTQ int4 layer "mlp.gate_proj" (72x256, groups of 64, v1 zeros).
//   bitdial_demo_check verify FILE.json [--family F]... [--shape MxK] [--tokens T] [--source TEXT]
//                                        [--exact-at-full F]... [--master-bits B] [--imported]
//       checks the demo's JSON report: "serving" rows with family, bits, bytes_read, weight_sqnr_db,
//       output_rel_err, gemv_us, speedup_vs_eigen of the right types and ranges; each --family has
//       every width (B..1, B = --master-bits, default 8; slices 8..2) with bytes read growing with
//       the width; --exact-at-full F (or --exact-at-8 F): the full-width view of F reproduces the
//       weights exactly (SQNR +inf, written as null); --imported: the master was imported as codes.
//   bitdial_demo_check same-npy OUT.npy FILE.gguf NAME
//       OUT.npy (bitdial_inspect --dequantize) holds exactly the values the GGUF reader loads for NAME.
#include <bitdial/format/gguf.hpp>
#include <bitdial/format/npy.hpp>
#include <bitdial/format/safetensors.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace bd = bitdial;

namespace {

bd::float_matrix random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed, float sigma) {
  std::mt19937_64 rng(seed);
  std::student_t_distribution<float> t(5.0f);
  bd::float_matrix m{rows, cols, std::vector<float>(rows * cols)};
  for (auto& v : m.data) v = sigma * t(rng);
  return m;
}

/// Random Q4_K super-blocks (144 bytes) with finite fp16 d and dmin of a realistic size.
std::vector<std::uint8_t> q4_k_blocks(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> b(n * 144);
  for (auto& v : b) v = static_cast<std::uint8_t>(rng());
  std::uniform_real_distribution<float> d(0.0005f, 0.002f);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t off : {std::size_t{0}, std::size_t{2}}) {
      const std::uint16_t h = bd::float_to_half(d(rng));
      b[i * 144 + off] = static_cast<std::uint8_t>(h & 0xFF), b[i * 144 + off + 1] = static_cast<std::uint8_t>(h >> 8);
    }
  return b;
}

/// A GPTQ int4 layer (AutoGPTQ layout, v1 zero points) quantized from Student-t weights by the
/// asymmetric min/max rule, written as mlp.gate_proj.{qweight, qzeros, scales, g_idx}.
void write_gptq(const std::string& path, std::size_t N, std::size_t K, std::size_t gs, std::uint64_t seed) {
  const auto w = random_matrix(N, K, seed, 0.02f);
  const std::size_t G = K / gs;
  std::vector<std::uint32_t> qw(K / 8 * N, 0), qz(G * N / 8, 0), gi(K);
  std::vector<float> sc(G * N);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t g = 0; g < G; ++g) {
      float lo = 0, hi = 0;
      for (std::size_t k = g * gs; k < (g + 1) * gs; ++k) lo = std::min(lo, w(n, k)), hi = std::max(hi, w(n, k));
      const float s = bd::half_to_float(bd::float_to_half((hi - lo) / 15.0f));
      const int z = std::clamp(static_cast<int>(std::lround(-lo / s)), 1, 15);
      sc[g * N + n] = s;
      qz[g * (N / 8) + n / 8] |= static_cast<std::uint32_t>(z - 1) << (4 * (n % 8));
      for (std::size_t k = g * gs; k < (g + 1) * gs; ++k) {
        const int q = std::clamp(static_cast<int>(std::lround(w(n, k) / s)) + z, 0, 15);
        qw[(k / 8) * N + n] |= static_cast<std::uint32_t>(q) << (4 * (k % 8));
      }
    }
  for (std::size_t k = 0; k < K; ++k) gi[k] = static_cast<std::uint32_t>(k / gs);
  auto bytes = [](const std::vector<std::uint32_t>& v) {
    std::vector<std::uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  };
  bd::safetensors_writer()
      .add_raw("mlp.gate_proj.qweight", "I32", {K / 8, N}, bytes(qw))
      .add_raw("mlp.gate_proj.qzeros", "I32", {G, N / 8}, bytes(qz))
      .add("mlp.gate_proj.scales", bd::st_dtype::f16, {G, N}, sc)
      .add_raw("mlp.gate_proj.g_idx", "I32", {K}, bytes(gi))
      .save(path);
}

int write(const std::string& dir) {
  std::filesystem::create_directories(dir);
  bd::safetensors_writer()
      .metadata("format", "pt")
      .add("mlp.down", bd::st_dtype::f16, random_matrix(96, 320, 1, 0.02f))
      .add("mlp.up", bd::st_dtype::bf16, random_matrix(64, 128, 2, 0.02f))
      .add("norm", bd::st_dtype::f32, {320}, std::vector<float>(320, 1.0f))
      .save(dir + "/w.safetensors");
  bd::gguf_writer()
      .kv("general.architecture", std::string("llama"))
      .kv_array("tokenizer.ggml.tokens", std::vector<std::string>{"<s>", "</s>", "a"})
      .add("blk.0.ffn_down.weight", bd::ggml_type::q8_0, random_matrix(96, 256, 3, 0.02f))
      .add_raw("blk.0.attn_norm.weight", {256}, 0, std::vector<std::uint8_t>(1024, 0))
      .add_raw("blk.0.ffn_up.weight", {512, 96}, static_cast<std::uint32_t>(bd::ggml_type::q4_k),
               q4_k_blocks(96 * 512 / 256, 6))
      .save(dir + "/w.gguf");
  write_gptq(dir + "/w_gptq.safetensors", 72, 256, 64, 7);
  bd::write_npy(dir + "/x.npy", random_matrix(8, 320, 4, 1.0f));
  bd::write_npy(dir + "/x512.npy", random_matrix(4, 512, 8, 1.0f));
  bd::write_npy(dir + "/x1.npy", random_matrix(1, 256, 5, 1.0f), bd::npy_dtype::f16, true, 2);
  std::printf("wrote %s/{w.safetensors, w.gguf, w_gptq.safetensors, x.npy, x512.npy, x1.npy}\n", dir.c_str());
  return 0;
}

int failures = 0;
void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

int verify(const std::string& path, const std::vector<std::string>& args) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "FAILED: cannot open %s\n", path.c_str());
    return 1;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAILED: %s does not parse: %s\n", path.c_str(), e.what());
    return 1;
  }
  std::vector<std::string> families, exact;
  int master_bits = 8;
  std::vector<std::string> rest;
  for (const auto& a : args) {
    if (a == "--imported")
      expect(j["master"]["imported"] == true, "the master was imported as codes: " + j["master"].dump());
    else
      rest.push_back(a);
  }
  for (std::size_t i = 0; i + 1 < rest.size(); i += 2) {
    const std::string& k = rest[i];
    const std::string& v = rest[i + 1];
    if (k == "--family")
      families.push_back(v);
    else if (k == "--exact-at-8" || k == "--exact-at-full")
      exact.push_back(v), families.push_back(v);
    else if (k == "--master-bits") {
      master_bits = std::stoi(v);
      expect(j["master"]["bits"] == master_bits, "master = " + j["master"].dump() + ", expected " + v + " bits");
    } else if (k == "--shape") {
      const auto x = v.find('x');
      expect(j["shape"]["rows"] == std::stoul(v.substr(0, x)) && j["shape"]["cols"] == std::stoul(v.substr(x + 1)),
             "shape = " + j["shape"].dump() + ", expected " + v);
    } else if (k == "--tokens") {
      expect(j["source"]["tokens"] == std::stoul(v), "tokens = " + j["source"]["tokens"].dump() + ", expected " + v);
    } else if (k == "--source") {
      expect(
          j["source"]["weights"].is_string() && j["source"]["weights"].get<std::string>().find(v) != std::string::npos,
          "source = " + j["source"].dump() + ", expected to mention " + v);
    } else {
      std::fprintf(stderr, "bitdial_demo_check: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  expect(j["serving"].is_array() && !j["serving"].empty(), "\"serving\" is a non-empty array");
  std::map<std::string, std::map<int, nlohmann::json>> by_family;
  for (const auto& r : j["serving"]) {
    const std::string row = r.dump();
    for (const char* key :
         {"family", "bits", "bytes_read", "weight_sqnr_db", "output_rel_err", "gemv_us", "speedup_vs_eigen"})
      expect(r.contains(key), std::string("row has column ") + key + ": " + row);
    bool complete = true;
    for (const char* key :
         {"family", "bits", "bytes_read", "weight_sqnr_db", "output_rel_err", "gemv_us", "speedup_vs_eigen"})
      complete = complete && r.contains(key);
    if (!complete) continue;
    expect(r["family"].is_string(), "family is a string: " + row);
    expect(r["bits"].is_number_integer() && r["bits"] >= 1 && r["bits"] <= 8, "bits in 1..8: " + row);
    expect(r["bytes_read"].is_number_unsigned() && r["bytes_read"] > 0, "bytes_read > 0: " + row);
    expect(r["weight_sqnr_db"].is_null() || (r["weight_sqnr_db"].is_number() && r["weight_sqnr_db"] > -10.0),
           "weight_sqnr_db is a number (or null: exact): " + row);
    expect(r["output_rel_err"].is_number() && r["output_rel_err"] >= 0.0 && r["output_rel_err"] < 10.0,
           "output_rel_err in [0, 10): " + row);
    expect(r["gemv_us"].is_number() && r["gemv_us"] > 0.0, "gemv_us > 0: " + row);
    expect(r["speedup_vs_eigen"].is_number() && r["speedup_vs_eigen"] > 0.0, "speedup_vs_eigen > 0: " + row);
    if (!r["family"].is_string() || !r["bits"].is_number_integer()) continue;
    by_family[r["family"].get<std::string>()][r["bits"].get<int>()] = r;
  }
  for (const auto& fam : families) {
    const auto it = by_family.find(fam);
    expect(it != by_family.end(), "family " + fam + " is served");
    if (it == by_family.end()) continue;
    const int lowest = fam == "slices" ? 2 : 1;
    const int top = fam == "slices" ? 8 : master_bits;
    for (int b = lowest; b <= top; ++b)
      expect(it->second.count(b) == 1, fam + " has a row at bits " + std::to_string(b));
    expect(it->second.count(top + 1) == 0, fam + " has no row above the master width " + std::to_string(top));
    for (int b = lowest + 1; b <= top; ++b)
      if (it->second.count(b) && it->second.count(b - 1))
        expect(it->second[b]["bytes_read"] >= it->second[b - 1]["bytes_read"],
               fam + ": bytes read do not shrink from " + std::to_string(b) + " to " + std::to_string(b - 1) + " bits");
    // Error falls as the width grows: 2-bit error above the 8-bit one.
    if (it->second.count(2) && it->second.count(top) && top > 2)
      expect(it->second[2]["output_rel_err"] > it->second[top]["output_rel_err"],
             fam + ": 2-bit output error above " + std::to_string(top) + "-bit");
  }
  for (const auto& fam : exact) {
    expect(by_family[fam].count(master_bits) == 1, fam + " has a row at the master width");
    if (by_family[fam].count(master_bits))
      expect(by_family[fam][master_bits]["weight_sqnr_db"].is_null(),
             fam + " at the master width reproduces the weights exactly (SQNR +inf)");
  }
  std::printf("%s: %zu serving rows, %zu families: %s\n", path.c_str(), j["serving"].size(), by_family.size(),
              failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 2 && a[0] == "write") return write(a[1]);
    if (a.size() >= 2 && a[0] == "verify") return verify(a[1], std::vector<std::string>(a.begin() + 2, a.end()));
    if (a.size() == 4 && a[0] == "same-npy") {  // same-npy OUT.npy FILE.gguf NAME: bit-identical values
      const auto got = bd::read_npy(a[1]).matrix;
      const auto want = bd::gguf_file::open(a[2]).load_matrix(a[3]);
      expect(got.rows == want.rows && got.cols == want.cols, "shape of " + a[1]);
      if (got.data.size() == want.data.size())
        expect(std::memcmp(got.data.data(), want.data.data(), 4 * got.data.size()) == 0, "values of " + a[1]);
      std::printf("%s: %zu x %zu: %s\n", a[1].c_str(), got.rows, got.cols, failures ? "FAILED" : "identical");
      return failures ? 1 : 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bitdial_demo_check: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: bitdial_demo_check write DIR | verify FILE.json [options]\n");
  return 2;
}
