// CUDA kernels of the circuit operators: the call described and checked once by the
// shared validation (csrc/ops/circuit_call.h), the program and readout packed by value
// into the launch (cuda/kernels/device_program.h), the batch run by one launch per
// direction on torch's current stream, workspaces from torch's caching allocator.
// No host synchronisation, no cudaMalloc, no copy of device data to the host: the ops
// can be captured in a CUDA graph and traced by torch.compile.
//
// Built into the operator library when torch has CUDA and nvcc is found (CMakeLists.txt);
// otherwise compiled only, so that a compile error shows on every machine.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <stdexcept>
#include <string>

#include "qmoe/core/program/readout.h"
#include "qmoe/cuda/kernels/density_kernels.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/statevector_block_kernels.h"
#include "qmoe/cuda/kernels/statevector_kernels.h"
#include "qmoe/cuda/kernels/statevector_lane_kernels.h"
#include "qmoe/cuda/kernels/weight_reduction.cuh"
#include "qmoe/cuda/ops/density_dispatch_cuda.h"
#include "qmoe/cuda/ops/launch_support_cuda.h"
#include "qmoe/ops/circuit_call.h"
#include "qmoe/ops/forward_entries.h"

namespace qmoe::ops {
namespace {

// What the CUDA backend runs today: the statevector engine (adjoint or parameter-shift
// gradients) up to the CPU engine's limit (a thread per sample to
// kMaxOpThreadPerSampleQubits, a lane group per sample to kMaxOpLanePerSampleQubits, a
// block per sample above: statevector_decomposition in statevector_block_kernels.h),
// and the density-matrix engine (density_dispatch_cuda.h) up to kMaxDensityQubits.
// Anything else is refused by name, never run on another engine in silence.
void check_cuda_call(const char* op_name, const CircuitCall& call) {
  if (call.engine == core::EngineKind::kDensityMatrix) {
    TORCH_CHECK_NOT_IMPLEMENTED(call.program.n_qubits <= cuda::kMaxDensityQubits, op_name,
                                ": programs with noise channels run on CUDA up to ",
                                cuda::kMaxDensityQubits,
                                " qubits (the density-matrix kernels), "
                                "got n_qubits=",
                                call.program.n_qubits, "; move the tensors to the CPU");
    return;
  }
  TORCH_CHECK_NOT_IMPLEMENTED(call.program.n_qubits <= cuda::kMaxBlockPerSampleQubits, op_name,
                              ": n_qubits=", call.program.n_qubits,
                              " on CUDA: the kernels hold up to ", cuda::kMaxBlockPerSampleQubits,
                              " qubits");
}

cuda::StatevectorDecomposition decomposition_of(const CircuitCall& call) {
  return cuda::statevector_decomposition(call.program.n_qubits);
}

// A block-per-sample launch: its layout on the current device and its workspace, from
// torch's allocator. The workspace holds the states that do not fit in shared memory
// (n >= 14: all of them), one slot per block; the blocks stride over the batch, so
// fewer blocks take less memory. Planned to use at most half of what the device has
// free (cudaMemGetInfo, plus what torch's allocator holds unused), or all of it for a
// single slot; a state larger than that is an OutOfMemoryError naming n_qubits, the
// bytes it needs and the bytes free.
struct BlockLaunch {
  cuda::BlockLayout layout;
  at::Tensor workspace;
  unsigned char* workspace_data = nullptr;
};

template <class Real>
BlockLaunch plan_block_launch(const char* op_name, const CircuitCall& call, bool backward,
                              const at::Tensor& like) {
  BlockLaunch launch;
  check_launch(op_name,
               cuda::plan_statevector_block_launch<Real>(call.program.n_qubits, backward,
                                                         call.batch.expect_int(), &launch.layout));
  if (launch.layout.slot_bytes == 0) return launch;
  size_t device_free = 0, device_total = 0;
  // Relaxed capture mode for this thread around the query, restored after: inside a
  // torch.cuda.graph capture (global mode) the runtime may refuse calls it deems
  // unsafe, and this one neither enqueues nor synchronises anything.
  cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeRelaxed;
  check_launch(op_name, cudaThreadExchangeStreamCaptureMode(&capture_mode));
  const cudaError_t memory_status = cudaMemGetInfo(&device_free, &device_total);
  check_launch(op_name, cudaThreadExchangeStreamCaptureMode(&capture_mode));
  check_launch(op_name, memory_status);
  // Reserved by torch's caching allocator but not allocated: free to at::empty too
  // (index 0 of the stat arrays: the aggregate over pool kinds).
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(like.device().index());
  const int64_t cached = stats.reserved_bytes[0].current - stats.allocated_bytes[0].current;
  const int64_t free_bytes = static_cast<int64_t>(device_free) + (cached > 0 ? cached : 0);
  const int64_t budget = launch.layout.slot_bytes > free_bytes / 2 ? free_bytes : free_bytes / 2;
  try {
    cuda::fit_block_workspace(launch.layout, budget);
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_WITH(OutOfMemoryError, false, op_name, ": ", error.what(), " (", like.device(),
                     ", cudaMemGetInfo); use fewer qubits or run on the CPU");
  }
  launch.workspace =
      at::empty({cuda::block_workspace_bytes(launch.layout)}, like.options().dtype(at::kByte));
  launch.workspace_data = launch.workspace.mutable_data_ptr<uint8_t>();
  return launch;
}

// The by-value launch description; ValueError for a program over its capacity.
struct LaunchProgram {
  cuda::DeviceProgram program;
  cuda::DeviceReadout readout;
};

LaunchProgram launch_program(const char* op_name, const CircuitCall& call,
                             c10::ArrayRef<double> constants, c10::IntArrayRef z_masks) {
  try {
    LaunchProgram launch;
    launch.program = cuda::make_device_program(call.program, constants.data(),
                                               static_cast<int64_t>(constants.size()));
    launch.readout = launch_readout(call, z_masks);
    return launch;
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
  }
}

at::Tensor contiguous_state(const std::optional<at::Tensor>& initial_state) {
  return initial_state.has_value() ? initial_state->contiguous() : at::Tensor();
}

std::tuple<at::Tensor, at::Tensor> forward_cuda(const char* op_name, const at::Tensor& inputs_arg,
                                                const at::Tensor& weights_arg,
                                                const std::optional<at::Tensor>& initial_state_arg,
                                                c10::IntArrayRef program,
                                                c10::ArrayRef<double> constants, int64_t n_qubits,
                                                c10::IntArrayRef z_masks, bool probs,
                                                const std::string& diff_method, bool keep_state) {
  const CircuitCall call = describe_call(op_name, inputs_arg, weights_arg, initial_state_arg,
                                         program, constants, n_qubits, z_masks, probs, diff_method);
  check_keep_state(op_name, call, keep_state);
  check_cuda_call(op_name, call);
  const c10::cuda::CUDAGuard device_guard(inputs_arg.device());
  const at::Tensor inputs = inputs_arg.contiguous();
  const at::Tensor weights = weights_arg.contiguous();
  const at::Tensor initial_state = contiguous_state(initial_state_arg);
  if (call.engine == core::EngineKind::kDensityMatrix) {  // keep_state was refused above
    return {density_forward_cuda(op_name, call, inputs, weights, initial_state, constants, z_masks),
            at::empty({0}, inputs.options())};
  }
  const int64_t batch_size = call.batch.expect_int();
  at::Tensor out = at::empty({batch_size, call.output_width}, inputs.options());
  at::Tensor state = keep_state
                         ? at::empty({batch_size, int64_t{1} << n_qubits, 2}, inputs.options())
                         : at::empty({0}, inputs.options());
  if (batch_size == 0) return {out, state};
  const LaunchProgram launch = launch_program(op_name, call, constants, z_masks);
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_circuit_forward_cuda", [&] {
    cuda::StatevectorForwardArgs<scalar_t> args{};
    args.batch = sample_batch<scalar_t>(call, inputs, weights, initial_state);
    args.out = out.mutable_data_ptr<scalar_t>();
    args.final_state = keep_state ? state.mutable_data_ptr<scalar_t>() : nullptr;
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    const cuda::StatevectorDecomposition decomposition = decomposition_of(call);
    if (decomposition == cuda::StatevectorDecomposition::kBlockPerSample) {
      const BlockLaunch block = plan_block_launch<scalar_t>(op_name, call, false, inputs);
      check_launch(op_name, cuda::launch_statevector_block_forward<scalar_t>(
                                block.layout, block.workspace_data, launch.program, launch.readout,
                                args, stream));
    } else if (decomposition == cuda::StatevectorDecomposition::kLanePerSample) {
      check_launch(op_name, cuda::launch_statevector_lane_forward<scalar_t>(
                                launch.program, launch.readout, args, stream));
    } else {
      check_launch(op_name, cuda::launch_statevector_forward<scalar_t>(
                                launch.program, launch.readout, args, stream));
    }
  });
  return {out, state};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_out_arg, const at::Tensor& inputs_arg, const at::Tensor& weights_arg,
    const std::optional<at::Tensor>& initial_state_arg, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method_arg, std::array<bool, 3> output_mask,
    const std::optional<at::Tensor>& final_state_arg) {
  const std::string diff_method(diff_method_arg);
  const char* op_name = "qmoe.circuit_backward";
  const CircuitCall call = describe_call(op_name, inputs_arg, weights_arg, initial_state_arg,
                                         program, constants, n_qubits, z_masks, probs, diff_method);
  check_grad_out(op_name, call, inputs_arg, grad_out_arg);
  check_cuda_call(op_name, call);
  TORCH_CHECK_VALUE(grad_out_arg.device() == inputs_arg.device(), op_name,
                    ": grad_out must be on the device of inputs (", inputs_arg.device(), "), got ",
                    grad_out_arg.device());
  const c10::cuda::CUDAGuard device_guard(inputs_arg.device());
  const int64_t batch_size = call.batch.expect_int();
  const at::Tensor grad_out = grad_out_arg.contiguous();
  const at::Tensor inputs = inputs_arg.contiguous();
  const at::Tensor weights = weights_arg.contiguous();
  const at::Tensor initial_state = contiguous_state(initial_state_arg);
  const at::Tensor final_state = check_final_state(op_name, call, final_state_arg, inputs);
  TORCH_CHECK_VALUE(!final_state.defined() || final_state.device() == inputs.device(), op_name,
                    ": final_state must be on the device of inputs (", inputs.device(), "), got ",
                    final_state.device());
  if (call.engine == core::EngineKind::kDensityMatrix) {  // final_state was refused above
    return density_backward_cuda(op_name, call, grad_out, inputs, weights, initial_state, constants,
                                 z_masks, diff_method, output_mask);
  }

  at::Tensor grad_inputs = at::zeros_like(inputs);
  at::Tensor grad_weights = at::zeros_like(weights);
  at::Tensor grad_state =
      initial_state.defined() ? at::zeros_like(initial_state) : at::empty({0}, inputs.options());
  if (batch_size == 0) return {grad_inputs, grad_weights, grad_state};
  const bool want_state = output_mask[2] && initial_state.defined();
  const bool want_weights = output_mask[1] && weights.size(0) > 0;
  const bool parameter_shift =
      core::parse_diff_method(diff_method) == core::DiffMethod::kParameterShift;
  const LaunchProgram launch = launch_program(op_name, call, constants, z_masks);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_circuit_backward_cuda", [&] {
    // Each sample writes its own row of weight partials; a second, deterministic pass
    // sums them in a fixed order (no float atomics: the same bits on every run).
    at::Tensor weight_partials =
        want_weights ? at::empty({batch_size, weights.size(0)}, inputs.options()) : at::Tensor();
    cuda::StatevectorAdjointArgs<scalar_t> args{};
    args.batch = sample_batch<scalar_t>(call, inputs, weights, initial_state);
    args.grad_out = grad_out.const_data_ptr<scalar_t>();
    args.saved_state = final_state.defined() ? final_state.const_data_ptr<scalar_t>() : nullptr;
    args.grad_inputs = output_mask[0] ? grad_inputs.mutable_data_ptr<scalar_t>() : nullptr;
    args.weight_partials = want_weights ? weight_partials.mutable_data_ptr<scalar_t>() : nullptr;
    args.grad_state = want_state ? static_cast<scalar_t*>(grad_state.mutable_data_ptr()) : nullptr;
    // The same arguments either way: parameter shift takes the initial-state gradient
    // from one adjoint sweep (amplitudes have no shift rule).
    const cuda::StatevectorDecomposition decomposition = decomposition_of(call);
    if (decomposition == cuda::StatevectorDecomposition::kBlockPerSample) {
      const BlockLaunch block = plan_block_launch<scalar_t>(op_name, call, true, inputs);
      check_launch(op_name, parameter_shift
                                ? cuda::launch_statevector_block_parameter_shift<scalar_t>(
                                      block.layout, block.workspace_data, launch.program,
                                      launch.readout, args, stream)
                                : cuda::launch_statevector_block_adjoint<scalar_t>(
                                      block.layout, block.workspace_data, launch.program,
                                      launch.readout, args, stream));
    } else if (decomposition == cuda::StatevectorDecomposition::kLanePerSample) {
      check_launch(op_name, parameter_shift
                                ? cuda::launch_statevector_lane_parameter_shift<scalar_t>(
                                      launch.program, launch.readout, args, stream)
                                : cuda::launch_statevector_lane_adjoint<scalar_t>(
                                      launch.program, launch.readout, args, stream));
    } else {
      check_launch(op_name, parameter_shift ? cuda::launch_statevector_parameter_shift<scalar_t>(
                                                  launch.program, launch.readout, args, stream)
                                            : cuda::launch_statevector_adjoint<scalar_t>(
                                                  launch.program, launch.readout, args, stream));
    }
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

}  // namespace

TORCH_LIBRARY_IMPL(qmoe, CUDA, m) {
  m.impl("expval", &expval_entry<&forward_cuda>);
  m.impl("probs", &probs_entry<&forward_cuda>);
  m.impl("circuit_forward", &circuit_forward_entry<&forward_cuda>);
  m.impl("circuit_backward", &backward_cuda);
}

}  // namespace qmoe::ops
