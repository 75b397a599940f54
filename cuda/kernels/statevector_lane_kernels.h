// Host-callable launchers of the lane-group-per-sample statevector kernels
// (statevector_lane_kernels.cu; bodies in statevector_lane_sample.cuh and
// statevector_lane_shift_sample.cuh), and the shape they give a program of n qubits:
// a group of 2**lane_bits lanes of one warp per sample, 2**register_qubits amplitudes
// in each lane's registers. The same program, readout and arguments as the
// thread-per-sample launchers (statevector_kernels.h), the same results; each enqueues
// one kernel on `stream` and returns its cudaError_t, with no workspace, copy or
// synchronisation (CUDA-graph safe); std::invalid_argument for an n no shape serves.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"

namespace qmoe::cuda {

constexpr int kMinLanePerSampleQubits = 5;
constexpr int kMaxLanePerSampleQubits = 8;
// Threads per block: four warps (the block shares one table of half angles).
constexpr int kLaneBlockSize = 128;

struct StatevectorLaneShape {
  int lane_bits;        // log2 of the lanes per sample, 1..5
  int register_qubits;  // amplitudes per lane: 2**register_qubits
};

// The shapes (a kernel per register count and precision):
//   n = 5, 6: 4 and 8 lanes with 8 amplitudes each ("a few threads per sample");
//   n = 7, 8: a warp, 4 and 8 amplitudes per lane. The launchers are compiled to
//   kMaxLanePerSampleQubits = 8 (R <= 3); the bodies also hold R = 4, 5 (n = 9, 10),
//   which ptxas shows spilling in the float64 backward.
// Eight amplitudes per lane at n = 5, 6 keep a lane's two states (psi and lambda,
// 16 complex numbers) in registers in float64 too, while more lanes per sample would
// spend more of each gate in shuffles; from 7 qubits on the whole warp is used.
inline StatevectorLaneShape statevector_lane_shape(int n_qubits) {
  if (n_qubits <= 6) return {n_qubits - 3, 3};
  return {5, n_qubits - 5};
}

// Throws std::invalid_argument outside kMinLanePerSampleQubits..kMaxLanePerSampleQubits.
void check_lane_per_sample_qubits(int n_qubits);

template <class Real>
cudaError_t launch_statevector_lane_forward(const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const StatevectorForwardArgs<Real>& args,
                                            cudaStream_t stream);

template <class Real>
cudaError_t launch_statevector_lane_adjoint(const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const StatevectorAdjointArgs<Real>& args,
                                            cudaStream_t stream);

template <class Real>
cudaError_t launch_statevector_lane_parameter_shift(const DeviceProgram& program,
                                                    const DeviceReadout& readout,
                                                    const StatevectorAdjointArgs<Real>& args,
                                                    cudaStream_t stream);

#define QMOE_DECLARE_LANE_LAUNCHERS(Real)                                              \
  extern template cudaError_t launch_statevector_lane_forward<Real>(                   \
      const DeviceProgram&, const DeviceReadout&, const StatevectorForwardArgs<Real>&, \
      cudaStream_t);                                                                   \
  extern template cudaError_t launch_statevector_lane_adjoint<Real>(                   \
      const DeviceProgram&, const DeviceReadout&, const StatevectorAdjointArgs<Real>&, \
      cudaStream_t);                                                                   \
  extern template cudaError_t launch_statevector_lane_parameter_shift<Real>(           \
      const DeviceProgram&, const DeviceReadout&, const StatevectorAdjointArgs<Real>&, \
      cudaStream_t);
QMOE_DECLARE_LANE_LAUNCHERS(float)
QMOE_DECLARE_LANE_LAUNCHERS(double)
#undef QMOE_DECLARE_LANE_LAUNCHERS

}  // namespace qmoe::cuda
