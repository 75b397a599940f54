// CPU kernels of the circuit operators: the call described and checked once
// (circuit_call.h), its engine taken from the CPU backend (core/cpu/cpu_engines.h),
// and the batch run by the engine driver (core/engine/batch_driver.h) on ATen's
// threads. Nothing here depends on which engine runs.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <memory>
#include <stdexcept>

#include "qmoe/core/cpu/cpu_engines.h"
#include "qmoe/core/engine/batch_driver.h"
#include "qmoe/ops/circuit_call.h"
#include "qmoe/ops/forward_entries.h"

namespace qmoe::ops {
namespace {

template <class Real>
core::BatchView<Real> batch_view(const CircuitCall& call, const at::Tensor& inputs,
                                 const at::Tensor& initial_state) {
  core::BatchView<Real> batch;
  batch.batch_size = call.batch.expect_int();
  batch.inputs = inputs.const_data_ptr<Real>();
  batch.n_input_columns = inputs.size(1);
  if (initial_state.defined()) {
    batch.initial_state = static_cast<const Real*>(initial_state.const_data_ptr());
    batch.initial_state_is_complex = call.initial_state_is_complex;
  }
  return batch;
}

// The one place the CPU operators get an engine: the kind the call needs, for the
// active instruction set, checked against the batch's data.
template <class Real>
std::shared_ptr<const core::CircuitEngine<Real>> cpu_engine_for(
    const char* op_name, const CircuitCall& call, const at::Tensor& weights,
    c10::ArrayRef<double> constants, c10::IntArrayRef z_masks, const core::BatchView<Real>& batch) {
  core::EngineArguments<Real> arguments;
  arguments.program = &call.program;
  arguments.weights = weights.const_data_ptr<Real>();
  arguments.n_weights = weights.size(0);
  arguments.constants = constants.data();
  arguments.n_constants = static_cast<int64_t>(constants.size());
  arguments.z_masks = z_masks.data();
  arguments.n_masks = static_cast<int64_t>(z_masks.size());
  arguments.probs = call.probs;
  try {
    auto engine = core::cpu_engine<Real>(call.engine, arguments);
    engine->check_batch(batch);
    return engine;
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
  }
}

// Chunks of the batch on ATen's intra-op threads.
struct AtenParallelFor {
  template <class Body>
  void operator()(int64_t n_chunks, const Body& body) const {
    at::parallel_for(0, n_chunks, 1, body);
  }
};

at::Tensor contiguous_state(const std::optional<at::Tensor>& initial_state) {
  return initial_state.has_value() ? initial_state->contiguous() : at::Tensor();
}

// The readout, and with keep_state each sample's final state ([batch, 2**n, 2]).
std::tuple<at::Tensor, at::Tensor> forward_cpu(const char* op_name, const at::Tensor& inputs_arg,
                                               const at::Tensor& weights_arg,
                                               const std::optional<at::Tensor>& initial_state_arg,
                                               c10::IntArrayRef program,
                                               c10::ArrayRef<double> constants, int64_t n_qubits,
                                               c10::IntArrayRef z_masks, bool probs,
                                               const std::string& diff_method, bool keep_state) {
  const CircuitCall call = describe_call(op_name, inputs_arg, weights_arg, initial_state_arg,
                                         program, constants, n_qubits, z_masks, probs, diff_method);
  check_keep_state(op_name, call, keep_state);
  const at::Tensor inputs = inputs_arg.contiguous();
  const at::Tensor weights = weights_arg.contiguous();
  const at::Tensor initial_state = contiguous_state(initial_state_arg);
  const int64_t batch_size = call.batch.expect_int();
  at::Tensor out = at::empty({batch_size, call.output_width}, inputs.options());
  at::Tensor state = keep_state
                         ? at::empty({batch_size, int64_t{1} << n_qubits, 2}, inputs.options())
                         : at::empty({0}, inputs.options());
  if (batch_size == 0) return {out, state};
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_circuit_forward", [&] {
    const auto batch = batch_view<scalar_t>(call, inputs, initial_state);
    const auto engine = cpu_engine_for<scalar_t>(op_name, call, weights, constants, z_masks, batch);
    core::run_forward(*engine, batch, out.mutable_data_ptr<scalar_t>(),
                      keep_state ? state.mutable_data_ptr<scalar_t>() : nullptr, AtenParallelFor{});
  });
  return {out, state};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(
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
  const int64_t batch_size = call.batch.expect_int();
  const at::Tensor grad_out = grad_out_arg.contiguous();
  const at::Tensor inputs = inputs_arg.contiguous();
  const at::Tensor weights = weights_arg.contiguous();
  const at::Tensor initial_state = contiguous_state(initial_state_arg);
  const at::Tensor final_state = check_final_state(op_name, call, final_state_arg, inputs);

  at::Tensor grad_inputs = at::zeros_like(inputs);
  at::Tensor grad_weights = at::zeros_like(weights);
  at::Tensor grad_state =
      initial_state.defined() ? at::zeros_like(initial_state) : at::empty({0}, inputs.options());
  if (batch_size == 0) return {grad_inputs, grad_weights, grad_state};
  const bool want_state = output_mask[2] && initial_state.defined();
  const auto method = core::parse_diff_method(diff_method);
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_circuit_backward", [&] {
    const auto batch = batch_view<scalar_t>(call, inputs, initial_state);
    const auto engine = cpu_engine_for<scalar_t>(op_name, call, weights, constants, z_masks, batch);
    try {
      engine->check_gradients(method, output_mask[0], output_mask[1]);
    } catch (const std::invalid_argument& error) {
      TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
    }
    core::BatchGradients<scalar_t> gradients;
    if (output_mask[0]) gradients.inputs = grad_inputs.mutable_data_ptr<scalar_t>();
    if (output_mask[1]) gradients.weights = grad_weights.mutable_data_ptr<scalar_t>();
    if (want_state) gradients.state = static_cast<scalar_t*>(grad_state.mutable_data_ptr());
    core::run_backward(*engine, method, batch, grad_out.const_data_ptr<scalar_t>(), gradients,
                       final_state.defined() ? final_state.const_data_ptr<scalar_t>() : nullptr,
                       AtenParallelFor{});
  });
  return {grad_inputs, grad_weights, grad_state};
}

}  // namespace

TORCH_LIBRARY_IMPL(qmoe, CPU, m) {
  m.impl("expval", &expval_entry<&forward_cpu>);
  m.impl("probs", &probs_entry<&forward_cpu>);
  m.impl("circuit_forward", &circuit_forward_entry<&forward_cpu>);
  m.impl("circuit_backward", &backward_cpu);
}

}  // namespace qmoe::ops
