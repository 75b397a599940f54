// The statevector kernels' bodies, a thread per sample: the thread holds its sample's
// 2**n amplitudes and interprets the program op by op, so one launch runs the whole
// circuit for the whole batch. Written once: nvcc compiles them into the __global__
// wrappers of statevector_kernels.cu, g++ into the host emulation of
// tests/cuda/statevector_kernels_emulated_test.cpp (same source, not a copy).
//
// No host lowering: angles are read where they live (an input column of the sample,
// a weight, a constant of the by-value program) and their cos/sin taken in the
// thread, so device weights are never copied to the host and a launch needs no sync.
//
// Conventions are the CPU engine's (csrc/core/cpu/statevector/): wire w is bit
// n - 1 - w of a basis index; RX/RY/RZ = exp(-i t/2 P), IsingXX/YY/ZZ =
// exp(-i t/2 P(x)P); lambda = D psi with D the readout folded with grad_out; the
// gradient of an angle is Im <lambda|P|psi>; of the initial state 2 lambda (complex,
// interleaved) or 2 Re(lambda) (real).
//
// The state is `Complex<Real> psi[1 << MaxQubits]` indexed by runtime bit positions,
// so it lives in local memory (L1-cached); n <= 4 in registers needs the bit
// positions at compile time, a later specialisation.
#pragma once

#include <cmath>
#include <cstdint>

#include "qmoe/core/math/fixed_two_qubit.h"
#include "qmoe/core/math/gate_math.h"
#include "qmoe/core/math/gate_types.h"
#include "qmoe/core/math/host_device.h"
#include "qmoe/core/math/parity.h"
#include "qmoe/core/math/pauli_string.h"
#include "qmoe/core/program/opcodes.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"

namespace qmoe::cuda {
namespace statevector {

using core::Complex;
using core::Matrix2;
using core::Opcode;
using core::ParamSource;
using core::Pauli;
using core::PauliString;

template <class Real>
struct HalfAngle {
  Real cos_half;
  Real sin_half;
};

// cos and sin of t/2, in the thread's precision (sincosf keeps float kernels off the
// double units, which are 1/64 of the float rate on most GPUs).
QMOE_HOST_DEVICE inline HalfAngle<float> half_angle(float angle) {
  HalfAngle<float> half;
#if defined(__CUDA_ARCH__)
  sincosf(0.5f * angle, &half.sin_half, &half.cos_half);
#else
  half.sin_half = std::sin(0.5f * angle);
  half.cos_half = std::cos(0.5f * angle);
#endif
  return half;
}

QMOE_HOST_DEVICE inline HalfAngle<double> half_angle(double angle) {
  HalfAngle<double> half;
#if defined(__CUDA_ARCH__)
  sincos(0.5 * angle, &half.sin_half, &half.cos_half);
#else
  half.sin_half = std::sin(0.5 * angle);
  half.cos_half = std::cos(0.5 * angle);
#endif
  return half;
}

QMOE_HOST_DEVICE inline bool is_rotation(Opcode opcode) {
  return core::opcode_kind(opcode) == core::OpcodeKind::kRotation;
}

// The generator of a rotation: RX, RY, RZ, IsingXX, IsingYY, IsingZZ are exp(-i t/2 P)
// for P = X, Y, Z, XX, YY, ZZ.
QMOE_HOST_DEVICE inline PauliString rotation_generator(Opcode opcode) {
  switch (opcode) {
    case Opcode::kRx:
      return PauliString::kX;
    case Opcode::kRy:
      return PauliString::kY;
    case Opcode::kRz:
      return PauliString::kZ;
    case Opcode::kIsingXX:
      return PauliString::kXX;
    case Opcode::kIsingYY:
      return PauliString::kYY;
    default:
      return PauliString::kZZ;
  }
}

QMOE_HOST_DEVICE inline Pauli one_qubit_pauli(Opcode opcode) {
  return opcode == Opcode::kRx ? Pauli::kX : opcode == Opcode::kRy ? Pauli::kY : Pauli::kZ;
}

// The angle of a rotation: an input column of this sample, a shared weight, or a
// constant carried by the program.
template <class Real>
QMOE_HOST_DEVICE inline Real operation_angle(const DeviceProgram& program, const PackedOp& op,
                                             const Real* input_row, const Real* weights) {
  switch (static_cast<ParamSource>(op.source)) {
    case ParamSource::kInput:
      return input_row[op.index];
    case ParamSource::kWeight:
      return weights[op.index];
    case ParamSource::kConstant:
      return static_cast<Real>(program.constants[op.index]);
    default:
      return Real(0);
  }
}

// p with a zero bit inserted at position `bit`: the p-th index whose `bit` is clear.
QMOE_HOST_DEVICE inline int insert_zero_bit(int p, int bit) {
  const int low = p & ((1 << bit) - 1);
  return ((p - low) << 1) | low;
}

template <class Real>
QMOE_HOST_DEVICE inline void apply_one_qubit(const Matrix2<Real>& m, int bit, int dim,
                                             Complex<Real>* state) {
  for (int p = 0; p < dim / 2; ++p) {
    const int k0 = insert_zero_bit(p, bit);
    Complex<Real>& a0 = state[k0];
    Complex<Real>& a1 = state[k0 | (1 << bit)];
    core::apply_matrix2(m, a0.re, a0.im, a1.re, a1.im);
  }
}

// CNOT, CZ, SWAP on each quad of the two bits (fixed_two_qubit.h): self-inverse,
// so the reverse sweep applies them unchanged.
template <class Real>
QMOE_HOST_DEVICE inline void apply_fixed_two_qubit(Opcode gate, int bit0, int bit1, int dim,
                                                   Complex<Real>* state) {
  const int64_t mask0 = int64_t{1} << bit0, mask1 = int64_t{1} << bit1;
  const int low = bit0 < bit1 ? bit0 : bit1, high = bit0 < bit1 ? bit1 : bit0;
  const int partner = core::exchanged_with_10(gate);
  for (int p = 0; p < dim / 4; ++p) {
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
}

// psi <- (c I - i s P) psi for a two-qubit string P = XX, YY, ZZ, with
// (P psi)_k = phase_k psi_{k ^ flip} (pauli_string.h). s < 0 gives the inverse.
template <class Real>
QMOE_HOST_DEVICE inline void apply_string_rotation(const core::PauliAction& action, Real c, Real s,
                                                   int dim, Complex<Real>* state) {
  const int flip = static_cast<int>(action.flip);
  for (int k = 0; k < dim; ++k) {
    const int partner = k ^ flip;
    if (partner < k) continue;  // each pair once, from its lower index
    int phase_re, phase_im;
    core::pauli_phase(action, k, phase_re, phase_im);
    // -i * phase_k: the factor of s in the new amplitude
    const Real q_re = static_cast<Real>(phase_im), q_im = static_cast<Real>(-phase_re);
    Complex<Real>& x = state[k];
    if (partner == k) {  // ZZ is diagonal: psi_k *= c - i s phase_k
      const Real f_im = s * q_im;
      const Real x_re = x.re, x_im = x.im;
      x.re = c * x_re - f_im * x_im;
      x.im = c * x_im + f_im * x_re;
      continue;
    }
    int partner_re, partner_im;
    core::pauli_phase(action, partner, partner_re, partner_im);
    const Real p_re = static_cast<Real>(partner_im), p_im = static_cast<Real>(-partner_re);
    Complex<Real>& y = state[partner];
    const Real x_re = x.re, x_im = x.im, y_re = y.re, y_im = y.im;
    x.re = c * x_re + s * (q_re * y_re - q_im * y_im);
    x.im = c * x_im + s * (q_re * y_im + q_im * y_re);
    y.re = c * y_re + s * (p_re * x_re - p_im * x_im);
    y.im = c * y_im + s * (p_re * x_im + p_im * x_re);
  }
}

// Im <lambda|P|psi> for a Pauli string P: the adjoint method's gradient of the angle
// of exp(-i t/2 P) (d/dt of <psi|D|psi> = 2 Re <lambda|(-i/2) P|psi>).
template <class Real>
QMOE_HOST_DEVICE inline Real string_gradient(const core::PauliAction& action, int dim,
                                             const Complex<Real>* psi,
                                             const Complex<Real>* lambda) {
  const int flip = static_cast<int>(action.flip);
  Real sum = 0;
  for (int k = 0; k < dim; ++k) {
    int phase_re, phase_im;
    core::pauli_phase(action, k, phase_re, phase_im);
    const Complex<Real> p = psi[k ^ flip];
    const Real v_re = phase_re * p.re - phase_im * p.im;  // (P psi)_k
    const Real v_im = phase_re * p.im + phase_im * p.re;
    sum += lambda[k].re * v_im - lambda[k].im * v_re;
  }
  return sum;
}

// Applies one operation to `state`, or its inverse. `half` is the rotation's half
// angle (ignored by fixed gates).
template <class Real>
QMOE_HOST_DEVICE inline void apply_operation(const PackedOp& op, int n_qubits, HalfAngle<Real> half,
                                             bool inverse, Complex<Real>* state) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  const int dim = 1 << n_qubits;
  const int bit0 = n_qubits - 1 - op.wire0;
  const Real sin_half = inverse ? -half.sin_half : half.sin_half;
  if (core::is_two_qubit(opcode)) {
    const int bit1 = n_qubits - 1 - op.wire1;
    if (is_rotation(opcode)) {
      apply_string_rotation(core::pauli_action(rotation_generator(opcode), bit0, bit1),
                            half.cos_half, sin_half, dim, state);
    } else {
      apply_fixed_two_qubit(opcode, bit0, bit1, dim, state);
    }
    return;
  }
  if (is_rotation(opcode)) {
    apply_one_qubit(core::rotation_matrix<Real>(one_qubit_pauli(opcode), half.cos_half, sin_half),
                    bit0, dim, state);
    return;
  }
  // H X Y Z are self-inverse, S and T are not: the inverse is the adjoint.
  const Matrix2<Real> m = core::fixed_gate_matrix<Real>(opcode);
  apply_one_qubit(inverse ? core::adjoint(m) : m, bit0, dim, state);
}

// One reverse step of the adjoint sweep: psi and lambda are the states after the
// operation. Returns Im <lambda|P|psi> (when `want_gradient`; 0 otherwise), then
// un-applies the operation to both.
template <class Real>
QMOE_HOST_DEVICE inline Real reverse_operation(const PackedOp& op, int n_qubits,
                                               HalfAngle<Real> half, bool want_gradient,
                                               Complex<Real>* psi, Complex<Real>* lambda) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  if (!is_rotation(opcode) || !want_gradient) {
    apply_operation(op, n_qubits, half, true, psi);
    apply_operation(op, n_qubits, half, true, lambda);
    return Real(0);
  }
  const int dim = 1 << n_qubits;
  const int bit0 = n_qubits - 1 - op.wire0;
  if (core::is_two_qubit(opcode)) {
    const int bit1 = n_qubits - 1 - op.wire1;
    const core::PauliAction action = core::pauli_action(rotation_generator(opcode), bit0, bit1);
    const Real gradient = string_gradient(action, dim, psi, lambda);
    apply_string_rotation(action, half.cos_half, -half.sin_half, dim, psi);
    apply_string_rotation(action, half.cos_half, -half.sin_half, dim, lambda);
    return gradient;
  }
  // One qubit: the pair's share of the gradient and the inverse in one pass over
  // both states (each pair is loaded once).
  const Pauli pauli = one_qubit_pauli(opcode);
  const Matrix2<Real> generator = core::pauli_matrix<Real>(pauli);
  const Matrix2<Real> inverse = core::rotation_matrix<Real>(pauli, half.cos_half, -half.sin_half);
  Real gradient = 0;
  for (int p = 0; p < dim / 2; ++p) {
    const int k0 = insert_zero_bit(p, bit0), k1 = k0 | (1 << bit0);
    Complex<Real>& p0 = psi[k0];
    Complex<Real>& p1 = psi[k1];
    Complex<Real>& l0 = lambda[k0];
    Complex<Real>& l1 = lambda[k1];
    gradient += core::imag_generator_product(generator, l0.re, l0.im, l1.re, l1.im, p0.re, p0.im,
                                             p1.re, p1.im);
    core::apply_matrix2(inverse, p0.re, p0.im, p1.re, p1.im);
    core::apply_matrix2(inverse, l0.re, l0.im, l1.re, l1.im);
  }
  return gradient;
}

// ---- per-sample steps ------------------------------------------------------------------------

template <class Real>
QMOE_HOST_DEVICE inline const Real* input_row(const SampleBatch<Real>& batch, int64_t sample) {
  return batch.inputs == nullptr ? nullptr : batch.inputs + sample * batch.n_input_columns;
}

// The initial state as given (not normalised), or |0..0>.
template <class Real>
QMOE_HOST_DEVICE inline void load_initial_state(const SampleBatch<Real>& batch, int64_t sample,
                                                int dim, Complex<Real>* psi) {
  if (batch.initial_state == nullptr) {
    for (int k = 0; k < dim; ++k) psi[k] = Complex<Real>{0, 0};
    psi[0].re = 1;
    return;
  }
  if (batch.initial_state_is_complex) {
    const Real* row = batch.initial_state + sample * dim * 2;
    for (int k = 0; k < dim; ++k) psi[k] = Complex<Real>{row[2 * k], row[2 * k + 1]};
    return;
  }
  const Real* row = batch.initial_state + sample * dim;
  for (int k = 0; k < dim; ++k) psi[k] = Complex<Real>{row[k], 0};
}

// One operation's angle moved by `offset` (a parameter-shift evaluation); operation
// -1 moves none. The offset is added in double and the half angle rounded once to
// Real, as the CPU engine's shifted circuits do (compiled_circuit.h, AngleShift): a
// float kernel loses no more than the rounding of its cos and sin.
struct AngleOffset {
  int operation = -1;
  double offset = 0.0;
};

template <class Real>
QMOE_HOST_DEVICE inline HalfAngle<Real> shifted_half_angle(Real angle, double offset) {
  const HalfAngle<double> half = half_angle(static_cast<double>(angle) + offset);
  return HalfAngle<Real>{static_cast<Real>(half.cos_half), static_cast<Real>(half.sin_half)};
}

// The half-angle cos/sin of every rotation whose angle is the same for all samples (a
// shared weight or a constant), one entry per operation: the launch's threads fill it
// once per block, in shared memory, before any sample runs (statevector_kernels.cu),
// instead of every thread taking the same sincos per weight. `rank` of `size` threads;
// entries of other operations are left unwritten and never read.
template <class Real>
QMOE_HOST_DEVICE inline void fill_fixed_half_angles(uint32_t rank, uint32_t size,
                                                    const DeviceProgram& program,
                                                    const Real* weights, HalfAngle<Real>* table) {
  for (int i = static_cast<int>(rank); i < program.n_ops; i += static_cast<int>(size)) {
    const PackedOp op = program.ops[i];
    if (!is_rotation(static_cast<Opcode>(op.opcode))) continue;
    if (static_cast<ParamSource>(op.source) == ParamSource::kInput) continue;
    table[i] = half_angle(operation_angle(program, op, static_cast<const Real*>(nullptr), weights));
  }
}

// The half angle of rotation `i`: from `fixed` (fill_fixed_half_angles) when its angle is
// shared and a table is given, else taken here. The same bits either way.
template <class Real>
QMOE_HOST_DEVICE inline HalfAngle<Real> rotation_half_angle(const DeviceProgram& program, int i,
                                                            const PackedOp& op,
                                                            const Real* input_row,
                                                            const Real* weights,
                                                            const HalfAngle<Real>* fixed) {
  if (fixed != nullptr && static_cast<ParamSource>(op.source) != ParamSource::kInput) {
    return fixed[i];
  }
  return half_angle(operation_angle(program, op, input_row, weights));
}

// psi <- U psi, the program with the sample's angles (and `shift` applied); `fixed`:
// the block's table of shared half angles, or null.
template <class Real>
QMOE_HOST_DEVICE inline void run_program(const DeviceProgram& program,
                                         const SampleBatch<Real>& batch, int64_t sample,
                                         Complex<Real>* psi, AngleOffset shift = {},
                                         const HalfAngle<Real>* fixed = nullptr) {
  const Real* inputs = input_row(batch, sample);
  for (int i = 0; i < program.n_ops; ++i) {
    const PackedOp op = program.ops[i];
    HalfAngle<Real> half{1, 0};
    if (is_rotation(static_cast<Opcode>(op.opcode))) {
      half = i == shift.operation
                 ? shifted_half_angle(operation_angle(program, op, inputs, batch.weights),
                                      shift.offset)
                 : rotation_half_angle(program, i, op, inputs, batch.weights, fixed);
    }
    apply_operation(op, program.n_qubits, half, false, psi);
  }
}

template <class Real>
QMOE_HOST_DEVICE inline Real probability(const Complex<Real>& a) {
  return a.re * a.re + a.im * a.im;
}

// out_row[width]: the probabilities, or sum_k (-1)**popcount(k & mask) |psi_k|**2 per mask.
template <class Real>
QMOE_HOST_DEVICE inline void write_readout(const DeviceReadout& readout, int dim,
                                           const Complex<Real>* psi, Real* out_row) {
  if (readout.probs) {
    for (int k = 0; k < dim; ++k) out_row[k] = probability(psi[k]);
    return;
  }
  for (int m = 0; m < readout.n_masks; ++m) {
    const int64_t mask = readout.index_masks[m];
    Real value = 0;
    for (int k = 0; k < dim; ++k) value += core::parity_sign<Real>(k, mask) * probability(psi[k]);
    out_row[m] = value;
  }
}

// D_kk for D = sum_j grad_out[j] O_j, the readout folded with the incoming gradient
// (diagonal: every O_j is).
template <class Real>
QMOE_HOST_DEVICE inline Real folded_diagonal(const DeviceReadout& readout, const Real* grad_row,
                                             int k) {
  if (readout.probs) return grad_row[k];
  Real d = 0;
  for (int m = 0; m < readout.n_masks; ++m) {
    d += core::parity_sign<Real>(k, readout.index_masks[m]) * grad_row[m];
  }
  return d;
}

// lambda = D psi: one reverse sweep serves every output.
template <class Real>
QMOE_HOST_DEVICE inline void fold_readout(const DeviceReadout& readout, int dim,
                                          const Real* grad_row, const Complex<Real>* psi,
                                          Complex<Real>* lambda) {
  for (int k = 0; k < dim; ++k) {
    const Real d = folded_diagonal(readout, grad_row, k);
    lambda[k] = Complex<Real>{d * psi[k].re, d * psi[k].im};
  }
}

// <psi|D|psi> = sum_j grad_out[j] <O_j>: the readout contracted with the incoming
// gradient, without the width-long readout row.
template <class Real>
QMOE_HOST_DEVICE inline Real contract_readout(const DeviceReadout& readout, int dim,
                                              const Real* grad_row, const Complex<Real>* psi) {
  Real sum = 0;
  for (int k = 0; k < dim; ++k) sum += folded_diagonal(readout, grad_row, k) * probability(psi[k]);
  return sum;
}

template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void forward_sample(const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const StatevectorForwardArgs<Real>& args,
                                            int64_t sample,
                                            const HalfAngle<Real>* fixed = nullptr) {
  Complex<Real> psi[1 << MaxQubits];
  const int dim = 1 << program.n_qubits;
  load_initial_state(args.batch, sample, dim, psi);
  run_program(program, args.batch, sample, psi, AngleOffset{}, fixed);
  if (args.final_state != nullptr) {
    Real* row = args.final_state + sample * dim * 2;
    for (int k = 0; k < dim; ++k) {
      row[2 * k] = psi[k].re;
      row[2 * k + 1] = psi[k].im;
    }
  }
  write_readout(readout, dim, psi, args.out + sample * readout_width(readout, program.n_qubits));
}

// One reverse sweep (the adjoint method): from the final state (saved, or rerun)
// and lambda = D psi, undo each operation on both, taking each trainable angle's
// gradient on the way; what is left of lambda gives the initial state's gradient.
// psi and lambda: the caller's 2**n-amplitude buffers (their contents are not read),
// so a body that needs a state before the sweep lends it instead of adding a third
// to its stack frame.
template <class Real>
QMOE_HOST_DEVICE inline void adjoint_sweep(const DeviceProgram& program,
                                           const DeviceReadout& readout,
                                           const StatevectorAdjointArgs<Real>& args, int64_t sample,
                                           Complex<Real>* psi, Complex<Real>* lambda,
                                           const HalfAngle<Real>* fixed = nullptr) {
  const SampleBatch<Real>& batch = args.batch;
  const int n = program.n_qubits;
  const int dim = 1 << n;
  if (args.saved_state != nullptr) {
    const Real* row = args.saved_state + sample * dim * 2;
    for (int k = 0; k < dim; ++k) psi[k] = Complex<Real>{row[2 * k], row[2 * k + 1]};
  } else {
    load_initial_state(batch, sample, dim, psi);
    run_program(program, batch, sample, psi, AngleOffset{}, fixed);
  }
  fold_readout(readout, dim, args.grad_out + sample * readout_width(readout, n), psi, lambda);

  // This thread owns the sample's rows: no atomics, and the partial row is written
  // whole (zeros where no op uses the weight), so the caller needs no memset.
  Real* weight_row =
      args.weight_partials == nullptr ? nullptr : args.weight_partials + sample * batch.n_weights;
  for (int64_t w = 0; weight_row != nullptr && w < batch.n_weights; ++w) weight_row[w] = 0;
  Real* input_gradient_row =
      args.grad_inputs == nullptr ? nullptr : args.grad_inputs + sample * batch.n_input_columns;
  const Real* inputs = input_row(batch, sample);

  for (int i = program.n_ops - 1; i >= 0; --i) {
    const PackedOp op = program.ops[i];
    const Opcode opcode = static_cast<Opcode>(op.opcode);
    const ParamSource source = static_cast<ParamSource>(op.source);
    HalfAngle<Real> half{1, 0};
    bool want_gradient = false;
    if (is_rotation(opcode)) {
      half = rotation_half_angle(program, i, op, inputs, batch.weights, fixed);
      want_gradient = (source == ParamSource::kInput && input_gradient_row != nullptr) ||
                      (source == ParamSource::kWeight && weight_row != nullptr);
    }
    const Real gradient = reverse_operation(op, n, half, want_gradient, psi, lambda);
    if (!want_gradient) continue;
    if (source == ParamSource::kInput) {
      input_gradient_row[op.index] += gradient;
    } else {
      weight_row[op.index] += gradient;
    }
  }

  if (args.grad_state == nullptr) return;
  // L = <psi0|A|psi0> with A Hermitian: dL/dRe + i dL/dIm = 2 A psi0 = 2 lambda0;
  // a real state has only the real part.
  if (batch.initial_state_is_complex) {
    Real* row = args.grad_state + sample * dim * 2;
    for (int k = 0; k < dim; ++k) {
      row[2 * k] = 2 * lambda[k].re;
      row[2 * k + 1] = 2 * lambda[k].im;
    }
  } else {
    Real* row = args.grad_state + sample * dim;
    for (int k = 0; k < dim; ++k) row[k] = 2 * lambda[k].re;
  }
}

template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void adjoint_sample(const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const StatevectorAdjointArgs<Real>& args,
                                            int64_t sample,
                                            const HalfAngle<Real>* fixed = nullptr) {
  Complex<Real> psi[1 << MaxQubits];
  Complex<Real> lambda[1 << MaxQubits];
  adjoint_sweep(program, readout, args, sample, psi, lambda, fixed);
}

}  // namespace statevector

// ---- what one thread of a launch runs ------------------------------------------------------

// Sample = the thread's global index. The launch rounds the batch up to whole
// blocks: the threads past its end return before touching memory. `fixed`: the
// block's table of shared half angles (fill_fixed_half_angles), or null.
template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void statevector_forward_thread(
    const ThreadIndex& thread, const DeviceProgram& program, const DeviceReadout& readout,
    const StatevectorForwardArgs<Real>& args, const statevector::HalfAngle<Real>* fixed = nullptr) {
  const int64_t sample = thread.global();
  if (sample >= args.batch.batch_size) return;
  // The launcher picks a bucket that holds the state; never index past psi.
  if (program.n_qubits > MaxQubits) return;
  statevector::forward_sample<Real, MaxQubits>(program, readout, args, sample, fixed);
}

template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void statevector_adjoint_thread(
    const ThreadIndex& thread, const DeviceProgram& program, const DeviceReadout& readout,
    const StatevectorAdjointArgs<Real>& args, const statevector::HalfAngle<Real>* fixed = nullptr) {
  const int64_t sample = thread.global();
  if (sample >= args.batch.batch_size) return;
  if (program.n_qubits > MaxQubits) return;
  statevector::adjoint_sample<Real, MaxQubits>(program, readout, args, sample, fixed);
}

}  // namespace qmoe::cuda
