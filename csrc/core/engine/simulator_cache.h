// Engines of recent calls, reused when a call repeats one exactly: the
// backward of a training step finds the engine its forward built, and inference
// with fixed weights pays for lowering and planning once, not per call.
// Backend-agnostic: the backend names itself in the key and builds on a miss.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/program/program.h"

namespace qmoe::core {

// What an engine is built from, as the operators receive it.
template <class Real>
struct EngineArguments {
  const Program* program = nullptr;
  const Real* weights = nullptr;
  int64_t n_weights = 0;
  const double* constants = nullptr;
  int64_t n_constants = 0;
  const int64_t* z_masks = nullptr;  // over wires; ignored when probs
  int64_t n_masks = 0;
  bool probs = false;
};

template <class Real>
using EngineBuilder = std::function<std::shared_ptr<const CircuitEngine<Real>>()>;

// The cached engine when a recent call had the same backend name and the same
// arguments bit for bit, else build()'s, cached. Thread-safe; build() runs
// outside the lock and may throw (nothing is cached then).
template <class Real>
std::shared_ptr<const CircuitEngine<Real>> shared_engine(const std::string& backend,
                                                         const EngineArguments<Real>& arguments,
                                                         const EngineBuilder<Real>& build);

// Empties the cache (tests, and set_isa).
void clear_simulator_cache();

}  // namespace qmoe::core
