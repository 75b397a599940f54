// Autocast for the circuit operators (AutocastCPU, AutocastCUDA).
//
// The rule is an upcast, never a downcast: the simulators run in float32 or
// float64 only (a bfloat16 or float16 statevector would lose the norm within a
// few gates), so under torch.autocast every real floating tensor argument
// (inputs, weights, a real initial_state, grad_out, final_state) is cast to
// float32, or to float64 when any of them is float64 already. A complex
// initial_state and integer arguments are left as they are. The operator then
// runs below the autocast key and returns float32 (float64) like an op on
// autocast's fp32 list; the casts sit above autograd, so gradients flow back
// to the bfloat16/float16 tensors in their own dtype.
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <array>
#include <optional>
#include <tuple>

#include "qmoe/ops.h"

namespace qmoe::ops {
namespace {

bool is_real_floating(const at::Tensor& tensor) {
  return tensor.defined() && tensor.is_floating_point();
}

// float64 when any real floating argument already is, else float32.
at::ScalarType circuit_dtype(std::initializer_list<const at::Tensor*> tensors) {
  for (const at::Tensor* tensor : tensors) {
    if (is_real_floating(*tensor) && tensor->scalar_type() == at::kDouble) return at::kDouble;
  }
  return at::kFloat;
}

at::ScalarType circuit_dtype(std::initializer_list<const at::Tensor*> tensors,
                             const std::optional<at::Tensor>& optional) {
  if (optional.has_value() && is_real_floating(*optional) &&
      optional->scalar_type() == at::kDouble) {
    return at::kDouble;
  }
  return circuit_dtype(tensors);
}

template <c10::DeviceType device>
at::Tensor upcast(const at::Tensor& tensor, at::ScalarType dtype) {
  if (!is_real_floating(tensor) || tensor.scalar_type() == dtype) return tensor;
  return at::autocast::cached_cast(dtype, tensor, device);
}

template <c10::DeviceType device>
std::optional<at::Tensor> upcast(const std::optional<at::Tensor>& tensor, at::ScalarType dtype) {
  if (!tensor.has_value()) return tensor;
  return upcast<device>(*tensor, dtype);
}

template <c10::DeviceType device>
at::Tensor expval_autocast(const at::Tensor& inputs, const at::Tensor& weights,
                           const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                           c10::ArrayRef<double> constants, int64_t n_qubits,
                           c10::IntArrayRef z_masks, c10::string_view diff_method) {
  const at::ScalarType dtype = circuit_dtype({&inputs, &weights}, initial_state);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(
      at::autocast::get_autocast_dispatch_key_from_device_type(device));
  return qmoe::expval(upcast<device>(inputs, dtype), upcast<device>(weights, dtype),
                      upcast<device>(initial_state, dtype), program, constants, n_qubits, z_masks,
                      diff_method);
}

template <c10::DeviceType device>
at::Tensor probs_autocast(const at::Tensor& inputs, const at::Tensor& weights,
                          const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                          c10::ArrayRef<double> constants, int64_t n_qubits,
                          c10::string_view diff_method) {
  const at::ScalarType dtype = circuit_dtype({&inputs, &weights}, initial_state);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(
      at::autocast::get_autocast_dispatch_key_from_device_type(device));
  return qmoe::probs(upcast<device>(inputs, dtype), upcast<device>(weights, dtype),
                     upcast<device>(initial_state, dtype), program, constants, n_qubits,
                     diff_method);
}

template <c10::DeviceType device>
std::tuple<at::Tensor, at::Tensor> circuit_forward_autocast(
    const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method, bool keep_state) {
  const at::ScalarType dtype = circuit_dtype({&inputs, &weights}, initial_state);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(
      at::autocast::get_autocast_dispatch_key_from_device_type(device));
  return qmoe::circuit_forward(upcast<device>(inputs, dtype), upcast<device>(weights, dtype),
                               upcast<device>(initial_state, dtype), program, constants, n_qubits,
                               z_masks, probs, diff_method, keep_state);
}

template <c10::DeviceType device>
std::tuple<at::Tensor, at::Tensor, at::Tensor> circuit_backward_autocast(
    const at::Tensor& grad_out, const at::Tensor& inputs, const at::Tensor& weights,
    const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
    c10::ArrayRef<double> constants, int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
    c10::string_view diff_method, std::array<bool, 3> output_mask,
    const std::optional<at::Tensor>& final_state) {
  at::ScalarType dtype = circuit_dtype({&grad_out, &inputs, &weights}, initial_state);
  if (dtype != at::kDouble) dtype = circuit_dtype({}, final_state);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(
      at::autocast::get_autocast_dispatch_key_from_device_type(device));
  return qmoe::circuit_backward(
      upcast<device>(grad_out, dtype), upcast<device>(inputs, dtype),
      upcast<device>(weights, dtype), upcast<device>(initial_state, dtype), program, constants,
      n_qubits, z_masks, probs, diff_method, output_mask, upcast<device>(final_state, dtype));
}

}  // namespace

TORCH_LIBRARY_IMPL(qmoe, AutocastCPU, m) {
  m.impl("expval", &expval_autocast<c10::DeviceType::CPU>);
  m.impl("probs", &probs_autocast<c10::DeviceType::CPU>);
  m.impl("circuit_forward", &circuit_forward_autocast<c10::DeviceType::CPU>);
  m.impl("circuit_backward", &circuit_backward_autocast<c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(qmoe, AutocastCUDA, m) {
  m.impl("expval", &expval_autocast<c10::DeviceType::CUDA>);
  m.impl("probs", &probs_autocast<c10::DeviceType::CUDA>);
  m.impl("circuit_forward", &circuit_forward_autocast<c10::DeviceType::CUDA>);
  m.impl("circuit_backward", &circuit_backward_autocast<c10::DeviceType::CUDA>);
}

}  // namespace qmoe::ops
