// bitdial_inspect — what bitdial makes of a checkpoint file.
//
//   bitdial_inspect FILE
//       lists every tensor of a GGUF or safetensors file: name, type, shape, and what it becomes:
//       "master": imported losslessly as a B-bit master from its own codes (GGUF Q4_0 … Q6_K;
//       compressed-tensors, GPTQ and AWQ layers, listed under their prefix with their parts),
//       "floats": quantized from its float values, or "unsupported" and why.
//   bitdial_inspect FILE --dequantize NAME OUT.npy
//       writes the imported master's full-width values (or a float tensor's values) as a float32
//       .npy, row-major [out, in], to diff against the format's own reference dequantization.
#include <bitdial/format/checkpoint_import.hpp>
#include <bitdial/format/gguf.hpp>
#include <bitdial/format/npy.hpp>
#include <bitdial/format/safetensors.hpp>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace bd = bitdial;

namespace {

bool is_gguf(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw bd::error("bitdial_inspect: file = " + path + ": cannot open");
  char m[4] = {};
  f.read(m, 4);
  return f.gcount() == 4 && m[0] == 'G' && m[1] == 'G' && m[2] == 'U' && m[3] == 'F';
}

std::string dims(const std::vector<std::uint64_t>& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

std::string master_text(const bd::imported_master& m) {
  std::string g = m.gran().k == bd::granularity::kind::per_group ? "groups of " + std::to_string(m.gran().group)
                  : m.gran().k == bd::granularity::kind::per_row ? "per row"
                                                                 : "per tensor";
  return "master: " + std::to_string(m.bits()) + "-bit " + (m.is_signed() ? "signed" : "unsigned") + ", " + g +
         (m.has_zero_points() ? ", zero points" : "") + (m.has_offsets() ? ", float offsets" : "") +
         "; serves b = 1.." + std::to_string(m.bits()) +
         (m.is_signed() ? " (truncation, double rounding)" : " (truncation)");
}

int list_gguf(const std::string& path) {
  const auto f = bd::gguf_file::open(path);
  std::printf("%s: GGUF v%u, %zu tensors, %zu metadata keys\n", path.c_str(), f.version(), f.tensors().size(),
              f.metadata().size());
  std::printf("%-40s %-8s %-20s %s\n", "name", "type", "shape [out, in]", "becomes");
  for (const auto& t : f.tensors()) {
    std::vector<std::uint64_t> shape(t.ne.rbegin(), t.ne.rend());  // outermost first, as [out, in]
    std::string what;
    if (!t.is_2d()) {
      what = "not a matrix (1-D or >2-D): not served";
    } else if (t.importable()) {
      try {
        what = master_text(f.import_master(t.name));
      } catch (const bd::error& e) {
        what = std::string("unsupported: ") + e.what();
      }
    } else if (t.loadable()) {
      what = "floats: quantized from its values";
    } else {
      what = std::string("unsupported: ") + bd::ggml_import_limit(t.type);
    }
    std::printf("%-40s %-8s %-20s %s\n", t.name.c_str(), bd::to_string(t.type), dims(shape).c_str(), what.c_str());
  }
  return 0;
}

int list_safetensors(const std::string& path) {
  const auto f = bd::safetensors_file::open(path);
  const auto layers = bd::find_checkpoint_layers(f);
  std::printf("%s: safetensors, %zu tensors, %zu quantized layers\n", path.c_str(), f.tensors().size(), layers.size());
  std::printf("%-40s %-8s %-20s %s\n", "name", "dtype", "shape", "becomes");
  std::set<std::string> parts;
  for (const auto& l : layers) {
    std::string what;
    std::vector<std::uint64_t> shape;
    try {
      const auto m = bd::import_checkpoint_layer(f, l.prefix, l.layout);
      what = master_text(m);
      shape = {m.rows(), m.cols()};
    } catch (const bd::error& e) {
      what = std::string("unsupported: ") + e.what();
    }
    std::printf("%-40s %-8s %-20s %s (%s)\n", l.prefix.c_str(), "layer", dims(shape).c_str(), what.c_str(),
                bd::to_string(l.layout));
    for (const char* suffix : {".qweight", ".qzeros", ".scales", ".g_idx", ".weight", ".weight_packed", ".weight_shape",
                               ".weight_scale", ".weight_zero_point", ".weight_g_idx"})
      if (f.contains(l.prefix + suffix)) parts.insert(l.prefix + suffix);
  }
  for (const auto& t : f.tensors()) {
    std::string what;
    if (parts.count(t.name))
      what = "part of a quantized layer (above)";
    else if (bd::safetensors_file::is_float_matrix(t))
      what = "floats: quantized from its values";
    else if (t.shape.size() != 2)
      what = "not a matrix: not served";
    else
      what = std::string("unsupported: ") + bd::to_string(t.dtype) +
             " matrix without a scale tensor (no known quantized layout)";
    std::printf("%-40s %-8s %-20s %s\n", t.name.c_str(), bd::to_string(t.dtype), dims(t.shape).c_str(), what.c_str());
  }
  return 0;
}

int dequantize(const std::string& path, const std::string& name, const std::string& out) {
  bd::float_matrix m;
  std::string what;
  if (is_gguf(path)) {
    const auto f = bd::gguf_file::open(path);
    const auto& t = f.find(name);
    if (t.importable()) {
      const auto q = f.import_master(name);
      m = {q.rows(), q.cols(), q.dequantize()};
      what = master_text(q);
    } else {
      m = f.load_matrix(name);
      what = std::string("floats (") + bd::to_string(t.type) + ")";
    }
  } else {
    const auto f = bd::safetensors_file::open(path);
    bool layer = false;
    for (const auto& l : bd::find_checkpoint_layers(f))
      if (l.prefix == name) {
        const auto q = bd::import_checkpoint_layer(f, name, l.layout);
        m = {q.rows(), q.cols(), q.dequantize()};
        what = master_text(q) + " (" + bd::to_string(l.layout) + ")";
        layer = true;
      }
    if (!layer) {
      m = f.load_matrix(name);
      what = std::string("floats (") + bd::to_string(f.find(name).dtype) + ")";
    }
  }
  bd::write_npy(out, m);
  std::printf("wrote %s: %s, %zu x %zu float32, from %s\n", out.c_str(), name.c_str(), m.rows, m.cols, what.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 1 && a[0] != "--help" && a[0] != "-h")
      return is_gguf(a[0]) ? list_gguf(a[0]) : list_safetensors(a[0]);
    if (a.size() == 4 && a[1] == "--dequantize") return dequantize(a[0], a[2], a[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bitdial_inspect: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: bitdial_inspect FILE                          list tensors and what each becomes\n"
               "       bitdial_inspect FILE --dequantize NAME OUT.npy  write NAME's full-width values\n");
  return 2;
}
