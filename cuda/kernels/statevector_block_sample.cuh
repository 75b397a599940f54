// The statevector kernels' bodies, a block of threads per sample: the block holds one
// sample's states (block_layout.h: in shared memory up to 13 qubits, in a global
// workspace above) and applies the program gate by gate, every thread taking a
// strided share of the amplitude pairs (one-qubit gates, XX/YY strings) or quads
// (CNOT, CZ, SWAP), with a block barrier after each gate. One launch runs the whole
// circuit for the whole batch: the blocks stride over the samples.
//
// The same interpretation as the thread-per-sample bodies (statevector_sample.cuh:
// angles, half angles, shifted angles, gate matrices, readout folding are theirs),
// with each loop over the state split across the block; sums over the state (an
// expectation, an angle's gradient, a shifted run's contraction) are a per-thread
// partial, then a fixed-shape tree over the block (block_sum): the same bits on every
// run for a given block size.
//
// With the states in global memory and a tiled layout (block_layout.h), the gates run
// in fused passes instead (gate_segments.h): per segment of consecutive gates, the
// block walks the tiles of the segment's bits, gathers a tile into shared memory,
// applies the segment's gates to it with the same gate bodies (over the tile's local
// bit positions: the bodies take bit positions and a dimension, not wires), and
// scatters it back. The adjoint's angle gradients inside a segment are per-thread
// partials summed over the tiles, then the block_sum tree: same bits every run.
//
// Written once over BlockGroup (block_group.h): nvcc
// compiles it into statevector_block_kernels.cu, g++ into the host emulation of
// tests/cuda/ (same source, not a copy).
#pragma once

#include <cstdint>

#include "qmoe/core/math/fixed_two_qubit.h"
#include "qmoe/core/math/gate_math.h"
#include "qmoe/core/math/parity.h"
#include "qmoe/core/math/pauli_string.h"
#include "qmoe/cuda/kernels/block_group.h"
#include "qmoe/cuda/kernels/block_layout.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/gate_segments.h"
#include "qmoe/cuda/kernels/kernel_args.h"
#include "qmoe/cuda/kernels/statevector_sample.cuh"
#include "qmoe/cuda/kernels/statevector_shift_sample.cuh"

namespace qmoe::cuda {
namespace block_statevector {

using core::Complex;
using core::Matrix2;
using core::Opcode;
using core::ParamSource;
using core::Pauli;
using statevector::HalfAngle;
using statevector::insert_zero_bit;

// A block's states and its reduction scratch (block_dim Reals in shared memory); with
// fused passes, the tiles in shared memory and the gradient partials
// (kMaxSegmentGradients x block_dim Reals, the backward's).
template <class Real>
struct BlockStates {
  Complex<Real>* psi;
  Complex<Real>* lambda;  // null when the layout has one state
  Real* scratch;
  int tile_qubits;  // 0: gate by gate over psi and lambda
  Complex<Real>* psi_tile;
  Complex<Real>* lambda_tile;
  Real* partials;
};

template <class Real>
QMOE_GROUP_DEVICE inline Complex<Real>* layout_state(const BlockLayout& layout,
                                                     const BlockGroup& group,
                                                     unsigned char* workspace, int index) {
  if (index < layout.shared_states) {
    return reinterpret_cast<Complex<Real>*>(group.shared_memory + layout.scratch_bytes +
                                            index * layout.state_bytes);
  }
  return reinterpret_cast<Complex<Real>*>(workspace + group.block * layout.slot_bytes +
                                          (index - layout.shared_states) * layout.state_bytes);
}

template <class Real>
QMOE_GROUP_DEVICE inline BlockStates<Real> block_states(const BlockLayout& layout,
                                                        const BlockGroup& group,
                                                        unsigned char* workspace) {
  BlockStates<Real> states;
  states.scratch = reinterpret_cast<Real*>(group.shared_memory);
  states.psi = layout_state<Real>(layout, group, workspace, 0);
  states.lambda = layout.n_states > 1 ? layout_state<Real>(layout, group, workspace, 1) : nullptr;
  states.tile_qubits = layout.tile_qubits;
  states.psi_tile = states.lambda_tile = nullptr;
  states.partials = nullptr;
  if (layout.tile_qubits > 0) {
    states.psi_tile =
        reinterpret_cast<Complex<Real>*>(group.shared_memory + tile_offset(layout, 0));
    if (layout.n_states > 1) {
      states.lambda_tile =
          reinterpret_cast<Complex<Real>*>(group.shared_memory + tile_offset(layout, 1));
      states.partials = reinterpret_cast<Real*>(group.shared_memory + layout.scratch_bytes);
    }
  }
  return states;
}

// The sum of every thread's `value`, returned to all: a tree of fixed shape over the
// scratch (rank r adds r + half, half = size/2, size/4, ...), so the order of the
// additions depends on the block size only. Ends with a barrier: the scratch is free
// again, and everything the threads did before the call is visible to all.
template <class Real>
QMOE_GROUP_DEVICE inline Real block_sum(const BlockGroup& group, Real* scratch, Real value) {
  scratch[group.rank] = value;
  group.sync();
  for (uint32_t half = group.size / 2; half > 0; half /= 2) {
    if (group.rank < half) scratch[group.rank] += scratch[group.rank + half];
    group.sync();
  }
  const Real total = scratch[0];
  group.sync();
  return total;
}

// ---- gates over the block (each ends with a barrier) -----------------------------------------

template <class Real>
QMOE_GROUP_DEVICE inline void apply_one_qubit(const BlockGroup& group, const Matrix2<Real>& m,
                                              int bit, int dim, Complex<Real>* state) {
  for (int p = static_cast<int>(group.rank); p < dim / 2; p += static_cast<int>(group.size)) {
    const int k0 = insert_zero_bit(p, bit);
    Complex<Real>& a0 = state[k0];
    Complex<Real>& a1 = state[k0 | (1 << bit)];
    core::apply_matrix2(m, a0.re, a0.im, a1.re, a1.im);
  }
  group.sync();
}

// CNOT, CZ, SWAP: a thread per quad of the two bits.
template <class Real>
QMOE_GROUP_DEVICE inline void apply_fixed_two_qubit(const BlockGroup& group, Opcode gate, int bit0,
                                                    int bit1, int dim, Complex<Real>* state) {
  const int64_t mask0 = int64_t{1} << bit0, mask1 = int64_t{1} << bit1;
  const int low = bit0 < bit1 ? bit0 : bit1, high = bit0 < bit1 ? bit1 : bit0;
  const int partner = core::exchanged_with_10(gate);
  for (int p = static_cast<int>(group.rank); p < dim / 4; p += static_cast<int>(group.size)) {
    const int base = insert_zero_bit(insert_zero_bit(p, low), high);
    if (partner < 0) {  // CZ: -1 on |11>
      Complex<Real>& a = state[base + core::quad_offset(3, mask0, mask1)];
      a.re = -a.re;
      a.im = -a.im;
      continue;
    }
    Complex<Real>& a = state[base + core::quad_offset(2, mask0, mask1)];
    Complex<Real>& b = state[base + core::quad_offset(partner, mask0, mask1)];
    const Complex<Real> t = a;
    a = b;
    b = t;
  }
  group.sync();
}

// psi <- (c I - i s P) psi for P = XX, YY (pairs k, k ^ flip: a thread per pair, k the
// one with the higher flipped bit clear) or ZZ (diagonal: a thread per amplitude).
template <class Real>
QMOE_GROUP_DEVICE inline void apply_string_rotation(const BlockGroup& group,
                                                    const core::PauliAction& action, Real c, Real s,
                                                    int dim, Complex<Real>* state) {
  const int flip = static_cast<int>(action.flip);
  const int rank = static_cast<int>(group.rank), stride = static_cast<int>(group.size);
  if (flip == 0) {
    for (int k = rank; k < dim; k += stride) {
      int phase_re, phase_im;
      core::pauli_phase(action, k, phase_re, phase_im);
      const Real f_im = s * static_cast<Real>(-phase_re);  // s times Im(-i phase_k)
      Complex<Real>& x = state[k];
      const Real x_re = x.re, x_im = x.im;
      x.re = c * x_re - f_im * x_im;
      x.im = c * x_im + f_im * x_re;
    }
    group.sync();
    return;
  }
  const int high = action.bit0 > action.bit1 ? action.bit0 : action.bit1;
  for (int p = rank; p < dim / 2; p += stride) {
    const int k = insert_zero_bit(p, high), partner = k ^ flip;
    int phase_re, phase_im, partner_re, partner_im;
    core::pauli_phase(action, k, phase_re, phase_im);
    core::pauli_phase(action, partner, partner_re, partner_im);
    // -i * phase: the factor of s in the new amplitude
    const Real q_re = static_cast<Real>(phase_im), q_im = static_cast<Real>(-phase_re);
    const Real p_re = static_cast<Real>(partner_im), p_im = static_cast<Real>(-partner_re);
    Complex<Real>& x = state[k];
    Complex<Real>& y = state[partner];
    const Real x_re = x.re, x_im = x.im, y_re = y.re, y_im = y.im;
    x.re = c * x_re + s * (q_re * y_re - q_im * y_im);
    x.im = c * x_im + s * (q_re * y_im + q_im * y_re);
    y.re = c * y_re + s * (p_re * x_re - p_im * x_im);
    y.im = c * y_im + s * (p_re * x_im + p_im * x_re);
  }
  group.sync();
}

// This thread's share of Im <lambda|P|psi> for a Pauli string P.
template <class Real>
QMOE_GROUP_DEVICE inline Real string_gradient_share(const BlockGroup& group,
                                                    const core::PauliAction& action, int dim,
                                                    const Complex<Real>* psi,
                                                    const Complex<Real>* lambda) {
  const int flip = static_cast<int>(action.flip);
  Real sum = 0;
  for (int k = static_cast<int>(group.rank); k < dim; k += static_cast<int>(group.size)) {
    int phase_re, phase_im;
    core::pauli_phase(action, k, phase_re, phase_im);
    const Complex<Real> p = psi[k ^ flip];
    const Real v_re = phase_re * p.re - phase_im * p.im;  // (P psi)_k
    const Real v_im = phase_re * p.im + phase_im * p.re;
    sum += lambda[k].re * v_im - lambda[k].im * v_re;
  }
  return sum;
}

// Where an operation acts: its bits in the array the block works on (the state, or a
// tile of it) and that array's length.
struct OperationPlace {
  int bit0;
  int bit1;  // two-qubit operations only
  int dim;
};

// On the whole state of n qubits: wire w is bit n - 1 - w.
QMOE_GROUP_DEVICE inline OperationPlace state_place(const PackedOp& op, int n_qubits) {
  return OperationPlace{n_qubits - 1 - op.wire0, n_qubits - 1 - op.wire1, 1 << n_qubits};
}

// On a tile whose local index bits are the set bits of `tile_mask` (gate_segments.h).
QMOE_GROUP_DEVICE inline OperationPlace tile_place(const PackedOp& op, int n_qubits,
                                                   uint32_t tile_mask, int tile_qubits) {
  const OperationPlace global = state_place(op, n_qubits);
  const bool two = core::is_two_qubit(static_cast<Opcode>(op.opcode));
  return OperationPlace{local_bit(tile_mask, global.bit0),
                        two ? local_bit(tile_mask, global.bit1) : -1, 1 << tile_qubits};
}

// One operation (or its inverse) on `state` at `place`, by the whole block.
template <class Real>
QMOE_GROUP_DEVICE inline void apply_operation_at(const BlockGroup& group, const PackedOp& op,
                                                 OperationPlace place, HalfAngle<Real> half,
                                                 bool inverse, Complex<Real>* state) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  const int dim = place.dim;
  const int bit0 = place.bit0;
  const Real sin_half = inverse ? -half.sin_half : half.sin_half;
  if (core::is_two_qubit(opcode)) {
    const int bit1 = place.bit1;
    if (statevector::is_rotation(opcode)) {
      apply_string_rotation(group,
                            core::pauli_action(statevector::rotation_generator(opcode), bit0, bit1),
                            half.cos_half, sin_half, dim, state);
    } else {
      apply_fixed_two_qubit(group, opcode, bit0, bit1, dim, state);
    }
    return;
  }
  if (statevector::is_rotation(opcode)) {
    apply_one_qubit(
        group,
        core::rotation_matrix<Real>(statevector::one_qubit_pauli(opcode), half.cos_half, sin_half),
        bit0, dim, state);
    return;
  }
  const Matrix2<Real> m = core::fixed_gate_matrix<Real>(opcode);
  apply_one_qubit(group, inverse ? core::adjoint(m) : m, bit0, dim, state);
}

template <class Real>
QMOE_GROUP_DEVICE inline void apply_operation(const BlockGroup& group, const PackedOp& op,
                                              int n_qubits, HalfAngle<Real> half, bool inverse,
                                              Complex<Real>* state) {
  apply_operation_at(group, op, state_place(op, n_qubits), half, inverse, state);
}

// One reverse step of the adjoint sweep over the block, on `psi` and `lambda` at
// `place`: this thread's share of Im <lambda|P|psi> (when `want_gradient`, else 0),
// and the operation un-applied to both. Without a gradient, or for two qubits, the
// states are complete on return; a one-qubit gradient step leaves them complete after
// the caller's next barrier (each thread inverts the pairs it read, in the same pass).
template <class Real>
QMOE_GROUP_DEVICE inline Real reverse_operation_share(const BlockGroup& group, const PackedOp& op,
                                                      OperationPlace place, HalfAngle<Real> half,
                                                      bool want_gradient, Complex<Real>* psi,
                                                      Complex<Real>* lambda) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  if (!statevector::is_rotation(opcode) || !want_gradient) {
    apply_operation_at(group, op, place, half, true, psi);
    apply_operation_at(group, op, place, half, true, lambda);
    return Real(0);
  }
  const int dim = place.dim;
  const int bit0 = place.bit0;
  if (core::is_two_qubit(opcode)) {
    const core::PauliAction action =
        core::pauli_action(statevector::rotation_generator(opcode), bit0, place.bit1);
    const Real share = string_gradient_share(group, action, dim, psi, lambda);
    group.sync();  // every read of the states is done before they change
    apply_string_rotation(group, action, half.cos_half, -half.sin_half, dim, psi);
    apply_string_rotation(group, action, half.cos_half, -half.sin_half, dim, lambda);
    return share;
  }
  // One qubit: each thread's pairs give their share of the gradient and are inverted in
  // the same pass (a thread touches only its own pairs); block_sum is the barrier.
  const Pauli pauli = statevector::one_qubit_pauli(opcode);
  const Matrix2<Real> generator = core::pauli_matrix<Real>(pauli);
  const Matrix2<Real> inverse = core::rotation_matrix<Real>(pauli, half.cos_half, -half.sin_half);
  Real share = 0;
  for (int p = static_cast<int>(group.rank); p < dim / 2; p += static_cast<int>(group.size)) {
    const int k0 = insert_zero_bit(p, bit0), k1 = k0 | (1 << bit0);
    Complex<Real>& p0 = psi[k0];
    Complex<Real>& p1 = psi[k1];
    Complex<Real>& l0 = lambda[k0];
    Complex<Real>& l1 = lambda[k1];
    share += core::imag_generator_product(generator, l0.re, l0.im, l1.re, l1.im, p0.re, p0.im,
                                          p1.re, p1.im);
    core::apply_matrix2(inverse, p0.re, p0.im, p1.re, p1.im);
    core::apply_matrix2(inverse, l0.re, l0.im, l1.re, l1.im);
  }
  return share;
}

// The gate-by-gate reverse step on the whole states: the share summed over the block
// (block_sum's barriers also complete the states).
template <class Real>
QMOE_GROUP_DEVICE inline Real reverse_operation(const BlockGroup& group, const PackedOp& op,
                                                int n_qubits, HalfAngle<Real> half,
                                                bool want_gradient, const BlockStates<Real>& s) {
  const Real share = reverse_operation_share(group, op, state_place(op, n_qubits), half,
                                             want_gradient, s.psi, s.lambda);
  if (!statevector::is_rotation(static_cast<Opcode>(op.opcode)) || !want_gradient) return share;
  return block_sum(group, s.scratch, share);
}

// ---- per-sample steps over the block ---------------------------------------------------------

// The initial state as given, or |0..0>; ends with a barrier.
template <class Real>
QMOE_GROUP_DEVICE inline void load_initial_state(const BlockGroup& group,
                                                 const SampleBatch<Real>& batch, int64_t sample,
                                                 int dim, Complex<Real>* psi) {
  const int rank = static_cast<int>(group.rank), stride = static_cast<int>(group.size);
  if (batch.initial_state == nullptr) {
    for (int k = rank; k < dim; k += stride) psi[k] = Complex<Real>{k == 0 ? Real(1) : Real(0), 0};
  } else if (batch.initial_state_is_complex) {
    const Real* row = batch.initial_state + sample * dim * 2;
    for (int k = rank; k < dim; k += stride) psi[k] = Complex<Real>{row[2 * k], row[2 * k + 1]};
  } else {
    const Real* row = batch.initial_state + sample * dim;
    for (int k = rank; k < dim; k += stride) psi[k] = Complex<Real>{row[k], 0};
  }
  group.sync();
}

// The half angle operation i runs with (shifted when it is `shift`'s; {1, 0} for a
// fixed gate).
template <class Real>
QMOE_GROUP_DEVICE inline HalfAngle<Real> operation_half_angle(const DeviceProgram& program, int i,
                                                              const Real* inputs,
                                                              const Real* weights,
                                                              statevector::AngleOffset shift) {
  const PackedOp& op = program.ops[i];
  if (!statevector::is_rotation(static_cast<Opcode>(op.opcode))) return HalfAngle<Real>{1, 0};
  const Real angle = statevector::operation_angle(program, op, inputs, weights);
  return i == shift.operation ? statevector::shifted_half_angle(angle, shift.offset)
                              : statevector::half_angle(angle);
}

// Whether the adjoint sums this operation's angle gradient: a rotation whose source's
// gradient the call asks for.
QMOE_GROUP_DEVICE inline bool wants_gradient(const PackedOp& op, bool want_inputs,
                                             bool want_weights) {
  const ParamSource source = static_cast<ParamSource>(op.source);
  return statevector::is_rotation(static_cast<Opcode>(op.opcode)) &&
         ((source == ParamSource::kInput && want_inputs) ||
          (source == ParamSource::kWeight && want_weights));
}

// ---- fused passes over tiles (the states in global memory) ----------------------------------

// A segment's tiles: local index j of tile `tile` is the state's index
// deposit_bits(tile, outside_mask) | deposit_bits(j, tile_mask).
struct TileMap {
  uint32_t tile_mask;     // the tile's bits: the segment's and the lowest others
  uint32_t outside_mask;  // the rest: which tile
  int tile_qubits;
  int n_tiles;
};

QMOE_GROUP_DEVICE inline TileMap tile_map(const GateSegment& segment, int n_qubits,
                                          int tile_qubits) {
  const uint32_t tile_mask = tile_bits(segment.bits, n_qubits, tile_qubits);
  const uint32_t all = (uint32_t{1} << n_qubits) - 1;
  return TileMap{tile_mask, all & ~tile_mask, tile_qubits, 1 << (n_qubits - tile_qubits)};
}

// Each thread copies the tile's amplitudes at its strided local indices; the caller
// puts the barrier before anyone reads another thread's.
template <class Real>
QMOE_GROUP_DEVICE inline void gather_tile(const BlockGroup& group, const TileMap& map, int tile,
                                          const Complex<Real>* state, Complex<Real>* tile_state) {
  const int base = deposit_bits(tile, map.outside_mask);
  for (int j = static_cast<int>(group.rank); j < (1 << map.tile_qubits);
       j += static_cast<int>(group.size)) {
    tile_state[j] = state[base | deposit_bits(j, map.tile_mask)];
  }
}

// The same indices back: a thread scatters what it gathered, so the next tile's gather
// (same thread, same local indices) needs no barrier in between.
template <class Real>
QMOE_GROUP_DEVICE inline void scatter_tile(const BlockGroup& group, const TileMap& map, int tile,
                                           const Complex<Real>* tile_state, Complex<Real>* state) {
  const int base = deposit_bits(tile, map.outside_mask);
  for (int j = static_cast<int>(group.rank); j < (1 << map.tile_qubits);
       j += static_cast<int>(group.size)) {
    state[base | deposit_bits(j, map.tile_mask)] = tile_state[j];
  }
}

// psi <- U psi segment by segment: one read and one write of the global state per
// segment. Ends with a barrier.
template <class Real>
QMOE_GROUP_DEVICE inline void run_program_fused(const BlockGroup& group,
                                                const DeviceProgram& program, const Real* inputs,
                                                const Real* weights, const BlockStates<Real>& s,
                                                statevector::AngleOffset shift) {
  const int n = program.n_qubits, t = s.tile_qubits;
  for (int begin = 0; begin < program.n_ops;) {
    const GateSegment segment = forward_segment(program, begin, t);
    const TileMap map = tile_map(segment, n, t);
    for (int tile = 0; tile < map.n_tiles; ++tile) {
      gather_tile(group, map, tile, s.psi, s.psi_tile);
      group.sync();
      for (int i = segment.begin; i < segment.end; ++i) {
        const PackedOp& op = program.ops[i];
        apply_operation_at(group, op, tile_place(op, n, map.tile_mask, t),
                           operation_half_angle(program, i, inputs, weights, shift), false,
                           s.psi_tile);
      }
      scatter_tile(group, map, tile, s.psi_tile, s.psi);
    }
    group.sync();  // the segment's scatters complete before the next segment's gathers
    begin = segment.end;
  }
}

// The adjoint's reverse sweep segment by segment: per tile, psi's and lambda's tiles
// gathered, the segment's operations un-applied in reverse with each wanted gradient's
// share added to the thread's partial for it (a slot per takes_gradient_slot operation,
// in reverse order), both scattered back; then each slot's partials through block_sum
// and rank 0 adds them to the rows in the gate-by-gate sweep's order.
template <class Real>
QMOE_GROUP_DEVICE inline void reverse_sweep_fused(const BlockGroup& group,
                                                  const DeviceProgram& program, const Real* inputs,
                                                  const Real* weights, Real* input_gradient_row,
                                                  Real* weight_row, const BlockStates<Real>& s) {
  const int n = program.n_qubits, t = s.tile_qubits;
  const int rank = static_cast<int>(group.rank), size = static_cast<int>(group.size);
  const bool want_inputs = input_gradient_row != nullptr, want_weights = weight_row != nullptr;
  for (int end = program.n_ops; end > 0;) {
    const GateSegment segment = reverse_segment(program, end, t);
    const TileMap map = tile_map(segment, n, t);
    // Each thread's own column of the partials: no other thread reads it before block_sum.
    for (int slot = 0; slot < kMaxSegmentGradients; ++slot) s.partials[slot * size + rank] = 0;
    for (int tile = 0; tile < map.n_tiles; ++tile) {
      gather_tile(group, map, tile, s.psi, s.psi_tile);
      gather_tile(group, map, tile, s.lambda, s.lambda_tile);
      group.sync();
      int slot = 0;
      for (int i = segment.end - 1; i >= segment.begin; --i) {
        const PackedOp& op = program.ops[i];
        const bool want = wants_gradient(op, want_inputs, want_weights);
        const Real share = reverse_operation_share(
            group, op, tile_place(op, n, map.tile_mask, t),
            operation_half_angle(program, i, inputs, weights, statevector::AngleOffset{}), want,
            s.psi_tile, s.lambda_tile);
        if (want) {
          s.partials[slot * size + rank] += share;
          group.sync();  // a one-qubit gradient step's states complete
        }
        if (takes_gradient_slot(op)) ++slot;
      }
      scatter_tile(group, map, tile, s.psi_tile, s.psi);
      scatter_tile(group, map, tile, s.lambda_tile, s.lambda);
    }
    group.sync();  // the segment's scatters complete before the next segment's gathers
    int slot = 0;
    for (int i = segment.end - 1; i >= segment.begin; --i) {
      const PackedOp& op = program.ops[i];
      if (!takes_gradient_slot(op)) continue;
      if (wants_gradient(op, want_inputs, want_weights)) {
        const Real gradient = block_sum(group, s.scratch, s.partials[slot * size + rank]);
        if (rank == 0) {
          Real* row = static_cast<ParamSource>(op.source) == ParamSource::kInput
                          ? input_gradient_row
                          : weight_row;
          row[op.index] += gradient;
        }
      }
      ++slot;
    }
    end = segment.begin;
  }
}

// psi <- U psi with the sample's angles (and `shift`): statevector::run_program over
// the block, gate by gate or in fused passes as the layout has it.
template <class Real>
QMOE_GROUP_DEVICE inline void run_program(const BlockGroup& group, const DeviceProgram& program,
                                          const SampleBatch<Real>& batch, int64_t sample,
                                          const BlockStates<Real>& s,
                                          statevector::AngleOffset shift = {}) {
  const Real* inputs = statevector::input_row(batch, sample);
  if (s.tile_qubits > 0) {
    run_program_fused(group, program, inputs, batch.weights, s, shift);
    return;
  }
  for (int i = 0; i < program.n_ops; ++i) {
    apply_operation(group, program.ops[i], program.n_qubits,
                    operation_half_angle(program, i, inputs, batch.weights, shift), false, s.psi);
  }
}

// sum_k D_kk |psi_k|**2 over the block (D: the readout folded with grad_row).
template <class Real>
QMOE_GROUP_DEVICE inline Real contract_readout(const BlockGroup& group,
                                               const DeviceReadout& readout, int dim,
                                               const Real* grad_row, const Complex<Real>* psi,
                                               Real* scratch) {
  Real share = 0;
  for (int k = static_cast<int>(group.rank); k < dim; k += static_cast<int>(group.size)) {
    share += statevector::folded_diagonal(readout, grad_row, k) * statevector::probability(psi[k]);
  }
  return block_sum(group, scratch, share);
}

template <class Real>
QMOE_GROUP_DEVICE inline void forward_sample(const BlockGroup& group, const DeviceProgram& program,
                                             const DeviceReadout& readout,
                                             const StatevectorForwardArgs<Real>& args,
                                             int64_t sample, const BlockStates<Real>& s) {
  const int dim = 1 << program.n_qubits;
  const int rank = static_cast<int>(group.rank), stride = static_cast<int>(group.size);
  load_initial_state(group, args.batch, sample, dim, s.psi);
  run_program(group, program, args.batch, sample, s);
  if (args.final_state != nullptr) {
    Real* row = args.final_state + sample * dim * 2;
    for (int k = rank; k < dim; k += stride) {
      row[2 * k] = s.psi[k].re;
      row[2 * k + 1] = s.psi[k].im;
    }
  }
  Real* out_row = args.out + sample * readout_width(readout, program.n_qubits);
  if (readout.probs) {
    for (int k = rank; k < dim; k += stride) out_row[k] = statevector::probability(s.psi[k]);
    return;
  }
  for (int m = 0; m < readout.n_masks; ++m) {
    const int64_t mask = readout.index_masks[m];
    Real share = 0;
    for (int k = rank; k < dim; k += stride) {
      share += core::parity_sign<Real>(k, mask) * statevector::probability(s.psi[k]);
    }
    const Real value = block_sum(group, s.scratch, share);
    if (rank == 0) out_row[m] = value;
  }
}

// statevector::adjoint_sweep over the block: rank 0 adds each angle's gradient (the
// block's sum) to the sample's rows, which the block zeroed first.
template <class Real>
QMOE_GROUP_DEVICE inline void adjoint_sweep(const BlockGroup& group, const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const StatevectorAdjointArgs<Real>& args,
                                            int64_t sample, const BlockStates<Real>& s) {
  const SampleBatch<Real>& batch = args.batch;
  const int n = program.n_qubits;
  const int dim = 1 << n;
  const int rank = static_cast<int>(group.rank), stride = static_cast<int>(group.size);
  if (args.saved_state != nullptr) {
    const Real* row = args.saved_state + sample * dim * 2;
    for (int k = rank; k < dim; k += stride) s.psi[k] = Complex<Real>{row[2 * k], row[2 * k + 1]};
  } else {
    load_initial_state(group, batch, sample, dim, s.psi);
    run_program(group, program, batch, sample, s);
  }
  // lambda_k from psi_k: the same thread writes what it read (no barrier between).
  const Real* grad_row = args.grad_out + sample * readout_width(readout, n);
  for (int k = rank; k < dim; k += stride) {
    const Real d = statevector::folded_diagonal(readout, grad_row, k);
    s.lambda[k] = Complex<Real>{d * s.psi[k].re, d * s.psi[k].im};
  }
  Real* weight_row =
      args.weight_partials == nullptr ? nullptr : args.weight_partials + sample * batch.n_weights;
  for (int64_t w = rank; weight_row != nullptr && w < batch.n_weights; w += stride) {
    weight_row[w] = 0;
  }
  Real* input_gradient_row =
      args.grad_inputs == nullptr ? nullptr : args.grad_inputs + sample * batch.n_input_columns;
  const Real* inputs = statevector::input_row(batch, sample);
  group.sync();  // lambda and the zeroed row complete before the sweep reads them

  if (s.tile_qubits > 0) {
    reverse_sweep_fused(group, program, inputs, batch.weights, input_gradient_row, weight_row, s);
  } else {
    for (int i = program.n_ops - 1; i >= 0; --i) {
      const PackedOp op = program.ops[i];
      const bool want_gradient =
          wants_gradient(op, input_gradient_row != nullptr, weight_row != nullptr);
      const HalfAngle<Real> half =
          operation_half_angle(program, i, inputs, batch.weights, statevector::AngleOffset{});
      const Real gradient = reverse_operation(group, op, n, half, want_gradient, s);
      if (!want_gradient || rank != 0) continue;
      if (static_cast<ParamSource>(op.source) == ParamSource::kInput) {
        input_gradient_row[op.index] += gradient;
      } else {
        weight_row[op.index] += gradient;
      }
    }
  }

  if (args.grad_state == nullptr) return;
  if (batch.initial_state_is_complex) {
    Real* row = args.grad_state + sample * dim * 2;
    for (int k = rank; k < dim; k += stride) {
      row[2 * k] = 2 * s.lambda[k].re;
      row[2 * k + 1] = 2 * s.lambda[k].im;
    }
  } else {
    Real* row = args.grad_state + sample * dim;
    for (int k = rank; k < dim; k += stride) row[k] = 2 * s.lambda[k].re;
  }
}

// statevector::parameter_shift_sample over the block: two shifted runs per target,
// each contracted over the block; rank 0 adds the term to the sample's row.
template <class Real>
QMOE_GROUP_DEVICE inline void parameter_shift_sample(const BlockGroup& group,
                                                     const DeviceProgram& program,
                                                     const DeviceReadout& readout,
                                                     const StatevectorAdjointArgs<Real>& args,
                                                     int64_t sample, const BlockStates<Real>& s) {
  const SampleBatch<Real>& batch = args.batch;
  const int n = program.n_qubits;
  const int dim = 1 << n;
  const int rank = static_cast<int>(group.rank), stride = static_cast<int>(group.size);
  const Real* grad_row = args.grad_out + sample * readout_width(readout, n);
  Real* weight_row =
      args.weight_partials == nullptr ? nullptr : args.weight_partials + sample * batch.n_weights;
  for (int64_t w = rank; weight_row != nullptr && w < batch.n_weights; w += stride) {
    weight_row[w] = 0;
  }
  Real* input_gradient_row =
      args.grad_inputs == nullptr ? nullptr : args.grad_inputs + sample * batch.n_input_columns;
  group.sync();  // the zeroed row complete before rank 0 adds to it

  if (input_gradient_row != nullptr || weight_row != nullptr) {
    for (int i = 0; i < program.n_ops; ++i) {
      const PackedOp op = program.ops[i];
      if (!statevector::is_shift_target(op)) continue;
      Real* row = static_cast<ParamSource>(op.source) == ParamSource::kInput ? input_gradient_row
                                                                             : weight_row;
      if (row == nullptr) continue;
      Real shifted[2];  // f(t + pi/2), f(t - pi/2)
      for (int side = 0; side < 2; ++side) {
        load_initial_state(group, batch, sample, dim, s.psi);
        run_program(
            group, program, batch, sample, s,
            statevector::AngleOffset{i, side == 0 ? core::kShiftAngle : -core::kShiftAngle});
        shifted[side] = contract_readout(group, readout, dim, grad_row, s.psi, s.scratch);
      }
      if (rank == 0) row[op.index] += (shifted[0] - shifted[1]) / 2;
    }
  }

  if (args.grad_state == nullptr) return;
  StatevectorAdjointArgs<Real> state_args = args;
  state_args.grad_inputs = nullptr;
  state_args.weight_partials = nullptr;
  adjoint_sweep(group, program, readout, state_args, sample, s);
}

// Whether the launch was planned for this program and direction: a mismatch runs
// nothing (every thread of the block alike, so no barrier is left waiting).
QMOE_GROUP_DEVICE inline bool layout_fits(const BlockGroup& group, const BlockLayout& layout,
                                          const DeviceProgram& program, int n_states) {
  return program.n_qubits == layout.n_qubits && layout.n_states >= n_states &&
         static_cast<int64_t>(group.size) == layout.block_dim &&
         (layout.tile_qubits == 0 ||
          (layout.shared_states == 0 && layout.tile_qubits >= 2 &&
           layout.tile_qubits <= layout.n_qubits && (n_states == 1 || layout.partial_bytes > 0)));
}

}  // namespace block_statevector

// ---- what each block of a launch runs ---------------------------------------------------------

// Block b takes samples b, b + grid, ...: a barrier ends each, so the next may reuse
// the states.
template <class Real>
QMOE_GROUP_DEVICE inline void statevector_forward_block(const BlockGroup& group,
                                                        const BlockLayout& layout,
                                                        unsigned char* workspace,
                                                        const DeviceProgram& program,
                                                        const DeviceReadout& readout,
                                                        const StatevectorForwardArgs<Real>& args) {
  if (!block_statevector::layout_fits(group, layout, program, 1)) return;
  const auto states = block_statevector::block_states<Real>(layout, group, workspace);
  for (int64_t sample = group.block; sample < args.batch.batch_size; sample += group.grid) {
    block_statevector::forward_sample(group, program, readout, args, sample, states);
    group.sync();
  }
}

template <class Real>
QMOE_GROUP_DEVICE inline void statevector_adjoint_block(const BlockGroup& group,
                                                        const BlockLayout& layout,
                                                        unsigned char* workspace,
                                                        const DeviceProgram& program,
                                                        const DeviceReadout& readout,
                                                        const StatevectorAdjointArgs<Real>& args) {
  if (!block_statevector::layout_fits(group, layout, program, 2)) return;
  const auto states = block_statevector::block_states<Real>(layout, group, workspace);
  for (int64_t sample = group.block; sample < args.batch.batch_size; sample += group.grid) {
    block_statevector::adjoint_sweep(group, program, readout, args, sample, states);
    group.sync();
  }
}

template <class Real>
QMOE_GROUP_DEVICE inline void statevector_parameter_shift_block(
    const BlockGroup& group, const BlockLayout& layout, unsigned char* workspace,
    const DeviceProgram& program, const DeviceReadout& readout,
    const StatevectorAdjointArgs<Real>& args) {
  if (!block_statevector::layout_fits(group, layout, program, 2)) return;
  const auto states = block_statevector::block_states<Real>(layout, group, workspace);
  for (int64_t sample = group.block; sample < args.batch.batch_size; sample += group.grid) {
    block_statevector::parameter_shift_sample(group, program, readout, args, sample, states);
    group.sync();
  }
}

}  // namespace qmoe::cuda
