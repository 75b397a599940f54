// The __global__ wrappers of the thread-per-sample density-matrix bodies
// (density_sample.cuh) for each bucket and precision, and their launchers
// (density_kernels.h). The wrappers only turn blockIdx/threadIdx into a ThreadIndex:
// everything else is the body the host emulation tests.
#include <stdexcept>
#include <string>
#include <type_traits>

#include "qmoe/cuda/kernels/density_kernels.h"
#include "qmoe/cuda/kernels/density_sample.cuh"

namespace qmoe::cuda {
namespace {

__device__ inline ThreadIndex this_thread() {
  return ThreadIndex{blockIdx.x, threadIdx.x, blockDim.x, gridDim.x};
}

// __grid_constant__: the program is read in place from the parameter bank, never
// through a per-thread local copy of ~3.5 KB.
template <class Real, int MaxQubits>
__global__ void __launch_bounds__(kDensityBlockSize)
    density_forward_kernel(const __grid_constant__ DeviceProgram program,
                           const __grid_constant__ DeviceReadout readout,
                           const __grid_constant__ DensityForwardArgs<Real> args) {
  density_forward_thread<Real, MaxQubits>(this_thread(), program, readout, args);
}

template <class Real, int MaxQubits>
__global__ void __launch_bounds__(kDensityBlockSize)
    density_adjoint_kernel(const __grid_constant__ DeviceProgram program,
                           const __grid_constant__ DeviceReadout readout,
                           const __grid_constant__ DensityAdjointArgs<Real> args) {
  density_adjoint_thread<Real, MaxQubits>(this_thread(), program, readout, args);
}

template <class Real, int MaxQubits>
__global__ void __launch_bounds__(kDensityBlockSize)
    density_parameter_shift_kernel(const __grid_constant__ DeviceProgram program,
                                   const __grid_constant__ DeviceReadout readout,
                                   const __grid_constant__ DensityAdjointArgs<Real> args) {
  density_parameter_shift_thread<Real, MaxQubits>(this_thread(), program, readout, args);
}

// Blocks of kDensityBlockSize threads covering the batch (the last one padded).
dim3 density_grid(int64_t batch_size) {
  const int64_t blocks = (batch_size + kDensityBlockSize - 1) / kDensityBlockSize;
  if (blocks > INT32_MAX) {
    throw std::invalid_argument("CUDA density-matrix kernels: batch of " +
                                std::to_string(batch_size) + " samples exceeds one launch");
  }
  return dim3(static_cast<unsigned int>(blocks));
}

// Calls launch(std::integral_constant<int, B>{}) for the bucket B (of kDensityBuckets)
// that holds the program.
template <class Launch>
void with_density_bucket(int n_qubits, Launch&& launch) {
  switch (density_bucket(n_qubits)) {
    case 2:
      launch(std::integral_constant<int, 2>{});
      break;
    case 4:
      launch(std::integral_constant<int, 4>{});
      break;
    default:
      launch(std::integral_constant<int, 6>{});
      break;
  }
}

}  // namespace

int density_bucket(int n_qubits) {
  for (int bucket : kDensityBuckets) {
    if (n_qubits >= 1 && n_qubits <= bucket) return bucket;
  }
  throw std::invalid_argument("CUDA density-matrix kernels: n_qubits " + std::to_string(n_qubits) +
                              " outside 1.." + std::to_string(kMaxDensityQubits));
}

template <class Real>
cudaError_t launch_density_forward(const DeviceProgram& program, const DeviceReadout& readout,
                                   const DensityForwardArgs<Real>& args, cudaStream_t stream) {
  density_bucket(program.n_qubits);                    // refuses before an empty batch returns
  if (args.batch.batch_size == 0) return cudaSuccess;  // a grid of 0 blocks is a launch error
  const dim3 grid = density_grid(args.batch.batch_size);
  with_density_bucket(program.n_qubits, [&](auto max_qubits) {
    density_forward_kernel<Real, decltype(max_qubits)::value>
        <<<grid, kDensityBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

template <class Real>
cudaError_t launch_density_adjoint(const DeviceProgram& program, const DeviceReadout& readout,
                                   const DensityAdjointArgs<Real>& args, cudaStream_t stream) {
  density_bucket(program.n_qubits);
  if (args.batch.batch_size == 0) return cudaSuccess;
  const dim3 grid = density_grid(args.batch.batch_size);
  with_density_bucket(program.n_qubits, [&](auto max_qubits) {
    density_adjoint_kernel<Real, decltype(max_qubits)::value>
        <<<grid, kDensityBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

template <class Real>
cudaError_t launch_density_parameter_shift(const DeviceProgram& program,
                                           const DeviceReadout& readout,
                                           const DensityAdjointArgs<Real>& args,
                                           cudaStream_t stream) {
  density_bucket(program.n_qubits);
  if (args.batch.batch_size == 0) return cudaSuccess;
  const dim3 grid = density_grid(args.batch.batch_size);
  with_density_bucket(program.n_qubits, [&](auto max_qubits) {
    density_parameter_shift_kernel<Real, decltype(max_qubits)::value>
        <<<grid, kDensityBlockSize, 0, stream>>>(program, readout, args);
  });
  return cudaGetLastError();
}

template cudaError_t launch_density_forward<float>(const DeviceProgram&, const DeviceReadout&,
                                                   const DensityForwardArgs<float>&, cudaStream_t);
template cudaError_t launch_density_forward<double>(const DeviceProgram&, const DeviceReadout&,
                                                    const DensityForwardArgs<double>&,
                                                    cudaStream_t);
template cudaError_t launch_density_adjoint<float>(const DeviceProgram&, const DeviceReadout&,
                                                   const DensityAdjointArgs<float>&, cudaStream_t);
template cudaError_t launch_density_adjoint<double>(const DeviceProgram&, const DeviceReadout&,
                                                    const DensityAdjointArgs<double>&,
                                                    cudaStream_t);
template cudaError_t launch_density_parameter_shift<float>(const DeviceProgram&,
                                                           const DeviceReadout&,
                                                           const DensityAdjointArgs<float>&,
                                                           cudaStream_t);
template cudaError_t launch_density_parameter_shift<double>(const DeviceProgram&,
                                                            const DeviceReadout&,
                                                            const DensityAdjointArgs<double>&,
                                                            cudaStream_t);

}  // namespace qmoe::cuda
