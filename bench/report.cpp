// bitdial_bench_report — turns bitdial_bench's Google Benchmark JSON into the PERF.md report.
//
//   bitdial_bench --benchmark_out=bench.json --benchmark_out_format=json [--benchmark_filter=...]
//   bitdial_bench_report bench.json [--out PREFIX]        (PREFIX defaults to bitdial_bench_report)
//
// Writes PREFIX.md (also printed) and, for the plot, PREFIX.dat + PREFIX.gp and PREFIX.svg (when
// gnuplot is installed). Rows are named <op>/<method>/bits:<b>/m:<M>/k:<K>/n:<N>/threads:<t>/cold:<c>
// (bench/bench_gemv.cpp); repeated runs (--benchmark_repetitions) are reduced to their median, and
// rows that reported an error (e.g. no AVX-512 on this CPU) are listed and left out.
//
// Sections (ratios of shared/PERF.md, all within this one run):
//   1. G weights/s = M·K·N / real time, per op / method / n / threads / cold, one column per width.
//   2. Linearity, cold: t(b)/t(8) against the target b/8 + 0.1 (8-bit reference: the method's own
//      8-bit row, else the truncation 8-bit row: at b = B every rule serves the master itself).
//   3. GEMV bytes/s as % of the streaming read (read/stream) of the same width, threads and cold
//      (target: >= 90% cold at b >= 3).
//   4. 8-bit plane GEMV against the int8 x int8 VNNI dot product: t(int8_dot) / t(8-bit), >= 1 meets.
//   5. Speed-up against Eigen f32 at the same n and threads (weights/s ratio).
//   6. threads = 1 against threads = 2: t(1) / t(2).
//   7. Warm 2-thread GEMV targets in G weights/s (b = 1, 2, 3, 4, 8: 450, 260, 170, 115, 50).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace {

/// One benchmark row, reduced over its repetitions.
struct row {
  std::string op, method;
  int bits = 0;
  long m = 0, k = 0, n = 0;
  int threads = 0, cold = 0;
  double seconds = 0;        // real time per iteration
  double weights_per_s = 0;  // counter (0 if absent)
  double bytes_per_s = 0;    // counter (0 if absent)
};

/// The series a row belongs to (everything but the width).
using series_key = std::tuple<std::string, std::string, long, int, int>;  // op, method, n, threads, cold
series_key key_of(const row& r) { return {r.op, r.method, r.n, r.threads, r.cold}; }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

double unit_seconds(const std::string& u) {
  if (u == "ns") return 1e-9;
  if (u == "us") return 1e-6;
  if (u == "ms") return 1e-3;
  return 1.0;
}

/// Parses "<op>/<method>/bits:b/m:M/k:K/n:N/threads:t/cold:c[/real_time]"; false if it is not one.
bool parse_name(const std::string& name, row& r) {
  std::vector<std::string> parts;
  std::stringstream ss(name);
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  if (parts.size() < 3) return false;
  r.op = parts[0];
  r.method = parts[1];
  bool have_bits = false;
  for (std::size_t i = 2; i < parts.size(); ++i) {
    const auto c = parts[i].find(':');
    if (c == std::string::npos) continue;  // real_time, manual_time
    const std::string k = parts[i].substr(0, c);
    long v = 0;
    try {
      v = std::stol(parts[i].substr(c + 1));
    } catch (const std::exception&) {
      return false;
    }
    if (k == "bits")
      r.bits = int(v), have_bits = true;
    else if (k == "m")
      r.m = v;
    else if (k == "k")
      r.k = v;
    else if (k == "n")
      r.n = v;
    else if (k == "threads")
      r.threads = int(v);
    else if (k == "cold")
      r.cold = int(v);
  }
  return have_bits;
}

struct report_data {
  std::vector<row> rows;
  std::vector<std::string> errors;
  std::string context;
};

report_data read_bench_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("bitdial_bench_report: cannot open " + path);
  const nlohmann::json j = nlohmann::json::parse(f);
  if (!j.contains("benchmarks") || !j["benchmarks"].is_array())
    throw std::runtime_error("bitdial_bench_report: " + path +
                             ": no \"benchmarks\" array (not Google Benchmark JSON?)");
  report_data d;
  if (j.contains("context")) {
    const auto& c = j["context"];
    std::ostringstream os;
    if (c.contains("date")) os << c["date"].get<std::string>() << ", ";
    if (c.contains("host_name")) os << c["host_name"].get<std::string>() << ", ";
    if (c.contains("num_cpus")) os << c["num_cpus"] << " CPUs";
    if (c.contains("mhz_per_cpu")) os << " @ " << c["mhz_per_cpu"] << " MHz";
    if (c.contains("library_build_type"))
      os << ", benchmark library built as " << c["library_build_type"].get<std::string>();
    d.context = os.str();
  }
  // Medians: prefer the "median" aggregate when repetitions produced one; else reduce the iterations.
  struct samples {
    std::vector<double> t, w, b;
    bool from_aggregate = false;
    row r;
  };
  std::map<std::string, samples> by_name;
  for (const auto& b : j["benchmarks"]) {
    std::string name = b.value("run_name", b.value("name", std::string()));
    if (b.value("error_occurred", false)) {
      d.errors.push_back(name + ": " + b.value("error_message", std::string("error")));
      continue;
    }
    const std::string run_type = b.value("run_type", std::string("iteration"));
    const bool is_median = run_type == "aggregate" && b.value("aggregate_name", std::string()) == "median";
    if (run_type == "aggregate" && !is_median) continue;
    row r;
    if (!parse_name(name, r)) continue;
    auto& s = by_name[name];
    if (s.from_aggregate) continue;
    if (is_median) s = samples{{}, {}, {}, true, r};
    s.r = r;
    s.t.push_back(b.value("real_time", 0.0) * unit_seconds(b.value("time_unit", std::string("ns"))));
    s.w.push_back(b.value("weights_per_second", 0.0));
    s.b.push_back(b.value("bytes_per_second", 0.0));
  }
  for (auto& [name, s] : by_name) {
    row r = s.r;
    r.seconds = median(s.t);
    r.weights_per_s = median(s.w);
    r.bytes_per_s = median(s.b);
    d.rows.push_back(r);
  }
  return d;
}

const row* find(const std::vector<row>& rows, const std::string& op, const std::string& method, int bits, long n,
                int threads, int cold) {
  for (const auto& r : rows)
    if (r.op == op && r.method == method && r.bits == bits && r.n == n && r.threads == threads &&
        (cold < 0 || r.cold == cold))
      return &r;
  return nullptr;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string series_label(const series_key& k) {
  const auto& [op, method, n, threads, cold] = k;
  return op + " " + method + " n=" + std::to_string(n) + " t=" + std::to_string(threads) + (cold ? " cold" : " warm");
}

/// A markdown table of `cell(series, bits)` over every series accepted by `take`.
template <class Take, class Cell>
void table(std::ostream& md, const std::vector<row>& rows, const std::string& first_col, Take&& take, Cell&& cell) {
  std::map<series_key, std::map<int, const row*>> grid;
  std::set<int> widths;
  for (const auto& r : rows)
    if (take(r)) grid[key_of(r)][r.bits] = &r, widths.insert(r.bits);
  if (grid.empty()) {
    md << "(no rows in this run)\n\n";
    return;
  }
  md << "| " << first_col << " |";
  for (int b : widths) md << " " << (b == 32 ? std::string("f32") : "b=" + std::to_string(b)) << " |";
  md << "\n|---|";
  for (std::size_t i = 0; i < widths.size(); ++i) md << "---:|";
  md << "\n";
  for (const auto& [k, cells] : grid) {
    md << "| " << series_label(k) << " |";
    for (int b : widths) {
      const auto it = cells.find(b);
      md << " " << (it == cells.end() ? std::string() : cell(*it->second)) << " |";
    }
    md << "\n";
  }
  md << "\n";
}

void write_report(const report_data& d, std::ostream& md) {
  const auto& rows = d.rows;
  md << "# bitdial benchmark report\n\n";
  if (!d.context.empty()) md << "Run: " << d.context << ". ";
  md << rows.size() << " rows";
  if (!rows.empty()) md << " (m = " << rows.front().m << ", k = " << rows.front().k << ")";
  md << ". Medians over repetitions; ratios are within this one run (PERF.md).\n\n";
  if (!d.errors.empty()) {
    md << "Rows that reported an error (left out):\n\n";
    for (const auto& e : d.errors) md << "- " << e << "\n";
    md << "\n";
  }

  md << "## 1. G weights/s (M·K·N / real time)\n\n";
  table(
      md, rows, "op method n threads", [](const row& r) { return r.weights_per_s > 0; },
      [](const row& r) { return fmt("%.1f", r.weights_per_s / 1e9); });
  table(
      md, rows, "O(1) width switch, ns", [](const row& r) { return r.op == "switch"; },
      [](const row& r) { return fmt("%.1f", r.seconds * 1e9); });

  md << "## 2. Linearity (cold): t(b)/t(8), target <= b/8 + 0.1\n\n";
  table(
      md, rows, "series",
      [](const row& r) {
        return r.op == "gemv" && r.cold == 1 && r.bits <= 8 && r.method != "int8_dot" && r.method != "stream";
      },
      [&](const row& r) {
        const row* ref = find(rows, r.op, r.method, 8, r.n, r.threads, r.cold);
        if (!ref) ref = find(rows, r.op, "truncation", 8, r.n, r.threads, r.cold);
        if (!ref || ref->seconds <= 0) return std::string("–");
        const double ratio = r.seconds / ref->seconds, target = r.bits / 8.0 + 0.1;
        return fmt("%.3f", ratio) + " / " + fmt("%.3f", target) + (ratio <= target ? " ✓" : " ✗");
      });

  md << "## 3. GEMV bytes/s as % of the streaming read of the same width (target >= 90% cold, b >= 3)\n\n";
  table(
      md, rows, "series",
      [](const row& r) {
        return r.op == "gemv" && r.bytes_per_s > 0 && r.method != "eigen_f32" && r.method != "int8_dot";
      },
      [&](const row& r) {
        const row* s = find(rows, "read", "stream", r.bits, r.n, r.threads, r.cold);
        if (!s || s->bytes_per_s <= 0) return std::string("–");
        const double pct = 100.0 * r.bytes_per_s / s->bytes_per_s;
        const bool graded = r.cold == 1 && r.bits >= 3;
        return fmt("%.0f%%", pct) + (graded ? (pct >= 90.0 ? " ✓" : " ✗") : "");
      });

  md << "## 4. 8-bit plane path vs int8 × int8 VNNI dot: t(int8_dot) / t(8-bit), target >= 1\n\n";
  md << "| op n threads cold | method | t(int8_dot) / t(8-bit) |\n|---|---|---:|\n";
  bool any4 = false;
  for (const auto& r : rows) {
    if (r.bits != 8 || r.method == "int8_dot" || r.method == "stream" || r.op == "read" || r.op == "switch") continue;
    const row* i8 = find(rows, r.op, "int8_dot", 8, r.n, r.threads, r.cold);
    if (!i8 || r.seconds <= 0) continue;
    const double ratio = i8->seconds / r.seconds;
    md << "| " << r.op << " n=" << r.n << " t=" << r.threads << (r.cold ? " cold" : " warm") << " | " << r.method
       << " | " << fmt("%.2f", ratio) << (ratio >= 1.0 ? " ✓" : " ✗") << " |\n";
    any4 = true;
  }
  md << (any4 ? "\n" : "| (no matching rows) | | |\n\n");

  md << "## 5. Speed-up against Eigen f32 (weights/s ratio, same n and threads)\n\n";
  table(
      md, rows, "series",
      [](const row& r) { return (r.op == "gemv" || r.op == "gemm") && r.method != "eigen_f32" && r.weights_per_s > 0; },
      [&](const row& r) {
        const row* e = find(rows, r.op, "eigen_f32", 32, r.n, r.threads, -1);
        if (!e || e->weights_per_s <= 0) return std::string("–");
        return fmt("%.1f×", r.weights_per_s / e->weights_per_s);
      });

  md << "## 6. Two threads against one: t(threads=1) / t(threads=2)\n\n";
  table(
      md, rows, "series (t=2 rows)", [](const row& r) { return r.threads == 2 && r.op != "switch"; },
      [&](const row& r) {
        const row* one = find(rows, r.op, r.method, r.bits, r.n, 1, r.cold);
        if (!one || r.seconds <= 0) return std::string("–");
        return fmt("%.2f", one->seconds / r.seconds);
      });

  md << "## 7. Warm 2-thread GEMV targets (G weights/s)\n\n";
  md << "| method | b=1 (450) | b=2 (260) | b=3 (170) | b=4 (115) | b=8 (50) |\n|---|---:|---:|---:|---:|---:|\n";
  const std::pair<int, double> targets[] = {{1, 450}, {2, 260}, {3, 170}, {4, 115}, {8, 50}};
  std::set<std::string> methods;
  for (const auto& r : rows)
    if (r.op == "gemv" && r.n == 1 && r.threads == 2 && r.cold == 0 && r.bits <= 8 && r.method != "stream")
      methods.insert(r.method);
  for (const auto& m : methods) {
    md << "| " << m << " |";
    for (auto [b, t] : targets) {
      const row* r = find(rows, "gemv", m, b, 1, 2, 0);
      md << " "
         << (r ? fmt("%.1f", r->weights_per_s / 1e9) + (r->weights_per_s / 1e9 >= t ? " ✓" : " ✗") : std::string())
         << " |";
    }
    md << "\n";
  }
  if (methods.empty()) md << "| (no warm 2-thread gemv rows) | | | | | |\n";
  md << "\n";
}

/// PREFIX.dat (one block per series: bits, G weights/s) and PREFIX.gp: G weights/s vs bits, one
/// panel per (threads, cold) for the n = 1 rows, log scale; Eigen f32 as a flat line.
void write_plot(const report_data& d, const std::string& prefix) {
  std::map<series_key, std::map<int, double>> series;
  for (const auto& r : d.rows)
    if ((r.op == "gemv" || r.op == "read") && r.n == 1 && r.weights_per_s > 0)
      series[key_of(r)][r.bits] = r.weights_per_s / 1e9;
  std::ofstream dat(prefix + ".dat");
  std::map<std::pair<int, int>, std::vector<std::pair<int, std::string>>> panels;  // (threads, cold) -> (index, title)
  int index = 0;
  for (const auto& [k, pts] : series) {
    const auto& [op, method, n, threads, cold] = k;
    dat << "# " << series_label(k) << "\n";
    if (method == "eigen_f32") {  // width 32: draw it across the plot
      for (int b : {1, 8}) dat << b << " " << pts.begin()->second << "\n";
    } else {
      for (const auto& [b, v] : pts) dat << b << " " << v << "\n";
    }
    dat << "\n\n";
    const std::string title = op == "read" ? "stream read (same bytes)" : method;
    panels[{threads, cold}].push_back({index++, title});
    (void)n;
  }
  std::ofstream gp(prefix + ".gp");
  gp << "# G weights/s against served bits, from bitdial_bench (n = 1)\n"
     << "set terminal svg size 1200," << (panels.size() > 2 ? 900 : 480) << " dynamic noenhanced font 'sans,11'\n"
     << "set output '" << prefix << ".svg'\n"
     << "set logscale y\nset grid\nset key top right font 'sans,9'\nset xrange [0.5:8.5]\nset xtics 1\n"
     << "set xlabel 'bits'\nset ylabel 'G weights/s'\n"
     << "set multiplot layout " << (panels.size() > 2 ? 2 : 1) << ","
     << std::min<std::size_t>(2, std::max<std::size_t>(1, panels.size())) << "\n";
  for (const auto& [tc, items] : panels) {
    gp << "set title 'GEMV n=1, threads=" << tc.first << (tc.second ? ", cold (DRAM)" : ", warm") << "'\nplot ";
    for (std::size_t i = 0; i < items.size(); ++i)
      gp << (i ? ", \\\n     " : "") << "'" << prefix << ".dat' index " << items[i].first
         << " using 1:2 with linespoints title '" << items[i].second << "'";
    gp << "\n";
  }
  gp << "unset multiplot\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string in, prefix = "bitdial_bench_report";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc)
      prefix = argv[++i];
    else if (a == "--help" || a == "-h") {
      std::printf("usage: bitdial_bench_report BENCH.json [--out PREFIX]\n");
      return 0;
    } else
      in = a;
  }
  if (in.empty()) {
    std::fprintf(stderr, "usage: bitdial_bench_report BENCH.json [--out PREFIX]\n");
    return 2;
  }
  try {
    const auto d = read_bench_json(in);
    if (d.rows.empty()) throw std::runtime_error("bitdial_bench_report: " + in + ": no bitdial_bench rows");
    std::ostringstream md;
    write_report(d, md);
    std::ofstream(prefix + ".md") << md.str();
    std::cout << md.str();
    write_plot(d, prefix);
    std::printf("wrote %s.md, %s.dat, %s.gp", prefix.c_str(), prefix.c_str(), prefix.c_str());
    if (std::system("command -v gnuplot >/dev/null 2>&1") == 0 &&
        std::system(("gnuplot '" + prefix + ".gp'").c_str()) == 0)
      std::printf(", %s.svg\n", prefix.c_str());
    else
      std::printf(" (gnuplot not found or failed: no SVG; the quickstart installs gnuplot-nox)\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
