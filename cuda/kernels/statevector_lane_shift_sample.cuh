// The parameter-shift backward of the lane-group-per-sample statevector kernels:
// statevector::parameter_shift_sample over a lane group. Two runs of the circuit per
// shift target, that operation's angle moved by +pi/2 and -pi/2 (the forward's
// run_program with an AngleOffset), each contracted over the group; lane 0 adds
// (f(t + pi/2) - f(t - pi/2)) / 2 to the sample's row. The initial-state gradient
// comes from one adjoint sweep asked for grad_state only, as on the CPU.
//
// Written once for nvcc (statevector_lane_kernels.cu) and g++ (the host emulation of
// tests/cuda/).
#pragma once

#include <cstdint>

#include "qmoe/core/engine/shift_targets.h"
#include "qmoe/cuda/kernels/statevector_lane_sample.cuh"
#include "qmoe/cuda/kernels/statevector_shift_sample.cuh"

namespace qmoe::cuda {
namespace lane_statevector {

template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void parameter_shift_sample(const LaneGroup& group, const DeviceProgram& program,
                                             const DeviceReadout& readout,
                                             const StatevectorAdjointArgs<Real>& args,
                                             int64_t sample, int lane_bits,
                                             const HalfAngle<Real>* fixed) {
  const SampleBatch<Real>& batch = args.batch;
  const int n = program.n_qubits;
  const int dim = 1 << n;
  const Real* grad_row = args.grad_out + sample * readout_width(readout, n);
  Real* weight_row =
      args.weight_partials == nullptr ? nullptr : args.weight_partials + sample * batch.n_weights;
  for (int64_t w = group.lane; weight_row != nullptr && w < batch.n_weights; w += group.width) {
    weight_row[w] = 0;
  }
  Real* input_gradient_row =
      args.grad_inputs == nullptr ? nullptr : args.grad_inputs + sample * batch.n_input_columns;
  group.sync();  // the zeroed row complete before lane 0 adds to it

  if (input_gradient_row != nullptr || weight_row != nullptr) {
    LaneState<Real, RegisterQubits> psi;
    for (int i = 0; i < program.n_ops; ++i) {
      const PackedOp op = program.ops[i];
      if (!statevector::is_shift_target(op)) continue;
      Real* row = static_cast<ParamSource>(op.source) == ParamSource::kInput ? input_gradient_row
                                                                             : weight_row;
      if (row == nullptr) continue;
      Real shifted[2];  // f(t + pi/2), f(t - pi/2)
      for (int side = 0; side < 2; ++side) {
        load_initial_state(group, batch, sample, lane_bits, dim, psi);
        run_program(group, program, batch, sample, lane_bits, psi,
                    statevector::AngleOffset{i, side == 0 ? core::kShiftAngle : -core::kShiftAngle},
                    fixed);
        shifted[side] = contract_readout(group, readout, lane_bits, grad_row, psi);
      }
      if (group.lane == 0) row[op.index] += (shifted[0] - shifted[1]) / 2;
    }
  }

  if (args.grad_state == nullptr) return;
  StatevectorAdjointArgs<Real> state_args = args;
  state_args.grad_inputs = nullptr;
  state_args.weight_partials = nullptr;
  adjoint_sweep<Real, RegisterQubits>(group, program, readout, state_args, sample, lane_bits,
                                      fixed);
}

}  // namespace lane_statevector

// What each lane group of the parameter-shift launch runs; padding groups return first.
template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void statevector_parameter_shift_lanes(const LaneGroup& group, int64_t sample,
                                                        const DeviceProgram& program,
                                                        const DeviceReadout& readout,
                                                        const StatevectorAdjointArgs<Real>& args,
                                                        const statevector::HalfAngle<Real>* fixed) {
  if (!lane_statevector::group_runs<RegisterQubits>(group, program.n_qubits, sample,
                                                    args.batch.batch_size)) {
    return;
  }
  lane_statevector::parameter_shift_sample<Real, RegisterQubits>(
      group, program, readout, args, sample, lane_statevector::lane_bits_of(group.width), fixed);
}

}  // namespace qmoe::cuda
