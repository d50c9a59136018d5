// bitdial/kernels/bitserial_operands.hpp — the operands of the bit-serial (AND/XOR + popcount)
// kernels: a-bit activation planes built once per call, the served weight as weighted planes, the
// dense per-block weight layout the popcount loops read, and the integer algebra that turns
// popcounts into the exact accumulators every plane kernel hands to kernels/epilogue.hpp.
//
// Algebra (DESIGN.md "Kernel algebra" 1–4; ABQ-LLM's bit-serial W×A decomposition). For 0/1 plane
// vectors W_i (weights) and X_j (activations) over one scale group of K_g elements:
//
//   served weight code   q_b(c)  = Σ_i c_i·W_i(c)              (terms of the view, below)
//   activation integer   xint(c) = Σ_j d_j·X_j(c) + e_n        (per token n, below)
//   acc = Σ_c q_b·xint  = Σ_i Σ_j c_i d_j popcnt(W_i ∧ X_j) + e_n·Σ_i c_i popcnt(W_i)
//   sumx = Σ_c xint     = Σ_j d_j popcnt(X_j) + e_n·K_g
//
// Weight terms (view at b of a B-bit master, k = B − b, P_t = stored plane B−1−t, MSB first):
//   two's complement   c = (−2^(b−1), 2^(b−2), …, 1)            signed master, truncate
//   unsigned           c = (2^(b−1), …, 1)                       unsigned master, z = 0
//   zero point         unsigned terms; w = u − z enters through the epilogue's offset2·sumx
//                      (plane_view::offset2 = 2·midpoint − 2z), i.e. the −z·Σx term
//   double rounding    + one round plane R with c = +1 (RHU: R = P_b ∧ ¬H; RNE: R = P_b ∧ ¬H ∧
//                      (P_{b−1} ∨ P_{b+1} ∨ … ∨ P_{B−1}); H = ¬P_0 ∧ P_1 ∧ … ∧ P_{b−1}), the same
//                      derivation as kernels/x86/plane_avx512.hpp, computed from loaded bytes
// Activation encodings (per token, a bits, u = the a-bit digit whose planes are X_j):
//   twos_complement    BitNet's symmetric per-token rule (quant/activation.hpp): xint = q,
//                      d = (1, 2, …, −2^(a−1)), e = 0
//   zero_point         per-token minmax with exact zero (asymmetric mode): xint = u − z,
//                      d_j = 2^j, e = −z; a non-negative token has z = 0 (plain unsigned)
//   bipolar            per-token mid-rise (uniform_midrise, levels s·(2j+1)/2): xint = 2u − (2^a − 1)
//                      = Σ_j 2^j·(2X_j − 1), d_j = 2^(j+1), e = −(2^a − 1), scale s/2 (exact)
// Bipolar × bipolar (XNOR). When the weight view is itself bipolar — an unsigned mid-rise master
// (code_offset2 = −(2^B − 1)), no zero points, truncate-midpoint view, so the served value is
// 2^k·Σ_i 2^(b−1−i)·(2P_i − 1) — both sides are ±1 digit sums and each pair is one XOR popcount:
//   Σ_c (2W−1)(2X−1) = K_g − 2·popcnt(W ⊕ X)
//   T = Σ_i Σ_j 2^(b−1−i) 2^j (K_g − 2·popcnt(P_i ⊕ X_j)),   acc = (T + (2^b − 1)·sumx) / 2
// (T = Σ_c (2u_b − (2^b − 1))·xint = 2·acc − (2^b − 1)·sumx). Padding (K beyond cols) is zero in
// both operands, so it adds nothing to either popcount and K_g counts real elements only.
//
// Every path (reference, portable, AVX2, AVX-512) ends in these same int64 acc and sumx, then in
// detail::finish_row, so float outputs are bit-identical across ISAs and thread counts.
//
// Layouts.
//   act_planes32    token n, plane j (LSB first), word w: bit m of word w = X_j(n, 32w + m);
//                   planes of one token are contiguous; K zero-padded to a multiple of 32.
//   rows32x32 (per-call, per row block; the weight operand of the popcount loops):
//                   block = [step s = 32 K][term i][rows 0..15 dwords][rows 16..31 dwords],
//                   dword = one row's 32 K at step s, bit m = K 32s + m (the act_planes32 order).
// Why not AND against tile32x16 directly: every tile byte holds 4 K of row r in its low nibble and
// 4 K of row r+16 in its high nibble, so any popcount lane (byte, word, dword) mixes two rows and
// each lane count needs a masked second popcount — twice the popcounts of a dense layout, and the
// popcount port is the bottleneck. The transform is per tile 2 shifts + 2 bit-selects (ternlog) +
// one byte permute per output, done once per 32-row block and reused by every token and every
// activation plane; nothing is stored per width (it reads the stored planes of the view).
//
//   tile32x16 dword d (bytes 4d..4d+3):  byte g = [row d+16, K 4g..4g+3 | row d, K 4g..4g+3]
//   nibble-merge:  R = (v ∧ 0xF00FF00F) ∨ ((v ≫ 4) ∧ 0x00F000F0) ∨ ((v ≪ 4) ∧ 0x0F000F00)
//                  → R bytes = [row d K0–7, row d+16 K0–7, row d K8–15, row d+16 K8–15]
//   step s = tiles 2s, 2s+1 (R0, R1):  rows 0..15 dword d  = [R0.b0, R0.b2, R1.b0, R1.b2]
//                                      rows 16..31 dword d = [R0.b1, R0.b3, R1.b1, R1.b3]
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "bitdial/core/aligned_buffer.hpp"
#include "bitdial/core/bits.hpp"
#include "bitdial/core/cpu.hpp"
#include "bitdial/core/error.hpp"
#include "bitdial/core/matrix.hpp"
#include "bitdial/quant/activation.hpp"
#include "bitdial/quant/uniform.hpp"
#include "bitdial/kernels/x86/target.hpp"
#include "bitdial/select/plane_view.hpp"

namespace bitdial {

/// How a-bit activation codes are read as planes (see the header comment).
enum class act_encoding : std::uint8_t { twos_complement, zero_point, bipolar };

inline const char* to_string(act_encoding e) noexcept {
  switch (e) {
    case act_encoding::twos_complement:
      return "twos_complement";
    case act_encoding::zero_point:
      return "zero_point";
    case act_encoding::bipolar:
      return "bipolar";
  }
  return "?";
}

namespace detail {

#if BITDIAL_X86_SIMD
__attribute__((target("popcnt"))) inline std::int64_t popcount_words_hw(const std::uint32_t* p,
                                                                        std::size_t n) noexcept {
  std::int64_t s = 0;
  for (std::size_t i = 0; i < n; ++i) s += __builtin_popcount(p[i]);
  return s;
}
#endif

/// Σ popcount of n words. Without -mpopcnt std::popcount is a library call; on x86 the POPCNT
/// instruction is used whenever the CPU has it.
inline std::int64_t popcount_words(const std::uint32_t* p, std::size_t n) noexcept {
#if BITDIAL_X86_SIMD
  static const bool hw = __builtin_cpu_supports("popcnt");
  if (hw) return popcount_words_hw(p, n);
#endif
  std::int64_t s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::popcount(p[i]);
  return s;
}

}  // namespace detail

/// Per-token a-bit activations as bit planes (layout act_planes32), built once per call.
/// x̂(n, c) = scale(n)·value(n, c), value = Σ_j d_j·bit_j + offset(n).
class bitserial_activations {
 public:
  static constexpr std::size_t word_bits = 32;

  bitserial_activations() = default;

  /// From per-token quantized activations: symmetric → twos_complement, asymmetric → zero_point.
  static bitserial_activations from(const quantized_activations& q) {
    constexpr const char* where = "bitserial_activations::from";
    detail::checked_bits(q.bits, where, "activations.bits");
    BITDIAL_REQUIRE(q.rows > 0 && q.cols > 0, where, ": activations shape = ", q.rows, "x", q.cols,
                    ": must not be empty");
    BITDIAL_REQUIRE(q.codes.size() == q.rows * q.cols && q.scales.size() == q.rows && q.zero_points.size() == q.rows,
                    where, ": activations.codes.size() = ", q.codes.size(), ": inconsistent with ", q.rows, "x",
                    q.cols);
    const int a = q.bits;
    const bool sym = q.mode == activation_mode::symmetric;
    bitserial_activations x(q.rows, q.cols, a, sym ? act_encoding::twos_complement : act_encoding::zero_point);
    const std::int32_t lo = signed_min(a), hi = signed_max(a);
    for (std::size_t n = 0; n < q.rows; ++n) {
      BITDIAL_REQUIRE(std::isfinite(q.scales[n]) && q.scales[n] >= 0.0f, where, ": activations.scales[", n,
                      "] = ", q.scales[n], ": must be finite and >= 0");
      const std::int32_t zp = sym ? 0 : q.zero_points[n];
      BITDIAL_REQUIRE(sym ? zp == 0 : (zp >= lo && zp <= hi), where, ": activations.zero_points[", n, "] = ", zp,
                      ": outside the ", a, "-bit code range");
      const std::int8_t* codes = q.codes.data() + n * q.cols;
      check_codes(codes, q.cols, lo, hi, n * q.cols, where);
      // twos_complement: u = q mod 2^a (the low a bits of q); zero_point: stored q = u − 2^(a−1),
      // so u = q + 2^(a−1) mod 2^a = q with bit a−1 flipped (quant/activation.hpp).
      x.set_planes(n, codes, !sym);
      x.scales_[n] = q.scales[n];
      x.offsets_[n] = sym ? 0 : -(zp - lo);  // e = −z, z = zero_point + 2^(a−1)
    }
    return x;
  }

  /// From a per-token (per-row or per-tensor) mid-rise matrix: bipolar, value = 2j + 1, scale s/2.
  static bitserial_activations from(const midrise_matrix& m) {
    constexpr const char* where = "bitserial_activations::from";
    detail::checked_bits(m.bits, where, "activations.bits");
    BITDIAL_REQUIRE(m.rows > 0 && m.cols > 0, where, ": activations shape = ", m.rows, "x", m.cols,
                    ": must not be empty");
    BITDIAL_REQUIRE(m.gran.k != granularity::kind::per_group, where, ": activations.gran = per_group",
                    ": bit-serial activations take one step per token");
    BITDIAL_REQUIRE(m.codes.size() == m.rows * m.cols && m.scales.size() == m.gran.count(m.rows, m.cols), where,
                    ": activations.codes.size() = ", m.codes.size(), ": inconsistent with ", m.rows, "x", m.cols);
    const int a = m.bits;
    bitserial_activations x(m.rows, m.cols, a, act_encoding::bipolar);
    for (std::size_t n = 0; n < m.rows; ++n) {
      const float s = m.scales[m.gran.index(n, 0, m.cols)];
      BITDIAL_REQUIRE(std::isfinite(s) && s >= 0.0f, where, ": activations.scales[", n, "] = ", s,
                      ": must be finite and >= 0");
      const std::int8_t* codes = m.codes.data() + n * m.cols;
      check_codes(codes, m.cols, signed_min(a), signed_max(a), n * m.cols, where);
      x.set_planes(n, codes, true);  // u = j + 2^(a−1): j with bit a−1 flipped
      x.scales_[n] = s * 0.5f;       // s·(j + 1/2) = (s/2)·(2j + 1); halving is exact
      x.offsets_[n] = -unsigned_max(a);
    }
    return x;
  }

  std::size_t tokens() const noexcept { return tokens_; }
  std::size_t cols() const noexcept { return cols_; }
  /// 32-bit words per plane (K padded to a multiple of 32).
  std::size_t words() const noexcept { return words_; }
  int bits() const noexcept { return bits_; }
  act_encoding encoding() const noexcept { return enc_; }
  float scale(std::size_t n) const noexcept { return scales_[n]; }
  std::span<const float> scales() const noexcept { return scales_; }
  /// e_n: value = Σ_j d_j·bit_j + e_n.
  std::int32_t offset(std::size_t n) const noexcept { return offsets_[n]; }
  /// d_j, the weight of plane j (LSB first).
  std::int32_t plane_weight(int j) const noexcept {
    if (enc_ == act_encoding::bipolar) return std::int32_t{2} << j;
    if (enc_ == act_encoding::twos_complement && j == bits_ - 1) return -(std::int32_t{1} << j);
    return std::int32_t{1} << j;
  }
  const std::uint32_t* plane(std::size_t n, int j) const noexcept {
    return planes_.data() + (n * static_cast<std::size_t>(bits_) + static_cast<std::size_t>(j)) * words_;
  }
  /// Distance in words between consecutive planes of a token (and between tokens: bits × this).
  std::size_t plane_stride() const noexcept { return words_; }
  /// The integer activation value of element (n, c), read back from the planes (slow; references).
  std::int32_t value(std::size_t n, std::size_t c) const noexcept {
    std::int32_t v = offsets_[n];
    for (int j = 0; j < bits_; ++j)
      v += plane_weight(j) * static_cast<std::int32_t>((plane(n, j)[c / 32] >> (c % 32)) & 1u);
    return v;
  }
  /// Σ value over columns [c0, c1) with c0, c1 multiples of 32 or c1 = cols (popcounts per plane).
  std::int64_t sum(std::size_t n, std::size_t c0, std::size_t c1) const noexcept {
    std::int64_t s = std::int64_t{offsets_[n]} * static_cast<std::int64_t>(c1 - c0);
    const std::size_t w0 = c0 / 32, w1 = (c1 + 31) / 32;
    for (int j = 0; j < bits_; ++j)
      s += std::int64_t{plane_weight(j)} * detail::popcount_words(plane(n, j) + w0, w1 - w0);
    return s;
  }

 private:
  bitserial_activations(std::size_t tokens, std::size_t cols, int bits, act_encoding enc)
      : tokens_(tokens), cols_(cols), words_((cols + 31) / 32), bits_(bits), enc_(enc) {
    planes_.assign(
        detail::checked_mul(
            tokens, detail::checked_mul(static_cast<std::size_t>(bits), words_, "bitserial_activations", "planes"),
            "bitserial_activations", "planes"),
        0u);
    scales_.assign(tokens, 0.0f);
    offsets_.assign(tokens, 0);
  }

  /// Every code of one token inside [lo, hi]: a min/max pass the compiler vectorizes, then the
  /// first offender by name.
  static void check_codes(const std::int8_t* codes, std::size_t len, std::int32_t lo, std::int32_t hi, std::size_t base,
                          const char* where) {
    std::int8_t mn = codes[0], mx = codes[0];
    for (std::size_t c = 0; c < len; ++c) mn = std::min(mn, codes[c]), mx = std::max(mx, codes[c]);
    if (mn >= lo && mx <= hi) return;
    for (std::size_t c = 0; c < len; ++c)
      BITDIAL_REQUIRE(codes[c] >= lo && codes[c] <= hi, where, ": activations.codes[", base + c, "] = ", int(codes[c]),
                      ": outside the ", bits_of_range(lo, hi), "-bit range [", lo, ", ", hi, "]");
  }
  static int bits_of_range(std::int32_t lo, std::int32_t hi) noexcept {
    return std::bit_width(static_cast<std::uint32_t>(hi - lo));
  }

  /// Planes of token n from its a-bit codes: plane j = bit j of each code byte, plane a−1 inverted
  /// when `flip_top` (the digit is the code plus 2^(a−1) mod 2^a). Padding bits stay zero.
  void set_planes(std::size_t n, const std::int8_t* codes, bool flip_top) noexcept {
    const auto* u = reinterpret_cast<const std::uint8_t*>(codes);
    std::uint32_t* base = planes_.data() + n * static_cast<std::size_t>(bits_) * words_;
    const auto flip8 = static_cast<std::uint8_t>(flip_top ? 1u << (bits_ - 1) : 0u);
    std::size_t c0 = 0;
#if BITDIAL_X86_SIMD
    if (cpu().avx2) c0 = set_planes_avx2(u, cols_, bits_, words_, base);
    if (flip_top)
      for (std::size_t w = 0; w < c0 / 32; ++w) base[static_cast<std::size_t>(bits_ - 1) * words_ + w] ^= ~0u;
#endif
    // Portable (and the tail): 8 codes at a time, bit j of each byte gathered by one multiply
    // (bit_planes.hpp's gather, widened to 8 lanes: byte t → bit t of the top byte, no carries).
    for (; c0 < cols_; c0 += 8) {
      std::uint8_t d[8] = {};
      const std::size_t len = std::min<std::size_t>(8, cols_ - c0);
      for (std::size_t t = 0; t < len; ++t) d[t] = static_cast<std::uint8_t>(u[c0 + t] ^ flip8);
      std::uint64_t v;
      std::memcpy(&v, d, 8);  // little-endian: byte t = digit c0 + t
      if (v == 0) continue;
      for (int j = 0; j < bits_; ++j) {
        const std::uint64_t ones = (v >> j) & 0x0101010101010101ull;
        const auto byte = static_cast<std::uint32_t>((ones * 0x0102040810204080ull) >> 56) & 0xFFu;
        base[static_cast<std::size_t>(j) * words_ + c0 / 32] |= byte << (c0 % 32);
      }
    }
  }

#if BITDIAL_X86_SIMD
  /// Whole 32-code words: plane j's word is vpmovmskb of the codes shifted so bit j is each
  /// byte's sign bit. Returns the codes done.
  __attribute__((target("avx2"))) static std::size_t set_planes_avx2(const std::uint8_t* u, std::size_t cols, int bits,
                                                                     std::size_t words, std::uint32_t* base) noexcept {
    std::size_t c = 0;
    for (; c + 32 <= cols; c += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + c));
      for (int j = 0; j < bits; ++j) {
        // 16-bit shifts: after ≫ j, bit 0 of each byte is its bit j; ≪ 7 moves it to the sign bit.
        const __m256i s = _mm256_slli_epi16(_mm256_srli_epi16(v, j), 7);
        base[static_cast<std::size_t>(j) * words + c / 32] = static_cast<std::uint32_t>(_mm256_movemask_epi8(s));
      }
    }
    return c;
  }
#endif

  std::size_t tokens_ = 0, cols_ = 0, words_ = 0;
  int bits_ = 8;
  act_encoding enc_ = act_encoding::twos_complement;
  std::vector<std::uint32_t> planes_;  // [token][plane][word]
  std::vector<float> scales_;
  std::vector<std::int32_t> offsets_;
};

/// Quantizes every row of x (one token) to `bits` in the given encoding and builds the planes:
/// twos_complement = per_token_quantizer (BitNet rule), zero_point = its asymmetric mode,
/// bipolar = uniform_midrise with one absmax step per token (s = 2·amax/(2^a − 1)).
inline bitserial_activations quantize_bitserial(const_matrix x, int bits,
                                                act_encoding enc = act_encoding::twos_complement) {
  constexpr const char* where = "quantize_bitserial";
  detail::checked_bits(bits, where, "act_bits");
  switch (enc) {
    case act_encoding::twos_complement:
      return bitserial_activations::from(per_token_quantizer<>(bits).quantize(x));
    case act_encoding::zero_point:
      return bitserial_activations::from(
          per_token_quantizer<>(bits, per_token_options{activation_mode::asymmetric}).quantize(x));
    case act_encoding::bipolar:
      return bitserial_activations::from(uniform_midrise<>(bits, {granularity::per_row()}).quantize(x));
  }
  BITDIAL_REQUIRE(false, where, ": encoding = ", static_cast<int>(enc), ": unknown");
  return {};
}

namespace detail {

/// One (weight term, activation plane) product of the bit-serial sum and its integer weight.
struct bitserial_pair {
  std::uint16_t term = 0;
  std::uint16_t plane = 0;
  std::int32_t weight = 0;
};

/// Everything the bit-serial loops need about a (view, activations) call, fixed once per call.
struct bitserial_job {
  std::size_t plane_bytes = 0;  // distance between stored planes of a row block
  std::size_t k_tiles = 0;      // 16-K tiles of the stack
  std::size_t steps = 0;        // 32-K steps: ceil(k_tiles / 2)
  std::size_t groups = 1;       // scale groups per row
  std::size_t steps_per_group = 0;
  std::size_t group_len = 0;  // K_g (real elements)
  int served_bits = 8;        // b
  int kind = 0;               // 0 truncate (or b = B), 1 round_half_up, 2 round_half_even
  int low_planes = 0;         // RNE: stored planes below the half bit
  int terms = 0;              // b, or b + 1 with a round plane
  int act_bits = 8;
  bool xnor = false;            // bipolar × bipolar: XOR popcounts
  bool need_code_sums = false;  // AND path with e ≠ 0: Σ_c q_b(c) per row and group
  std::array<std::int32_t, 9> term_weight{};
  std::array<bitserial_pair, 72> pairs{};
  int npairs = 0;

  /// u32 words of one block's rows32x32 operand.
  std::size_t block_words() const noexcept { return steps * static_cast<std::size_t>(terms) * 32; }
};

/// Whether the view serves a bipolar (±1-digit) weight: see the XNOR paragraph above.
inline bool bipolar_weights(const plane_view& w) noexcept {
  const bit_plane_stack& s = *w.stack;
  if (w.fitted() || s.is_signed() || !s.zero_points().empty()) return false;
  const int B = s.master_bits(), k = B - w.bits;
  if (k != 0 && w.rule != rounding::floor) return false;
  return w.offset2(0) == (std::int64_t{1} << k) - (std::int64_t{1} << B);
}

/// Group sizes the packed bit-serial kernels serve: one group per row, or whole 32-K steps.
inline bool bitserial_groups_ok(const plane_view& w) noexcept {
  const bit_plane_stack& s = *w.stack;
  return s.gran().k != granularity::kind::per_group || s.gran().group % 32 == 0;
}

inline bitserial_job make_bitserial_job(const plane_view& w, const bitserial_activations& x) {
  bitserial_job j;
  const bit_plane_stack& s = *w.stack;
  const int b = w.bits, B = s.master_bits();
  j.plane_bytes = s.layout().plane_bytes();
  j.k_tiles = s.layout().k_tiles();
  j.steps = (j.k_tiles + 1) / 2;
  j.groups = s.groups_per_row();
  j.group_len = w.cols() / j.groups;
  j.steps_per_group = j.groups == 1 ? j.steps : j.group_len / 32;
  j.served_bits = b;
  j.kind = (b == B || w.rule == rounding::floor) ? 0 : (w.rule == rounding::half_up ? 1 : 2);
  j.low_planes = j.kind == 2 ? B - b - 1 : 0;
  j.terms = b + (j.kind != 0 ? 1 : 0);
  j.act_bits = x.bits();
  j.xnor = x.encoding() == act_encoding::bipolar && bipolar_weights(w);
  for (int t = 0; t < b; ++t) {
    std::int32_t c = std::int32_t{1} << (b - 1 - t);
    if (t == 0 && s.is_signed() && !j.xnor) c = -c;
    j.term_weight[static_cast<std::size_t>(t)] = c;
  }
  if (j.kind != 0) j.term_weight[static_cast<std::size_t>(b)] = 1;
  for (int t = 0; t < j.terms; ++t)
    for (int p = 0; p < j.act_bits; ++p) {
      // XNOR: −2·2^sig_i·2^p per XOR popcount (the K_g·Σ constant goes to the epilogue).
      const std::int32_t wgt = j.xnor ? -2 * j.term_weight[static_cast<std::size_t>(t)] * (std::int32_t{1} << p)
                                      : j.term_weight[static_cast<std::size_t>(t)] * x.plane_weight(p);
      j.pairs[static_cast<std::size_t>(j.npairs++)] =
          bitserial_pair{static_cast<std::uint16_t>(t), static_cast<std::uint16_t>(p), wgt};
    }
  bool any_offset = false;
  for (std::size_t n = 0; n < x.tokens(); ++n) any_offset = any_offset || x.offset(n) != 0;
  j.need_code_sums = !j.xnor && any_offset;
  return j;
}

/// Window bound for the int32 partial sums: one 32-K step adds at most 32·Σ_pairs |w| ≤
/// 32·(Σ|c_i| ≤ 256)·(Σ|d_j| ≤ 510) = 4 177 920 to a row lane (XNOR: 32·2·255·255, smaller), so
/// 256 steps stay below 2^31 − 1 (1 069 547 520). Kernels sum each pair's popcounts in int32 over
/// at most this many steps (≤ 8192 per lane), then fold them, weighted, into int32 partials that
/// the driver adds to int64 accumulators after every window.
inline constexpr std::size_t max_window_steps = 256;

// ---- the rows32x32 transform, portable form (the spec the SIMD transforms reproduce) ----------

/// The nibble merge of one tile dword (header comment).
constexpr std::uint32_t merge_nibbles(std::uint32_t v) noexcept {
  return (v & 0xF00FF00Fu) | ((v >> 4) & 0x00F000F0u) | ((v << 4) & 0x0F000F00u);
}

/// Round plane bytes of one tile from the stored planes (P_t at top + t·plane_bytes).
inline void round_tile(const bitserial_job& j, const std::uint8_t* top, std::size_t tile, std::uint8_t* out) noexcept {
  const int b = j.served_bits;
  const std::size_t pb = j.plane_bytes, off = 64 * tile;
  for (std::size_t p = 0; p < 64; ++p) {
    std::uint8_t h = static_cast<std::uint8_t>(~top[off + p]);
    for (int t = 1; t < b; ++t) h &= top[static_cast<std::size_t>(t) * pb + off + p];
    const std::uint8_t half = top[static_cast<std::size_t>(b) * pb + off + p];
    std::uint8_t r = static_cast<std::uint8_t>(half & ~h);
    if (j.kind == 2) {
      std::uint8_t low = top[static_cast<std::size_t>(b - 1) * pb + off + p];
      for (int l = 0; l < j.low_planes; ++l) low |= top[static_cast<std::size_t>(b + 1 + l) * pb + off + p];
      r &= low;
    }
    out[p] = r;
  }
}

/// Dense dwords of one step from tiles t0 and t1 (t1 may be null: zero): out[0..15] rows 0..15,
/// out[16..31] rows 16..31.
inline void dense_step(const std::uint8_t* t0, const std::uint8_t* t1, std::uint32_t* out) noexcept {
  for (std::size_t d = 0; d < 16; ++d) {
    std::uint32_t v0, v1 = 0;
    std::memcpy(&v0, t0 + 4 * d, 4);
    if (t1) std::memcpy(&v1, t1 + 4 * d, 4);
    const std::uint32_t r0 = merge_nibbles(v0), r1 = merge_nibbles(v1);
    auto byte = [](std::uint32_t r, int i) { return (r >> (8 * i)) & 0xFFu; };
    out[d] = byte(r0, 0) | byte(r0, 2) << 8 | byte(r1, 0) << 16 | byte(r1, 2) << 24;
    out[16 + d] = byte(r0, 1) | byte(r0, 3) << 8 | byte(r1, 1) << 16 | byte(r1, 3) << 24;
  }
}

/// rows32x32 operand of one row block (top = the block's plane B−1), portable.
inline void transform_block_portable(const bitserial_job& j, const std::byte* top_plane, std::uint32_t* out) noexcept {
  const auto* top = reinterpret_cast<const std::uint8_t*>(top_plane);
  std::uint8_t r0[64], r1[64];
  for (std::size_t s = 0; s < j.steps; ++s) {
    const std::size_t t0 = 2 * s, t1 = 2 * s + 1;
    const bool has1 = t1 < j.k_tiles;
    std::uint32_t* o = out + s * static_cast<std::size_t>(j.terms) * 32;
    for (int t = 0; t < j.served_bits; ++t) {
      const std::uint8_t* p = top + static_cast<std::size_t>(t) * j.plane_bytes;
      dense_step(p + 64 * t0, has1 ? p + 64 * t1 : nullptr, o + 32 * static_cast<std::size_t>(t));
    }
    if (j.kind != 0) {
      round_tile(j, top, t0, r0);
      if (has1) round_tile(j, top, t1, r1);
      dense_step(r0, has1 ? r1 : nullptr, o + 32 * static_cast<std::size_t>(j.served_bits));
    }
  }
}

/// code_sums[g·32 + row] = Σ_c q_b(c) over group g (= Σ_i c_i·popcnt(W_i)), portable.
inline void code_sums_portable(const bitserial_job& j, const std::uint32_t* block, std::int64_t* out) noexcept {
  for (std::size_t g = 0; g < j.groups; ++g)
    for (std::size_t r = 0; r < 32; ++r) {
      std::int64_t s = 0;
      for (int t = 0; t < j.terms; ++t) {
        std::uint32_t ones = 0;  // ≤ K < 2^31
        for (std::size_t st = g * j.steps_per_group; st < (g + 1) * j.steps_per_group; ++st) {
          const std::uint32_t w =
              block[(st * static_cast<std::size_t>(j.terms) + static_cast<std::size_t>(t)) * 32 + r];
          ones += static_cast<std::uint32_t>(popcount_words(&w, 1));
        }
        s += std::int64_t{ones} * j.term_weight[static_cast<std::size_t>(t)];
      }
      out[g * 32 + r] = s;
    }
}

/// The window contract every ISA implements: for each pair, Σ over `steps` steps of
/// popcnt(W_term op X_plane) per row, times the pair weight, added to tot[t·32 + row] (int32) for
/// tokens t < T. w points at step s0 of the block operand (step stride terms·32 words); x[t] at
/// word s0 of token t's plane 0 (plane stride `plane_stride` words). steps ≤ max_window_steps.
using bitserial_window_fn = void (*)(const bitserial_job&, const std::uint32_t* w, const std::uint32_t* const* x,
                                     std::size_t plane_stride, std::size_t T, std::size_t steps,
                                     std::int32_t* tot) noexcept;

template <bool Xor>
void window_portable(const bitserial_job& j, const std::uint32_t* w, const std::uint32_t* const* x,
                     std::size_t plane_stride, std::size_t T, std::size_t steps, std::int32_t* tot) noexcept {
  const std::size_t ss = static_cast<std::size_t>(j.terms) * 32;
  for (int q = 0; q < j.npairs; ++q) {
    const bitserial_pair& p = j.pairs[static_cast<std::size_t>(q)];
    const std::uint32_t* wp = w + 32 * std::size_t{p.term};
    for (std::size_t t = 0; t < T; ++t) {
      const std::uint32_t* xp = x[t] + std::size_t{p.plane} * plane_stride;
      std::int32_t acc[32] = {};
      for (std::size_t s = 0; s < steps; ++s) {
        const std::uint32_t xv = xp[s];
        const std::uint32_t* row = wp + s * ss;
        for (std::size_t r = 0; r < 32; ++r) acc[r] += std::popcount(Xor ? (row[r] ^ xv) : (row[r] & xv));
      }
      for (std::size_t r = 0; r < 32; ++r) tot[t * 32 + r] += acc[r] * p.weight;
    }
  }
}

}  // namespace detail
}  // namespace bitdial
