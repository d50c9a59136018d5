// bitdial/core/reconstruction.hpp — which value a served (truncated or double-rounded) code stands for.
//
// One enum for the quantizer that derives a b-bit matrix from a master (quant/truncation.hpp) and for
// the views that serve a bit-plane stack (select/plane_view.hpp), SEMANTICS §3 and §3b:
//   midpoint   the centre of the run of master codes a truncated code stands for:
//              x̂ = s·(2^k·q_b + (2^k − 1)/2 − z)  (the literal default; double rounding has one
//              literal value, s·2^k·q_b, and ignores the choice)
//   floor      the run's lowest master code: x̂ = s·(2^k·q_b − z)
//   fitted     the per-width least-squares affine map stored with a stack (select/fit.hpp)
//   automatic  fitted where a fit is stored for the rule and width, else midpoint
// A quantizer without stored fits (truncation::derive) serves automatic as midpoint and rejects
// fitted by name. The former truncation_reconstruction enum is this enum (a deprecated alias).
#pragma once

#include <cstdint>

namespace bitdial {

enum class reconstruction : std::uint8_t { midpoint, floor, fitted, automatic };

/// Deprecated: truncation's reconstruction choice is bitdial::reconstruction (midpoint, floor).
using truncation_reconstruction [[deprecated("use bitdial::reconstruction")]] = reconstruction;

inline const char* to_string(reconstruction r) noexcept {
  switch (r) {
    case reconstruction::midpoint:
      return "midpoint";
    case reconstruction::floor:
      return "floor";
    case reconstruction::fitted:
      return "fitted";
    case reconstruction::automatic:
      return "automatic";
  }
  return "?";
}

}  // namespace bitdial
