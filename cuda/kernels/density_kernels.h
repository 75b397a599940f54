// Host-callable launchers of the thread-per-sample density-matrix kernels
// (density_kernels.cu, bodies in density_sample.cuh). Each enqueues one kernel on
// `stream` and returns: no cudaMalloc, no copy, no synchronisation, so they can be
// captured in a CUDA graph. Weight partials are summed by launch_weight_reduction
// (statevector_kernels.h), the same deterministic two-stage reduction. They return the
// launch's cudaError_t (cudaGetLastError, which does not sync) and throw
// std::invalid_argument for a call no kernel can take.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "qmoe/cuda/kernels/density_args.h"
#include "qmoe/cuda/kernels/device_program.h"

namespace qmoe::cuda {

// The density-matrix buckets compiled (a kernel per MaxQubits and precision): a
// program runs in the smallest that holds it. 4**MaxQubits entries per copy of rho.
constexpr int kDensityBuckets[] = {2, 4, 6};
constexpr int kMaxDensityQubits = 6;
// Threads per block of the density-matrix kernels.
constexpr int kDensityBlockSize = 128;

static_assert(sizeof(DeviceProgram) + sizeof(DeviceReadout) + sizeof(DensityAdjointArgs<double>) <=
                  kKernelParameterLimit,
              "the density-matrix kernels' parameters exceed the 4 KB kernel-parameter limit");

// The bucket for n qubits; std::invalid_argument outside 1..kMaxDensityQubits.
int density_bucket(int n_qubits);

// out[b, width] for every sample (NaN rows where a channel probability is invalid).
template <class Real>
cudaError_t launch_density_forward(const DeviceProgram& program, const DeviceReadout& readout,
                                   const DensityForwardArgs<Real>& args, cudaStream_t stream);

// One reverse sweep per sample: grad_inputs (+=), weight_partials rows, grad_state.
template <class Real>
cudaError_t launch_density_adjoint(const DeviceProgram& program, const DeviceReadout& readout,
                                   const DensityAdjointArgs<Real>& args, cudaStream_t stream);

// The parameter-shift rule per sample for rotation angles (the caller refuses channel
// probabilities: check_density_parameter_shift), grad_state by one sweep of Lambda.
template <class Real>
cudaError_t launch_density_parameter_shift(const DeviceProgram& program,
                                           const DeviceReadout& readout,
                                           const DensityAdjointArgs<Real>& args,
                                           cudaStream_t stream);

extern template cudaError_t launch_density_forward<float>(const DeviceProgram&,
                                                          const DeviceReadout&,
                                                          const DensityForwardArgs<float>&,
                                                          cudaStream_t);
extern template cudaError_t launch_density_forward<double>(const DeviceProgram&,
                                                           const DeviceReadout&,
                                                           const DensityForwardArgs<double>&,
                                                           cudaStream_t);
extern template cudaError_t launch_density_adjoint<float>(const DeviceProgram&,
                                                          const DeviceReadout&,
                                                          const DensityAdjointArgs<float>&,
                                                          cudaStream_t);
extern template cudaError_t launch_density_adjoint<double>(const DeviceProgram&,
                                                           const DeviceReadout&,
                                                           const DensityAdjointArgs<double>&,
                                                           cudaStream_t);
extern template cudaError_t launch_density_parameter_shift<float>(const DeviceProgram&,
                                                                  const DeviceReadout&,
                                                                  const DensityAdjointArgs<float>&,
                                                                  cudaStream_t);
extern template cudaError_t launch_density_parameter_shift<double>(
    const DeviceProgram&, const DeviceReadout&, const DensityAdjointArgs<double>&, cudaStream_t);

}  // namespace qmoe::cuda
