// bitdial/kernels/plane_terms.hpp — a view as a short list of weighted planes: the algebra every
// bit-sliced kernel evaluates, acc = Σ_terms weight · (term plane · x).
//
// Signed master, B bits, view at b, k = B − b (DESIGN.md "Kernel algebra" 2 and 6):
//   truncate         plane B−1 with weight −2^(b−1); planes B−2..k with weights 2^(i−k)
//   unsigned master  planes B−1..k with weights 2^(i−k)
//   round_half_up    truncate terms, + plane k−1 (weight +1), + clamp (weight −1) where
//                    clamp = ¬p_{B−1} ∧ p_{B−2} ∧ … ∧ p_k ∧ p_{k−1}   (floor at the maximum, carry set)
//   round_half_even  round_half_up terms with clamp' = clamp ∧ ¬tie, + tie (weight −1) where
//                    tie = p_{k−1} ∧ ¬(p_{k−2} ∨ … ∨ p_0) ∧ ¬p_k      (exact half, even floor)
// For b ≥ 2 the maximum 2^(b−1)−1 is odd, so clamp already implies ¬tie; at b = 1 the maximum 0
// is even and a tie at it rounds down to 0 without a clamp. Every derived plane is a bitwise
// function of stored planes at the same bit positions, so kernels compute it from the bytes they
// loaded (a vpternlog or two), never from extra storage.
// Weights fit int8 (|w| ≤ 128), which the vpdpbusd kernels rely on.
#pragma once

#include <array>
#include <cstdint>

#include "bitdial/select/plane_view.hpp"

namespace bitdial::detail {

enum class term_kind : std::uint8_t { plane, clamp, tie };

struct plane_term {
  term_kind kind = term_kind::plane;
  int bit = 0;  // stored plane, for term_kind::plane
  std::int32_t weight = 0;
};

struct plane_terms {
  std::array<plane_term, 11> terms{};
  int count = 0;
  int carry_bit = -1;  // k − 1 for double rounding (derived masks use it)
  int master_bits = 8;
  int served_bits = 8;
  bool clamp_excludes_tie = false;  // RNE: clamp' = clamp ∧ ¬tie

  void add(term_kind kind, int bit, std::int32_t weight) noexcept { terms[count++] = plane_term{kind, bit, weight}; }

  /// Derived masks on 8 bytes at once (any word width works: the functions are bitwise).
  template <class Word>
  Word clamp_mask(const Word* planes_by_bit) const noexcept {
    const int k = master_bits - served_bits;
    Word m = ~planes_by_bit[master_bits - 1];
    for (int i = k; i < master_bits - 1; ++i) m &= planes_by_bit[i];
    m &= planes_by_bit[k - 1];
    if (clamp_excludes_tie) m &= ~tie_mask(planes_by_bit);
    return m;
  }
  template <class Word>
  Word tie_mask(const Word* planes_by_bit) const noexcept {
    const int k = master_bits - served_bits;
    Word m = planes_by_bit[k - 1] & ~planes_by_bit[k];
    for (int i = 0; i < k - 1; ++i) m &= ~planes_by_bit[i];
    return m;
  }
  /// Lowest stored plane any term reads (planes [lowest, B) must be loaded).
  int lowest_plane() const noexcept {
    const int k = master_bits - served_bits;
    if (k == 0) return 0;
    if (terms[count - 1].kind == term_kind::tie || clamp_excludes_tie) return 0;
    return carry_bit >= 0 ? carry_bit : k;
  }
};

inline plane_terms make_terms(const plane_view& v) noexcept {
  plane_terms t;
  const int B = v.master_bits(), b = v.bits, k = B - b;
  t.master_bits = B;
  t.served_bits = b;
  const bool sgn = v.stack->is_signed();
  for (int i = B - 1; i >= k; --i) {
    const std::int32_t w = std::int32_t{1} << (i - k);
    t.add(term_kind::plane, i, (sgn && i == B - 1) ? -w : w);
  }
  if (k == 0 || v.rule == rounding::floor) return t;
  t.carry_bit = k - 1;
  t.add(term_kind::plane, k - 1, 1);
  t.add(term_kind::clamp, 0, -1);
  if (v.rule == rounding::half_even) {
    t.clamp_excludes_tie = true;
    t.add(term_kind::tie, 0, -1);
  }
  return t;
}

}  // namespace bitdial::detail
