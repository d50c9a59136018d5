// bitdial/select/elastic_weight.hpp — one stored weight plus its derivation rule, served at any
// width; the width an engine switches at run time lives here.
//
// Thread-safety guarantee: the stored stack is immutable after construction. `view(b)` is a pure
// function of (stack, rule, b). The current width is one std::atomic<int>; `view()` reads it once,
// so every view — and every kernel result computed from it — is exactly one valid width, never a
// mix, however many threads read while another calls `set_bits`. A switch is one atomic store:
// O(1), no copy, no allocation, no lock. Results computed from views taken before a switch stay
// at the old width (the view is a snapshot).
#pragma once

#include <atomic>

#include "bitdial/select/plane_view.hpp"

namespace bitdial {

class elastic_weight {
 public:
  elastic_weight(bit_plane_stack stack, rounding rule, reconstruction recon = reconstruction::automatic)
      : stack_(std::move(stack)), rule_(rule), recon_(recon), bits_(stack_.master_bits()) {
    (void)view(stack_.master_bits());  // validates rule against the master
  }
  elastic_weight(const elastic_weight&) = delete;
  elastic_weight& operator=(const elastic_weight&) = delete;

  /// This weight at width b (1..master bits). O(1), copies nothing.
  plane_view view(int b) const { return bitdial::view(stack_, b, rule_, recon_); }
  /// This weight at the current width.
  plane_view view() const { return view(bits_.load(std::memory_order_acquire)); }

  /// Switches the current width; validated, then one atomic store.
  void set_bits(int b) {
    BITDIAL_REQUIRE(b >= 1 && b <= stack_.master_bits(), "elastic_weight::set_bits: bits = ", b, ": must be in 1..",
                    stack_.master_bits());
    bits_.store(b, std::memory_order_release);
  }
  int bits() const noexcept { return bits_.load(std::memory_order_acquire); }

  const bit_plane_stack& stack() const noexcept { return stack_; }
  rounding rule() const noexcept { return rule_; }
  reconstruction recon() const noexcept { return recon_; }

 private:
  bit_plane_stack stack_;
  rounding rule_;
  reconstruction recon_;
  std::atomic<int> bits_;
};

}  // namespace bitdial
