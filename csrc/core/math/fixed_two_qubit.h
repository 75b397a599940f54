// CNOT (wire0 the control), CZ and SWAP as what they do to the four basis
// states of their two bits, positions q = 2 b0 + b1: CNOT exchanges q = 2 and 3,
// SWAP exchanges q = 2 and 1, CZ negates q = 3. The statevector kernels apply it
// per amplitude, the density-matrix kernels on each side of rho.
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"
#include "qmoe/core/math/isa_tag.h"
#include "qmoe/core/program/opcodes.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// The position exchanged with q = 2 (|10>): 3 for CNOT, 1 for SWAP; -1 for CZ,
// which exchanges nothing and negates q = 3 instead.
QMOE_HOST_DEVICE constexpr int exchanged_with_10(Opcode gate) {
  return gate == Opcode::kCnot ? 3 : gate == Opcode::kSwap ? 1 : -1;
}

// Offset of quad position q from the quad's base index (both bits clear).
QMOE_HOST_DEVICE constexpr int64_t quad_offset(int q, int64_t mask0, int64_t mask1) {
  return ((q & 2) != 0 ? mask0 : 0) + ((q & 1) != 0 ? mask1 : 0);
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
