// The __global__ wrappers of the thread-per-sample statevector bodies
// (statevector_sample.cuh, statevector_shift_sample.cuh) for each state bucket and precision, the
// two reduction kernels (weight_reduction.cuh), and their launchers (statevector_kernels.h). The
// wrappers only turn blockIdx/threadIdx into a ThreadIndex: everything else is the body the host
// emulation tests.
#include <stdexcept>
#include <string>
#include <type_traits>

#include "qmoe/cuda/kernels/statevector_kernels.h"
#include "qmoe/cuda/kernels/statevector_sample.cuh"
#include "qmoe/cuda/kernels/statevector_shift_sample.cuh"
#include "qmoe/cuda/kernels/weight_reduction.cuh"

namespace qmoe::cuda {
namespace {

__device__ inline ThreadIndex this_thread() {
  return ThreadIndex{blockIdx.x, threadIdx.x, blockDim.x, gridDim.x};
}

// The block's table of shared half angles (statevector::fill_fixed_half_angles): every
// thread of the block, padding threads included, fills its share and meets the others
// at the barrier before any sample runs, so the sincos of a weight is taken once per
// block, not once per sample. 384 entries: 3 KB (float), 6 KB (double).
#define QMOE_FILL_FIXED_HALF_ANGLES(Real, table, program, weights)                             \
  __shared__ statevector::HalfAngle<Real> table[kDeviceProgramCapacity];                       \
  statevector::fill_fixed_half_angles<Real>(threadIdx.x, blockDim.x, program, weights, table); \
  __syncthreads()

// __grid_constant__: the bodies take the by-value program by reference; this lets
// them read it in place from the parameter bank wherever its address is taken,
// never through a per-thread local copy of ~3.5 KB.
template <class Real, int MaxQubits>
__global__ void __launch_bounds__(kSampleBlockSize)
    statevector_forward_kernel(const __grid_constant__ DeviceProgram program,
                               const __grid_constant__ DeviceReadout readout,
                               const __grid_constant__ StatevectorForwardArgs<Real> args) {
  QMOE_FILL_FIXED_HALF_ANGLES(Real, fixed, program, args.batch.weights);
  statevector_forward_thread<Real, MaxQubits>(this_thread(), program, readout, args, fixed);
}

template <class Real, int MaxQubits>
__global__ void __launch_bounds__(kSampleBlockSize)
    statevector_adjoint_kernel(const __grid_constant__ DeviceProgram program,
                               const __grid_constant__ DeviceReadout readout,
                               const __grid_constant__ StatevectorAdjointArgs<Real> args) {
  QMOE_FILL_FIXED_HALF_ANGLES(Real, fixed, program, args.batch.weights);
  statevector_adjoint_thread<Real, MaxQubits>(this_thread(), program, readout, args, fixed);
}

template <class Real, int MaxQubits>
__global__ void __launch_bounds__(kSampleBlockSize)
    statevector_parameter_shift_kernel(const __grid_constant__ DeviceProgram program,
                                       const __grid_constant__ DeviceReadout readout,
                                       const __grid_constant__ StatevectorAdjointArgs<Real> args) {
  QMOE_FILL_FIXED_HALF_ANGLES(Real, fixed, program, args.batch.weights);
  statevector_parameter_shift_thread<Real, MaxQubits>(this_thread(), program, readout, args, fixed);
}

template <class Real>
__global__ void __launch_bounds__(kReductionBlockSize)
    weight_reduction_range_kernel(const Real* partials, int64_t batch_size, int64_t n_weights,
                                  double* block_sums) {
  weight_reduction_range_thread<Real>(this_thread(), partials, batch_size, n_weights, block_sums);
}

template <class Real>
__global__ void __launch_bounds__(kReductionBlockSize)
    weight_reduction_total_kernel(const double* block_sums, int64_t n_blocks, int64_t n_weights,
                                  Real* grad_weights) {
  weight_reduction_total_thread<Real>(this_thread(), block_sums, n_blocks, n_weights, grad_weights);
}

// Blocks of kSampleBlockSize threads covering the batch (the last one padded).
dim3 sample_grid(int64_t batch_size) {
  const int64_t blocks = (batch_size + kSampleBlockSize - 1) / kSampleBlockSize;
  if (blocks > INT32_MAX) {
    throw std::invalid_argument("CUDA statevector kernels: batch of " + std::to_string(batch_size) +
                                " samples exceeds one launch");
  }
  return dim3(static_cast<unsigned int>(blocks));
}

// Calls launch(std::integral_constant<int, B>{}) for the compiled bucket B (of
// kThreadPerSampleBuckets) that thread_per_sample_bucket chose.
template <class Launch>
void with_bucket(int bucket, Launch&& launch) {
  switch (bucket) {
    case 4:
      launch(std::integral_constant<int, 4>{});
      break;
    case 6:
      launch(std::integral_constant<int, 6>{});
      break;
    case 8:
      launch(std::integral_constant<int, 8>{});
      break;
    default:
      launch(std::integral_constant<int, 10>{});
      break;
  }
}

}  // namespace

int thread_per_sample_bucket(int n_qubits) {
  for (int bucket : kThreadPerSampleBuckets) {
    if (n_qubits >= 1 && n_qubits <= bucket) return bucket;
  }
  throw std::invalid_argument("CUDA thread-per-sample statevector kernels: n_qubits " +
                              std::to_string(n_qubits) + " outside 1.." +
                              std::to_string(kMaxThreadPerSampleQubits));
}

template <class Real>
cudaError_t launch_statevector_forward(const DeviceProgram& program, const DeviceReadout& readout,
                                       const StatevectorForwardArgs<Real>& args,
                                       cudaStream_t stream) {
  const int bucket = thread_per_sample_bucket(program.n_qubits);
  if (args.batch.batch_size == 0) return cudaSuccess;  // a grid of 0 blocks is a launch error
  const dim3 grid = sample_grid(args.batch.batch_size);
  with_bucket(bucket, [&](auto max_qubits) {
    statevector_forward_kernel<Real, decltype(max_qubits)::value>
        <<<grid, kSampleBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

template <class Real>
cudaError_t launch_statevector_adjoint(const DeviceProgram& program, const DeviceReadout& readout,
                                       const StatevectorAdjointArgs<Real>& args,
                                       cudaStream_t stream) {
  const int bucket = thread_per_sample_bucket(program.n_qubits);
  if (args.batch.batch_size == 0) return cudaSuccess;
  const dim3 grid = sample_grid(args.batch.batch_size);
  with_bucket(bucket, [&](auto max_qubits) {
    statevector_adjoint_kernel<Real, decltype(max_qubits)::value>
        <<<grid, kSampleBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

template <class Real>
cudaError_t launch_statevector_parameter_shift(const DeviceProgram& program,
                                               const DeviceReadout& readout,
                                               const StatevectorAdjointArgs<Real>& args,
                                               cudaStream_t stream) {
  const int bucket = thread_per_sample_bucket(program.n_qubits);
  if (args.batch.batch_size == 0) return cudaSuccess;
  const dim3 grid = sample_grid(args.batch.batch_size);
  with_bucket(bucket, [&](auto max_qubits) {
    statevector_parameter_shift_kernel<Real, decltype(max_qubits)::value>
        <<<grid, kSampleBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

template <class Real>
cudaError_t launch_weight_reduction(const Real* weight_partials, int64_t batch_size,
                                    int64_t n_weights, double* workspace, Real* grad_weights,
                                    cudaStream_t stream) {
  if (n_weights == 0) return cudaSuccess;
  const int64_t n_blocks = weight_reduction_blocks(batch_size);
  if (n_blocks > INT32_MAX) {
    throw std::invalid_argument("CUDA weight reduction: batch of " + std::to_string(batch_size) +
                                " samples exceeds one launch");
  }
  if (n_blocks > 0) {
    weight_reduction_range_kernel<Real>
        <<<static_cast<unsigned int>(n_blocks), kReductionBlockSize, 0, stream>>>(
            weight_partials, batch_size, n_weights, workspace);
  }
  // One block: its threads stride over the weights (an empty batch writes zeros).
  weight_reduction_total_kernel<Real>
      <<<1, kReductionBlockSize, 0, stream>>>(workspace, n_blocks, n_weights, grad_weights);
  return cudaGetLastError();
}

template cudaError_t launch_statevector_forward<float>(const DeviceProgram&, const DeviceReadout&,
                                                       const StatevectorForwardArgs<float>&,
                                                       cudaStream_t);
template cudaError_t launch_statevector_forward<double>(const DeviceProgram&, const DeviceReadout&,
                                                        const StatevectorForwardArgs<double>&,
                                                        cudaStream_t);
template cudaError_t launch_statevector_adjoint<float>(const DeviceProgram&, const DeviceReadout&,
                                                       const StatevectorAdjointArgs<float>&,
                                                       cudaStream_t);
template cudaError_t launch_statevector_adjoint<double>(const DeviceProgram&, const DeviceReadout&,
                                                        const StatevectorAdjointArgs<double>&,
                                                        cudaStream_t);
template cudaError_t launch_statevector_parameter_shift<float>(const DeviceProgram&,
                                                               const DeviceReadout&,
                                                               const StatevectorAdjointArgs<float>&,
                                                               cudaStream_t);
template cudaError_t launch_statevector_parameter_shift<double>(
    const DeviceProgram&, const DeviceReadout&, const StatevectorAdjointArgs<double>&,
    cudaStream_t);
template cudaError_t launch_weight_reduction<float>(const float*, int64_t, int64_t, double*, float*,
                                                    cudaStream_t);
template cudaError_t launch_weight_reduction<double>(const double*, int64_t, int64_t, double*,
                                                     double*, cudaStream_t);

}  // namespace qmoe::cuda
