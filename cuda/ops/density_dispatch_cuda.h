// The CUDA density-matrix engine behind the circuit operators: what
// circuit_kernels_cuda.cpp calls for a program with noise channels (call.engine ==
// kDensityMatrix) of up to cuda::kMaxDensityQubits qubits, after the shared validation
// (csrc/ops/circuit_call.h). One launch per direction on torch's current stream, plus
// the two-stage weight reduction; workspaces from torch's caching allocator; no host
// synchronisation and no copy of device data to the host (CUDA-graph safe).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <array>
#include <string>
#include <tuple>

#include "qmoe/ops/circuit_call.h"

namespace qmoe::ops {

// The readout [batch, output_width]. Tensors contiguous, on the current CUDA device;
// `initial_state` undefined for |0..0>.
at::Tensor density_forward_cuda(const char* op_name, const CircuitCall& call,
                                const at::Tensor& inputs, const at::Tensor& weights,
                                const at::Tensor& initial_state, c10::ArrayRef<double> constants,
                                c10::IntArrayRef z_masks);

// (grad_inputs, grad_weights, grad_state) as circuit_backward returns them; adjoint or
// parameter shift (rotation angles only: a channel probability's gradient by parameter
// shift is a ValueError, as on the CPU).
std::tuple<at::Tensor, at::Tensor, at::Tensor> density_backward_cuda(
    const char* op_name, const CircuitCall& call, const at::Tensor& grad_out,
    const at::Tensor& inputs, const at::Tensor& weights, const at::Tensor& initial_state,
    c10::ArrayRef<double> constants, c10::IntArrayRef z_masks, const std::string& diff_method,
    std::array<bool, 3> output_mask);

}  // namespace qmoe::ops
