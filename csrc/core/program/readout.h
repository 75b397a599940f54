// The diagonal readouts every engine gives: Pauli-Z products (expval) or the
// probabilities of the basis states (probs).
#pragma once

#include <cstdint>
#include <vector>

#include "qmoe/core/math/host_device.h"

namespace qmoe::core {

// A diagonal readout; masks are over basis-index bits (already mapped from wires).
struct ReadoutView {
  bool probs = false;
  const int64_t* index_masks = nullptr;
  int64_t n_masks = 0;
};

// Values per sample: 2**n probabilities, or one expectation per mask.
QMOE_INLINE_ALWAYS int64_t readout_width(const ReadoutView& readout, int n_qubits) {
  return readout.probs ? (int64_t{1} << n_qubits) : readout.n_masks;
}

// Wire masks (bit w = wire w) as basis-index masks (wire w is index bit n - 1 - w),
// after validating them (std::invalid_argument naming the mask at fault).
std::vector<int64_t> index_masks_from_wires(const int64_t* z_masks, int64_t n_masks, int n_qubits);

}  // namespace qmoe::core
