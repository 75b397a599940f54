// Runs an engine over a whole batch: chunks handed to the caller's parallel
// loop, weight partials allocated per chunk and reduced in chunk order. The
// operators of every backend that runs chunks on host threads call these, so
// chunking and the reduction are written once.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/engine/weight_reduction.h"

namespace qmoe::core {

// Real is deduced from the engine alone, so that null pointers can be passed.
template <class Real>
using Deduced = std::common_type_t<Real>;

// Where a backward over the whole batch writes; each may be null.
template <class Real>
struct BatchGradients {
  Real* inputs = nullptr;   // [batch, n_input_columns], zeroed by the caller
  Real* weights = nullptr;  // [n_weights], overwritten
  Real* state = nullptr;    // like the initial state, zeroed by the caller
};

// parallel_for(n, body) calls body(begin, end) over disjoint ranges covering [0, n).
template <class Real, class ParallelFor>
void run_forward(const CircuitEngine<Real>& engine, const BatchView<Deduced<Real>>& batch,
                 Deduced<Real>* out, Deduced<Real>* final_state, ParallelFor&& parallel_for) {
  if (batch.batch_size == 0) return;
  parallel_for(engine.n_chunks(batch.batch_size), [&](int64_t begin, int64_t end) {
    engine.forward(batch, begin, end, out, final_state);
  });
}

template <class Real, class ParallelFor>
void run_backward(const CircuitEngine<Real>& engine, DiffMethod method,
                  const BatchView<Deduced<Real>>& batch, const Deduced<Real>* grad_out,
                  const BatchGradients<Deduced<Real>>& gradients, const Deduced<Real>* saved_state,
                  ParallelFor&& parallel_for) {
  if (batch.batch_size == 0) return;
  const int64_t n_chunks = engine.n_chunks(batch.batch_size);
  std::vector<Real> partials;
  ChunkGradients<Real> chunk_gradients;
  chunk_gradients.inputs = gradients.inputs;
  chunk_gradients.state = gradients.state;
  if (gradients.weights != nullptr) {
    partials.assign(static_cast<size_t>(n_chunks * engine.n_weights()), Real(0));
    chunk_gradients.weight_partials = partials.data();
  }
  parallel_for(n_chunks, [&](int64_t begin, int64_t end) {
    engine.backward(method, batch, grad_out, begin, end, chunk_gradients, saved_state);
  });
  if (gradients.weights != nullptr) {
    reduce_weight_partials(partials.data(), n_chunks, engine.n_weights(), gradients.weights);
  }
}

}  // namespace qmoe::core
