// Host-callable launchers of the thread-per-sample statevector kernels and of the
// deterministic weight reduction (statevector_kernels.cu). Each enqueues its kernels
// on `stream` and returns: no cudaMalloc, no copy, no synchronisation (workspaces
// come from the caller), so a sequence of them can be captured in a CUDA graph.
// They return the launch's cudaError_t (cudaGetLastError, which does not sync) and
// throw std::invalid_argument for a call no kernel can take.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"

namespace qmoe::cuda {

// The state buckets compiled (a kernel per MaxQubits and precision): a program runs
// in the smallest bucket that holds it.
constexpr int kThreadPerSampleBuckets[] = {4, 6, 8, 10};
constexpr int kMaxThreadPerSampleQubits = 10;
// Threads per block of the per-sample kernels.
constexpr int kSampleBlockSize = 128;
// Threads per block of the reduction (a thread per weight, striding).
constexpr int kReductionBlockSize = 256;

// Every argument of a launch travels in the 4 KB parameter space.
static_assert(sizeof(DeviceProgram) + sizeof(DeviceReadout) +
                      sizeof(StatevectorAdjointArgs<double>) <=
                  kKernelParameterLimit,
              "the statevector kernels' parameters exceed the 4 KB kernel-parameter limit");

// The bucket for n qubits; std::invalid_argument past kMaxThreadPerSampleQubits.
int thread_per_sample_bucket(int n_qubits);

// out[b, width] (and final_state[b] when args.final_state is set) for every sample.
template <class Real>
cudaError_t launch_statevector_forward(const DeviceProgram& program, const DeviceReadout& readout,
                                       const StatevectorForwardArgs<Real>& args,
                                       cudaStream_t stream);

// One adjoint sweep per sample: grad_inputs (+=), weight_partials rows, grad_state.
template <class Real>
cudaError_t launch_statevector_adjoint(const DeviceProgram& program, const DeviceReadout& readout,
                                       const StatevectorAdjointArgs<Real>& args,
                                       cudaStream_t stream);

// The parameter-shift rule per sample (statevector_shift_sample.cuh): two shifted
// runs of the circuit per target angle, grad_inputs (+=) and weight_partials rows
// as the adjoint gives them; grad_state from one adjoint sweep (from
// args.saved_state when set). The same arguments as the adjoint launch.
template <class Real>
cudaError_t launch_statevector_parameter_shift(const DeviceProgram& program,
                                               const DeviceReadout& readout,
                                               const StatevectorAdjointArgs<Real>& args,
                                               cudaStream_t stream);

// grad_weights[w] = sum over samples of weight_partials[b, w], deterministically.
// `workspace`: weight_reduction_workspace_length(batch_size, n_weights) doubles.
template <class Real>
cudaError_t launch_weight_reduction(const Real* weight_partials, int64_t batch_size,
                                    int64_t n_weights, double* workspace, Real* grad_weights,
                                    cudaStream_t stream);

extern template cudaError_t launch_statevector_forward<float>(const DeviceProgram&,
                                                              const DeviceReadout&,
                                                              const StatevectorForwardArgs<float>&,
                                                              cudaStream_t);
extern template cudaError_t launch_statevector_forward<double>(
    const DeviceProgram&, const DeviceReadout&, const StatevectorForwardArgs<double>&,
    cudaStream_t);
extern template cudaError_t launch_statevector_adjoint<float>(const DeviceProgram&,
                                                              const DeviceReadout&,
                                                              const StatevectorAdjointArgs<float>&,
                                                              cudaStream_t);
extern template cudaError_t launch_statevector_adjoint<double>(
    const DeviceProgram&, const DeviceReadout&, const StatevectorAdjointArgs<double>&,
    cudaStream_t);
extern template cudaError_t launch_statevector_parameter_shift<float>(
    const DeviceProgram&, const DeviceReadout&, const StatevectorAdjointArgs<float>&, cudaStream_t);
extern template cudaError_t launch_statevector_parameter_shift<double>(
    const DeviceProgram&, const DeviceReadout&, const StatevectorAdjointArgs<double>&,
    cudaStream_t);
extern template cudaError_t launch_weight_reduction<float>(const float*, int64_t, int64_t, double*,
                                                           float*, cudaStream_t);
extern template cudaError_t launch_weight_reduction<double>(const double*, int64_t, int64_t,
                                                            double*, double*, cudaStream_t);

}  // namespace qmoe::cuda
