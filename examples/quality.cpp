// bitdial_quality — how well one stored weight serves every width, on your own tensors.
//
//   bitdial_quality FILE [--tensor NAME] [--npy ACTS] [--rows M] [--tokens N] [--out PREFIX]
//   bitdial_quality --synthetic [--rows M] [--cols K] ...
//
// FILE is a .safetensors or .gguf file (a 2-D float tensor: --tensor NAME, default the largest) or
// a 2-D .npy array of weights [out, in]. ACTS are activations N × K (.npy, f32/f16); without them
// N(0,1) tokens with a few strong channels are used. --rows keeps the first M rows (default 512:
// every number is a sum over rows, and the stores are built on the same rows).
//
// For each width b = 1..8 and family (examples/quality.hpp): weight SQNR, output error, bytes a
// GEMV reads, beside the dedicated MSE-clipped uniform quantizer (b ≥ 2) and per-group binarization
// (b = 1) at the same scale groups, and the elastic tax (reference − served, dB). Writes
// PREFIX.json, PREFIX.csv and, with gnuplot, PREFIX.svg.
#include <bitdial/format/gguf.hpp>
#include <bitdial/format/npy.hpp>
#include <bitdial/format/safetensors.hpp>

#include <nlohmann/json.hpp>
#include <random>

#include "cli.hpp"
#include "quality.hpp"

namespace bd = bitdial;
using namespace bitdial_examples;

namespace {

struct tensor_in {
  std::vector<float> w;
  std::size_t rows = 0, cols = 0;
  std::string source;
};

/// A 2-D float tensor of FILE, chosen by name or the largest.
tensor_in load(const std::string& file, const std::string& name) {
  tensor_in t;
  auto ends = [&](const char* s) {
    const std::string e(s);
    return file.size() >= e.size() && file.compare(file.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".npy")) {
    auto a = bd::read_npy(file);
    BITDIAL_REQUIRE(a.dims == 2, "bitdial_quality: ", file, ": a 1-D array: weights must be 2-D [out, in]");
    t.rows = a.matrix.rows, t.cols = a.matrix.cols, t.w = std::move(a.matrix.data);
    t.source = file;
  } else if (ends(".gguf")) {
    const auto f = bd::gguf_file::open(file);
    std::string pick = name;
    std::uint64_t best = 0;
    if (pick.empty())
      for (const auto& x : f.tensors())
        if (x.known_type() && x.is_2d() && x.rows() * x.cols() > best) best = x.rows() * x.cols(), pick = x.name;
    BITDIAL_REQUIRE(!pick.empty(), "bitdial_quality: ", file, ": no 2-D tensor (see --tensor)");
    const auto& x = f.find(pick);
    t.w = f.load_matrix(pick).data;
    t.rows = static_cast<std::size_t>(x.rows()), t.cols = static_cast<std::size_t>(x.cols());
    t.source = file + ": " + pick + " (" + bd::to_string(x.type) + ")";
  } else {
    const auto f = bd::safetensors_file::open(file);
    std::string pick = name;
    std::uint64_t best = 0;
    if (pick.empty())
      for (const auto& x : f.tensors()) {
        std::uint64_t n = 1;
        for (auto d : x.shape) n *= d;
        if (bd::safetensors_file::is_float_matrix(x) && n > best) best = n, pick = x.name;
      }
    BITDIAL_REQUIRE(!pick.empty(), "bitdial_quality: ", file, ": no 2-D float tensor (see --tensor)");
    auto m = f.load_matrix(pick);
    t.rows = m.rows, t.cols = m.cols, t.w = std::move(m.data);
    t.source = file + ": " + pick + " (" + bd::to_string(f.find(pick).dtype) + ")";
  }
  return t;
}

std::vector<float> synthetic_tokens(std::size_t tokens, std::size_t cols, std::uint64_t seed) {
  std::vector<float> x(tokens * cols);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t c = 0; c < cols; ++c) x[t * cols + c] = n(rng) * ((c % 509 == 0) ? 4.0f : 1.0f);
  return x;
}

int run(int argc, char** argv) {
  cli_args a(argc, argv, "bitdial_quality");
  std::string file, tensor, npy, out = "bitdial_quality";
  std::size_t rows = 512, cols = 4096, tokens = 16;
  bool synthetic = false;
  while (a.more()) {
    const std::string o = a.next_option();
    if (o == "--tensor")
      tensor = a.value(o);
    else if (o == "--npy")
      npy = a.value(o);
    else if (o == "--rows")
      rows = a.count(o, 1, 1u << 20);
    else if (o == "--cols")
      cols = a.count(o, 16, 1u << 20);
    else if (o == "--tokens")
      tokens = a.count(o, 1, 4096);
    else if (o == "--out")
      out = a.value(o);
    else if (o == "--synthetic")
      synthetic = true;
    else if (o == "--help" || o == "-h") {
      std::printf(
          "usage: bitdial_quality FILE [--tensor NAME] [--npy ACTS] [--rows M] [--tokens N] [--out PREFIX]\n"
          "       bitdial_quality --synthetic [--rows M] [--cols K] [--tokens N] [--out PREFIX]\n"
          "  FILE: .safetensors, .gguf (2-D float tensor) or .npy (2-D weights [out, in])\n");
      return 0;
    } else if (o.rfind("--", 0) == 0)
      a.fail("unknown option '" + o + "' (see --help)");
    else if (file.empty())
      file = o;
    else
      a.fail("a second FILE '" + o + "': give one");
  }
  if (file.empty() && !synthetic) a.fail("no FILE given (or --synthetic; see --help)");

  tensor_in t;
  if (synthetic) {
    t.rows = rows, t.cols = cols, t.w.resize(rows * cols);
    std::mt19937_64 rng(2026);
    std::student_t_distribution<float> d(5.0f);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c)
        t.w[r * cols + c] = 0.02f * d(rng) * (((c * 2654435761u) % 1024 < 8) ? 6.0f : 1.0f) * (r % 97 ? 1.0f : 2.0f);
    t.source = "synthetic LLM-like (Student-t(5), outlier channels)";
  } else {
    t = load(file, tensor);
  }
  const std::size_t file_rows = t.rows;
  if (t.rows > rows) t.rows = rows, t.w.resize(rows * t.cols);
  std::vector<float> x;
  std::string act_source = "synthetic N(0,1) with strong channels";
  if (!npy.empty()) {
    auto n = bd::read_npy(npy);
    BITDIAL_REQUIRE(n.matrix.cols == t.cols, "bitdial_quality: --npy ", npy, ": K = ", n.matrix.cols,
                    ": the weights have K = ", t.cols, " (shape ", file_rows, "x", t.cols, ")");
    x = std::move(n.matrix.data);
    tokens = n.matrix.rows;
    act_source = npy;
  } else {
    x = synthetic_tokens(tokens, t.cols, 7);
  }
  quality_input in{t.w.data(), t.rows, t.cols, group_for(t.cols), x.data(), tokens};
  std::printf("bitdial_quality: %s\n  shape %zux%zu (first %zu rows used), %s, %zu tokens (%s)\n", t.source.c_str(),
              file_rows, t.cols, t.rows, group_name(in.group).c_str(), tokens, act_source.c_str());
  const auto stores = quality_stores::build(in);
  const auto rows_out = quality_rows(in, stores);
  print_quality(rows_out);
  std::printf("\n  fitted tables: %zu bytes (%.2f%% of the %zu-byte INT8 planes)\n", stores.master.fit_bytes(),
              100.0 * double(stores.master.fit_bytes()) / double(t.rows * t.cols), t.rows * t.cols);

  nlohmann::json j;
  j["source"] = t.source;
  j["shape"] = {{"rows", file_rows}, {"cols", t.cols}, {"rows_used", t.rows}};
  j["groups"] = group_name(in.group);
  j["activations"] = {{"source", act_source}, {"tokens", tokens}};
  j["fit_bytes"] = stores.master.fit_bytes();
  std::ofstream csv(out + ".csv");
  csv << "family,kind,bits,weight_sqnr_db,output_rel_err,bytes_read,tax_db\n";
  for (const auto& r : rows_out) {
    const quality_row* ref = reference_at(rows_out, r.bits);
    const bool measured = r.family.find("_per_group") != std::string::npos;
    const char* kind = r.served ? "served" : measured ? "measured" : "reference";
    const double tax = (r.served || measured) && ref ? ref->weight_sqnr_db - r.weight_sqnr_db : 0.0;
    j["rows"].push_back({{"family", r.family},
                         {"kind", kind},
                         {"bits", r.bits},
                         {"weight_sqnr_db", r.weight_sqnr_db},
                         {"output_rel_err", r.output_rel_err},
                         {"bytes_read", r.bytes_read},
                         {"tax_db", tax}});
    csv << r.family << ',' << kind << ',' << r.bits << ',' << r.weight_sqnr_db << ',' << r.output_rel_err << ','
        << r.bytes_read << ',' << tax << '\n';
  }
  csv.close();
  std::ofstream(out + ".json") << j.dump(2) << "\n";
  std::printf("\nwrote %s.json and %s.csv\n", out.c_str(), out.c_str());
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    std::ofstream f(out + ".gp");
    f << "set terminal svg size 1000,420 dynamic noenhanced font 'sans,11'\nset output '" << out << ".svg'\n"
      << "set datafile separator ','\nset key top left\nset grid\nset multiplot layout 1,2\n"
      << "set title 'weight SQNR vs width'\nset xlabel 'bits'\nset ylabel 'SQNR (dB)'\n"
      << "fams='truncation double_rounding_rne slices truncation_literal uniform_mse binarization'\n"
      << "plot for [fam in fams] '" << out << ".csv' using 3:(strcol(1) eq fam ? $4 : NaN) with linespoints title fam\n"
      << "set title 'elastic tax vs width'\nset ylabel 'dB below the dedicated quantizer'\n"
      << "plot for [fam in 'truncation double_rounding_rne double_rounding_rhu slices'] '" << out
      << ".csv' using 3:(strcol(1) eq fam ? $7 : NaN) with linespoints title fam\nunset multiplot\n";
    f.close();
    if (std::system(("gnuplot '" + out + ".gp'").c_str()) == 0) std::printf("wrote %s.svg\n", out.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const cli_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
