// What one call of a statevector kernel works on: a contiguous range of
// samples, processed in blocks of `Lanes` samples laid out as structure of
// arrays (for amplitude k: the block's real parts, then its imaginary parts).
#pragma once

#include <cstdint>

#include "compiled_circuit.h"

namespace qmoe::core {

template <class Real>
struct BatchView {
  int64_t batch_size = 0;
  const Real* inputs = nullptr;  // [batch, n_input_columns], row-major
  int64_t n_input_columns = 0;
  const Real* initial_state = nullptr;  // [batch, 2**n] real, or complex interleaved; null: |0..0>
  bool initial_state_is_complex = false;
};

// A diagonal readout; masks are over basis-index bits (already mapped from wires).
struct ReadoutView {
  bool probs = false;
  const int64_t* index_masks = nullptr;
  int64_t n_masks = 0;
};

inline int64_t readout_width(const ReadoutView& readout, int n_qubits) {
  return readout.probs ? (int64_t{1} << n_qubits) : readout.n_masks;
}

// The angle a parameter-shift pair moves, and where its derivative goes.
struct ShiftTarget {
  ParamSource source;
  int64_t index;
};

template <class Real>
struct ProductStateView;

template <class Real>
struct ChunkTask {
  CircuitView<Real> circuit{};
  BatchView<Real> batch{};
  ReadoutView readout{};
  int64_t begin = 0;  // first sample
  int64_t end = 0;    // one past the last sample
  Real* workspace = nullptr;

  Real* out = nullptr;  // forward: [batch, width]

  const Real* grad_out = nullptr;  // backward: [batch, width]
  Real* grad_inputs = nullptr;     // [batch, n_input_columns] (accumulated into), or null
  Real* grad_weights = nullptr;    // [n_weights] partial sum of this chunk (accumulated), or null
  int64_t n_weights = 0;
  Real* grad_state = nullptr;  // like initial_state (written), or null

  // parameter shift: shifted[2 t] and shifted[2 t + 1] move targets[t] by +pi/2 and -pi/2
  const CircuitView<Real>* shifted = nullptr;
  const ShiftTarget* targets = nullptr;
  int64_t n_targets = 0;

  // product-state path (product_state.h), when the circuit has its shape
  const ProductStateView<Real>* product_state = nullptr;
};

// Per-chunk scratch memory, in units of Real, for a kernel with this many
// lanes. The dense-run accumulators and scratch sit at its end.
template <class Real>
int64_t dense_workspace_size(const CircuitView<Real>& circuit, int lanes) {
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  const int64_t accumulators = circuit.n_accumulator_slots * dim * dim * 2 * lanes;
  const int64_t scratch = circuit.n_accumulator_slots > 0 ? 2 * dim * lanes : 0;
  return accumulators + scratch;
}

template <class Real>
int64_t workspace_size(const CircuitView<Real>& circuit, const ReadoutView& readout,
                       int64_t n_weights, int lanes) {
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  const int64_t width = readout_width(readout, circuit.n_qubits);
  const int64_t states = 2 * (2 * dim * lanes);        // psi and lambda
  const int64_t rotations = 2 * circuit.n_rotation_slots * lanes;
  const int64_t lane_buffers = (dim + 2 * width + 2) * lanes;  // probs, two readouts, scratch
  const int64_t weight_accumulators = n_weights * lanes;
  return states + rotations + lane_buffers + weight_accumulators +
         dense_workspace_size(circuit, lanes);
}

// Start of the dense accumulators (slot after slot), then the dense scratch state.
template <class Real>
Real* dense_workspace(const ChunkTask<Real>& task, int lanes) {
  return task.workspace + workspace_size(task.circuit, task.readout, task.n_weights, lanes) -
         dense_workspace_size(task.circuit, lanes);
}

}  // namespace qmoe::core
