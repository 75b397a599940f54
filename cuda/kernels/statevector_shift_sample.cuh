// The parameter-shift backward of the thread-per-sample statevector kernels: the
// thread reruns its sample's circuit twice per shift target, with that one
// operation's angle moved by +pi/2 and -pi/2 (run_program's AngleOffset: the same
// interpretation as the forward, not a copy), and takes
//   d/dt sum_j grad_out[j] <O_j> = (f(t + pi/2) - f(t - pi/2)) / 2,  f = <psi|D|psi>,
// exact for exp(-i t/2 P) with P a Pauli string (eigenvalues +-1).
//
// The targets are the CPU engine's (csrc/core/engine/shift_targets.h): every
// parameterised operation, channels excluded, whose angle comes from an input column
// or a weight. A weight used by several operations gets the sum of their terms.
// Amplitudes have no shift rule: the initial-state gradient comes from one adjoint
// sweep (adjoint_sweep, asked for grad_state only), as on the CPU.
//
// Written once for nvcc (statevector_kernels.cu) and g++ (the host emulation of
// tests/cuda/).
#pragma once

#include <cstdint>

#include "qmoe/core/engine/shift_targets.h"
#include "qmoe/core/math/host_device.h"
#include "qmoe/core/program/opcodes.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"
#include "qmoe/cuda/kernels/statevector_sample.cuh"

namespace qmoe::cuda {
namespace statevector {

// core::shift_targets' rule on a packed operation.
QMOE_HOST_DEVICE inline bool is_shift_target(const PackedOp& op) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  if (core::is_channel(opcode) || !core::takes_parameter(opcode)) return false;
  const ParamSource source = static_cast<ParamSource>(op.source);
  return source == ParamSource::kInput || source == ParamSource::kWeight;
}

// Gradients of L = sum_j grad_out[b, j] out[b, j] for one sample: grad_inputs row
// added to (+=), weight_partials row written whole (zeros where no target uses the
// weight), grad_state written. `args.saved_state` serves the initial-state sweep
// only; the shifted runs start from the initial state.
template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void parameter_shift_sample(const DeviceProgram& program,
                                                    const DeviceReadout& readout,
                                                    const StatevectorAdjointArgs<Real>& args,
                                                    int64_t sample,
                                                    const HalfAngle<Real>* fixed = nullptr) {
  const SampleBatch<Real>& batch = args.batch;
  const int n = program.n_qubits;
  const int dim = 1 << n;
  const Real* grad_row = args.grad_out + sample * readout_width(readout, n);
  Real* weight_row =
      args.weight_partials == nullptr ? nullptr : args.weight_partials + sample * batch.n_weights;
  for (int64_t w = 0; weight_row != nullptr && w < batch.n_weights; ++w) weight_row[w] = 0;
  Real* input_gradient_row =
      args.grad_inputs == nullptr ? nullptr : args.grad_inputs + sample * batch.n_input_columns;

  // The shifted runs use psi; the initial-state sweep reuses it beside lambda, so the
  // stack frame holds two states, as the adjoint's does.
  Complex<Real> psi[1 << MaxQubits];
  Complex<Real> lambda[1 << MaxQubits];
  if (input_gradient_row != nullptr || weight_row != nullptr) {
    for (int i = 0; i < program.n_ops; ++i) {
      const PackedOp op = program.ops[i];
      if (!is_shift_target(op)) continue;
      Real* row = static_cast<ParamSource>(op.source) == ParamSource::kInput ? input_gradient_row
                                                                             : weight_row;
      if (row == nullptr) continue;
      Real shifted[2];  // f(t + pi/2), f(t - pi/2)
      for (int side = 0; side < 2; ++side) {
        load_initial_state(batch, sample, dim, psi);
        run_program(program, batch, sample, psi,
                    AngleOffset{i, side == 0 ? core::kShiftAngle : -core::kShiftAngle}, fixed);
        shifted[side] = contract_readout(readout, dim, grad_row, psi);
      }
      row[op.index] += (shifted[0] - shifted[1]) / 2;
    }
  }

  if (args.grad_state == nullptr) return;
  StatevectorAdjointArgs<Real> state_args = args;
  state_args.grad_inputs = nullptr;
  state_args.weight_partials = nullptr;
  adjoint_sweep(program, readout, state_args, sample, psi, lambda, fixed);
}

}  // namespace statevector

// What one thread of the parameter-shift launch runs; padding threads return first.
template <class Real, int MaxQubits>
QMOE_HOST_DEVICE inline void statevector_parameter_shift_thread(
    const ThreadIndex& thread, const DeviceProgram& program, const DeviceReadout& readout,
    const StatevectorAdjointArgs<Real>& args, const statevector::HalfAngle<Real>* fixed = nullptr) {
  const int64_t sample = thread.global();
  if (sample >= args.batch.batch_size) return;
  if (program.n_qubits > MaxQubits) return;
  statevector::parameter_shift_sample<Real, MaxQubits>(program, readout, args, sample, fixed);
}

}  // namespace qmoe::cuda
