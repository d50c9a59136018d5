// MSE clipping search: Max's (1960) optimal uniform quantizer, exactness of the fast MSE evaluation,
// agreement with brute force, never worse than absmax; error metrics; the SQNR table.
#include <bitdial/quant/calibrate.hpp>
#include <bitdial/quant/metrics.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include "test_support.hpp"

using namespace bitdial;

namespace {

const_matrix view(const std::vector<float>& v, std::size_t rows, std::size_t cols) { return {v.data(), rows, cols}; }

/// MSE of quantizing `values` with one scale (and zero point), computed through the quantizer itself.
template <int B>
double direct_mse(const uniform_symmetric<B>& q, const std::vector<float>& v, float s, std::int32_t = 0) {
  return mse(v, q.quantize_with_scales(view(v, 1, v.size()), std::vector<float>{s}).dequantize());
}
template <int B>
double direct_mse(const uniform_midrise<B>& q, const std::vector<float>& v, float s, std::int32_t = 0) {
  return mse(v, q.quantize_with_scales(view(v, 1, v.size()), std::vector<float>{s}).dequantize());
}
template <int B>
double direct_mse(const uniform_asymmetric<B>& q, const std::vector<float>& v, float s, std::int32_t z) {
  return mse(
      v,
      q.quantize_with_scales(view(v, 1, v.size()), std::vector<float>{s}, std::vector<std::int32_t>{z}).dequantize());
}

/// Same, without building a matrix: nearest code through code(), in double.
template <int B>
double fast_direct_mse(const uniform_symmetric<B>& q, const std::vector<float>& v, float s, std::int32_t) {
  double e = 0;
  for (float x : v) e += std::pow(double(x) - double(s) * q.code(x, s), 2);
  return e / double(v.size());
}
template <int B>
double fast_direct_mse(const uniform_midrise<B>& q, const std::vector<float>& v, float s, std::int32_t) {
  double e = 0;
  for (float x : v) e += std::pow(double(x) - double(s) * (q.code(x, s) + 0.5), 2);
  return e / double(v.size());
}
template <int B>
double fast_direct_mse(const uniform_asymmetric<B>& q, const std::vector<float>& v, float s, std::int32_t z) {
  double e = 0;
  for (float x : v) e += std::pow(double(x) - double(s) * (q.code(x, s, z) - z), 2);
  return e / double(v.size());
}

double rel(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// The check of the search named in SEMANTICS.md §1.

TEST_CASE("mid-rise step search reaches Max's optimal uniform quantizer for N(0,1)", "[calibrate][max1960]") {
  BITDIAL_LOG_SEED();
  const auto x = test::normal(1000000, 1960);
  struct expected {
    int bits;  // N = 2^bits levels
    double step, mse;
  };
  for (const expected e : {expected{2, 0.9957, 0.1188}, expected{4, 0.3352, 0.01154}}) {
    const auto r = search_scale(uniform_midrise<>(e.bits), x);
    INFO("N = " << (1 << e.bits) << ": step " << r.scale << " (Max " << e.step << "), MSE " << r.mse << " (Max "
                << e.mse << ")");
    CHECK(rel(r.scale, e.step) < 0.01);
    CHECK(rel(r.mse, e.mse) < 0.01);
    // The reported MSE is the quantizer's own error at the stored step.
    CHECK(rel(fast_direct_mse(uniform_midrise<>(e.bits), x, r.scale, 0), r.mse) < 1e-9);
  }
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("the sorted-prefix MSE equals the quantizer's own error at every width", "[calibrate]") {
  BITDIAL_LOG_SEED();
  const auto normal = test::normal(5000, 31);
  const auto heavy = test::heavy_tailed(5000, 32);
  detail::sorted_group sg;
  std::mt19937_64 rng(test::seed() + 33);
  std::uniform_real_distribution<double> ratio(0.01, 1.2);
  for (const auto* v : {&normal, &heavy}) {
    sg.assign(*v);
    const double n = double(v->size());
    for (int b = 1; b <= 8; ++b) {
      INFO("b = " << b);
      for (int t = 0; t < 8; ++t) {
        const float amax = sg.absmax();
        const uniform_symmetric<> qs(b);
        const float ss = float(ratio(rng) * qs.scale_for(amax));
        CHECK(rel(sg.sse(ss, {qs.qmin(), qs.qmax(), 0.0}) / n, fast_direct_mse(qs, *v, ss, 0)) < 1e-9);
        const uniform_midrise<> qm(b);
        const float sm = float(ratio(rng) * 2 * amax / unsigned_max(b));
        CHECK(rel(sg.sse(sm, {qm.jmin(), qm.jmax(), 0.5}) / n, fast_direct_mse(qm, *v, sm, 0)) < 1e-9);
        const uniform_asymmetric<> qa(b);
        const std::int32_t z = std::uniform_int_distribution<std::int32_t>(0, qa.qmax())(rng);
        const float sa = float(ratio(rng) * (sg.max() - sg.min()) / qa.qmax());
        CHECK(rel(sg.sse(sa, {-z, qa.qmax() - z, 0.0}) / n, fast_direct_mse(qa, *v, sa, z)) < 1e-9);
      }
    }
  }
}

namespace {

/// Dense scan of α = i / points over (0, 1] (and all zero points for asymmetric), through code().
template <class Q>
double brute_force_mse(const Q& q, const std::vector<float>& v, double s_ref, int points, std::int32_t z_lo = 0,
                       std::int32_t z_hi = 0) {
  double best = std::numeric_limits<double>::infinity();
  for (std::int32_t z = z_lo; z <= z_hi; ++z)
    for (int i = 1; i <= points; ++i) best = std::min(best, fast_direct_mse(q, v, float(s_ref * i / points), z));
  return best;
}

}  // namespace

// MSE(α) is jagged for few values per level, so a finite search can miss a narrow dip: the bound is
// 0.1% for b <= 3 and 2% above (measured worst case over 30 seeds and n = 128..4096: ~1%).
TEST_CASE("the search is never worse than a dense brute-force scan", "[calibrate]") {
  BITDIAL_LOG_SEED();
  const auto normal = test::normal(600, 41);
  const auto heavy = test::heavy_tailed(600, 42);
  for (const auto* v : {&normal, &heavy}) {
    float amax = 0, lo = 0, hi = 0;
    for (float x : *v) amax = std::max(amax, std::fabs(x)), lo = std::min(lo, x), hi = std::max(hi, x);
    for (int b = 1; b <= 8; ++b) {
      INFO("b = " << b << (v == &normal ? ", normal" : ", Student-t(3)"));
      const double tol = b <= 3 ? 1e-3 : 2e-2;
      const uniform_symmetric<> qs(b);
      const auto rs = search_scale(qs, *v);
      CHECK(rs.mse <= brute_force_mse(qs, *v, qs.scale_for(amax), 1200) * (1 + tol));
      CHECK(rs.ratio > 0.0);
      const uniform_midrise<> qm(b);
      const auto rm = search_scale(qm, *v);
      CHECK(rm.mse <= brute_force_mse(qm, *v, 2.0 * amax / unsigned_max(b), 1200) * (1 + tol));
      const uniform_asymmetric<> qa(b);
      const auto ra = search_scale(qa, *v);
      const double sa = (double(hi) - lo) / qa.qmax();
      const std::int32_t z0 = qa.zero_point_for(lo, float(sa));
      // Against the same zero-point candidates (tight) and, for small b, against every zero point.
      CHECK(ra.mse <= brute_force_mse(qa, *v, sa, 1200, std::max(z0 - 1, 0), std::min(z0 + 1, qa.qmax())) * (1 + tol));
      if (b <= 3) CHECK(ra.mse <= brute_force_mse(qa, *v, sa, 400, 0, qa.qmax()) * (1 + 2e-2));
      CHECK(std::abs(ra.zero_point - z0) <= 1);
    }
  }
}

TEST_CASE("MSE-clipped scales are never worse than absmax / minmax, per group", "[calibrate]") {
  BITDIAL_LOG_SEED();
  const std::size_t rows = 6, cols = 256;
  auto w = test::heavy_tailed(rows * cols, 51);
  for (std::size_t c = 0; c < 64; ++c) w[2 * cols + c] = 0.0f;  // an all-zero group
  const auto m = view(w, rows, cols);
  for (const auto g : {granularity::per_tensor(), granularity::per_row(), granularity::per_group(64)}) {
    for (int b = 1; b <= 8; ++b) {
      INFO("b = " << b << ", granularity kind " << int(g.k));
      auto group_errors = [&](const std::vector<float>& deq) {
        std::vector<double> e(g.count(rows, cols), 0.0);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < cols; ++c)
            e[g.index(r, c, cols)] += std::pow(double(w[r * cols + c]) - deq[r * cols + c], 2);
        return e;
      };
      const uniform_symmetric<> qs(b, {g});
      const auto es0 = group_errors(qs.quantize(m).dequantize());
      const auto es1 = group_errors(quantize_mse(qs, m).dequantize());
      const uniform_midrise<> qm(b, {g});
      const auto em0 = group_errors(qm.quantize(m).dequantize());
      const auto em1 = group_errors(quantize_mse(qm, m).dequantize());
      const uniform_asymmetric<> qa(b, {g});
      const auto ea0 = group_errors(qa.quantize(m).dequantize());
      const auto qa1 = quantize_mse(qa, m);
      const auto ea1 = group_errors(qa1.dequantize());
      for (std::size_t i = 0; i < es0.size(); ++i) {
        CHECK(es1[i] <= es0[i] * (1 + 1e-6) + 1e-12);
        CHECK(em1[i] <= em0[i] * (1 + 1e-6) + 1e-12);
        CHECK(ea1[i] <= ea0[i] * (1 + 1e-6) + 1e-12);
        CHECK(qa1.zero_points[i] >= 0);
        CHECK(qa1.zero_points[i] <= qa.qmax());
      }
      if (g == granularity::per_group(64)) {
        const auto s = mse_scales(qs, m);
        CHECK(s[2 * 4] == 0.0f);  // row 2, group 0 is all zero
        CHECK(mse_params(qa, m).scales[2 * 4] == 0.0f);
        CHECK(mse_scales(qm, m)[2 * 4] == 0.0f);
      }
    }
  }
}

TEST_CASE("the search does not depend on element order; all-zero input gives scale 0", "[calibrate]") {
  BITDIAL_LOG_SEED();
  auto v = test::heavy_tailed(2000, 61);
  const auto a = search_scale(uniform_symmetric<>(3), v);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(test::seed() + 62));
  const auto b = search_scale(uniform_symmetric<>(3), v);
  CHECK(a.scale == b.scale);
  CHECK(a.mse == b.mse);
  const std::vector<float> zeros(10, 0.0f);
  for (int bits = 1; bits <= 8; ++bits) {
    CHECK(search_scale(uniform_symmetric<>(bits), zeros).scale == 0.0f);
    CHECK(search_scale(uniform_midrise<>(bits), zeros).scale == 0.0f);
    const auto r = search_scale(uniform_asymmetric<>(bits), zeros);
    CHECK(r.scale == 0.0f);
    CHECK(r.zero_point == 0);
    CHECK(r.mse == 0.0);
  }
  // A single non-zero value is reproduced (it sits on the outermost level at α = 1, up to the float
  // rounding of the stored scale).
  const std::vector<float> one{0.0f, 0.0f, 3.0f};
  CHECK(search_scale(uniform_symmetric<>(4), one).mse < 1e-12);
  CHECK(search_scale(uniform_asymmetric<>(4), one).mse < 1e-12);
  CHECK(search_scale(uniform_midrise<>(4), one).mse > 0.0);  // mid-rise has no zero level
}

TEST_CASE("calibration rejects bad input by name", "[calibrate][errors]") {
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  const uniform_symmetric<> q(4);
  CHECK_THROWS_WITH(search_scale(q, std::vector<float>{}), Catch::Contains("empty"));
  v[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(search_scale(q, v), Catch::Contains("values[3] = nan"));
  CHECK_THROWS_WITH(mse_scales(q, view(v, 2, 3)), Catch::Contains("(1, 0) = nan"));
  v[3] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(mse_params(uniform_asymmetric<>(4), view(v, 2, 3)), Catch::Contains("(1, 0) = inf"));
  v[3] = 4.0f;
  CHECK_THROWS_WITH(mse_scales(uniform_midrise<>(4, {granularity::per_group(2)}), view(v, 2, 3)),
                    Catch::Contains("group = 2"));
  CHECK_THROWS_WITH(mse_scales(q, {v.data(), 0, 3}), Catch::Contains("shape = 0x3"));
  auto opts = [](auto edit) {
    mse_search_options o;
    edit(o);
    return o;
  };
  CHECK_THROWS_WITH(search_scale(q, v, opts([](auto& o) { o.grid_points = 1; })), Catch::Contains("grid_points = 1"));
  CHECK_THROWS_WITH(search_scale(q, v, opts([](auto& o) { o.min_ratio = 0.0; })), Catch::Contains("min_ratio = 0"));
  CHECK_THROWS_WITH(search_scale(q, v, opts([](auto& o) { o.min_ratio = 1.5; })), Catch::Contains("min_ratio = 1.5"));
  CHECK_THROWS_WITH(search_scale(q, v, opts([](auto& o) { o.starts = 0; })), Catch::Contains("starts = 0"));
  CHECK_THROWS_WITH(search_scale(q, v, opts([](auto& o) { o.local_points = -2; })),
                    Catch::Contains("local_points = -2"));
  CHECK_THROWS_WITH(search_scale(q, v, opts([](auto& o) { o.refine_iterations = -1; })),
                    Catch::Contains("refine_iterations = -1"));
  CHECK_THROWS_WITH(search_scale(q, v, opts([](auto& o) { o.polish_iterations = 5000; })),
                    Catch::Contains("polish_iterations = 5000"));
  // Minimal searches still work.
  const auto minimal = opts([](auto& o) {
    o.grid_points = 2, o.starts = 1, o.local_points = 0, o.refine_iterations = 0, o.polish_iterations = 0;
  });
  CHECK(search_scale(q, std::vector<float>{1, 2, 3}, minimal).ratio == 1.0);
  CHECK_THROWS_WITH(uniform_midrise<>(0), Catch::Contains("bits = 0"));
  CHECK_THROWS_WITH(uniform_asymmetric<>(9), Catch::Contains("bits = 9"));
}

// ---------------------------------------------------------------------------------------------
// Metrics

TEST_CASE("mse, relative_mse and sqnr_db on hand-computed vectors", "[metrics]") {
  const std::vector<float> x{1, -2, 2, 0};
  const std::vector<float> y{1, -1, 2, 1};
  CHECK(mse(x, y) == 0.5);                 // (0 + 1 + 0 + 1) / 4
  CHECK(relative_mse(x, y) == 2.0 / 9.0);  // 2 / (1 + 4 + 4)
  CHECK(sqnr_db(x, y) == Approx(10 * std::log10(4.5)));
  CHECK(sqnr_db(x, x) == std::numeric_limits<double>::infinity());
  CHECK(relative_mse(x, x) == 0.0);
  const std::vector<float> z(4, 0.0f);
  CHECK(relative_mse(z, x) == std::numeric_limits<double>::infinity());
  CHECK(relative_mse(z, z) == 0.0);
  CHECK_THROWS_WITH(mse(x, std::vector<float>{1, 2}), Catch::Contains("approximation.size() = 2"));
  CHECK_THROWS_WITH(sqnr_db(std::vector<float>{}, std::vector<float>{}), Catch::Contains("reference.size() = 0"));
}

// ---------------------------------------------------------------------------------------------
// The SQNR table: uniform_symmetric per row, absmax vs MSE-clipped, b = 1..8, 256 x 4096.

namespace {

struct sqnr_row {
  double absmax, clipped;
};

std::vector<sqnr_row> symmetric_sqnr_table(const std::vector<float>& w) {
  const auto m = view(w, 256, 4096);
  std::vector<sqnr_row> t;
  for (int b = 1; b <= 8; ++b) {
    const uniform_symmetric<> q(b);
    t.push_back({sqnr_db(w, q.quantize(m).dequantize()), sqnr_db(w, quantize_mse(q, m).dequantize())});
  }
  return t;
}

std::string format_table(const char* title, const std::vector<sqnr_row>& t) {
  std::ostringstream os;
  os << title << "\n  b   absmax dB   MSE-clipped dB\n" << std::fixed << std::setprecision(2);
  for (std::size_t i = 0; i < t.size(); ++i)
    os << "  " << i + 1 << "   " << std::setw(8) << t[i].absmax << "   " << std::setw(8) << t[i].clipped << "\n";
  return os.str();
}

}  // namespace

TEST_CASE("SQNR of uniform_symmetric per row: absmax vs MSE-clipped, N(0,1) and Student-t(3)", "[calibrate][sqnr]") {
  BITDIAL_LOG_SEED();
  const auto gauss = symmetric_sqnr_table(test::normal(256 * 4096, 71));
  const auto heavy = symmetric_sqnr_table(test::heavy_tailed(256 * 4096, 72));
  WARN(format_table("uniform_symmetric, per row, 256x4096 N(0,1):", gauss));
  WARN(format_table("uniform_symmetric, per row, 256x4096 Student-t(3):", heavy));
  for (const auto* t : {&gauss, &heavy})
    for (std::size_t i = 0; i < t->size(); ++i) {
      INFO("b = " << i + 1);
      CHECK((*t)[i].clipped >= (*t)[i].absmax - 1e-9);
      if (i >= 1) {
        CHECK((*t)[i].clipped > (*t)[i - 1].clipped);
        CHECK((*t)[i].absmax > (*t)[i - 1].absmax);
      }
    }
  // Sanity anchors: at 8 bits absmax on N(0,1) rows of 4096 gives ~41 dB (6.02 dB/bit regime), and the
  // clipping gain at 2 bits is large (> 5 dB) on both distributions.
  CHECK(gauss[7].absmax > 40.5);
  CHECK(gauss[7].absmax < 42.0);
  CHECK(gauss[7].clipped - gauss[6].clipped == Approx(6.02).margin(0.3));
  CHECK(gauss[1].clipped - gauss[1].absmax > 5.0);
  CHECK(heavy[1].clipped - heavy[1].absmax > 3.0);
  CHECK(heavy[3].clipped - heavy[3].absmax > 3.0);
}

// Extended table, run on demand: ./test_calibrate "[.report]"
TEST_CASE("SQNR report: symmetric, asymmetric and mid-rise, absmax vs MSE-clipped", "[.report]") {
  for (int dist = 0; dist < 2; ++dist) {
    const auto w = dist == 0 ? test::normal(256 * 4096, 71) : test::heavy_tailed(256 * 4096, 72);
    const auto m = view(w, 256, 4096);
    std::ostringstream os;
    os << (dist == 0 ? "N(0,1)" : "Student-t(3)") << ", per row, 256x4096\n"
       << "  b   sym-absmax  sym-mse  asym-minmax  asym-mse  midrise-absmax  midrise-mse\n"
       << std::fixed << std::setprecision(2);
    for (int b = 1; b <= 8; ++b) {
      const uniform_symmetric<> qs(b);
      const uniform_asymmetric<> qa(b);
      const uniform_midrise<> qm(b);
      os << "  " << b << "   " << std::setw(9) << sqnr_db(w, qs.quantize(m).dequantize()) << std::setw(9)
         << sqnr_db(w, quantize_mse(qs, m).dequantize()) << std::setw(13) << sqnr_db(w, qa.quantize(m).dequantize())
         << std::setw(10) << sqnr_db(w, quantize_mse(qa, m).dequantize()) << std::setw(16)
         << sqnr_db(w, qm.quantize(m).dequantize()) << std::setw(13) << sqnr_db(w, quantize_mse(qm, m).dequantize())
         << "\n";
    }
    WARN(os.str());
  }
}
