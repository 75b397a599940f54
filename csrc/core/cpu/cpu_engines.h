// The CPU backend of engine/: its engines for the active instruction set,
// built and cached through engine/simulator_cache.h.
#pragma once

#include <memory>

#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/engine/simulator_cache.h"

namespace qmoe::core {

// Throws std::invalid_argument for arguments the engine refuses (a shared
// channel probability outside [0, 1], a bad readout mask).
template <class Real>
std::shared_ptr<const CircuitEngine<Real>> cpu_engine(EngineKind kind,
                                                      const EngineArguments<Real>& arguments);

}  // namespace qmoe::core
