// Pauli strings, the generators of the rotations: how one acts on basis
// states, written once for the statevector kernels (per amplitude) and the
// density-matrix kernels (per quad of two bits), host and device.
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"
#include "qmoe/core/math/isa_tag.h"

namespace qmoe::core {

// Generators of rotations. Each squares to the identity.
enum class PauliString : int32_t { kX = 0, kY = 1, kZ = 2, kXX = 3, kYY = 4, kZZ = 5 };

inline namespace QMOE_ISA_TAG {

// A Pauli string P as (P psi)_k = phase_k psi_{k ^ flip}; the phase is one of
// 1, -1, i, -i and depends on the bits of k on the string's wires.
struct PauliAction {
  int64_t flip;
  int32_t bit0;
  int32_t bit1;
  PauliString pauli;
};

QMOE_HOST_DEVICE inline PauliAction pauli_action(PauliString pauli, int32_t bit0, int32_t bit1) {
  const int64_t mask0 = int64_t{1} << bit0;
  const int64_t mask1 = bit1 >= 0 ? int64_t{1} << bit1 : 0;
  switch (pauli) {
    case PauliString::kX:
    case PauliString::kY:
      return {mask0, bit0, bit1, pauli};
    case PauliString::kXX:
    case PauliString::kYY:
      return {mask0 | mask1, bit0, bit1, pauli};
    default:
      return {0, bit0, bit1, pauli};
  }
}

// phase_k of P as (re, im).
QMOE_HOST_DEVICE inline void pauli_phase(const PauliAction& action, int64_t k, int& re, int& im) {
  const int b0 = static_cast<int>((k >> action.bit0) & 1);
  const int b1 = action.bit1 >= 0 ? static_cast<int>((k >> action.bit1) & 1) : 0;
  re = 1;
  im = 0;
  switch (action.pauli) {
    case PauliString::kX:
    case PauliString::kXX:
      break;
    case PauliString::kY:  // Y|0> = i|1>: (Y psi)_0 = -i psi_1, (Y psi)_1 = i psi_0
      re = 0;
      im = b0 ? 1 : -1;
      break;
    case PauliString::kZ:
      re = b0 ? -1 : 1;
      break;
    case PauliString::kYY:
      re = b0 == b1 ? -1 : 1;
      break;
    case PauliString::kZZ:
      re = b0 == b1 ? 1 : -1;
      break;
  }
}

// Two-qubit strings XX, YY, ZZ act within each quad of their two bits
// (positions q = 2 b0 + b1): (P v)_q = sign_q v_partner(q), all real. The sign
// depends only on the parity of q, so the order of the bits does not matter.
struct StringAction {
  bool flips;        // XX, YY: partner(q) = q ^ 3; ZZ: partner(q) = q
  double even_sign;  // sign of q = 0, 3
  double odd_sign;   // sign of q = 1, 2
};

// The quad form of pauli_phase: its phase at q = 0 and q = 1 (real for these strings).
QMOE_HOST_DEVICE inline StringAction string_action(PauliString pauli) {
  const PauliAction action = pauli_action(pauli, 1, 0);
  int even_re, odd_re, im;
  pauli_phase(action, 0, even_re, im);
  pauli_phase(action, 1, odd_re, im);
  return {action.flip != 0, static_cast<double>(even_re), static_cast<double>(odd_re)};
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
