// qmoe's operators for C++ callers: typed calls through the PyTorch
// dispatcher, so a LibTorch program gets the same kernels, autograd and
// validation as Python's torch.ops.qmoe.*. Linking the operator library
// registers the operators; these calls find them by name at first use.
//
// The program format and the arguments are those of docs/program.md.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/string_view.h>

#include <array>
#include <optional>
#include <tuple>

// Defined in the operator library. The pointer below is emitted in every object
// that includes this header ([[gnu::used]]), so linking such an object needs the
// library: it stays loaded under --as-needed and its static initialisers register
// the operators (the method torchvision uses for its ops).
extern "C" int64_t qmoe_ops_library_anchor();

namespace qmoe {

namespace detail {
[[gnu::used]] static int64_t (*const keep_ops_library_linked)() = &qmoe_ops_library_anchor;
}  // namespace detail

// <Z...> of each mask per sample: [batch, len(z_masks)].
inline at::Tensor expval(const at::Tensor& inputs, const at::Tensor& weights,
                         const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                         c10::ArrayRef<double> constants, int64_t n_qubits,
                         c10::IntArrayRef z_masks, c10::string_view diff_method = "adjoint") {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("qmoe::expval", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                            c10::IntArrayRef, c10::ArrayRef<double>, int64_t, c10::IntArrayRef,
                            c10::string_view)>();
  return op.call(inputs, weights, initial_state, program, constants, n_qubits, z_masks,
                 diff_method);
}

// Probabilities of the basis states per sample: [batch, 2**n_qubits].
inline at::Tensor probs(const at::Tensor& inputs, const at::Tensor& weights,
                        const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                        c10::ArrayRef<double> constants, int64_t n_qubits,
                        c10::string_view diff_method = "adjoint") {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("qmoe::probs", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                            c10::IntArrayRef, c10::ArrayRef<double>, int64_t, c10::string_view)>();
  return op.call(inputs, weights, initial_state, program, constants, n_qubits, diff_method);
}

// The readout, and with keep_state each sample's final state ([batch, 2**n, 2]),
// which circuit_backward takes instead of running the circuit again. No autograd.
inline std::tuple<at::Tensor, at::Tensor> circuit_forward(
    const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method, bool keep_state) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("qmoe::circuit_forward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                           c10::IntArrayRef, c10::ArrayRef<double>, int64_t, c10::IntArrayRef, bool,
                           c10::string_view, bool)>();
  return op.call(inputs, weights, initial_state, program, constants, n_qubits, z_masks, probs,
                 diff_method, keep_state);
}

// One vector-Jacobian product: (grad_inputs, grad_weights, grad_initial_state),
// each zero where output_mask does not ask for it.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> circuit_backward(
    const at::Tensor& grad_out, const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method, std::array<bool, 3> output_mask,
    const std::optional<at::Tensor>& final_state = std::nullopt) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("qmoe::circuit_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&,
                           const std::optional<at::Tensor>&, c10::IntArrayRef,
                           c10::ArrayRef<double>, int64_t, c10::IntArrayRef, bool, c10::string_view,
                           std::array<bool, 3>, const std::optional<at::Tensor>&)>();
  return op.call(grad_out, inputs, weights, initial_state, program, constants, n_qubits, z_masks,
                 probs, diff_method, output_mask, final_state);
}

inline std::tuple<at::Tensor, at::Tensor, at::Tensor> top_k_routing(const at::Tensor& logits,
                                                                    int64_t k,
                                                                    bool softmax_before = true,
                                                                    bool renormalize = true) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("qmoe::top_k_routing", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                           const at::Tensor&, int64_t, bool, bool)>();
  return op.call(logits, k, softmax_before, renormalize);
}

}  // namespace qmoe
