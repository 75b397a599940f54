#include "qmoe/cuda/ops/density_dispatch_cuda.h"

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAStream.h>

#include <stdexcept>
#include <vector>

#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/program/readout.h"
#include "qmoe/cuda/kernels/density_kernels.h"
#include "qmoe/cuda/kernels/density_program.h"
#include "qmoe/cuda/kernels/statevector_kernels.h"
#include "qmoe/cuda/kernels/weight_reduction.cuh"
#include "qmoe/cuda/ops/launch_support_cuda.h"

namespace qmoe::ops {
namespace {

struct DensityLaunch {
  cuda::DeviceProgram program;
  cuda::DeviceReadout readout;
};

// The by-value launch description; ValueError for a program over its capacity or a
// constant channel probability outside [0, 1].
DensityLaunch density_launch(const char* op_name, const CircuitCall& call,
                             c10::ArrayRef<double> constants, c10::IntArrayRef z_masks) {
  try {
    DensityLaunch launch;
    launch.program = cuda::make_density_device_program(call.program, constants.data(),
                                                       static_cast<int64_t>(constants.size()));
    launch.readout = launch_readout(call, z_masks);
    return launch;
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
  }
}

}  // namespace

at::Tensor density_forward_cuda(const char* op_name, const CircuitCall& call,
                                const at::Tensor& inputs, const at::Tensor& weights,
                                const at::Tensor& initial_state, c10::ArrayRef<double> constants,
                                c10::IntArrayRef z_masks) {
  const int64_t batch_size = call.batch.expect_int();
  at::Tensor out = at::empty({batch_size, call.output_width}, inputs.options());
  const DensityLaunch launch = density_launch(op_name, call, constants, z_masks);
  if (batch_size == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_density_forward_cuda", [&] {
    cuda::DensityForwardArgs<scalar_t> args{};
    args.batch = sample_batch<scalar_t>(call, inputs, weights, initial_state);
    args.out = out.mutable_data_ptr<scalar_t>();
    check_launch(op_name,
                 cuda::launch_density_forward<scalar_t>(launch.program, launch.readout, args,
                                                        c10::cuda::getCurrentCUDAStream()));
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> density_backward_cuda(
    const char* op_name, const CircuitCall& call, const at::Tensor& grad_out,
    const at::Tensor& inputs, const at::Tensor& weights, const at::Tensor& initial_state,
    c10::ArrayRef<double> constants, c10::IntArrayRef z_masks, const std::string& diff_method,
    std::array<bool, 3> output_mask) {
  const bool parameter_shift =
      core::parse_diff_method(diff_method) == core::DiffMethod::kParameterShift;
  if (parameter_shift) {
    try {
      cuda::check_density_parameter_shift(call.program, output_mask[0], output_mask[1]);
    } catch (const std::invalid_argument& error) {
      TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
    }
  }
  const DensityLaunch launch = density_launch(op_name, call, constants, z_masks);
  const int64_t batch_size = call.batch.expect_int();
  at::Tensor grad_inputs = at::zeros_like(inputs);
  at::Tensor grad_weights = at::zeros_like(weights);
  at::Tensor grad_state =
      initial_state.defined() ? at::zeros_like(initial_state) : at::empty({0}, inputs.options());
  if (batch_size == 0) return {grad_inputs, grad_weights, grad_state};
  const bool want_state = output_mask[2] && initial_state.defined();
  const bool want_weights = output_mask[1] && weights.size(0) > 0;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_density_backward_cuda", [&] {
    // Each sample writes its own row of weight partials; the deterministic reduction
    // sums them in a fixed order (no float atomics: the same bits on every run).
    at::Tensor weight_partials =
        want_weights ? at::empty({batch_size, weights.size(0)}, inputs.options()) : at::Tensor();
    cuda::DensityAdjointArgs<scalar_t> args{};
    args.batch = sample_batch<scalar_t>(call, inputs, weights, initial_state);
    args.grad_out = grad_out.const_data_ptr<scalar_t>();
    args.grad_inputs = output_mask[0] ? grad_inputs.mutable_data_ptr<scalar_t>() : nullptr;
    args.weight_partials = want_weights ? weight_partials.mutable_data_ptr<scalar_t>() : nullptr;
    args.grad_state = want_state ? static_cast<scalar_t*>(grad_state.mutable_data_ptr()) : nullptr;
    check_launch(op_name, parameter_shift ? cuda::launch_density_parameter_shift<scalar_t>(
                                                launch.program, launch.readout, args, stream)
                                          : cuda::launch_density_adjoint<scalar_t>(
                                                launch.program, launch.readout, args, stream));
    if (want_weights) {
      at::Tensor workspace =
          at::empty({cuda::weight_reduction_workspace_length(batch_size, weights.size(0))},
                    inputs.options().dtype(at::kDouble));
      check_launch(op_name, cuda::launch_weight_reduction<scalar_t>(
                                weight_partials.const_data_ptr<scalar_t>(), batch_size,
                                weights.size(0), workspace.mutable_data_ptr<double>(),
                                grad_weights.mutable_data_ptr<scalar_t>(), stream));
    }
  });
  return {grad_inputs, grad_weights, grad_state};
}

}  // namespace qmoe::ops
