// What one call of a statevector kernel works on: a contiguous range of
// samples, processed in blocks of `Lanes` samples laid out as structure of
// arrays (for amplitude k: the block's real parts, then its imaginary parts).
#pragma once

#include <cstdint>

#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/engine/shift_targets.h"
#include "qmoe/core/math/isa_tag.h"
#include "qmoe/core/program/compiled_circuit.h"
#include "qmoe/core/program/readout.h"

namespace qmoe::core {

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

  Real* out = nullptr;          // forward: [batch, width]
  Real* final_state = nullptr;  // forward: [batch, 2**n, 2] (complex as pairs), or null

  // adjoint: the final states a forward kept ([batch, 2**n, 2]), or null to recompute them
  const Real* saved_state = nullptr;

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

// The layout helpers below are compiled into every instruction set's kernels:
// they live in its namespace, so no build's copy can be merged into another's.
inline namespace QMOE_ISA_TAG {

// Where each buffer of a statevector kernel's per-chunk scratch memory starts,
// in units of Real, for a kernel with this many lanes. Every buffer is a whole
// number of lane blocks.
struct WorkspaceLayout {
  int64_t psi, lambda;              // 2**n amplitudes: the state and the adjoint state
  int64_t spare_psi, spare_lambda;  // targets of permutations, swapped with psi and lambda
  int64_t rotations;                // per-sample cos/sin of each rotation slot
  int64_t lane_buffer;              // 2**n reals: probabilities, or the folded readout
  int64_t readout_a, readout_b;     // one readout each (parameter shift: plus and minus)
  int64_t gradient;                 // 2 reals
  int64_t weight_accumulators;      // n_weights reals
  int64_t wire_states;              // product-state prefix: one 2-vector per wire
  int64_t wire_environments;        // and the adjoint state contracted onto each wire
  int64_t contraction;              // scratch of contract_onto_wires
  int64_t dense_accumulators;       // 4**n complex per dense slot
  int64_t dense_scratch;            // 2**n amplitudes
  int64_t total;
};

template <class Real>
WorkspaceLayout workspace_layout(const CircuitView<Real>& circuit, const ReadoutView& readout,
                                 int64_t n_weights, int lanes) {
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  const int64_t amplitudes = 2 * dim * lanes;
  WorkspaceLayout layout{};
  int64_t next = 0;
  auto take = [&](int64_t length) {
    const int64_t start = next;
    next += length;
    return start;
  };
  layout.psi = take(amplitudes);
  layout.lambda = take(amplitudes);
  bool permutes = false;
  for (int32_t i = 0; i < circuit.n_segments; ++i) {
    permutes = permutes || circuit.segments[i].kind == SegmentKind::kPermutation;
  }
  layout.spare_psi = take(permutes ? amplitudes : 0);
  layout.spare_lambda = take(permutes ? amplitudes : 0);
  layout.rotations = take(2 * circuit.n_rotation_slots * lanes);
  layout.lane_buffer = take(dim * lanes);
  const int64_t width = readout_width(readout, circuit.n_qubits);
  layout.readout_a = take(width * lanes);
  layout.readout_b = take(width * lanes);
  layout.gradient = take(2 * lanes);
  layout.weight_accumulators = take(n_weights * lanes);
  layout.wire_states = take(4 * circuit.n_qubits * lanes);
  layout.wire_environments = take(4 * circuit.n_qubits * lanes);
  // 8 * 2**ceil(n/2) + 16 amplitudes: enough for contract_onto_wires at every depth
  layout.contraction = take((8 * (int64_t{1} << ((circuit.n_qubits + 1) / 2)) + 16) * 2 * lanes);
  layout.dense_accumulators = take(circuit.n_accumulator_slots * dim * dim * 2 * lanes);
  layout.dense_scratch = take(circuit.n_accumulator_slots > 0 ? amplitudes : 0);
  layout.total = next;
  return layout;
}

// The buffers of one chunk's workspace, as pointers.
template <class Real>
struct ChunkBuffers {
  Real *psi, *lambda, *spare_psi, *spare_lambda, *rotations, *lane_buffer, *readout_a, *readout_b,
      *gradient, *weight_accumulators, *wire_states, *wire_environments, *contraction,
      *dense_accumulators, *dense_scratch;
};

template <class Real>
ChunkBuffers<Real> chunk_buffers(const ChunkTask<Real>& task, int lanes) {
  const WorkspaceLayout layout =
      workspace_layout(task.circuit, task.readout, task.n_weights, lanes);
  Real* w = task.workspace;
  return {w + layout.psi,          w + layout.lambda,
          w + layout.spare_psi,    w + layout.spare_lambda,
          w + layout.rotations,    w + layout.lane_buffer,
          w + layout.readout_a,    w + layout.readout_b,
          w + layout.gradient,     w + layout.weight_accumulators,
          w + layout.wire_states,  w + layout.wire_environments,
          w + layout.contraction,  w + layout.dense_accumulators,
          w + layout.dense_scratch};
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
