// Simulators of recent calls, reused when a call repeats one exactly: the
// backward of a training step finds the one its forward built, and inference
// with fixed weights pays for lowering and planning once, not per call.
#pragma once

#include <cstdint>
#include <memory>

#include "statevector.h"

namespace qmoe::core {

// A simulator for the arguments (as StatevectorSimulator's constructor takes
// them) and the active instruction set: the cached one when a recent call had
// the same arguments bit for bit, else a new one, cached. Thread-safe.
template <class Real>
std::shared_ptr<const StatevectorSimulator<Real>> shared_simulator(
    const Program& program, const Real* weights, int64_t n_weights, const double* constants,
    int64_t n_constants, const int64_t* z_masks, int64_t n_masks, bool probs);

// Empties the cache (tests, and set_isa).
void clear_simulator_cache();

}  // namespace qmoe::core
