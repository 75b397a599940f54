// The three forward operators (expval, probs, circuit_forward) of one backend, from
// its one forward function: every backend registers the same thin entries, so they
// are written here once.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/string_view.h>

#include <optional>
#include <string>
#include <tuple>

namespace qmoe::ops {

// A backend's forward: (readout, final states or an empty tensor).
using BackendForward = std::tuple<at::Tensor, at::Tensor> (*)(
    const char* op_name, const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    const std::string& diff_method, bool keep_state);

template <BackendForward Forward>
at::Tensor expval_entry(const at::Tensor& inputs, const at::Tensor& weights,
                        const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                        c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks,
                        c10::string_view diff_method) {
  return std::get<0>(Forward("qmoe.expval", inputs, weights, initial_state, program, constants,
                             n_qubits, z_masks, false, std::string(diff_method), false));
}

template <BackendForward Forward>
at::Tensor probs_entry(const at::Tensor& inputs, const at::Tensor& weights,
                       const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                       c10::ArrayRef<double> constants, int64_t n_qubits,
                       c10::string_view diff_method) {
  return std::get<0>(Forward("qmoe.probs", inputs, weights, initial_state, program, constants,
                             n_qubits, {}, true, std::string(diff_method), false));
}

template <BackendForward Forward>
std::tuple<at::Tensor, at::Tensor> circuit_forward_entry(
    const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method, bool keep_state) {
  return Forward("qmoe.circuit_forward", inputs, weights, initial_state, program, constants,
                 n_qubits, z_masks, probs, std::string(diff_method), keep_state);
}

}  // namespace qmoe::ops
