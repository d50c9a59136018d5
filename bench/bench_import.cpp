// Checkpoint import: a 4096 × 14336 tensor of each GGUF quantized type decoded into a master and
// packed into bit planes (format/ggml_quants.hpp), on the calling thread. The target is ≤ 2 s per
// tensor; the row reports seconds per import and weights/s (items).
//
// Names: import/<type>/m:4096/k:14336/threads:1. Registered at static-initialisation time;
// bench_gemv.cpp's main runs them. Example:
//   bitdial_bench --benchmark_filter='import' --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <bitdial/format/ggml_quants.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace bitdial;

namespace {

constexpr std::size_t M = 4096, K = 14336;

/// Random blocks of type t with finite fp16 scales (every other field random bytes).
std::vector<std::uint8_t> blocks_of(ggml_type t) {
  const ggml_type_info* info = ggml_info(t);
  const std::size_t n = M * K / info->block;
  std::vector<std::uint8_t> b(n * info->bytes);
  std::uint64_t s = 0x9e3779b97f4a7c15ull;
  for (auto& v : b) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<std::uint8_t>(s >> 56);
  }
  // The fp16 fields: 0x1400 ≈ 0.001 (d, dmin) at every place the type keeps one.
  auto set_half = [&](std::size_t off) {
    for (std::size_t i = 0; i < n; ++i) b[i * info->bytes + off] = 0x00, b[i * info->bytes + off + 1] = 0x14;
  };
  switch (t) {
    case ggml_type::q2_k:
      set_half(80), set_half(82);
      break;
    case ggml_type::q3_k:
      set_half(108);
      break;
    case ggml_type::q6_k:
      set_half(208);
      break;
    case ggml_type::q4_1:
    case ggml_type::q5_1:
    case ggml_type::q4_k:
    case ggml_type::q5_k:
      set_half(0), set_half(2);
      break;
    default:
      set_half(0);
  }
  return b;
}

void bm_import(benchmark::State& state, ggml_type t) {
  const auto raw = blocks_of(t);
  for (auto _ : state) {
    const imported_master m = decode_ggml_master(t, raw.data(), raw.size(), M, K);
    bit_plane_stack st = m.pack();
    benchmark::DoNotOptimize(st.bytes().data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * M * K));
  state.counters["bytes_in"] = static_cast<double>(raw.size());
}

const bool registered = [] {
  for (const ggml_type t : {ggml_type::q4_0, ggml_type::q4_1, ggml_type::q5_0, ggml_type::q5_1, ggml_type::q8_0,
                            ggml_type::q2_k, ggml_type::q3_k, ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k}) {
    const std::string name = std::string("import/") + to_string(t) + "/m:4096/k:14336/threads:1";
    benchmark::RegisterBenchmark(name.c_str(), bm_import, t)->Unit(benchmark::kMillisecond)->Iterations(2);
  }
  return true;
}();

}  // namespace
