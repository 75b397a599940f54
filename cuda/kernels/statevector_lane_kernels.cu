// The __global__ wrappers of the lane-group-per-sample statevector bodies
// (statevector_lane_sample.cuh, statevector_lane_shift_sample.cuh), one per direction,
// precision and register count, and their launchers (statevector_lane_kernels.h). A
// wrapper fills the block's table of shared half angles, then hands its lane group
// (lane_group.h) and sample to the body the host emulation tests.
#include <stdexcept>
#include <string>

#include "qmoe/cuda/kernels/lane_group.h"
#include "qmoe/cuda/kernels/statevector_lane_kernels.h"
#include "qmoe/cuda/kernels/statevector_lane_sample.cuh"
#include "qmoe/cuda/kernels/statevector_lane_shift_sample.cuh"

namespace qmoe::cuda {
namespace {

// The block's table of shared half angles (statevector::fill_fixed_half_angles): every
// thread of the block, padding included, fills its share and meets the others at the
// barrier before any group runs. Then the lane group of this thread and its sample
// (a group per sample, groups in thread order). A program the register count does not
// fit (the launcher never makes one) returns in every thread alike.
#define QMOE_LANE_PROLOGUE(Real, RegisterQubits, program, weights)                              \
  __shared__ statevector::HalfAngle<Real> fixed[kDeviceProgramCapacity];                        \
  statevector::fill_fixed_half_angles<Real>(threadIdx.x, blockDim.x, program, weights, fixed);  \
  __syncthreads();                                                                              \
  const int lane_bits = program.n_qubits - RegisterQubits;                                      \
  if (lane_bits < 1 || lane_bits > 5) return;                                                   \
  const uint32_t width = 1u << lane_bits;                                                       \
  const int64_t sample = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / width; \
  const LaneGroup group = this_lane_group(width)

// __grid_constant__: the program is read in place from the parameter bank.
template <class Real, int RegisterQubits>
__global__ void __launch_bounds__(kLaneBlockSize)
    statevector_lane_forward_kernel(const __grid_constant__ DeviceProgram program,
                                    const __grid_constant__ DeviceReadout readout,
                                    const __grid_constant__ StatevectorForwardArgs<Real> args) {
  QMOE_LANE_PROLOGUE(Real, RegisterQubits, program, args.batch.weights);
  statevector_forward_lanes<Real, RegisterQubits>(group, sample, program, readout, args, fixed);
}

template <class Real, int RegisterQubits>
__global__ void __launch_bounds__(kLaneBlockSize)
    statevector_lane_adjoint_kernel(const __grid_constant__ DeviceProgram program,
                                    const __grid_constant__ DeviceReadout readout,
                                    const __grid_constant__ StatevectorAdjointArgs<Real> args) {
  QMOE_LANE_PROLOGUE(Real, RegisterQubits, program, args.batch.weights);
  statevector_adjoint_lanes<Real, RegisterQubits>(group, sample, program, readout, args, fixed);
}

template <class Real, int RegisterQubits>
__global__ void __launch_bounds__(kLaneBlockSize) statevector_lane_parameter_shift_kernel(
    const __grid_constant__ DeviceProgram program, const __grid_constant__ DeviceReadout readout,
    const __grid_constant__ StatevectorAdjointArgs<Real> args) {
  QMOE_LANE_PROLOGUE(Real, RegisterQubits, program, args.batch.weights);
  statevector_parameter_shift_lanes<Real, RegisterQubits>(group, sample, program, readout, args,
                                                          fixed);
}

#undef QMOE_LANE_PROLOGUE

// Blocks of kLaneBlockSize threads covering batch_size groups of 2**lane_bits lanes.
dim3 lane_grid(int64_t batch_size, int lane_bits) {
  const int64_t threads = batch_size << lane_bits;
  const int64_t blocks = (threads + kLaneBlockSize - 1) / kLaneBlockSize;
  if (blocks > INT32_MAX) {
    throw std::invalid_argument("CUDA lane-per-sample statevector kernels: batch of " +
                                std::to_string(batch_size) + " samples exceeds one launch");
  }
  return dim3(static_cast<unsigned int>(blocks));
}

// Calls launch(RegisterFlip<R>{}) for the register count R of the shape. Compiled for
// R = 2 and 3 only (n = 5..kMaxLanePerSampleQubits): ptxas keeps the float64 backward
// in registers up to R = 3 (benchmarks/results/cuda_resources.md), and R = 4, 5 cost
// nvcc most of this file's 23 CPU-minutes. The bodies hold for any R (the emulated
// tests run R = 1..5).
template <class Launch>
void with_register_qubits(int register_qubits, Launch&& launch) {
  if (register_qubits == 2) {
    launch(lane_statevector::RegisterFlip<2>{});
  } else if (register_qubits == 3) {
    launch(lane_statevector::RegisterFlip<3>{});
  } else {
    throw std::invalid_argument("CUDA lane-per-sample statevector kernels: no kernel for " +
                                std::to_string(register_qubits) + " register qubits");
  }
}

}  // namespace

void check_lane_per_sample_qubits(int n_qubits) {
  if (n_qubits < kMinLanePerSampleQubits || n_qubits > kMaxLanePerSampleQubits) {
    throw std::invalid_argument("CUDA lane-per-sample statevector kernels: n_qubits " +
                                std::to_string(n_qubits) + " outside " +
                                std::to_string(kMinLanePerSampleQubits) + ".." +
                                std::to_string(kMaxLanePerSampleQubits));
  }
}

template <class Real>
cudaError_t launch_statevector_lane_forward(const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const StatevectorForwardArgs<Real>& args,
                                            cudaStream_t stream) {
  check_lane_per_sample_qubits(program.n_qubits);
  if (args.batch.batch_size == 0) return cudaSuccess;  // a grid of 0 blocks is a launch error
  const StatevectorLaneShape shape = statevector_lane_shape(program.n_qubits);
  const dim3 grid = lane_grid(args.batch.batch_size, shape.lane_bits);
  with_register_qubits(shape.register_qubits, [&](auto registers) {
    statevector_lane_forward_kernel<Real, decltype(registers)::value>
        <<<grid, kLaneBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

template <class Real>
cudaError_t launch_statevector_lane_adjoint(const DeviceProgram& program,
                                            const DeviceReadout& readout,
                                            const StatevectorAdjointArgs<Real>& args,
                                            cudaStream_t stream) {
  check_lane_per_sample_qubits(program.n_qubits);
  if (args.batch.batch_size == 0) return cudaSuccess;
  const StatevectorLaneShape shape = statevector_lane_shape(program.n_qubits);
  const dim3 grid = lane_grid(args.batch.batch_size, shape.lane_bits);
  with_register_qubits(shape.register_qubits, [&](auto registers) {
    statevector_lane_adjoint_kernel<Real, decltype(registers)::value>
        <<<grid, kLaneBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

template <class Real>
cudaError_t launch_statevector_lane_parameter_shift(const DeviceProgram& program,
                                                    const DeviceReadout& readout,
                                                    const StatevectorAdjointArgs<Real>& args,
                                                    cudaStream_t stream) {
  check_lane_per_sample_qubits(program.n_qubits);
  if (args.batch.batch_size == 0) return cudaSuccess;
  const StatevectorLaneShape shape = statevector_lane_shape(program.n_qubits);
  const dim3 grid = lane_grid(args.batch.batch_size, shape.lane_bits);
  with_register_qubits(shape.register_qubits, [&](auto registers) {
    statevector_lane_parameter_shift_kernel<Real, decltype(registers)::value>
        <<<grid, kLaneBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

#define QMOE_INSTANTIATE_LANE_LAUNCHERS(Real)                                          \
  template cudaError_t launch_statevector_lane_forward<Real>(                          \
      const DeviceProgram&, const DeviceReadout&, const StatevectorForwardArgs<Real>&, \
      cudaStream_t);                                                                   \
  template cudaError_t launch_statevector_lane_adjoint<Real>(                          \
      const DeviceProgram&, const DeviceReadout&, const StatevectorAdjointArgs<Real>&, \
      cudaStream_t);                                                                   \
  template cudaError_t launch_statevector_lane_parameter_shift<Real>(                  \
      const DeviceProgram&, const DeviceReadout&, const StatevectorAdjointArgs<Real>&, \
      cudaStream_t);
QMOE_INSTANTIATE_LANE_LAUNCHERS(float)
QMOE_INSTANTIATE_LANE_LAUNCHERS(double)
#undef QMOE_INSTANTIATE_LANE_LAUNCHERS

}  // namespace qmoe::cuda
