// Meta kernels of the circuit operators: shapes and validation only, so
// torch.compile, torch.export and FakeTensor can trace.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "qmoe/ops/circuit_call.h"

namespace qmoe::ops {
namespace {

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
  check_keep_state("qmoe.circuit_forward", call, keep_state);
  at::Tensor out = at::empty_symint({call.batch, c10::SymInt(call.output_width)}, inputs.options());
  at::Tensor state =
      keep_state
          ? at::empty_symint({call.batch, c10::SymInt(int64_t{1} << n_qubits), c10::SymInt(2)},
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
  at::Tensor grad_state =
      initial_state.has_value() ? at::empty_like(*initial_state) : at::empty({0}, inputs.options());
  return {at::empty_like(inputs), at::empty_like(weights), grad_state};
}

}  // namespace

TORCH_LIBRARY_IMPL(qmoe, Meta, m) {
  m.impl("expval", &expval_meta);
  m.impl("probs", &probs_meta);
  m.impl("circuit_forward", &circuit_forward_meta);
  m.impl("circuit_backward", &backward_meta);
}

}  // namespace qmoe::ops
