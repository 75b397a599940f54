// The statevector chunk kernels: forward, adjoint and parameter shift over a
// chunk of samples, `Lanes` samples at a time (the gates are in gate_kernels.h,
// the product-state prefix in product_prefix_kernels.h). Compiled once per
// instruction set (see isa_tag.h); holds no out-of-line library code.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

#include "qmoe/core/cpu/product_state/product_prefix_kernels.h"
#include "qmoe/core/cpu/simd/lane_io.h"
#include "qmoe/core/cpu/simd/lane_vector.h"
#include "qmoe/core/cpu/simd/vector_math.h"
#include "qmoe/core/cpu/statevector/chunk_task.h"
#include "qmoe/core/cpu/statevector/gate_kernels.h"
#include "qmoe/core/math/parity.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

template <class Real, int Lanes>
inline void load_block(const ChunkTask<Real>& task, int64_t first, int64_t dim, Real* state) {
  const BatchView<Real>& batch = task.batch;
  for (int64_t i = 0; i < 2 * dim * Lanes; ++i) state[i] = 0;
  for (int lane = 0; lane < Lanes; ++lane) {
    const int64_t sample = first + lane;
    if (sample >= task.end) break;  // padding lanes stay zero and contribute nothing
    if (batch.initial_state == nullptr) {
      state[lane] = 1;
    } else if (batch.initial_state_is_complex) {
      const Real* source = batch.initial_state + sample * dim * 2;
      for (int64_t k = 0; k < dim; ++k) {
        state[k * 2 * Lanes + lane] = source[2 * k];
        state[k * 2 * Lanes + Lanes + lane] = source[2 * k + 1];
      }
    } else {
      const Real* source = batch.initial_state + sample * dim;
      for (int64_t k = 0; k < dim; ++k) state[k * 2 * Lanes + lane] = source[k];
    }
  }
}

template <class Real, int Lanes>
inline void rotation_angles(const ChunkTask<Real>& task, const Segment<Real>& segment,
                            int64_t first, Real* cos_half, Real* sin_half) {
  if (segment.source != ParamSource::kInput) {
    for (int lane = 0; lane < Lanes; ++lane) {
      cos_half[lane] = segment.shared_cos_half;
      sin_half[lane] = segment.shared_sin_half;
    }
    return;
  }
  Real* half_angle = sin_half;  // reused as scratch before it receives the sines
  load_column<Real, Lanes>(task.batch.inputs, task.batch.n_input_columns, segment.param_index,
                           first, task.end, half_angle);
  for (int lane = 0; lane < Lanes; ++lane) {
    half_angle[lane] = (half_angle[lane] + segment.angle_offset) / 2;
  }
  sincos_lanes<Real, Lanes>(half_angle, sin_half, cos_half);
}

// Applies one segment to the block. `bit0` is the segment's bit in `state`: its
// own, or 0 when a prefix gate acts on its wire's 2-vector (dim 2). A
// permutation writes to `spare` and swaps the two pointers.
template <class Real, int Lanes>
inline void apply_segment(const ChunkTask<Real>& task, const CircuitView<Real>& circuit,
                          const Segment<Real>& segment, int32_t bit0, int64_t first, int64_t dim,
                          Real*& state, Real*& spare, Real* rotations, Real* dense_scratch) {
  switch (segment.kind) {
    case SegmentKind::kSharedSingleQubit:
      apply_one_qubit<Real, Lanes>(state, dim, bit0, SharedMatrix<Real>{segment.unitary});
      break;
    case SegmentKind::kPauliRotation: {
      Real* cos_half = rotations + segment.rotation_slot * 2 * Lanes;
      Real* sin_half = cos_half + Lanes;
      rotation_angles<Real, Lanes>(task, segment, first, cos_half, sin_half);
      if (segment.bit1 < 0) {
        with_rotation_lanes<Real>(static_cast<Pauli>(segment.pauli), cos_half, sin_half, Real(1),
                                  [&](const auto& rotation) {
                                    apply_one_qubit<Real, Lanes>(state, dim, bit0, rotation);
                                  });
        break;
      }
      apply_pauli_rotation<Real, Lanes>(
          state, dim, pauli_action(segment.pauli, segment.bit0, segment.bit1), cos_half, sin_half);
      break;
    }
    case SegmentKind::kDenseUnitary:
      apply_dense<Real, Lanes, false>(state, dim, circuit.dense_matrices + segment.dense_offset,
                                      dense_scratch);
      break;
    case SegmentKind::kPermutation:
      apply_permutation<Real, Lanes>(state, spare, dim,
                                     circuit.permutations + segment.permutation_offset,
                                     circuit.permutation_signs + segment.permutation_offset);
      std::swap(state, spare);
      break;
    default:
      apply_fixed_two_qubit<Real, Lanes>(state, dim, segment.kind, segment.bit0, segment.bit1);
      break;
  }
}

// Whether two consecutive segments are shared one-qubit gates on different
// wires, which one pass over the state applies together (not on the split path
// of large states, whose passes are parallel per gate).
template <class Real>
inline bool shared_gate_pair(const Segment<Real>& a, const Segment<Real>& b, int64_t dim,
                             int lanes) {
  return a.kind == SegmentKind::kSharedSingleQubit && b.kind == SegmentKind::kSharedSingleQubit &&
         a.bit0 != b.bit0 && dim >= 4 && !(lanes == 1 && dim >= (int64_t{1} << kMinSplitQubits));
}

// Whether the block starts from the product state of the prefix.
template <class Real>
inline bool starts_from_product_state(const ChunkTask<Real>& task,
                                      const CircuitView<Real>& circuit) {
  return task.batch.initial_state == nullptr && circuit.n_prefix_segments > 0;
}

// The prefix gates on their wires' 2-vectors (buffers.wire_states), from |0>;
// returns the first segment after the prefix.
template <class Real, int Lanes>
inline int32_t run_prefix_on_wires(const ChunkTask<Real>& task, const CircuitView<Real>& circuit,
                                   int64_t first, ChunkBuffers<Real>& buffers) {
  reset_wire_states<Real, Lanes>(buffers.wire_states, circuit.n_qubits);
  Real* no_spare = buffers.spare_psi;  // prefix segments never permute
  for (int32_t i = 0; i < circuit.n_prefix_segments; ++i) {
    const Segment<Real>& segment = circuit.segments[i];
    Real* phi = wire_block<Real, Lanes>(buffers.wire_states, segment.bit0);
    apply_segment<Real, Lanes>(task, circuit, segment, 0, first, 2, phi, no_spare,
                               buffers.rotations, buffers.dense_scratch);
  }
  return circuit.n_prefix_segments;
}

// Runs every segment on the block's state buffers.psi (rotation cos/sin cached
// in buffers.rotations for the adjoint sweep).
template <class Real, int Lanes>
inline void run_circuit(const ChunkTask<Real>& task, const CircuitView<Real>& circuit,
                        int64_t first, ChunkBuffers<Real>& buffers) {
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  int32_t begin = 0;
  if (starts_from_product_state(task, circuit)) {
    begin = run_prefix_on_wires<Real, Lanes>(task, circuit, first, buffers);
    expand_product_state<Real, Lanes>(buffers.wire_states, circuit.n_qubits, buffers.psi);
  } else {
    load_block<Real, Lanes>(task, first, dim, buffers.psi);
  }
  for (int32_t i = begin; i < circuit.n_segments; ++i) {
    const Segment<Real>& segment = circuit.segments[i];
    if (i + 1 < circuit.n_segments &&
        shared_gate_pair(segment, circuit.segments[i + 1], dim, Lanes)) {
      const Segment<Real>& next = circuit.segments[i + 1];
      apply_two_one_qubit<Real, Lanes>(buffers.psi, dim, segment.bit0, segment.unitary, next.bit0,
                                       next.unitary);
      ++i;
      continue;
    }
    apply_segment<Real, Lanes>(task, circuit, segment, segment.bit0, first, dim, buffers.psi,
                               buffers.spare_psi, buffers.rotations, buffers.dense_scratch);
  }
}

// Readout of the block into lane_out[width][Lanes]; probs[dim][Lanes] is scratch.
template <class Real, int Lanes>
inline void read_block(const ReadoutView& readout, const Real* state, int64_t dim, Real* probs,
                       Real* lane_out) {
  Real* target = readout.probs ? lane_out : probs;
  auto probability_at = [&](int64_t k) {
    const Real* a = state + k * 2 * Lanes;
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      target[k * Lanes + lane] = a[lane] * a[lane] + a[Lanes + lane] * a[Lanes + lane];
    }
  };
  // A sign times each probability, in four partial sums: a select per amplitude
  // or one chain of adds would keep the loop scalar or latency-bound.
  auto add_mask_range = [&](int64_t mask, int64_t begin, int64_t end, Real* value) {
    LaneVector<Real, Lanes> sums[4] = {};
    int64_t k = begin;
    for (; k + 4 <= end; k += 4) {
      for (int part = 0; part < 4; ++part) {
        const Real sign = parity_sign<Real>(k + part, mask);
        sums[part] += sign * load_lanes<Real, Lanes>(probs + (k + part) * Lanes);
      }
    }
    for (; k < end; ++k) {
      const Real sign = parity_sign<Real>(k, mask);
      sums[0] += sign * load_lanes<Real, Lanes>(probs + k * Lanes);
    }
    store_lanes<Real, Lanes>(
        value, load_lanes<Real, Lanes>(value) + ((sums[0] + sums[1]) + (sums[2] + sums[3])));
  };
  const bool split = split_amplitudes<Lanes>(dim);
  if (split) {
    for_each_index_split(dim, probability_at);
  } else {
    for (int64_t k = 0; k < dim; ++k) probability_at(k);
  }
  if (readout.probs) return;
  for (int64_t m = 0; m < readout.n_masks; ++m) {
    Real* value = lane_out + m * Lanes;
    for (int lane = 0; lane < Lanes; ++lane) value[lane] = 0;
    if (!split) {
      add_mask_range(readout.index_masks[m], 0, dim, value);
      continue;
    }
    Real partial[kAmplitudeParts][Lanes] = {};
    const int64_t per_part = dim / kAmplitudeParts;
    for_each_part([&](int part) {
      add_mask_range(readout.index_masks[m], part * per_part, (part + 1) * per_part, partial[part]);
    });
    for (int part = 0; part < kAmplitudeParts; ++part) {
      for (int lane = 0; lane < Lanes; ++lane) value[lane] += partial[part][lane];
    }
  }
}

// rows[sample][k] = amplitude k of the block's lanes, complex as (re, im) pairs.
// Amplitude by amplitude, so the block's state is read in order and each row is
// one write stream (lane by lane would sweep the whole block once per lane).
template <class Real, int Lanes>
inline void store_state_rows(const Real* state, int64_t dim, int64_t first, int64_t end,
                             Real* rows) {
  const int lanes = first + Lanes <= end ? Lanes : static_cast<int>(end - first);
  Real* base = rows + first * dim * 2;
  for (int64_t k = 0; k < dim; ++k) {
    const Real* a = state + k * 2 * Lanes;
    for (int lane = 0; lane < lanes; ++lane) {
      base[lane * dim * 2 + 2 * k] = a[lane];
      base[lane * dim * 2 + 2 * k + 1] = a[Lanes + lane];
    }
  }
}

// The inverse of store_state_rows; lanes past `end` get zeros.
template <class Real, int Lanes>
inline void load_state_rows(const Real* rows, int64_t dim, int64_t first, int64_t end,
                            Real* state) {
  const int lanes = first + Lanes <= end ? Lanes : static_cast<int>(end - first);
  const Real* base = rows + first * dim * 2;
  for (int64_t k = 0; k < dim; ++k) {
    Real* a = state + k * 2 * Lanes;
    for (int lane = 0; lane < lanes; ++lane) {
      a[lane] = base[lane * dim * 2 + 2 * k];
      a[Lanes + lane] = base[lane * dim * 2 + 2 * k + 1];
    }
    for (int lane = lanes; lane < Lanes; ++lane) a[lane] = a[Lanes + lane] = 0;
  }
}

// What run_circuit leaves besides the state (the per-sample rotations' cos/sin
// and the prefix's wire states), with the state itself taken from a forward's
// saved rows: the adjoint sweep then starts without running the circuit.
template <class Real, int Lanes>
inline void restore_block(const ChunkTask<Real>& task, const CircuitView<Real>& circuit,
                          int64_t first, ChunkBuffers<Real>& buffers) {
  const int32_t begin = starts_from_product_state(task, circuit)
                            ? run_prefix_on_wires<Real, Lanes>(task, circuit, first, buffers)
                            : 0;
  for (int32_t i = begin; i < circuit.n_segments; ++i) {
    const Segment<Real>& segment = circuit.segments[i];
    if (segment.kind != SegmentKind::kPauliRotation) continue;
    Real* cos_half = buffers.rotations + segment.rotation_slot * 2 * Lanes;
    rotation_angles<Real, Lanes>(task, segment, first, cos_half, cos_half + Lanes);
  }
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  load_state_rows<Real, Lanes>(task.saved_state, dim, first, task.end, buffers.psi);
}

template <class Real, int Lanes>
void forward_chunk(const ChunkTask<Real>& task) {
  const int64_t dim = int64_t{1} << task.circuit.n_qubits;
  const int64_t width = readout_width(task.readout, task.circuit.n_qubits);
  ChunkBuffers<Real> buffers = chunk_buffers(task, Lanes);
  for (int64_t first = task.begin; first < task.end; first += Lanes) {
    run_circuit<Real, Lanes>(task, task.circuit, first, buffers);
    if (task.final_state != nullptr) {
      store_state_rows<Real, Lanes>(buffers.psi, dim, first, task.end, task.final_state);
    }
    read_block<Real, Lanes>(task.readout, buffers.psi, dim, buffers.lane_buffer, buffers.readout_a);
    store_rows<Real, Lanes>(buffers.readout_a, width, first, task.end, task.out);
  }
}

// lambda = D psi with D = sum_j g_j O_j, the readout folded with grad_out.
template <class Real, int Lanes>
inline void fold_readout(const ChunkTask<Real>& task, int64_t first, const Real* psi, int64_t dim,
                         Real* diagonal, Real* lambda) {
  const ReadoutView& readout = task.readout;
  const int64_t width = readout_width(readout, task.circuit.n_qubits);
  Real grad[Lanes];
  if (readout.probs) {
    for (int64_t k = 0; k < dim; ++k) {
      load_column<Real, Lanes>(task.grad_out, width, k, first, task.end, diagonal + k * Lanes);
    }
  } else {
    for (int64_t i = 0; i < dim * Lanes; ++i) diagonal[i] = 0;
    for (int64_t m = 0; m < readout.n_masks; ++m) {
      load_column<Real, Lanes>(task.grad_out, width, m, first, task.end, grad);
      const int64_t mask = readout.index_masks[m];
      const LaneVector<Real, Lanes> g = load_lanes<Real, Lanes>(grad);
      auto add_at = [&](int64_t k) {
        const Real sign = parity_sign<Real>(k, mask);
        Real* d = diagonal + k * Lanes;
        store_lanes<Real, Lanes>(d, load_lanes<Real, Lanes>(d) + sign * g);
      };
      if (split_amplitudes<Lanes>(dim)) {
        for_each_index_split(dim, add_at);
      } else {
        for (int64_t k = 0; k < dim; ++k) add_at(k);
      }
    }
  }
  auto fold_at = [&](int64_t k) {
    const Real* p = psi + k * 2 * Lanes;
    Real* l = lambda + k * 2 * Lanes;
    const Real* d = diagonal + k * Lanes;
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      l[lane] = d[lane] * p[lane];
      l[Lanes + lane] = d[lane] * p[Lanes + lane];
    }
  };
  if (split_amplitudes<Lanes>(dim)) {
    for_each_index_split(dim, fold_at);
  } else {
    for (int64_t k = 0; k < dim; ++k) fold_at(k);
  }
}

template <class Real, int Lanes>
inline void add_to_lanes(const Real* lane_values, Real* accumulator) {
  QMOE_VECTORIZE
  for (int lane = 0; lane < Lanes; ++lane) accumulator[lane] += lane_values[lane];
}

template <class Real, int Lanes>
inline void sum_weight_lanes(const ChunkTask<Real>& task, const Real* accumulators) {
  if (task.grad_weights == nullptr) return;
  for (int64_t w = 0; w < task.n_weights; ++w) {
    Real total = 0;
    for (int lane = 0; lane < Lanes; ++lane) total += accumulators[w * Lanes + lane];
    task.grad_weights[w] += total;
  }
}

template <class Real, int Lanes>
inline void store_state_gradient(const ChunkTask<Real>& task, int64_t first, int64_t dim,
                                 const Real* lambda) {
  // L = <psi0|A|psi0> with A Hermitian: dL/dRe + i dL/dIm = 2 A psi0 = 2 lambda0.
  for (int lane = 0; lane < Lanes && first + lane < task.end; ++lane) {
    const int64_t sample = first + lane;
    for (int64_t k = 0; k < dim; ++k) {
      const Real* l = lambda + k * 2 * Lanes;
      if (task.batch.initial_state_is_complex) {
        task.grad_state[(sample * dim + k) * 2] = 2 * l[lane];
        task.grad_state[(sample * dim + k) * 2 + 1] = 2 * l[Lanes + lane];
      } else {
        task.grad_state[sample * dim + k] = 2 * l[lane];
      }
    }
  }
}

// The gradients of a fused one-qubit segment's angles from its wire products.
template <class Real, int Lanes>
inline void add_fused_gradients(const CircuitView<Real>& circuit, const Segment<Real>& segment,
                                const WireProducts<Real, Lanes>& products,
                                ChunkBuffers<Real>& buffers) {
  for (int32_t t = 0; t < segment.n_terms; ++t) {
    const GradientTerm<Real>& term = circuit.terms[segment.first_term + t];
    generator_gradient<Real, Lanes>(products, term.generator, buffers.gradient);
    add_to_lanes<Real, Lanes>(buffers.gradient,
                              buffers.weight_accumulators + term.weight_index * Lanes);
  }
}

// One reverse step: takes the gradients of the segment's angles from (lambda,
// psi) after it, then un-applies it to both. `bit0` as in apply_segment.
template <class Real, int Lanes>
inline void reverse_segment(const ChunkTask<Real>& task, const Segment<Real>& segment, int32_t bit0,
                            int64_t first, int64_t dim, Real*& psi, Real*& lambda,
                            ChunkBuffers<Real>& buffers, WireProducts<Real, Lanes>& products) {
  const CircuitView<Real>& circuit = task.circuit;
  Real* gradient = buffers.gradient;
  Real* weight_accumulators = buffers.weight_accumulators;
  switch (segment.kind) {
    case SegmentKind::kSharedSingleQubit: {
      reverse_one_qubit<Real, Lanes>(psi, lambda, dim, bit0,
                                     SharedMatrix<Real>{adjoint(segment.unitary)}, products);
      add_fused_gradients<Real, Lanes>(circuit, segment, products, buffers);
      break;
    }
    case SegmentKind::kPauliRotation: {
      const Real* cos_half = buffers.rotations + segment.rotation_slot * 2 * Lanes;
      const int64_t n_columns = task.batch.n_input_columns;
      if (segment.bit1 < 0) {
        const auto pauli = static_cast<Pauli>(segment.pauli);
        with_rotation_lanes<Real>(
            pauli, cos_half, cos_half + Lanes, Real(-1), [&](const auto& inverse) {
              reverse_one_qubit<Real, Lanes>(psi, lambda, dim, bit0, inverse, products);
            });
        generator_gradient<Real, Lanes>(products, pauli_matrix<Real>(pauli), gradient);
        if (segment.source == ParamSource::kInput && task.grad_inputs != nullptr) {
          add_to_column<Real, Lanes>(gradient, n_columns, segment.param_index, first, task.end,
                                     task.grad_inputs);
        } else if (segment.source == ParamSource::kWeight) {
          add_to_lanes<Real, Lanes>(gradient, weight_accumulators + segment.param_index * Lanes);
        }
        break;
      }
      const PauliAction action = pauli_action(segment.pauli, segment.bit0, segment.bit1);
      if (segment.source == ParamSource::kInput && task.grad_inputs != nullptr) {
        pauli_gradient<Real, Lanes>(psi, lambda, dim, action, gradient);
        add_to_column<Real, Lanes>(gradient, n_columns, segment.param_index, first, task.end,
                                   task.grad_inputs);
      } else if (segment.source == ParamSource::kWeight) {
        pauli_gradient<Real, Lanes>(psi, lambda, dim, action, gradient);
        add_to_lanes<Real, Lanes>(gradient, weight_accumulators + segment.param_index * Lanes);
      }
      Real* minus_sin = gradient + Lanes;
      for (int lane = 0; lane < Lanes; ++lane) minus_sin[lane] = -cos_half[Lanes + lane];
      apply_pauli_rotation<Real, Lanes>(psi, dim, action, cos_half, minus_sin);
      apply_pauli_rotation<Real, Lanes>(lambda, dim, action, cos_half, minus_sin);
      break;
    }
    case SegmentKind::kDenseUnitary: {
      // gradients come from the accumulated products once the chunk is done
      const int64_t accumulator_size = dim * dim * 2 * Lanes;
      accumulate_outer_product<Real, Lanes>(
          psi, lambda, dim,
          buffers.dense_accumulators + segment.accumulator_slot * accumulator_size);
      const Real* matrix = circuit.dense_matrices + segment.dense_offset;
      apply_dense<Real, Lanes, true>(psi, dim, matrix, buffers.dense_scratch);
      apply_dense<Real, Lanes, true>(lambda, dim, matrix, buffers.dense_scratch);
      break;
    }
    case SegmentKind::kPermutation: {
      const int32_t* inverse = circuit.permutations + segment.permutation_offset + dim;
      const Real* inverse_sign = circuit.permutation_signs + segment.permutation_offset + dim;
      apply_permutation<Real, Lanes>(psi, buffers.spare_psi, dim, inverse, inverse_sign);
      apply_permutation<Real, Lanes>(lambda, buffers.spare_lambda, dim, inverse, inverse_sign);
      std::swap(psi, buffers.spare_psi);
      std::swap(lambda, buffers.spare_lambda);
      break;
    }
    default:
      apply_fixed_two_qubit<Real, Lanes>(psi, dim, segment.kind, segment.bit0, segment.bit1);
      apply_fixed_two_qubit<Real, Lanes>(lambda, dim, segment.kind, segment.bit0, segment.bit1);
      break;
  }
}

// Bit mask of the wires whose prefix gates have angles to differentiate.
template <class Real>
inline uint32_t prefix_gradient_wires(const ChunkTask<Real>& task) {
  const CircuitView<Real>& circuit = task.circuit;
  uint32_t wires = 0;
  for (int32_t i = 0; i < circuit.n_prefix_segments; ++i) {
    const Segment<Real>& segment = circuit.segments[i];
    const bool differentiated =
        segment.kind == SegmentKind::kSharedSingleQubit
            ? segment.n_terms > 0
            : segment.source == ParamSource::kWeight ||
                  (segment.source == ParamSource::kInput && task.grad_inputs != nullptr);
    if (differentiated) wires |= uint32_t{1} << segment.bit0;
  }
  return wires;
}

// The prefix's gradients: lambda contracted onto each wire, then the reverse
// sweep over each wire's gates on 2-vectors.
template <class Real, int Lanes>
inline void reverse_prefix(const ChunkTask<Real>& task, int64_t first, uint32_t wires,
                           ChunkBuffers<Real>& buffers, WireProducts<Real, Lanes>& products) {
  const CircuitView<Real>& circuit = task.circuit;
  contract_onto_wires<Real, Lanes>(buffers.lambda, buffers.wire_states, 0, circuit.n_qubits,
                                   buffers.contraction, buffers.wire_environments);
  for (int32_t i = circuit.n_prefix_segments - 1; i >= 0; --i) {
    const Segment<Real>& segment = circuit.segments[i];
    if (((wires >> segment.bit0) & 1) == 0) continue;
    Real* phi = wire_block<Real, Lanes>(buffers.wire_states, segment.bit0);
    Real* environment = wire_block<Real, Lanes>(buffers.wire_environments, segment.bit0);
    reverse_segment<Real, Lanes>(task, segment, 0, first, 2, phi, environment, buffers, products);
  }
}

// One reverse sweep per block gives every gradient (Jones & Gacon's adjoint method).
template <class Real, int Lanes>
void adjoint_chunk(const ChunkTask<Real>& task) {
  const CircuitView<Real>& circuit = task.circuit;
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  ChunkBuffers<Real> buffers = chunk_buffers(task, Lanes);
  for (int64_t i = 0; i < task.n_weights * Lanes; ++i) buffers.weight_accumulators[i] = 0;
  const int64_t accumulator_size = dim * dim * 2 * Lanes;
  for (int64_t i = 0; i < circuit.n_accumulator_slots * accumulator_size; ++i) {
    buffers.dense_accumulators[i] = 0;
  }
  const bool product = starts_from_product_state(task, circuit);
  const uint32_t prefix_wires = product ? prefix_gradient_wires(task) : 0;
  WireProducts<Real, Lanes> products, earlier_products;

  for (int64_t first = task.begin; first < task.end; first += Lanes) {
    if (task.saved_state != nullptr) {
      restore_block<Real, Lanes>(task, circuit, first, buffers);
    } else {
      run_circuit<Real, Lanes>(task, circuit, first, buffers);
    }
    fold_readout<Real, Lanes>(task, first, buffers.psi, dim, buffers.lane_buffer, buffers.lambda);
    const int32_t stop = product ? circuit.n_prefix_segments : 0;
    for (int32_t i = circuit.n_segments - 1; i >= stop; --i) {
      const Segment<Real>& segment = circuit.segments[i];
      if (i - 1 >= stop && shared_gate_pair(segment, circuit.segments[i - 1], dim, Lanes)) {
        const Segment<Real>& earlier = circuit.segments[i - 1];
        reverse_two_one_qubit<Real, Lanes>(buffers.psi, buffers.lambda, dim, segment.bit0,
                                           adjoint(segment.unitary), earlier.bit0,
                                           adjoint(earlier.unitary), products, earlier_products);
        add_fused_gradients<Real, Lanes>(circuit, segment, products, buffers);
        add_fused_gradients<Real, Lanes>(circuit, earlier, earlier_products, buffers);
        --i;
        continue;
      }
      reverse_segment<Real, Lanes>(task, segment, segment.bit0, first, dim, buffers.psi,
                                   buffers.lambda, buffers, products);
    }
    if (prefix_wires != 0)
      reverse_prefix<Real, Lanes>(task, first, prefix_wires, buffers, products);
    if (task.grad_state != nullptr) {
      store_state_gradient<Real, Lanes>(task, first, dim, buffers.lambda);
    }
  }
  for (int32_t i = 0; i < circuit.n_segments; ++i) {
    const Segment<Real>& segment = circuit.segments[i];
    if (segment.kind != SegmentKind::kDenseUnitary) continue;
    for (int32_t t = 0; t < segment.n_terms; ++t) {
      const DenseGradientTerm& term = circuit.dense_terms[segment.first_term + t];
      dense_generator_gradient<Real, Lanes>(
          circuit.dense_matrices + term.generator_offset,
          buffers.dense_accumulators + segment.accumulator_slot * accumulator_size, dim,
          buffers.gradient);
      add_to_lanes<Real, Lanes>(buffers.gradient,
                                buffers.weight_accumulators + term.weight_index * Lanes);
    }
  }
  sum_weight_lanes<Real, Lanes>(task, buffers.weight_accumulators);
}

// Two forward runs per shifted angle; d<O>/dt = (<O>(t + pi/2) - <O>(t - pi/2)) / 2.
template <class Real, int Lanes>
void parameter_shift_chunk(const ChunkTask<Real>& task) {
  const int64_t dim = int64_t{1} << task.circuit.n_qubits;
  const int64_t width = readout_width(task.readout, task.circuit.n_qubits);
  ChunkBuffers<Real> buffers = chunk_buffers(task, Lanes);
  Real* plus = buffers.readout_a;
  Real* minus = buffers.readout_b;
  Real* gradient = buffers.gradient;
  for (int64_t i = 0; i < task.n_weights * Lanes; ++i) buffers.weight_accumulators[i] = 0;

  for (int64_t first = task.begin; first < task.end; first += Lanes) {
    for (int64_t t = 0; t < task.n_targets; ++t) {
      const ShiftTarget& target = task.targets[t];
      if (target.source == ParamSource::kInput && task.grad_inputs == nullptr) continue;
      if (target.source == ParamSource::kWeight && task.grad_weights == nullptr) continue;
      for (int side = 0; side < 2; ++side) {
        run_circuit<Real, Lanes>(task, task.shifted[2 * t + side], first, buffers);
        read_block<Real, Lanes>(task.readout, buffers.psi, dim, buffers.lane_buffer,
                                side == 0 ? plus : minus);
      }
      for (int lane = 0; lane < Lanes; ++lane) {
        const int64_t sample = first + lane;
        Real total = 0;
        if (sample < task.end) {
          for (int64_t j = 0; j < width; ++j) {
            total += task.grad_out[sample * width + j] *
                     (plus[j * Lanes + lane] - minus[j * Lanes + lane]);
          }
        }
        gradient[lane] = total / 2;
      }
      if (target.source == ParamSource::kInput) {
        add_to_column<Real, Lanes>(gradient, task.batch.n_input_columns, target.index, first,
                                   task.end, task.grad_inputs);
      } else {
        add_to_lanes<Real, Lanes>(gradient, buffers.weight_accumulators + target.index * Lanes);
      }
    }
  }
  sum_weight_lanes<Real, Lanes>(task, buffers.weight_accumulators);
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
