// bitdial_demo — the elastic-serving demo: one stored weight served at every width.
//
//   1. builds a deterministic LLM-like weight matrix (heavy tails, a few outlier input channels),
//   2. quantizes its first rows (256, every column, the serving groups) with every quantizer family
//      at every width and prints the weight-error table (SQNR in dB) — the same rows and groups the
//      serving table measures,
//   3. stores the full matrix ONCE — an RNE INT8 master with fitted per-width maps (SEMANTICS §3b,
//      select/fit.hpp) served by truncation and double rounding, and residual slices with an
//      MSE-clipped first slice — and serves b = 8..1 from that one store: bytes read, weight SQNR,
//      output error vs float, GEMV time (median of repeated runs), speed-up vs Eigen f32, and the
//      literal rules of the papers beside the fitted ones,
//   4. routes a batch of tokens to different slice counts (MoBiQuant) and compares it with serving
//      every token at the same fixed average width,
//   5. writes the serving table as JSON and CSV, and a plot (SVG through gnuplot, if installed).
//
// Real weights and activations instead of the synthetic ones:
//   --safetensors FILE [--tensor NAME]   a 2-D F32/F16/BF16 tensor or an integer checkpoint layer
//                                        (compressed-tensors, GPTQ, AWQ: NAME is the layer prefix);
//                                        default: the largest
//   --gguf FILE [--tensor NAME]          a 2-D tensor of any float or importable quantized type
//                                        (Q4_0 … Q8_0, Q2_K … Q6_K; default: the largest)
// A quantized tensor is imported as the master with its own codes (format/ggml_quants.hpp,
// format/checkpoint_import.hpp) and served at 1..B from them: nothing is re-quantized, and the fits
// map each served code to the file's own values. The demo says which path it took.
//   --npy FILE                           activations, N x K or K (K = the weights' columns)
// With a file, --rows M (or --quick: 256) keeps the first M rows; the scale groups are 128 when K
// allows (else 64, 32, or one per row).
//
// Usage: bitdial_demo [--rows M] [--cols K] [--threads T] [--out PREFIX] [--quick]
//                     [--safetensors FILE | --gguf FILE] [--tensor NAME] [--npy FILE]
#include <Eigen/Core>
#include <bitdial/bitdial.hpp>
#include <bitdial/format/checkpoint_import.hpp>
#include <bitdial/quant/bitstack.hpp>
#include <bitdial/format/gguf.hpp>
#include <bitdial/format/npy.hpp>
#include <bitdial/format/safetensors.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cli.hpp"
#include "quality.hpp"

namespace bd = bitdial;
using bitdial_examples::cli_args;
using bitdial_examples::cli_error;
using bitdial_examples::group_for;
using bitdial_examples::group_name;
using clock_type = std::chrono::steady_clock;

namespace {

struct settings {
  std::size_t rows = 4096, cols = 14336;
  std::size_t block_rows = 256;  // rows of the quantizer table and of the serving table's SQNR
  std::size_t tokens = 64;       // MoBiQuant batch and output-error tokens
  std::size_t threads = 0;
  std::string out = "bitdial_demo";
  std::string safetensors, gguf, tensor, npy;  // optional inputs
  bool rows_given = false, quick = false;
  bd::granularity group = bd::granularity::per_group(128);  // scale groups along K
};

/// Weights to serve: floats, and for a quantized tensor also the master imported from its codes.
struct weights {
  std::vector<float> w;
  std::optional<bd::imported_master> master;
  std::string source = "synthetic LLM-like (Student-t, outlier channels)";
};

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Runs `what`, printing its name first and its duration after: progress for the slow steps.
template <class F>
auto step(const char* what, F&& f) {
  std::printf("  %-58s", what);
  std::fflush(stdout);
  const auto t0 = clock_type::now();
  if constexpr (std::is_void_v<decltype(f())>) {
    f();
    std::printf("%7.2f s\n", seconds_since(t0));
  } else {
    auto r = f();
    std::printf("%7.2f s\n", seconds_since(t0));
    return r;
  }
}

/// Deterministic LLM-like weights: Student-t(5) entries scaled like a trained FFN (σ ≈ 0.02),
/// 8 of every 1024 input channels scaled ×6 (outlier channels), every 97th row ×2.
std::vector<float> llm_like(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  std::vector<float> w(rows * cols);
  std::mt19937_64 rng(seed);
  std::student_t_distribution<float> t(5.0f);
  std::vector<float> col_gain(cols, 1.0f);
  for (std::size_t c = 0; c < cols; ++c)
    if ((c * 2654435761u) % 1024 < 8) col_gain[c] = 6.0f;
  for (std::size_t r = 0; r < rows; ++r) {
    const float row_gain = r % 97 == 0 ? 2.0f : 1.0f;
    for (std::size_t c = 0; c < cols; ++c) w[r * cols + c] = 0.02f * t(rng) * col_gain[c] * row_gain;
  }
  return w;
}

/// Activations: N(0,1) with a few large channels, and every 8th token with one strong outlier.
std::vector<float> activations(std::size_t tokens, std::size_t cols, std::uint64_t seed) {
  std::vector<float> x(tokens * cols);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (std::size_t t = 0; t < tokens; ++t) {
    for (std::size_t c = 0; c < cols; ++c) x[t * cols + c] = n(rng) * ((c % 509 == 0) ? 4.0f : 1.0f);
    if (t % 8 == 3) x[t * cols + (rng() % cols)] *= 40.0f;
  }
  return x;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Median wall time of fn over enough repetitions (≥ 5, ≥ ~0.3 s).
double time_median(const std::function<void()>& fn) {
  fn();  // warm
  std::vector<double> t;
  const auto start = clock_type::now();
  while (t.size() < 5 || (seconds_since(start) < 0.3 && t.size() < 200)) {
    const auto t0 = clock_type::now();
    fn();
    t.push_back(seconds_since(t0));
  }
  return median(t);
}

struct quant_row {
  std::string family;
  double bits_per_weight;
  double sqnr_db;
};

struct serve_row {
  std::string family;
  int bits;
  std::size_t bytes_read;
  double weight_sqnr_db, output_rel_err, gemv_us, eigen_us;
};

std::vector<float> dequantize_view(const bd::plane_view& v, std::size_t rows) {
  std::vector<float> out(rows * v.cols());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < v.cols(); ++c) out[r * v.cols() + c] = v.dequantize(r, c);
  return out;
}

std::vector<float> dequantize_slices(const bd::slice_view& v, std::size_t rows) {
  std::vector<float> out(rows * v.cols());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < v.cols(); ++c) out[r * v.cols() + c] = v.dequantize(r, c);
  return out;
}

double rel_err(const std::vector<float>& ref, const std::vector<float>& got) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    num += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / den);
}

// ---------------------------------------------------------------------------------------------

/// Like step(), but a family that cannot take this shape is reported and skipped.
template <class F>
void optional_step(const char* what, F&& f) {
  try {
    step(what, std::forward<F>(f));
  } catch (const bd::error& e) {
    std::printf("skipped: %s\n", e.what());
  }
}

std::vector<quant_row> quantizer_table(const std::vector<float>& w, const settings& s) {
  // The serving table's rows and groups: the first check_rows rows, every column.
  const std::size_t M = std::min(s.block_rows, s.rows), K = s.cols;
  const bd::granularity g = s.group;
  const std::vector<float> blk(w.begin(), w.begin() + std::ptrdiff_t(M * K));
  const bd::const_matrix W(blk.data(), M, K);
  std::vector<quant_row> rows;
  auto add = [&](std::string fam, double bpw, const std::vector<float>& deq) {
    rows.push_back({std::move(fam), bpw, bd::sqnr_db(blk, deq)});
  };
  std::printf("\nQuantizer error on the first %zu of %zu rows x %zu columns, %s (SQNR dB, higher is better)\n", M,
              s.rows, K, group_name(g).c_str());
  optional_step("uniform absmax / MSE-clipped, b = 1..8", [&] {
    for (int b = 1; b <= 8; ++b) {
      const bd::uniform_symmetric<> q(b, {.gran = g});
      add("uniform_absmax", b, q.quantize(W).dequantize());
      add("uniform_mse", b, bd::quantize_mse(q, W).dequantize());
    }
  });
  optional_step("double rounding (RHU, RNE) and truncation from INT8 masters", [&] {
    const auto master = bd::double_rounding<8>().quantize_master(W, g);
    const auto tr_master = bd::truncation_ready<8>({.gran = g}).quantize(W);
    auto fitted = bd::bit_plane_stack::pack(bd::quantize_mse(bd::uniform_symmetric<8>({.gran = g}), W));
    bd::fit_reconstruction(fitted, W);
    for (int b = 1; b <= 8; ++b) {
      add("double_rounding_rhu", b, bd::double_rounding<8>().dequantize(master, b));
      add("double_rounding_rne", b, bd::double_rounding<8>({bd::rounding::half_even}).dequantize(master, b));
      add("truncation", b, bd::truncation<8>().dequantize(master, b));
      add("truncation_ready", b, bd::truncation<8>().dequantize(tr_master, b));
      add("truncation_fitted", b, bitdial_examples::dequantize_view(bd::view(fitted, b)));
      add("dr_rne_fitted", b, bitdial_examples::dequantize_view(bd::view(fitted, b, bd::rounding::half_even)));
    }
  });
  optional_step("residual slices: MSE-clipped, tiled, binarization, BitStack r1", [&] {
    const auto clipped2 = bd::uniform_residual({2, 1, 1, 1, 1, 1, 1}, {.gran = g}).quantize(W);
    const auto tiled =
        bd::uniform_residual(std::vector<int>(8, 1), {.gran = g, .scales = bd::residual_scales::power_of_two})
            .quantize(W);
    const auto bin = bd::residual_binarizer(8, {.gran = g}).quantize(W);
    for (std::size_t n = 1; n <= 8; ++n) {
      if (n >= 2) add("slices_2+1..", double(n), clipped2.dequantize(n - 1));
      add("slices_tiled", double(n), tiled.dequantize(n));
      add("slices_binarized", double(n), bin.dequantize(n));
    }

    const auto bs = bd::bitstack(4).quantize(W);
    for (std::size_t n = 1; n <= 4; ++n) add("bitstack_r1", bd::bits_per_weight(bs, n), bs.dequantize(n));
  });
  optional_step("ternary: BitNet b1.58, TWN, Tequila", [&] {
    add("ternary_bitnet", 1.58, bd::bitnet_ternary().quantize(W).dequantize());
    add("ternary_twn", 1.58, bd::twn_ternary().quantize(W).dequantize());
    add("ternary_tequila", 1.58, bd::tequila_ternary().quantize(W).dequantize());
  });
  optional_step("minifloat: MXFP4/6/8, MXINT8, NVFP4, LLM-FP4, BitMoD", [&] {
    add("mxfp4", 4.25, bd::mx_quantizer(bd::mxfp4).quantize(W).dequantize());
    add("mxfp6_e2m3", 6.25, bd::mx_quantizer(bd::mxfp6_e2m3).quantize(W).dequantize());
    add("mxfp6_e3m2", 6.25, bd::mx_quantizer(bd::mxfp6_e3m2).quantize(W).dequantize());
    add("mxfp8_e4m3", 8.25, bd::mx_quantizer(bd::mxfp8_e4m3).quantize(W).dequantize());
    add("mxfp8_e5m2", 8.25, bd::mx_quantizer(bd::mxfp8_e5m2).quantize(W).dequantize());
    add("mxint8", 8.25, bd::mx_quantizer(bd::mxint8).quantize(W).dequantize());
    add("nvfp4", 4.5, bd::nvfp4_quantizer().quantize(W).dequantize());
    add("llm_fp4", 4.0, bd::minifloat_quantizer().quantize(W).dequantize());
    add("bitmod_fp4", 4.25, bd::bitmod_quantizer().quantize(W).dequantize());
  });

  std::printf("\n  %-22s", "quantizer \\ bits");
  for (int b = 1; b <= 8; ++b) std::printf("%8d", b);
  std::printf("\n");
  for (const char* fam :
       {"uniform_absmax", "uniform_mse", "double_rounding_rhu", "double_rounding_rne", "truncation", "truncation_ready",
        "truncation_fitted", "dr_rne_fitted", "slices_2+1..", "slices_tiled", "slices_binarized"}) {
    std::printf("  %-22s", fam);
    for (int b = 1; b <= 8; ++b) {
      const quant_row* hit = nullptr;
      for (const auto& r : rows)
        if (r.family == fam && r.bits_per_weight == b) hit = &r;
      hit ? std::printf("%8.2f", hit->sqnr_db) : std::printf("%8s", "-");
    }
    std::printf("\n");
  }
  std::printf("\n  %-22s %14s %10s\n", "fixed format", "bits/weight", "SQNR dB");
  for (const auto& r : rows)
    if (r.family.rfind("uniform", 0) && r.family.rfind("double", 0) && r.family.rfind("trunc", 0) &&
        r.family.rfind("slices", 0) && r.family.rfind("dr_", 0))
      std::printf("  %-22s %14.2f %10.2f\n", r.family.c_str(), r.bits_per_weight, r.sqnr_db);
  return rows;
}

// ---------------------------------------------------------------------------------------------

/// The tensor to serve: the one named, else the largest candidate (`ok`) of the file.
template <class Tensor, class Ok>
std::string pick_tensor(const std::vector<Tensor>& ts, const std::string& wanted, Ok&& ok, const std::string& file) {
  if (!wanted.empty()) return wanted;
  const Tensor* best = nullptr;
  std::uint64_t best_size = 0;
  for (const auto& t : ts) {
    std::uint64_t n = 1;
    for (auto d : t.shape_dims()) n *= d;
    if (ok(t) && n > best_size) best = &t, best_size = n;
  }
  if (!best) throw bd::error("bitdial_demo: file = " + file + ": no 2-D tensor this demo can serve (see --tensor)");
  return best->name;
}

/// Keeps the first `rows` rows of an imported master.
void crop_rows(bd::imported_master& m, std::size_t rows) {
  std::visit(
      [&](auto& q) {
        const std::size_t per_row = q.gran.k == bd::granularity::kind::per_tensor ? 0 : q.gran.groups_per_row(q.cols);
        q.rows = rows;
        q.codes.resize(rows * q.cols);
        if (per_row) {
          q.scales.resize(rows * per_row);
          if (!q.zero_points.empty()) q.zero_points.resize(rows * per_row);
          if (!q.offsets.empty()) q.offsets.resize(rows * per_row);
        }
      },
      m.m);
}

std::string describe_master(const bd::imported_master& m) {
  return m.source + " codes as a " + std::to_string(m.bits()) + "-bit " + (m.is_signed() ? "signed" : "unsigned") +
         " master (" + group_name(m.gran()) + (m.has_zero_points() ? ", zero points" : "") +
         (m.has_offsets() ? ", float offsets" : "") + "): imported losslessly, nothing re-quantized";
}

/// Weights from --safetensors / --gguf (rows cropped to --rows, or 256 with --quick), or synthetic.
weights load_weights(settings& s) {
  weights out;
  const std::size_t limit = s.rows_given ? s.rows : s.quick ? 256 : SIZE_MAX;
  struct entry {
    std::string name;
    std::vector<std::uint64_t> shape;
    bool ok;
    const std::vector<std::uint64_t>& shape_dims() const { return shape; }
  };
  if (!s.safetensors.empty()) {
    const auto f = bd::safetensors_file::open(s.safetensors);
    std::vector<entry> ts;
    for (const auto& t : f.tensors()) ts.push_back({t.name, t.shape, bd::safetensors_file::is_float_matrix(t)});
    const auto layers = bd::find_checkpoint_layers(f);
    for (const auto& l : layers) {  // a layer counts with its [out, in] size (from its scales' columns)
      const auto m = bd::import_checkpoint_layer(f, l.prefix, l.layout);
      ts.push_back({l.prefix, {m.rows(), m.cols()}, true});
    }
    const auto name = pick_tensor(
        ts, s.tensor, [](const entry& e) { return e.ok; }, s.safetensors);
    const bool is_layer =
        std::any_of(layers.begin(), layers.end(), [&](const bd::checkpoint_layer& l) { return l.prefix == name; });
    if (is_layer) {
      out.master = bd::import_checkpoint_layer(f, name);
      out.source = "safetensors " + s.safetensors + ": " + name + " (" + out.master->source + ")";
    } else {
      const auto& t = f.find(name);
      out.source = "safetensors " + s.safetensors + ": " + name + " (" + bd::to_string(t.dtype) + ")";
      auto m = f.load_matrix(name);
      out.w = std::move(m.data);
      s.rows = m.rows, s.cols = m.cols;
    }
  } else if (!s.gguf.empty()) {
    const auto f = bd::gguf_file::open(s.gguf);
    std::vector<entry> ts;
    for (const auto& t : f.tensors())
      ts.push_back({t.name, t.ne, t.loadable() && t.is_2d() && t.rows() * t.cols() > 0});
    const auto name = pick_tensor(
        ts, s.tensor, [](const entry& e) { return e.ok; }, s.gguf);
    const auto& t = f.find(name);
    if (t.importable()) {
      out.master = f.import_master(name);
    } else {
      out.w = f.load_matrix(name).data;
      s.rows = static_cast<std::size_t>(t.rows()), s.cols = static_cast<std::size_t>(t.cols());
    }
    out.source = "gguf " + s.gguf + ": " + name + " (" + bd::to_string(t.type) + ")";
  } else {
    return out;  // built by run() once the banner is out
  }
  if (out.master) {
    s.rows = out.master->rows(), s.cols = out.master->cols();
    if (s.rows > limit) crop_rows(*out.master, limit), s.rows = limit;
    out.w = out.master->dequantize();  // the file's own values: the float truth the checkpoint carries
  } else if (s.rows > limit) {
    s.rows = limit;
    out.w.resize(s.rows * s.cols);
  }
  return out;
}

int run(settings s) {
  auto wt = load_weights(s);
  s.group = wt.master ? wt.master->gran() : group_for(s.cols);  // an imported master: its own groups
  const int B = wt.master ? wt.master->bits() : 8;              // the master's width
  const bool signed_master = !wt.master || wt.master->is_signed();
  const auto& w = wt.w;
  std::printf("bitdial elastic-serving demo: %zu x %zu weights, %zu threads\n", s.rows, s.cols,
              s.threads ? s.threads : bd::thread_pool::global().size());
  std::printf("weights: %s\n", wt.source.c_str());
  std::printf("import path: %s\n",
              wt.master ? describe_master(*wt.master).c_str() : "float values, quantized here to an INT8 master");
  std::printf("kernel ISAs available:");
  for (auto isa : bd::available_isas()) std::printf(" %s", bd::to_string(isa));
  std::printf("\n\n");
  if (wt.w.empty()) wt.w = step("building the LLM-like weight matrix", [&] { return llm_like(s.rows, s.cols, 2026); });
  const auto qrows = quantizer_table(w, s);

  std::printf("\nStoring the %zu x %zu matrix once (%s)\n", s.rows, s.cols, group_name(s.group).c_str());
  const bd::const_matrix W(w.data(), s.rows, s.cols);
  bd::bit_plane_stack stack;
  if (wt.master) {
    // The file's own codes are the master: nothing is re-quantized; the fits map each served code
    // to the file's own values.
    const std::string what = wt.master->source + " codes as the " + std::to_string(B) + "-bit master, packed";
    stack = step(what.c_str(), [&] { return wt.master->pack(); });
  } else {
    const std::string what = "INT8 master (RNE, MSE-clipped, " + group_name(s.group) + "), packed";
    stack = step(what.c_str(), [&] {
      return bd::bit_plane_stack::pack(bd::quantize_mse(bd::uniform_symmetric<8>({.gran = s.group}), W));
    });
  }
  const std::string fit_what = "fitted per-width maps (" + std::string(signed_master ? "3 rules" : "truncation") +
                               " x " + std::to_string(B - 1) + " widths, per row)";
  step(fit_what.c_str(), [&] { bd::fit_reconstruction(stack, W); });
  std::printf("  fitted tables: %zu bytes = %.2f%% of the %zu-byte 8-bit planes\n", stack.fit_bytes(),
              100.0 * double(stack.fit_bytes()) / double(stack.bytes().size()), stack.bytes().size());
  const bd::elastic_weight tr(std::move(stack), bd::rounding::floor);
  const auto sl = step("residual slices 2+1+1+1+1+1+1 (MSE-clipped first slice), packed", [&] {
    return bd::plane_slice_stack::pack(bd::uniform_residual({2, 1, 1, 1, 1, 1, 1}, {.gran = s.group}).quantize(W));
  });

  std::vector<float> x;
  std::string act_source = "synthetic (N(0,1), outlier channels and tokens)";
  if (!s.npy.empty()) {
    auto a = bd::read_npy(s.npy);
    if (a.matrix.cols != s.cols)
      throw bd::error("bitdial_demo: --npy " + s.npy + ": K = " + std::to_string(a.matrix.cols) +
                      ": the weights have K = " + std::to_string(s.cols));
    x = std::move(a.matrix.data);
    s.tokens = a.matrix.rows;
    act_source = "npy " + s.npy;
  } else {
    x = activations(s.tokens, s.cols, 7);
  }
  const std::size_t T = s.tokens;
  const auto q = bd::per_token_quantizer<8>().quantize(bd::const_matrix(x.data(), T, s.cols));
  // Float reference outputs for the output-error column (Eigen f32, on the float weights).
  using rowmajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const rowmajor> We(w.data(), Eigen::Index(s.rows), Eigen::Index(s.cols));
  const Eigen::Map<const rowmajor> Xe(x.data(), Eigen::Index(T), Eigen::Index(s.cols));
  rowmajor Yf = step("float reference outputs (Eigen f32)", [&] { return rowmajor(Xe * We.transpose()); });
  std::vector<float> yref(Yf.data(), Yf.data() + Yf.size());
  Eigen::VectorXf ye(Eigen::Index(s.rows));
  const Eigen::Map<const Eigen::VectorXf> x0(x.data(), Eigen::Index(s.cols));
  const double eigen_us = 1e6 * time_median([&] { ye.noalias() = We * x0; });

  const bd::run_options ro{bd::kernel_isa::automatic, nullptr, s.threads};
  const std::size_t check_rows = std::min(s.rows, s.block_rows);
  std::vector<float> wblock(w.begin(), w.begin() + std::ptrdiff_t(check_rows * s.cols));
  std::vector<serve_row> table;
  std::vector<float> y(T * s.rows), y1(s.rows);
  const std::span<const float> tok0(x.data(), s.cols);
  auto serve_planes = [&](const char* fam, bd::rounding rule, bd::reconstruction recon) {
    if (rule != bd::rounding::floor && !signed_master) return;  // double rounding needs a signed master
    for (int b = B; b >= 1; --b) {
      const auto v = bd::view(tr.stack(), b, rule, recon);
      bd::gemm(v, bd::as_tokens(q), bd::matrix_view<float>(y.data(), T, s.rows), {}, ro);
      const double us = 1e6 * time_median([&] { bd::gemv(v, tok0, y1, {}, ro); });
      table.push_back({fam, b, v.bytes_read(), bd::sqnr_db(wblock, dequantize_view(v, check_rows)), rel_err(yref, y),
                       us, eigen_us});
    }
  };
  auto serve_slices = [&] {
    for (std::size_t n = sl.slices(); n >= 1; --n) {
      const auto v = sl.view_slices(n);
      bd::gemm_slices(v, bd::as_tokens(q), bd::matrix_view<float>(y.data(), T, s.rows), {}, {}, ro);
      const auto one = bd::token_batch{q.codes.data(), q.scales.data(), 1, s.cols, s.cols};
      const double us =
          1e6 * time_median([&] { bd::gemm_slices(v, one, bd::matrix_view<float>(y1.data(), 1, s.rows), {}, {}, ro); });
      table.push_back({"slices", int(n) + 1, v.bytes_read(), bd::sqnr_db(wblock, dequantize_slices(v, check_rows)),
                       rel_err(yref, y), us, eigen_us});
    }
  };
  using bd::reconstruction;
  using bd::rounding;
  const std::string widths = " at b = " + std::to_string(B) + "..1";
  auto title = [&](const char* what) { return std::string(what) + widths; };
  step(title("serving truncation (fitted)").c_str(),
       [&] { serve_planes("truncation", rounding::floor, reconstruction::automatic); });
  step(title("serving double rounding RNE (fitted)").c_str(),
       [&] { serve_planes("double_rounding_rne", rounding::half_even, reconstruction::automatic); });
  step(title("serving double rounding RHU (fitted)").c_str(),
       [&] { serve_planes("double_rounding_rhu", rounding::half_up, reconstruction::automatic); });
  step(title("serving the literal rules (truncation midpoint, RHU)").c_str(), [&] {
    serve_planes("truncation_literal", rounding::floor, reconstruction::midpoint);
    serve_planes("double_rounding_rhu_literal", rounding::half_up, reconstruction::midpoint);
  });
  step("serving residual slices at n = 7..1 (b = n + 1)", serve_slices);

  std::printf("\nServing table (GEMV n=1 incl. activation quantization; Eigen f32 GEMV %.0f us)\n", eigen_us);
  std::printf("  %-20s %4s %12s %10s %10s %10s %9s\n", "family", "b", "bytes read", "w SQNR dB", "out relerr",
              "GEMV us", "vs Eigen");
  for (const auto& r : table)
    std::printf("  %-20s %4d %12zu %10.2f %10.4f %10.1f %8.1fx\n", r.family.c_str(), r.bits, r.bytes_read,
                r.weight_sqnr_db, r.output_rel_err, r.gemv_us, r.eigen_us / r.gemv_us);

  // MoBiQuant: route tokens to slice counts by their activation statistics, and compare with
  // serving every token at the same fixed average (3 slices = 4 bits) and at the maximum.
  const int n_lo = 2, n_hi = 4;
  const double target = 3.0;
  std::printf(
      "\nPer-token slice routing (MoBiQuant) over %zu tokens: %d..%d slices of 2+1+1+... bits, target average %.2f\n",
      T, n_lo, n_hi, target);
  const auto router = bd::statistic_router::calibrate(bd::const_matrix(x.data(), T, s.cols), n_lo, n_hi, target);
  const auto counts = router.route_all(bd::const_matrix(x.data(), T, s.cols));
  double avg = 0;
  for (int c : counts) avg += c;
  avg /= double(T);
  const auto full = sl.view_slices(sl.slices());
  const auto routed_view = sl.view_slices(std::size_t(n_hi));
  const double t_routed = time_median([&] {
    bd::gemm_slices(routed_view, bd::as_tokens(q), bd::matrix_view<float>(y.data(), T, s.rows), counts, {}, ro);
  });
  const double err_routed = rel_err(yref, y);
  const auto fixed_view = sl.view_slices(std::size_t(target));
  const double t_fixed = time_median(
      [&] { bd::gemm_slices(fixed_view, bd::as_tokens(q), bd::matrix_view<float>(y.data(), T, s.rows), {}, {}, ro); });
  const double err_fixed = rel_err(yref, y);
  const double t_max = time_median(
      [&] { bd::gemm_slices(full, bd::as_tokens(q), bd::matrix_view<float>(y.data(), T, s.rows), {}, {}, ro); });
  const double err_max = rel_err(yref, y);
  std::printf("  achieved average %.2f slices (%.2f bits/weight)\n", avg, avg + 1.0);
  std::printf("  routed:              %8.1f ms, output relerr %.4f\n", 1e3 * t_routed, err_routed);
  std::printf("  all at %.0f slices:     %8.1f ms, output relerr %.4f  (routed / fixed error: %.2f)\n", target,
              1e3 * t_fixed, err_fixed, err_fixed > 0 ? err_routed / err_fixed : 0.0);
  std::printf("  all at %zu slices:     %8.1f ms, output relerr %.4f\n", sl.slices(), 1e3 * t_max, err_max);

  // Outputs.
  nlohmann::json j;
  j["shape"] = {{"rows", s.rows}, {"cols", s.cols}};
  j["source"] = {{"weights", wt.source}, {"activations", act_source}, {"tokens", T}, {"groups", group_name(s.group)}};
  j["master"] = {{"bits", B},
                 {"signed", signed_master},
                 {"imported", wt.master.has_value()},
                 {"import", wt.master ? describe_master(*wt.master) : std::string("quantized from floats")}};
  j["eigen_f32_gemv_us"] = eigen_us;
  for (const auto& r : qrows)
    j["quantizers"].push_back({{"family", r.family}, {"bits_per_weight", r.bits_per_weight}, {"sqnr_db", r.sqnr_db}});
  for (const auto& r : table)
    j["serving"].push_back({{"family", r.family},
                            {"bits", r.bits},
                            {"bytes_read", r.bytes_read},
                            {"weight_sqnr_db", r.weight_sqnr_db},
                            {"output_rel_err", r.output_rel_err},
                            {"gemv_us", r.gemv_us},
                            {"speedup_vs_eigen", r.eigen_us / r.gemv_us}});
  j["routing"] = {{"target_average_slices", target},
                  {"achieved_average_slices", avg},
                  {"min_slices", n_lo},
                  {"max_slices", n_hi},
                  {"routed_ms", 1e3 * t_routed},
                  {"routed_rel_err", err_routed},
                  {"fixed_ms", 1e3 * t_fixed},
                  {"fixed_rel_err", err_fixed},
                  {"max_ms", 1e3 * t_max},
                  {"max_rel_err", err_max}};
  std::ofstream(s.out + ".json") << j.dump(2) << "\n";
  {
    std::ofstream csv(s.out + ".csv");
    csv << "family,bits,bytes_read,weight_sqnr_db,output_rel_err,gemv_us,speedup_vs_eigen\n";
    for (const auto& r : table)
      csv << r.family << ',' << r.bits << ',' << r.bytes_read << ',' << r.weight_sqnr_db << ',' << r.output_rel_err
          << ',' << r.gemv_us << ',' << r.eigen_us / r.gemv_us << '\n';
  }
  std::printf("\nwrote %s.json and %s.csv\n", s.out.c_str(), s.out.c_str());
  // Plot: weight SQNR and GEMV speed-up vs bits, one curve per family.
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    const std::string gp = s.out + ".gp";
    std::ofstream f(gp);
    f << "set terminal svg size 1000,420 dynamic noenhanced font 'sans,11'\nset output '" << s.out << ".svg'\n"
      << "set datafile separator ','\nset key top left\nset grid\nset multiplot layout 1,2\n"
      << "set title 'weight SQNR vs served width'\nset xlabel 'bits'\nset ylabel 'SQNR (dB)'\n"
      << "plot for [fam in 'truncation double_rounding_rne slices truncation_literal'] '" << s.out
      << ".csv' using 2:(strcol(1) eq fam ? $4 : NaN) with linespoints title fam\n"
      << "set title 'GEMV speed-up vs Eigen f32'\nset ylabel 'x faster'\n"
      << "plot for [fam in 'truncation double_rounding_rne slices truncation_literal'] '" << s.out
      << ".csv' using 2:(strcol(1) eq fam ? $7 : NaN) with linespoints title fam\nunset multiplot\n";
    f.close();
    if (std::system(("gnuplot '" + gp + "'").c_str()) == 0) std::printf("wrote %s.svg\n", s.out.c_str());
  } else {
    std::printf("gnuplot not found: no plot written (the README command installs gnuplot-nox)\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  try {
    cli_args a(argc, argv, "bitdial_demo");
    while (a.more()) {
      const std::string o = a.next_option();
      if (o == "--rows")
        s.rows = a.count(o, 1, std::size_t{1} << 24), s.rows_given = true;
      else if (o == "--cols")
        s.cols = a.count(o, 16, std::size_t{1} << 24);
      else if (o == "--threads")
        s.threads = a.count(o, 1, 1024);
      else if (o == "--out")
        s.out = a.value(o);
      else if (o == "--quick")
        s.rows = 256, s.cols = 1024, s.tokens = 16, s.quick = true;
      else if (o == "--safetensors")
        s.safetensors = a.value(o);
      else if (o == "--gguf")
        s.gguf = a.value(o);
      else if (o == "--tensor")
        s.tensor = a.value(o);
      else if (o == "--npy")
        s.npy = a.value(o);
      else if (o == "--help" || o == "-h") {
        std::printf(
            "usage: bitdial_demo [--rows M] [--cols K] [--threads T] [--out PREFIX] [--quick]\n"
            "                    [--safetensors FILE | --gguf FILE] [--tensor NAME] [--npy FILE]\n"
            "  --safetensors/--gguf FILE  serve a 2-D tensor of the file (--tensor NAME, default the largest);\n"
            "                             a GGUF Q8_0 tensor is served from its own int8 codes\n"
            "  --npy FILE                 activations, N x K or K\n");
        return 0;
      } else {
        a.fail("unknown argument '" + o + "' (see --help)");
      }
    }
    if (!s.safetensors.empty() && !s.gguf.empty()) a.fail("give --safetensors or --gguf, not both");
  } catch (const cli_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  try {
    return run(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
