// Autograd for the circuit operators, registered in C++ (Autograd key) so
// that LibTorch callers train too. Backward is one call of
// qmoe::circuit_backward: one vector-Jacobian product, whatever the readout.
#include <torch/autograd.h>
#include <torch/library.h>

#include <tuple>

#include "qmoe/core/program/program.h"
#include "qmoe/ops.h"

namespace qmoe::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Keeping the final states spares the adjoint backward a second run of the
// circuit (about a fifth of a training step) for 2**n x 2 reals per sample.
// Up to 3 qubits the product-state path needs no state; above the budget the
// backward runs the circuit again; a symbolic batch (torch.compile) does too.
constexpr int64_t kKeptStateBudgetBytes = int64_t{1} << 30;

// Noise channels send a program to the density-matrix engine, which keeps no state.
bool has_channels(c10::IntArrayRef program) {
  for (size_t op = 0; op + core::kOperationWidth <= program.size(); op += core::kOperationWidth) {
    if (core::is_channel(static_cast<core::Opcode>(program[op]))) return true;
  }
  return false;
}

bool keep_final_state(const at::Tensor& inputs, const at::Tensor& weights,
                      const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                      int64_t n_qubits, c10::string_view diff_method) {
  if (n_qubits <= 3 || diff_method != "adjoint" || has_channels(program)) return false;
  // no backward will come (inference, no_grad): keep nothing
  const bool differentiated = inputs.requires_grad() || weights.requires_grad() ||
                              (initial_state.has_value() && initial_state->requires_grad());
  if (!at::GradMode::is_enabled() || !differentiated) return false;
  const auto batch = inputs.sym_size(0).maybe_as_int();
  if (!batch.has_value()) return false;
  const int64_t bytes =
      *batch * (int64_t{2} << n_qubits) * static_cast<int64_t>(inputs.element_size());
  return bytes <= kKeptStateBudgetBytes;
}

class CircuitFunction : public torch::autograd::Function<CircuitFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& inputs,
                            const at::Tensor& weights,
                            const std::optional<at::Tensor>& initial_state,
                            c10::IntArrayRef program, c10::ArrayRef<double> constants,
                            int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
                            c10::string_view diff_method, bool keep_state) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor out, final_state;
    if (keep_state) {
      std::tie(out, final_state) =
          qmoe::circuit_forward(inputs, weights, initial_state, program, constants, n_qubits,
                                z_masks, probs, diff_method, true);
    } else if (probs) {
      out = qmoe::probs(inputs, weights, initial_state, program, constants, n_qubits, diff_method);
    } else {
      out = qmoe::expval(inputs, weights, initial_state, program, constants, n_qubits, z_masks,
                         diff_method);
    }
    ctx->save_for_backward({inputs, weights, initial_state.value_or(at::Tensor()), final_state});
    ctx->saved_data["program"] = program.vec();
    ctx->saved_data["constants"] = constants.vec();
    ctx->saved_data["n_qubits"] = n_qubits;
    ctx->saved_data["z_masks"] = z_masks.vec();
    ctx->saved_data["probs"] = probs;
    ctx->saved_data["diff_method"] = std::string(diff_method);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& inputs = saved[0];
    const at::Tensor& weights = saved[1];
    const std::optional<at::Tensor> initial_state =
        saved[2].defined() ? std::optional<at::Tensor>(saved[2]) : std::nullopt;
    const std::optional<at::Tensor> final_state =
        saved[3].defined() ? std::optional<at::Tensor>(saved[3]) : std::nullopt;
    const std::vector<int64_t> program = ctx->saved_data["program"].toIntVector();
    const std::vector<double> constants = ctx->saved_data["constants"].toDoubleVector();
    const std::vector<int64_t> z_masks = ctx->saved_data["z_masks"].toIntVector();
    // needs_input_grad counts only the tensors given: no index 2 without an initial state.
    const std::array<bool, 3> output_mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                             initial_state.has_value() && ctx->needs_input_grad(2)};
    auto [grad_inputs, grad_weights, grad_state] = qmoe::circuit_backward(
        grad_outputs[0], inputs, weights, initial_state, program, constants,
        ctx->saved_data["n_qubits"].toInt(), z_masks, ctx->saved_data["probs"].toBool(),
        ctx->saved_data["diff_method"].toStringRef(), output_mask, final_state);
    return {output_mask[0] ? grad_inputs : at::Tensor(),
            output_mask[1] ? grad_weights : at::Tensor(),
            output_mask[2] ? grad_state : at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }
};

at::Tensor expval_autograd(const at::Tensor& inputs, const at::Tensor& weights,
                           const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                           c10::ArrayRef<double> constants, int64_t n_qubits,
                           c10::IntArrayRef z_masks, c10::string_view diff_method) {
  // decided here: Function::forward runs with grad mode off
  const bool keep =
      keep_final_state(inputs, weights, initial_state, program, n_qubits, diff_method);
  return CircuitFunction::apply(inputs, weights, initial_state, program, constants, n_qubits,
                                z_masks, false, diff_method, keep);
}

at::Tensor probs_autograd(const at::Tensor& inputs, const at::Tensor& weights,
                          const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                          c10::ArrayRef<double> constants, int64_t n_qubits,
                          c10::string_view diff_method) {
  const bool keep =
      keep_final_state(inputs, weights, initial_state, program, n_qubits, diff_method);
  return CircuitFunction::apply(inputs, weights, initial_state, program, constants, n_qubits,
                                c10::IntArrayRef{}, true, diff_method, keep);
}

}  // namespace

TORCH_LIBRARY_IMPL(qmoe, Autograd, m) {
  m.impl("expval", &expval_autograd);
  m.impl("probs", &probs_autograd);
}

}  // namespace qmoe::ops
