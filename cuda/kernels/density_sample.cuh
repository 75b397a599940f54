// The density-matrix kernels' bodies, a thread per sample: the thread holds its sample's
// 4**n-entry density matrix and interprets the program op by op (unitaries and noise
// channels), so one launch runs the whole noisy circuit for the whole batch. Written
// once: nvcc compiles them into the __global__ wrappers of density_kernels.cu, g++ into
// the host emulation of tests/cuda/density_kernels_emulated_test.cpp (same source).
//
// rho is `Complex<Real> rho[4**n]` at index (r << n) | c, a vector over 2n bits: row
// bit b at position n + b, column bit b at position b (wire w is bit n - 1 - w, as in
// the statevector kernels). A gate U acts as rho -> U rho U^dagger, i.e. U on the row
// bits and conj(U) on the column bits, so the statevector bodies' passes
// (statevector_sample.cuh) apply it unchanged over 4**n entries. A channel acts on
// each quad (rho00, rho01, rho10, rho11) of its wire by the real 4x4 superoperator of
// core/math/channels.h, whose transpose is its adjoint (the Hilbert-Schmidt one).
//
// Gradients follow the CPU engine (csrc/core/cpu/density/): one reverse sweep carries
// Lambda (the readout D folded with grad_out) back through the adjoint of every
// operation and undoes each unitary on rho. A channel cannot be undone, so rho before
// it comes from a checkpoint the forward kept (a fixed number of slots per bucket, in
// the thread's frame) replayed up to the channel, or replayed from the initial state.
//   rotation exp(-i t/2 P):  dL/dt = Im tr(Lambda P rho)          (rho, Lambda after it)
//   channel E_p:             dL/dp = Re <Lambda, (dS/dp) rho>      (rho before, Lambda after)
//   initial state psi:       2 Lambda_0 psi (complex, interleaved) or its real part
// The parameter-shift rule reruns the circuit at +-pi/2 per rotation target, as the
// statevector kernels do; channel probabilities have no shift rule (the operators
// refuse to differentiate them so, as the CPU engine does).
//
// Channel probabilities are read where they live, like angles. One outside [0, 1] (or
// NaN) in an input or weight cannot be refused without a host synchronisation, so the
// sample's outputs, or its gradients, are written as NaN: never a wrong finite number.
#pragma once

#include <cmath>
#include <cstdint>

#include "qmoe/core/math/channels.h"
#include "qmoe/core/math/gate_math.h"
#include "qmoe/core/math/gate_types.h"
#include "qmoe/core/math/host_device.h"
#include "qmoe/core/math/parity.h"
#include "qmoe/core/math/pauli_string.h"
#include "qmoe/core/program/opcodes.h"
#include "qmoe/cuda/kernels/density_args.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"
#include "qmoe/cuda/kernels/statevector_sample.cuh"
#include "qmoe/cuda/kernels/statevector_shift_sample.cuh"

namespace qmoe::cuda {

// Checkpoints of rho one thread keeps for the adjoint sweep, per bucket of MaxQubits
// (each a copy of 4**MaxQubits entries in the thread's frame): many for the small
// states, none at 5-6 qubits, where one copy is 32 KB (float) or 64 KB (double) and
// the sweep replays from the initial state instead.
QMOE_HOST_DEVICE constexpr int density_checkpoint_slots(int max_qubits) {
  return max_qubits <= 2 ? 8 : max_qubits <= 4 ? 2 : 0;
}

namespace density {

using core::Complex;
using core::Matrix2;
using core::Opcode;
using core::ParamSource;
using core::PauliString;
using core::Superoperator;
using statevector::HalfAngle;

QMOE_HOST_DEVICE inline bool is_channel_op(const PackedOp& op) {
  return core::is_channel(static_cast<Opcode>(op.opcode));
}

// The operation's parameter (angle or probability) from its source.
template <class Real>
QMOE_HOST_DEVICE inline Real operation_parameter(const DeviceProgram& program, const PackedOp& op,
                                                 const Real* input_row, const Real* weights) {
  return statevector::operation_angle(program, op, input_row, weights);
}

// Whether every channel probability of this sample is in [0, 1] (false for NaN).
template <class Real>
QMOE_HOST_DEVICE inline bool probabilities_valid(const DeviceProgram& program,
                                                 const Real* input_row, const Real* weights) {
  for (int i = 0; i < program.n_ops; ++i) {
    const PackedOp op = program.ops[i];
    if (!is_channel_op(op)) continue;
    const Real p = operation_parameter(program, op, input_row, weights);
    if (!(p >= Real(0) && p <= Real(1))) return false;
  }
  return true;
}

template <class Real>
QMOE_HOST_DEVICE inline Real not_a_number() {
  return static_cast<Real>(NAN);
}

template <class Real>
QMOE_HOST_DEVICE inline Matrix2<Real> conjugate_entries(const Matrix2<Real>& m) {
  return {core::conj(m.m00), core::conj(m.m01), core::conj(m.m10), core::conj(m.m11)};
}

// rho -> U rho U^dagger for a gate U, or U^dagger rho U when `adjoint` (the inverse of
// the former, and its Hilbert-Schmidt adjoint: the same map carries rho back and
// Lambda back). `half` is a rotation's half angle (ignored by fixed gates).
template <class Real>
QMOE_HOST_DEVICE inline void conjugate_by_gate(const PackedOp& op, int n_qubits,
                                               HalfAngle<Real> half, bool adjoint,
                                               Complex<Real>* rho) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  const int entries = 1 << (2 * n_qubits);
  const int bit0 = n_qubits - 1 - op.wire0;
  const Real sin_half = adjoint ? -half.sin_half : half.sin_half;
  if (core::is_two_qubit(opcode)) {
    const int bit1 = n_qubits - 1 - op.wire1;
    if (statevector::is_rotation(opcode)) {
      // XX, YY, ZZ are real: conj(c - i s P) = c + i s P on the column bits.
      const PauliString generator = statevector::rotation_generator(opcode);
      statevector::apply_string_rotation(
          core::pauli_action(generator, bit0 + n_qubits, bit1 + n_qubits), half.cos_half, sin_half,
          entries, rho);
      statevector::apply_string_rotation(core::pauli_action(generator, bit0, bit1), half.cos_half,
                                         -sin_half, entries, rho);
    } else {  // CNOT, CZ, SWAP: real permutations and signs, each its own inverse
      statevector::apply_fixed_two_qubit(opcode, bit0 + n_qubits, bit1 + n_qubits, entries, rho);
      statevector::apply_fixed_two_qubit(opcode, bit0, bit1, entries, rho);
    }
    return;
  }
  Matrix2<Real> m;
  if (statevector::is_rotation(opcode)) {
    m = core::rotation_matrix<Real>(statevector::one_qubit_pauli(opcode), half.cos_half, sin_half);
  } else {
    const Matrix2<Real> fixed = core::fixed_gate_matrix<Real>(opcode);
    m = adjoint ? core::adjoint(fixed) : fixed;
  }
  statevector::apply_one_qubit(m, bit0 + n_qubits, entries, rho);
  statevector::apply_one_qubit(conjugate_entries(m), bit0, entries, rho);
}

// The four entries of the quad `p` of a wire at `bit`: (rho00, rho01, rho10, rho11),
// first index the row bit.
QMOE_HOST_DEVICE inline void quad_indices(int p, int bit, int n_qubits, int* index) {
  const int column = 1 << bit, row = 1 << (bit + n_qubits);
  const int base =
      statevector::insert_zero_bit(statevector::insert_zero_bit(p, bit), bit + n_qubits);
  index[0] = base;
  index[1] = base | column;
  index[2] = base | row;
  index[3] = base | row | column;
}

// rho -> S rho on every quad of the wire at `bit`, or S^T (the adjoint channel).
template <class Real>
QMOE_HOST_DEVICE inline void apply_superoperator(const Superoperator<Real>& s, bool transposed,
                                                 int bit, int n_qubits, Complex<Real>* rho) {
  const int quads = 1 << (2 * n_qubits - 2);
  for (int p = 0; p < quads; ++p) {
    int index[4];
    quad_indices(p, bit, n_qubits, index);
    Complex<Real> v[4];
    for (int q = 0; q < 4; ++q) v[q] = rho[index[q]];
    for (int a = 0; a < 4; ++a) {
      Real re = 0, im = 0;
      for (int b = 0; b < 4; ++b) {
        const Real m = transposed ? s.m[b][a] : s.m[a][b];
        re += m * v[b].re;
        im += m * v[b].im;
      }
      rho[index[a]] = Complex<Real>{re, im};
    }
  }
}

// Re <Lambda, D rho> = sum over quads of Lambda_a . (D rho)_a, real and imaginary parts:
// with D = dS/dp, rho before the channel and Lambda after it, the derivative of L in p.
template <class Real>
QMOE_HOST_DEVICE inline Real superoperator_trace(const Superoperator<Real>& d, int bit,
                                                 int n_qubits, const Complex<Real>* rho,
                                                 const Complex<Real>* lambda) {
  const int quads = 1 << (2 * n_qubits - 2);
  Real sum = 0;
  for (int p = 0; p < quads; ++p) {
    int index[4];
    quad_indices(p, bit, n_qubits, index);
    for (int a = 0; a < 4; ++a) {
      Real re = 0, im = 0;
      for (int b = 0; b < 4; ++b) {
        re += d.m[a][b] * rho[index[b]].re;
        im += d.m[a][b] * rho[index[b]].im;
      }
      sum += lambda[index[a]].re * re + lambda[index[a]].im * im;
    }
  }
  return sum;
}

// Im tr(Lambda P rho) = Im sum_{r,c} Lambda_rc phase_c rho_{c ^ flip, r}, P a Pauli
// string acting on the basis index as (P x)_c = phase_c x_{c ^ flip}: the derivative of L
// in the angle of exp(-i t/2 P), rho and Lambda after the rotation (Lambda Hermitian).
template <class Real>
QMOE_HOST_DEVICE inline Real generator_trace(const core::PauliAction& action, int n_qubits,
                                             const Complex<Real>* rho,
                                             const Complex<Real>* lambda) {
  const int dim = 1 << n_qubits;
  const int flip = static_cast<int>(action.flip);
  Real sum = 0;
  for (int c = 0; c < dim; ++c) {
    int phase_re, phase_im;
    core::pauli_phase(action, c, phase_re, phase_im);
    const Complex<Real>* rho_row = rho + ((c ^ flip) << n_qubits);
    for (int r = 0; r < dim; ++r) {
      const Complex<Real> x = rho_row[r];
      const Real v_re = phase_re * x.re - phase_im * x.im;  // (P rho)_{c r}
      const Real v_im = phase_re * x.im + phase_im * x.re;
      const Complex<Real> l = lambda[(r << n_qubits) | c];
      sum += l.re * v_im + l.im * v_re;
    }
  }
  return sum;
}

// The generator of a rotation on the row side of the basis index.
QMOE_HOST_DEVICE inline core::PauliAction rotation_action(const PackedOp& op, int n_qubits) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  const int bit0 = n_qubits - 1 - op.wire0;
  const int bit1 = core::is_two_qubit(opcode) ? n_qubits - 1 - op.wire1 : -1;
  return core::pauli_action(statevector::rotation_generator(opcode), bit0, bit1);
}

// One operation forward (`adjoint` false) or its adjoint map (true; for a channel S^T,
// which only Lambda takes). `parameter`: the rotation's angle or the channel's
// probability, `shift`: a parameter-shift offset of this operation's angle (0: none).
template <class Real>
QMOE_HOST_DEVICE inline void apply_operation(const PackedOp& op, int n_qubits, Real parameter,
                                             bool adjoint, Complex<Real>* rho, double shift = 0.0) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  if (core::is_channel(opcode)) {
    apply_superoperator(core::channel_superoperator<Real>(opcode, parameter), adjoint,
                        n_qubits - 1 - op.wire0, n_qubits, rho);
    return;
  }
  HalfAngle<Real> half{1, 0};
  if (statevector::is_rotation(opcode)) {
    half = shift != 0.0 ? statevector::shifted_half_angle(parameter, shift)
                        : statevector::half_angle(parameter);
  }
  conjugate_by_gate(op, n_qubits, half, adjoint, rho);
}

// ---- per-sample steps ------------------------------------------------------------------------

// rho = psi psi^dagger for the initial state as given (not normalised), or |0..0><0..0|.
template <class Real>
QMOE_HOST_DEVICE inline void load_initial_density(const SampleBatch<Real>& batch, int64_t sample,
                                                  int n_qubits, Complex<Real>* rho) {
  const int dim = 1 << n_qubits;
  const int entries = dim * dim;
  if (batch.initial_state == nullptr) {
    for (int k = 0; k < entries; ++k) rho[k] = Complex<Real>{0, 0};
    rho[0].re = 1;
    return;
  }
  const bool complex = batch.initial_state_is_complex != 0;
  const Real* psi = batch.initial_state + sample * dim * (complex ? 2 : 1);
  for (int r = 0; r < dim; ++r) {
    const Real rr = complex ? psi[2 * r] : psi[r], ri = complex ? psi[2 * r + 1] : Real(0);
    for (int c = 0; c < dim; ++c) {
      const Real cr = complex ? psi[2 * c] : psi[c], ci = complex ? psi[2 * c + 1] : Real(0);
      rho[(r << n_qubits) | c] = Complex<Real>{rr * cr + ri * ci, ri * cr - rr * ci};
    }
  }
}

// rho <- operations [begin, end) of the program applied to rho; `shift` moves one
// operation's angle (a parameter-shift evaluation).
template <class Real>
QMOE_HOST_DEVICE inline void run_operations(const DeviceProgram& program,
                                            const SampleBatch<Real>& batch, int64_t sample,
                                            int begin, int end, Complex<Real>* rho,
                                            statevector::AngleOffset shift = {}) {
  const Real* inputs = statevector::input_row(batch, sample);
  for (int i = begin; i < end; ++i) {
    const PackedOp op = program.ops[i];
    const bool parameterised = core::takes_parameter(static_cast<Opcode>(op.opcode));
    const Real parameter =
        parameterised ? operation_parameter(program, op, inputs, batch.weights) : Real(0);
    apply_operation(op, program.n_qubits, parameter, false, rho,
                    i == shift.operation ? shift.offset : 0.0);
  }
}

// out_row[width]: diag(rho), or sum_k (-1)**popcount(k & mask) rho_kk per mask.
template <class Real>
QMOE_HOST_DEVICE inline void write_readout(const DeviceReadout& readout, int n_qubits,
                                           const Complex<Real>* rho, Real* out_row) {
  const int dim = 1 << n_qubits;
  if (readout.probs) {
    for (int k = 0; k < dim; ++k) out_row[k] = rho[(k << n_qubits) | k].re;
    return;
  }
  for (int m = 0; m < readout.n_masks; ++m) {
    const int64_t mask = readout.index_masks[m];
    Real value = 0;
    for (int k = 0; k < dim; ++k) {
      value += core::parity_sign<Real>(k, mask) * rho[(k << n_qubits) | k].re;
    }
    out_row[m] = value;
  }
}

// sum_j grad_out[j] out[j] = tr(D rho): the readout contracted with the incoming gradient.
template <class Real>
QMOE_HOST_DEVICE inline Real contract_readout(const DeviceReadout& readout, int n_qubits,
                                              const Real* grad_row, const Complex<Real>* rho) {
  const int dim = 1 << n_qubits;
  Real sum = 0;
  for (int k = 0; k < dim; ++k) {
    sum += statevector::folded_diagonal(readout, grad_row, k) * rho[(k << n_qubits) | k].re;
  }
  return sum;
}

// Lambda = D, the diagonal readout folded with grad_out.
template <class Real>
QMOE_HOST_DEVICE inline void seed_lambda(const DeviceReadout& readout, int n_qubits,
                                         const Real* grad_row, Complex<Real>* lambda) {
  const int dim = 1 << n_qubits;
  for (int k = 0; k < dim * dim; ++k) lambda[k] = Complex<Real>{0, 0};
  for (int k = 0; k < dim; ++k) {
    lambda[(k << n_qubits) | k].re = statevector::folded_diagonal(readout, grad_row, k);
  }
}

template <class Real>
QMOE_HOST_DEVICE inline void copy_entries(const Complex<Real>* from, int entries,
                                          Complex<Real>* to) {
  for (int k = 0; k < entries; ++k) to[k] = from[k];
}

// Position in the program of the `ordinal`-th channel (0-based).
QMOE_HOST_DEVICE inline int channel_position(const DeviceProgram& program, int ordinal) {
  for (int i = 0; i < program.n_ops; ++i) {
    if (is_channel_op(program.ops[i]) && ordinal-- == 0) return i;
  }
  return program.n_ops;
}

// The gradient rows of a sample whose channel probabilities are invalid: all NaN.
template <class Real>
QMOE_HOST_DEVICE inline void poison_gradients(const DensityAdjointArgs<Real>& args, int64_t sample,
                                              int n_qubits) {
  const SampleBatch<Real>& batch = args.batch;
  const Real nan = not_a_number<Real>();
  if (args.grad_inputs != nullptr) {
    Real* row = args.grad_inputs + sample * batch.n_input_columns;
    for (int64_t j = 0; j < batch.n_input_columns; ++j) row[j] = nan;
  }
  if (args.weight_partials != nullptr) {
    Real* row = args.weight_partials + sample * batch.n_weights;
    for (int64_t w = 0; w < batch.n_weights; ++w) row[w] = nan;
  }
  if (args.grad_state != nullptr) {
    const int64_t length = (int64_t{1} << n_qubits) * (batch.initial_state_is_complex ? 2 : 1);
    Real* row = args.grad_state + sample * length;
    for (int64_t k = 0; k < length; ++k) row[k] = nan;
  }
}

// The reverse sweep of one sample (probabilities already checked): gradients of
// rotation angles and channel probabilities (when `want_angles`, into the rows that are
// not null) and of the initial state (args.grad_state). rho, lambda: 4**n entries each
// (rho untouched, and may be lambda itself, without `want_angles`); checkpoints: `slots`
// copies (0: replay from the initial state).
template <class Real>
QMOE_HOST_DEVICE inline void adjoint_sweep(const DeviceProgram& program,
                                           const DeviceReadout& readout,
                                           const DensityAdjointArgs<Real>& args, int64_t sample,
                                           bool want_angles, Complex<Real>* rho,
                                           Complex<Real>* lambda, Complex<Real>* checkpoints,
                                           int slots) {
  const SampleBatch<Real>& batch = args.batch;
  const int n = program.n_qubits;
  const int entries = 1 << (2 * n);
  const Real* inputs = statevector::input_row(batch, sample);
  Real* input_gradient_row = want_angles && args.grad_inputs != nullptr
                                 ? args.grad_inputs + sample * batch.n_input_columns
                                 : nullptr;
  Real* weight_row = want_angles && args.weight_partials != nullptr
                         ? args.weight_partials + sample * batch.n_weights
                         : nullptr;

  int n_channels = 0;
  for (int i = 0; i < program.n_ops; ++i) n_channels += is_channel_op(program.ops[i]) ? 1 : 0;
  // Every stride-th channel keeps rho before it, in slot ordinal / stride.
  int stride = 0;
  if (slots > 0) stride = n_channels > slots ? (n_channels + slots - 1) / slots : 1;
  if (want_angles) {
    load_initial_density(batch, sample, n, rho);
    int ordinal = 0;
    for (int i = 0; i < program.n_ops; ++i) {
      const PackedOp op = program.ops[i];
      if (is_channel_op(op)) {
        if (stride > 0 && ordinal % stride == 0) {
          copy_entries(rho, entries, checkpoints + (ordinal / stride) * entries);
        }
        ++ordinal;
      }
      run_operations(program, batch, sample, i, i + 1, rho);
    }
  }
  seed_lambda(readout, n, args.grad_out + sample * readout_width(readout, n), lambda);

  int ordinal = n_channels;
  for (int i = program.n_ops - 1; i >= 0; --i) {
    const PackedOp op = program.ops[i];
    const Opcode opcode = static_cast<Opcode>(op.opcode);
    const ParamSource source = static_cast<ParamSource>(op.source);
    const bool parameterised = core::takes_parameter(opcode);
    const Real parameter =
        parameterised ? operation_parameter(program, op, inputs, batch.weights) : Real(0);
    Real* gradient_row = source == ParamSource::kInput    ? input_gradient_row
                         : source == ParamSource::kWeight ? weight_row
                                                          : nullptr;
    if (core::is_channel(opcode)) {
      --ordinal;
      if (want_angles) {
        // rho before this channel: from the nearest checkpoint at or before it
        int replay_from = 0;
        if (stride > 0) {
          const int slot = ordinal / stride;
          copy_entries(checkpoints + slot * entries, entries, rho);
          replay_from = channel_position(program, slot * stride);
        } else {
          load_initial_density(batch, sample, n, rho);
        }
        run_operations(program, batch, sample, replay_from, i, rho);
        if (gradient_row != nullptr) {
          gradient_row[op.index] +=
              superoperator_trace(core::channel_superoperator_derivative<Real>(opcode, parameter),
                                  n - 1 - op.wire0, n, rho, lambda);
        }
      }
      apply_operation(op, n, parameter, true, lambda);
      continue;
    }
    if (want_angles) {
      if (statevector::is_rotation(opcode) && gradient_row != nullptr) {
        gradient_row[op.index] += generator_trace(rotation_action(op, n), n, rho, lambda);
      }
      apply_operation(op, n, parameter, true, rho);
    }
    apply_operation(op, n, parameter, true, lambda);
  }

  if (args.grad_state == nullptr) return;
  // d/dpsi of tr(Lambda_0 psi psi^dagger) in PyTorch's convention: 2 Lambda_0 psi.
  const int dim = 1 << n;
  const bool complex = batch.initial_state_is_complex != 0;
  const Real* psi = batch.initial_state + sample * dim * (complex ? 2 : 1);
  Real* grad = args.grad_state + sample * dim * (complex ? 2 : 1);
  for (int r = 0; r < dim; ++r) {
    Real re = 0, im = 0;
    for (int c = 0; c < dim; ++c) {
      const Complex<Real> l = lambda[(r << n) | c];
      const Real pr = complex ? psi[2 * c] : psi[c], pi = complex ? psi[2 * c + 1] : Real(0);
      re += l.re * pr - l.im * pi;
      im += l.re * pi + l.im * pr;
    }
    if (complex) {
      grad[2 * r] = 2 * re;
      grad[2 * r + 1] = 2 * im;
    } else {
      grad[r] = 2 * re;
    }
  }
}

// The weight_partials row is written whole (zeros where no operation uses a weight), so
// the caller needs no memset.
template <class Real>
QMOE_HOST_DEVICE inline void clear_weight_row(const DensityAdjointArgs<Real>& args,
                                              int64_t sample) {
  if (args.weight_partials == nullptr) return;
  Real* row = args.weight_partials + sample * args.batch.n_weights;
  for (int64_t w = 0; w < args.batch.n_weights; ++w) row[w] = 0;
}

template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void forward_sample(const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const DensityForwardArgs<Real>& args, int64_t sample) {
  const int n = program.n_qubits;
  Real* out_row = args.out + sample * readout_width(readout, n);
  if (!probabilities_valid(program, statevector::input_row(args.batch, sample),
                           args.batch.weights)) {
    for (int64_t j = 0; j < readout_width(readout, n); ++j) out_row[j] = not_a_number<Real>();
    return;
  }
  Complex<Real> rho[1 << (2 * MaxQubits)];
  load_initial_density(args.batch, sample, n, rho);
  run_operations(program, args.batch, sample, 0, program.n_ops, rho);
  write_readout(readout, n, rho, out_row);
}

template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void adjoint_sample(const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const DensityAdjointArgs<Real>& args, int64_t sample) {
  constexpr int kEntries = 1 << (2 * MaxQubits);
  constexpr int kSlots = density_checkpoint_slots(MaxQubits);
  clear_weight_row(args, sample);
  if (!probabilities_valid(program, statevector::input_row(args.batch, sample),
                           args.batch.weights)) {
    poison_gradients(args, sample, program.n_qubits);
    return;
  }
  Complex<Real> rho[kEntries];
  Complex<Real> lambda[kEntries];
  Complex<Real> checkpoints[kSlots > 0 ? kSlots * kEntries : 1];
  const bool want_angles = args.grad_inputs != nullptr || args.weight_partials != nullptr;
  adjoint_sweep(program, readout, args, sample, want_angles, rho, lambda, checkpoints, kSlots);
}

// Two shifted runs per rotation target (statevector::is_shift_target: inputs and
// weights, channels excluded), then the initial-state gradient from one sweep that
// carries Lambda only (in the buffer the shifted runs used).
template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void parameter_shift_sample(const DeviceProgram& program,
                                                    const DeviceReadout& readout,
                                                    const DensityAdjointArgs<Real>& args,
                                                    int64_t sample) {
  constexpr int kEntries = 1 << (2 * MaxQubits);
  const SampleBatch<Real>& batch = args.batch;
  const int n = program.n_qubits;
  clear_weight_row(args, sample);
  if (!probabilities_valid(program, statevector::input_row(batch, sample), batch.weights)) {
    poison_gradients(args, sample, n);
    return;
  }
  const Real* grad_row = args.grad_out + sample * readout_width(readout, n);
  Real* input_gradient_row =
      args.grad_inputs == nullptr ? nullptr : args.grad_inputs + sample * batch.n_input_columns;
  Real* weight_row =
      args.weight_partials == nullptr ? nullptr : args.weight_partials + sample * batch.n_weights;
  Complex<Real> rho[kEntries];
  if (input_gradient_row != nullptr || weight_row != nullptr) {
    for (int i = 0; i < program.n_ops; ++i) {
      const PackedOp op = program.ops[i];
      if (!statevector::is_shift_target(op)) continue;
      Real* row = static_cast<ParamSource>(op.source) == ParamSource::kInput ? input_gradient_row
                                                                             : weight_row;
      if (row == nullptr) continue;
      Real shifted[2];  // f(t + pi/2), f(t - pi/2)
      for (int side = 0; side < 2; ++side) {
        load_initial_density(batch, sample, n, rho);
        run_operations(
            program, batch, sample, 0, program.n_ops, rho,
            statevector::AngleOffset{i, side == 0 ? core::kShiftAngle : -core::kShiftAngle});
        shifted[side] = contract_readout(readout, n, grad_row, rho);
      }
      row[op.index] += (shifted[0] - shifted[1]) / 2;
    }
  }
  if (args.grad_state == nullptr) return;
  // A sweep without angle gradients never reads or writes rho: Lambda takes its buffer,
  // so the frame holds one matrix.
  adjoint_sweep(program, readout, args, sample, false, rho, rho, rho, 0);
}

}  // namespace density

// ---- what one thread of a launch runs ------------------------------------------------------

// Sample = the thread's global index; the threads past the batch (the padded last
// block) and a program larger than the bucket return before touching memory.
template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void density_forward_thread(const ThreadIndex& thread,
                                                    const DeviceProgram& program,
                                                    const DeviceReadout& readout,
                                                    const DensityForwardArgs<Real>& args) {
  const int64_t sample = thread.global();
  if (sample >= args.batch.batch_size) return;
  if (program.n_qubits > MaxQubits) return;
  density::forward_sample<Real, MaxQubits>(program, readout, args, sample);
}

template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void density_adjoint_thread(const ThreadIndex& thread,
                                                    const DeviceProgram& program,
                                                    const DeviceReadout& readout,
                                                    const DensityAdjointArgs<Real>& args) {
  const int64_t sample = thread.global();
  if (sample >= args.batch.batch_size) return;
  if (program.n_qubits > MaxQubits) return;
  density::adjoint_sample<Real, MaxQubits>(program, readout, args, sample);
}

template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void density_parameter_shift_thread(const ThreadIndex& thread,
                                                            const DeviceProgram& program,
                                                            const DeviceReadout& readout,
                                                            const DensityAdjointArgs<Real>& args) {
  const int64_t sample = thread.global();
  if (sample >= args.batch.batch_size) return;
  if (program.n_qubits > MaxQubits) return;
  density::parameter_shift_sample<Real, MaxQubits>(program, readout, args, sample);
}

}  // namespace qmoe::cuda
