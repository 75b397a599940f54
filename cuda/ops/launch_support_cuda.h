// What every CUDA operator entry does the same way before a launch: the readout packed
// by value, the batch's device pointers, and a failed launch turned into a c10::Error.
// Shared by the statevector entries (circuit_kernels_cuda.cpp) and the density-matrix
// ones (density_dispatch_cuda.cpp).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "qmoe/core/program/readout.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"
#include "qmoe/ops/circuit_call.h"

namespace qmoe::ops {

inline void check_launch(const char* op_name, cudaError_t status) {
  TORCH_CHECK(status == cudaSuccess, op_name, ": CUDA launch failed: ", cudaGetErrorString(status));
}

// The readout of the call by value: probabilities, or the Z masks mapped to basis-index
// bits. std::invalid_argument past the launch's mask capacity (the caller names the op).
inline cuda::DeviceReadout launch_readout(const CircuitCall& call, c10::IntArrayRef z_masks) {
  if (call.probs) return cuda::make_probs_readout();
  const std::vector<int64_t> masks = core::index_masks_from_wires(
      z_masks.data(), static_cast<int64_t>(z_masks.size()), call.program.n_qubits);
  return cuda::make_expval_readout(masks.data(), static_cast<int64_t>(masks.size()));
}

// The batch's tensors (contiguous, on the launch's device) as the kernels take them.
template <class Real>
cuda::SampleBatch<Real> sample_batch(const CircuitCall& call, const at::Tensor& inputs,
                                     const at::Tensor& weights, const at::Tensor& initial_state) {
  cuda::SampleBatch<Real> batch{};
  batch.batch_size = call.batch.expect_int();
  batch.inputs = inputs.const_data_ptr<Real>();
  batch.n_input_columns = inputs.size(1);
  batch.weights = weights.const_data_ptr<Real>();
  batch.n_weights = weights.size(0);
  batch.initial_state =
      initial_state.defined() ? static_cast<const Real*>(initial_state.const_data_ptr()) : nullptr;
  batch.initial_state_is_complex = call.initial_state_is_complex ? 1 : 0;
  return batch;
}

}  // namespace qmoe::ops
