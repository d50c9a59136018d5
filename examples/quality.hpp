// examples/quality.hpp — the per-width quality table shared by bitdial_quality and bitdial_demo:
// every elastic family served from its one store, beside the dedicated quantizers at the same
// scale groups, on the same rows.
//
// Stores (each built once from the float weights W, rows × K):
//   int8 master   RNE INT8 master with MSE-clipped scales (quantize_mse of uniform_symmetric<8>: the
//                 dedicated 8-bit quantizer itself) and fitted per-width maps
//                 (select/fit.hpp). Served as: truncation (fitted, the default view),
//                 truncation_literal (SEMANTICS §3 midpoint), double_rounding_rne / _rhu (fitted),
//                 double_rounding_rhu_literal (SEMANTICS §2).
//   ready master  truncation-ready INT8 master (quant/truncation.hpp: one scale per group searched
//                 for the truncated widths together) with fitted maps, served as truncation_ready.
//   slices        uniform_residual {2,1,1,1,1,1,1} with MSE-clipped slice 0 and binarized residual
//                 slices (quant/residual.hpp, residual_scales::mse_clipped): n slices = n + 1 bits;
//                 slices_2x4: {2,2,2,2}, MSE-clipped 2-bit slices (b = 2, 4, 6, 8).
// Measured only (not stored, no kernel serves them): *_per_group — the same served codes with a
// least-squares (α, β) per scale group instead of per row, to show what per-group fits would buy
// (they would cost 6 bytes per group and width, against 6 per row).
// References (a dedicated quantizer per width, not servable from one store):
//   uniform_mse   uniform_symmetric(b) with MSE-clipped scales (quant/calibrate.hpp), b ≥ 2
//   binarization  per-group s·sign(w), s = mean|w| (b = 1)
// Metrics per row: weight SQNR (dB), output relative error ||Ŵx − Wx|| / ||Wx|| over the tokens
// (weights only: float activations, double accumulation), bytes a GEMV reads, and for served rows
// the elastic tax = reference SQNR − served SQNR at that width.
#pragma once

#include <bitdial/bitdial.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace bitdial_examples {

namespace bd = bitdial;

struct quality_row {
  std::string family;
  bool served = true;  // false: a dedicated reference quantizer
  int bits = 0;
  double weight_sqnr_db = 0, output_rel_err = 0;
  std::size_t bytes_read = 0;  // GEMV weight bytes for the served rows; 0 for references
};

struct quality_input {
  const float* w = nullptr;
  std::size_t rows = 0, cols = 0;
  bd::granularity group = bd::granularity::per_row();
  const float* x = nullptr;  // tokens × cols
  std::size_t tokens = 0;
};

inline bd::granularity group_for(std::size_t K) {
  for (std::size_t g : {128, 64, 32})
    if (K % g == 0) return bd::granularity::per_group(g);
  return bd::granularity::per_row();
}
inline std::string group_name(const bd::granularity& g) {
  return g.k == bd::granularity::kind::per_group ? "groups of " + std::to_string(g.group) : "one scale per row";
}

/// Weight SQNR and output error of one reconstruction.
class quality_meter {
 public:
  explicit quality_meter(const quality_input& in) : in_(in), yref_(in.tokens * in.rows) { outputs(in.w, yref_); }
  double sqnr(const std::vector<float>& what) const {
    return bd::sqnr_db(std::span<const float>(in_.w, in_.rows * in_.cols), what);
  }
  double output_error(const std::vector<float>& what) const {
    std::vector<double> y(yref_.size());
    outputs(what.data(), y);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < y.size(); ++i) num += (y[i] - yref_[i]) * (y[i] - yref_[i]), den += yref_[i] * yref_[i];
    return den > 0 ? std::sqrt(num / den) : (num > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  }

 private:
  void outputs(const float* w, std::vector<double>& y) const {
    for (std::size_t n = 0; n < in_.tokens; ++n)
      for (std::size_t r = 0; r < in_.rows; ++r) {
        double acc = 0;
        const float* wr = w + r * in_.cols;
        const float* xn = in_.x + n * in_.cols;
        for (std::size_t c = 0; c < in_.cols; ++c) acc += double(wr[c]) * xn[c];
        y[n * in_.rows + r] = acc;
      }
  }
  quality_input in_;
  std::vector<double> yref_;
};

inline std::vector<float> dequantize_view(const bd::plane_view& v) {
  std::vector<float> out(v.rows() * v.cols());
  for (std::size_t r = 0; r < v.rows(); ++r)
    for (std::size_t c = 0; c < v.cols(); ++c) out[r * v.cols() + c] = v.dequantize(r, c);
  return out;
}
inline std::vector<float> dequantize_slices(const bd::slice_view& v) {
  std::vector<float> out(v.rows() * v.cols());
  for (std::size_t r = 0; r < v.rows(); ++r)
    for (std::size_t c = 0; c < v.cols(); ++c) out[r * v.cols() + c] = v.dequantize(r, c);
  return out;
}

/// The stores of the header comment, built once.
struct quality_stores {
  bd::bit_plane_stack master;     // RNE absmax INT8 master with fitted maps
  bd::bit_plane_stack ready;      // truncation-ready INT8 master with fitted maps
  bd::plane_slice_stack slices;   // {2,1,1,1,1,1,1}, MSE-clipped
  bd::plane_slice_stack slices2;  // {2,2,2,2}, MSE-clipped
  static quality_stores build(const quality_input& in) {
    const bd::const_matrix W(in.w, in.rows, in.cols);
    quality_stores s;
    s.master = bd::bit_plane_stack::pack(bd::quantize_mse(bd::uniform_symmetric<8>({.gran = in.group}), W));
    bd::fit_reconstruction(s.master, W);
    s.ready = bd::bit_plane_stack::pack(
        bd::truncation_ready<8>({.gran = in.group, .coarse_steps = 24, .refine_steps = 8}).quantize(W));
    bd::fit_reconstruction(s.ready, W, {.round_half_up = false, .round_half_even = false});
    s.slices = bd::plane_slice_stack::pack(bd::uniform_residual({2, 1, 1, 1, 1, 1, 1}, {.gran = in.group}).quantize(W));
    s.slices2 = bd::plane_slice_stack::pack(bd::uniform_residual({2, 2, 2, 2}, {.gran = in.group}).quantize(W));
    return s;
  }
};

/// The served codes of `v` with a least-squares affine map per scale group (measured only).
inline std::vector<float> per_group_fit(const bd::plane_view& v, const float* w) {
  const std::size_t K = v.cols();
  const auto& gran = v.stack->gran();
  std::vector<float> out(v.rows() * K);
  const std::size_t glen = gran.k == bd::granularity::kind::per_group ? gran.group : K;
  for (std::size_t r = 0; r < v.rows(); ++r)
    for (std::size_t c0 = 0; c0 < K; c0 += glen) {
      double st = 0, stt = 0, sw = 0, swt = 0, n = 0;
      for (std::size_t c = c0; c < c0 + glen; ++c) {
        const double t = v.code(r, c), x = w[r * K + c];
        st += t, stt += t * t, sw += x, swt += x * t, n += 1;
      }
      const double det = n * stt - st * st;
      const double a = det > 0 ? (n * swt - st * sw) / det : 0.0;
      const double b = det > 0 ? (sw - a * st) / n : sw / n;
      for (std::size_t c = c0; c < c0 + glen; ++c) out[r * K + c] = static_cast<float>(a * v.code(r, c) + b);
    }
  return out;
}

/// Every row of the table: served families from `stores`, then the references.
inline std::vector<quality_row> quality_rows(const quality_input& in, const quality_stores& st) {
  const quality_meter meter(in);
  const bd::const_matrix W(in.w, in.rows, in.cols);
  std::vector<quality_row> rows;
  auto add = [&](std::string fam, bool served, int b, const std::vector<float>& deq, std::size_t bytes) {
    rows.push_back({std::move(fam), served, b, meter.sqnr(deq), meter.output_error(deq), bytes});
  };
  using bd::reconstruction;
  using bd::rounding;
  for (int b = 8; b >= 1; --b) {
    const auto tf = bd::view(st.master, b);
    add("truncation", true, b, dequantize_view(tf), tf.bytes_read());
    const auto tl = bd::view(st.master, b, rounding::floor, reconstruction::midpoint);
    add("truncation_literal", true, b, dequantize_view(tl), tl.bytes_read());
    const auto rne = bd::view(st.master, b, rounding::half_even);
    add("double_rounding_rne", true, b, dequantize_view(rne), rne.bytes_read());
    const auto rhu = bd::view(st.master, b, rounding::half_up);
    add("double_rounding_rhu", true, b, dequantize_view(rhu), rhu.bytes_read());
    const auto rl = bd::view(st.master, b, rounding::half_up, reconstruction::midpoint);
    add("double_rounding_rhu_literal", true, b, dequantize_view(rl), rl.bytes_read());
    if (b < 8) {
      rows.push_back({"truncation_per_group", false, b, 0, 0, 0});
      const auto pg = per_group_fit(bd::view(st.master, b, rounding::floor, reconstruction::floor), in.w);
      rows.back().weight_sqnr_db = meter.sqnr(pg), rows.back().output_rel_err = meter.output_error(pg);
      rows.push_back({"double_rounding_rhu_per_group", false, b, 0, 0, 0});
      const auto pr = per_group_fit(bd::view(st.master, b, rounding::half_up, reconstruction::midpoint), in.w);
      rows.back().weight_sqnr_db = meter.sqnr(pr), rows.back().output_rel_err = meter.output_error(pr);
    }
    const auto tr = bd::view(st.ready, b);
    add("truncation_ready", true, b, dequantize_view(tr), tr.bytes_read());
    if (b >= 2) {
      const auto sv = st.slices.view_slices(static_cast<std::size_t>(b - 1));
      add("slices", true, b, dequantize_slices(sv), sv.bytes_read());
    }
    if (b % 2 == 0) {
      const auto sv = st.slices2.view_slices(static_cast<std::size_t>(b / 2));
      add("slices_2x4", true, b, dequantize_slices(sv), sv.bytes_read());
    }
  }
  for (int b = 8; b >= 1; --b) {
    if (b >= 2) {
      const bd::uniform_symmetric<> q(b, {.gran = in.group});
      add("uniform_mse", false, b, bd::quantize_mse(q, W).dequantize(), 0);
      add("uniform_absmax", false, b, q.quantize(W).dequantize(), 0);
    } else {
      auto bin = bd::residual_binarizer(1, {.gran = in.group}).quantize(W);
      add("binarization", false, 1, bin.dequantize(1), 0);
    }
  }
  return rows;
}

/// The reference a served row at width b is taxed against.
inline const quality_row* reference_at(const std::vector<quality_row>& rows, int b) {
  for (const auto& r : rows)
    if (!r.served && r.bits == b && r.family == (b == 1 ? "binarization" : "uniform_mse")) return &r;
  return nullptr;
}

/// Prints the table: one line per family, SQNR per width, then output error, then the tax.
inline void print_quality(const std::vector<quality_row>& rows, std::FILE* out = stdout) {
  std::vector<std::string> fams;
  for (const auto& r : rows)
    if (std::find(fams.begin(), fams.end(), r.family) == fams.end()) fams.push_back(r.family);
  auto table = [&](const char* title, auto&& value, bool served_only) {
    std::fprintf(out, "\n  %-30s", title);
    for (int b = 1; b <= 8; ++b) std::fprintf(out, "%8d", b);
    std::fprintf(out, "\n");
    for (const auto& f : fams) {
      bool any = false;
      for (const auto& r : rows)
        any = any || (r.family == f && (r.served || !served_only || r.family.find("_per_group") != std::string::npos));
      if (!any) continue;
      std::fprintf(out, "  %-30s", f.c_str());
      for (int b = 1; b <= 8; ++b) {
        const quality_row* hit = nullptr;
        for (const auto& r : rows)
          if (r.family == f && r.bits == b) hit = &r;
        if (hit)
          std::fprintf(out, "%8.2f", value(*hit));
        else
          std::fprintf(out, "%8s", "-");
      }
      std::fprintf(out, "\n");
    }
  };
  table(
      "weight SQNR dB \\ bits", [](const quality_row& r) { return r.weight_sqnr_db; }, false);
  table(
      "output rel. error \\ bits", [](const quality_row& r) { return r.output_rel_err; }, false);
  table(
      "elastic tax dB \\ bits",
      [&](const quality_row& r) {
        const quality_row* ref = reference_at(rows, r.bits);
        return ref ? ref->weight_sqnr_db - r.weight_sqnr_db : 0.0;
      },
      true);
}

}  // namespace bitdial_examples
