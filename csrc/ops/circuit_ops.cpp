// The qmoe operator library: schemas (the one place they are written), the
// CPU kernels, the Meta kernels and the instruction-set controls.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <memory>
#include <stdexcept>

#include "circuit_call.h"
#include "core/density_matrix.h"
#include "core/simulator_cache.h"
#include "core/statevector.h"

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

template <class Real>
std::shared_ptr<const core::StatevectorSimulator<Real>> make_simulator(
    const CircuitCall& call, const at::Tensor& weights, c10::ArrayRef<double> constants,
    c10::IntArrayRef z_masks) {
  return core::shared_simulator<Real>(call.program, weights.const_data_ptr<Real>(),
                                      weights.size(0), constants.data(),
                                      static_cast<int64_t>(constants.size()), z_masks.data(),
                                      static_cast<int64_t>(z_masks.size()), call.probs);
}

template <class Real>
std::unique_ptr<core::DensityMatrixSimulator<Real>> make_density_simulator(const char* op_name,
                                                          const CircuitCall& call,
                                                          const at::Tensor& weights,
                                                          c10::ArrayRef<double> constants,
                                                          c10::IntArrayRef z_masks,
                                                          const core::BatchView<Real>& batch) {
  try {
    auto simulator = std::make_unique<core::DensityMatrixSimulator<Real>>(
        call.program, weights.const_data_ptr<Real>(), weights.size(0), constants.data(),
        z_masks.data(), static_cast<int64_t>(z_masks.size()), call.probs);
    simulator->check_batch(batch);
    return simulator;
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
  }
}

template <class Real>
void density_forward(const char* op_name, const CircuitCall& call, const at::Tensor& inputs,
                     const at::Tensor& weights, const at::Tensor& initial_state,
                     c10::ArrayRef<double> constants, c10::IntArrayRef z_masks, at::Tensor& out) {
  const auto batch = batch_view<Real>(call, inputs, initial_state);
  const auto owned =
      make_density_simulator<Real>(op_name, call, weights, constants, z_masks, batch);
  const auto& simulator = *owned;
  Real* out_data = out.mutable_data_ptr<Real>();
  at::parallel_for(0, simulator.n_chunks(batch.batch_size), 1, [&](int64_t begin, int64_t end) {
    simulator.forward(batch, begin, end, out_data);
  });
}

template <class Real>
void density_backward(const char* op_name, const CircuitCall& call, const at::Tensor& grad_out,
                      const at::Tensor& inputs, const at::Tensor& weights,
                      const at::Tensor& initial_state, c10::ArrayRef<double> constants,
                      c10::IntArrayRef z_masks, const std::string& diff_method,
                      std::array<bool, 3> wanted, at::Tensor& grad_inputs,
                      at::Tensor& grad_weights, at::Tensor& grad_state) {
  const auto batch = batch_view<Real>(call, inputs, initial_state);
  const auto owned =
      make_density_simulator<Real>(op_name, call, weights, constants, z_masks, batch);
  const auto& simulator = *owned;
  const auto method = core::parse_diff_method(diff_method);
  try {
    simulator.check_gradients(method, wanted[0], wanted[1]);
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
  }
  const int64_t n_chunks = simulator.n_chunks(batch.batch_size);
  at::Tensor weight_partials;
  typename core::DensityMatrixSimulator<Real>::Gradients gradients;
  if (wanted[0]) gradients.inputs = grad_inputs.mutable_data_ptr<Real>();
  if (wanted[1]) {
    weight_partials = at::zeros({n_chunks, weights.size(0)}, inputs.options());
    gradients.weight_partials = weight_partials.mutable_data_ptr<Real>();
  }
  if (wanted[2]) gradients.state = static_cast<Real*>(grad_state.mutable_data_ptr());
  const Real* grad_out_data = grad_out.const_data_ptr<Real>();
  at::parallel_for(0, n_chunks, 1, [&](int64_t begin, int64_t end) {
    simulator.backward(method, batch, grad_out_data, begin, end, gradients);
  });
  if (wanted[1]) {
    simulator.reduce_weight_partials(weight_partials.const_data_ptr<Real>(), n_chunks,
                                     grad_weights.mutable_data_ptr<Real>());
  }
}

at::Tensor contiguous_state(const std::optional<at::Tensor>& initial_state) {
  return initial_state.has_value() ? initial_state->contiguous() : at::Tensor();
}

// The readout, and with keep_state each sample's final state ([batch, 2**n, 2]).
std::tuple<at::Tensor, at::Tensor> forward_cpu(
    const char* op_name, const at::Tensor& inputs_arg, const at::Tensor& weights_arg,
    const std::optional<at::Tensor>& initial_state_arg, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    const std::string& diff_method, bool keep_state) {
  const CircuitCall call = describe_call(op_name, inputs_arg, weights_arg, initial_state_arg,
                                         program, constants, n_qubits, z_masks, probs, diff_method);
  const at::Tensor inputs = inputs_arg.contiguous();
  const at::Tensor weights = weights_arg.contiguous();
  const at::Tensor initial_state = contiguous_state(initial_state_arg);
  const int64_t batch_size = call.batch.expect_int();
  TORCH_CHECK_VALUE(!(keep_state && call.density_matrix), op_name,
                    ": keep_state keeps statevectors; a program with noise channels runs on the "
                    "density-matrix engine, which keeps none");
  at::Tensor out = at::empty({batch_size, call.output_width}, inputs.options());
  at::Tensor state = keep_state ? at::empty({batch_size, int64_t{1} << n_qubits, 2},
                                            inputs.options())
                                : at::empty({0}, inputs.options());
  if (batch_size == 0) return {out, state};
  if (call.density_matrix) {
    AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_density_matrix", [&] {
      density_forward<scalar_t>(op_name, call, inputs, weights, initial_state, constants,
                                z_masks, out);
    });
    return {out, state};
  }
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_circuit", [&] {
    const auto shared = make_simulator<scalar_t>(call, weights, constants, z_masks);
    const auto& simulator = *shared;
    const auto batch = batch_view<scalar_t>(call, inputs, initial_state);
    scalar_t* out_data = out.mutable_data_ptr<scalar_t>();
    scalar_t* state_data = keep_state ? state.mutable_data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, simulator.n_chunks(batch_size), 1, [&](int64_t begin, int64_t end) {
      simulator.forward(batch, begin, end, out_data, state_data);
    });
  });
  return {out, state};
}

std::tuple<at::Tensor, at::Tensor> circuit_forward_cpu(
    const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method, bool keep_state) {
  return forward_cpu("qmoe.circuit_forward", inputs, weights, initial_state, program, constants,
                     n_qubits, z_masks, probs, std::string(diff_method), keep_state);
}

at::Tensor expval_cpu(const at::Tensor& inputs, const at::Tensor& weights,
                      const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                      c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks,
                      c10::string_view diff_method) {
  return std::get<0>(forward_cpu("qmoe.expval", inputs, weights, initial_state, program,
                                 constants, n_qubits, z_masks, false, std::string(diff_method),
                                 false));
}

at::Tensor probs_cpu(const at::Tensor& inputs, const at::Tensor& weights,
                     const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                     c10::ArrayRef<double> constants, int64_t n_qubits,
                     c10::string_view diff_method) {
  return std::get<0>(forward_cpu("qmoe.probs", inputs, weights, initial_state, program, constants,
                                 n_qubits, {}, true, std::string(diff_method), false));
}

// A forward's kept final states, checked; undefined when not given (or empty).
at::Tensor check_final_state(const std::optional<at::Tensor>& final_state,
                             const at::Tensor& inputs, int64_t batch_size, int64_t n_qubits) {
  if (!final_state.has_value() || final_state->numel() == 0) return at::Tensor();
  const int64_t dim = int64_t{1} << n_qubits;
  TORCH_CHECK_VALUE(final_state->scalar_type() == inputs.scalar_type() &&
                        final_state->dim() == 3 && final_state->size(0) == batch_size &&
                        final_state->size(1) == dim && final_state->size(2) == 2,
                    "qmoe.circuit_backward: final_state must be ", inputs.scalar_type(), " [",
                    batch_size, ", ", dim, ", 2] (from qmoe.circuit_forward with keep_state), got ",
                    final_state->scalar_type(), " ", final_state->sizes());
  return final_state->contiguous();
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
  const int64_t batch_size = call.batch.expect_int();
  TORCH_CHECK_VALUE(grad_out_arg.scalar_type() == inputs_arg.scalar_type() &&
                        grad_out_arg.dim() == 2 && grad_out_arg.size(0) == batch_size &&
                        grad_out_arg.size(1) == call.output_width,
                    op_name, ": grad_out must be ", inputs_arg.scalar_type(), " [", batch_size,
                    ", ", call.output_width, "], got ", grad_out_arg.scalar_type(), " ",
                    grad_out_arg.sizes());
  const at::Tensor grad_out = grad_out_arg.contiguous();
  const at::Tensor inputs = inputs_arg.contiguous();
  const at::Tensor weights = weights_arg.contiguous();
  const at::Tensor initial_state = contiguous_state(initial_state_arg);
  const at::Tensor final_state = check_final_state(final_state_arg, inputs, batch_size, n_qubits);

  at::Tensor grad_inputs = at::zeros_like(inputs);
  at::Tensor grad_weights = at::zeros_like(weights);
  at::Tensor grad_state = initial_state.defined() ? at::zeros_like(initial_state)
                                                  : at::empty({0}, inputs.options());
  if (batch_size == 0) return {grad_inputs, grad_weights, grad_state};
  const bool want_state = output_mask[2] && initial_state.defined();
  if (call.density_matrix) {
    AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_density_matrix", [&] {
      density_backward<scalar_t>(op_name, call, grad_out, inputs, weights, initial_state,
                                 constants, z_masks, diff_method,
                                 {output_mask[0], output_mask[1], want_state}, grad_inputs,
                                 grad_weights, grad_state);
    });
    return {grad_inputs, grad_weights, grad_state};
  }

  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "qmoe_circuit", [&] {
    const auto shared = make_simulator<scalar_t>(call, weights, constants, z_masks);
    const auto& simulator = *shared;
    const auto batch = batch_view<scalar_t>(call, inputs, initial_state);
    const int64_t n_chunks = simulator.n_chunks(batch_size);
    at::Tensor weight_partials;
    typename core::StatevectorSimulator<scalar_t>::Gradients gradients;
    if (output_mask[0]) gradients.inputs = grad_inputs.mutable_data_ptr<scalar_t>();
    if (output_mask[1]) {
      weight_partials = at::zeros({n_chunks, weights.size(0)}, inputs.options());
      gradients.weight_partials = weight_partials.mutable_data_ptr<scalar_t>();
    }
    if (want_state) gradients.state = static_cast<scalar_t*>(grad_state.mutable_data_ptr());
    const auto method = core::parse_diff_method(diff_method);
    const scalar_t* grad_out_data = grad_out.const_data_ptr<scalar_t>();
    const scalar_t* saved_state =
        final_state.defined() ? final_state.const_data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, n_chunks, 1, [&](int64_t begin, int64_t end) {
      simulator.backward(method, batch, grad_out_data, begin, end, gradients, saved_state);
    });
    if (output_mask[1]) {
      simulator.reduce_weight_partials(weight_partials.const_data_ptr<scalar_t>(), n_chunks,
                                       grad_weights.mutable_data_ptr<scalar_t>());
    }
  });
  return {grad_inputs, grad_weights, grad_state};
}

// Meta: shapes and validation only, so torch.compile and FakeTensor can trace.
at::Tensor expval_meta(const at::Tensor& inputs, const at::Tensor& weights,
                       const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                       c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks,
                       c10::string_view diff_method) {
  const CircuitCall call =
      describe_call("qmoe.expval", inputs, weights, initial_state, program, constants, n_qubits,
                    z_masks, false, std::string(diff_method));
  return at::empty_symint({call.batch, c10::SymInt(call.output_width)}, inputs.options());
}

at::Tensor probs_meta(const at::Tensor& inputs, const at::Tensor& weights,
                      const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                      c10::ArrayRef<double> constants, int64_t n_qubits,
                      c10::string_view diff_method) {
  const CircuitCall call = describe_call("qmoe.probs", inputs, weights, initial_state, program,
                                         constants, n_qubits, {}, true, std::string(diff_method));
  return at::empty_symint({call.batch, c10::SymInt(call.output_width)}, inputs.options());
}

std::tuple<at::Tensor, at::Tensor> circuit_forward_meta(
    const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method, bool keep_state) {
  const CircuitCall call =
      describe_call("qmoe.circuit_forward", inputs, weights, initial_state, program, constants,
                    n_qubits, z_masks, probs, std::string(diff_method));
  TORCH_CHECK_VALUE(!(keep_state && call.density_matrix), "qmoe.circuit_forward: keep_state "
                    "keeps statevectors; a program with noise channels runs on the "
                    "density-matrix engine, which keeps none");
  at::Tensor out = at::empty_symint({call.batch, c10::SymInt(call.output_width)}, inputs.options());
  at::Tensor state =
      keep_state ? at::empty_symint({call.batch, c10::SymInt(int64_t{1} << n_qubits), c10::SymInt(2)},
                                    inputs.options())
                 : at::empty({0}, inputs.options());
  return {out, state};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_meta(
    const at::Tensor& grad_out, const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method, std::array<bool, 3> output_mask,
    const std::optional<at::Tensor>& final_state) {
  describe_call("qmoe.circuit_backward", inputs, weights, initial_state, program, constants,
                n_qubits, z_masks, probs, std::string(diff_method));
  at::Tensor grad_state = initial_state.has_value() ? at::empty_like(*initial_state)
                                                    : at::empty({0}, inputs.options());
  return {at::empty_like(inputs), at::empty_like(weights), grad_state};
}

std::string active_isa() { return core::active_kernels().name; }

void set_isa(c10::string_view name) {
  try {
    core::select_kernels(std::string(name));
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, "qmoe.set_isa: ", error.what());
  }
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> names;
  for (const core::IsaKernels* kernels : core::supported_kernels()) names.push_back(kernels->name);
  return names;
}

}  // namespace

TORCH_LIBRARY(qmoe, m) {
  m.def(
      "expval(Tensor inputs, Tensor weights, Tensor? initial_state, int[] program, "
      "float[] constants, int n_qubits, int[] z_masks, str diff_method=\"adjoint\") -> Tensor");
  m.def(
      "probs(Tensor inputs, Tensor weights, Tensor? initial_state, int[] program, "
      "float[] constants, int n_qubits, str diff_method=\"adjoint\") -> Tensor");
  // The pair autograd uses: the forward may keep each sample's final state
  // ([batch, 2**n, 2]), which the adjoint backward then takes instead of running
  // the circuit again.
  m.def(
      "circuit_forward(Tensor inputs, Tensor weights, Tensor? initial_state, int[] program, "
      "float[] constants, int n_qubits, int[] z_masks, bool probs, str diff_method, "
      "bool keep_state) -> (Tensor, Tensor)");
  m.def(
      "circuit_backward(Tensor grad_out, Tensor inputs, Tensor weights, Tensor? initial_state, "
      "int[] program, float[] constants, int n_qubits, int[] z_masks, bool probs, "
      "str diff_method, bool[3] output_mask, Tensor? final_state=None) -> (Tensor, Tensor, "
      "Tensor)");
  m.def("active_isa() -> str", &active_isa);
  m.def("set_isa(str name) -> ()", &set_isa);
  m.def("supported_isas() -> str[]", &supported_isas);
}

TORCH_LIBRARY_IMPL(qmoe, CPU, m) {
  m.impl("expval", &expval_cpu);
  m.impl("probs", &probs_cpu);
  m.impl("circuit_forward", &circuit_forward_cpu);
  m.impl("circuit_backward", &backward_cpu);
}

TORCH_LIBRARY_IMPL(qmoe, Meta, m) {
  m.impl("expval", &expval_meta);
  m.impl("probs", &probs_meta);
  m.impl("circuit_forward", &circuit_forward_meta);
  m.impl("circuit_backward", &backward_meta);
}

}  // namespace qmoe::ops
