// torch.classes.qmoe.QuantumGatePlan: QuantumGate's eager forward in one call from
// Python.
//
// A decoding step routes one token through a gate whose arithmetic takes about a
// microsecond, so the Python around it is the cost: converting the circuit program
// (about 200 integers) into the operator's int[] on every call, and one Python
// dispatch per projection, sigmoid, scale, circuit and adapter. A plan holds the
// program, constants and readout in C++ once, and its forward takes the gate's
// parameters as they are now.
//
// With an autograd graph to build (grad mode on and a tensor that requires grad) it
// runs the same ATen calls, in the same order, as qmoe_torch.gates.QuantumGate.forward
// (the projection Linear, sigmoid, the scale, qmoe::expval or qmoe::probs through the
// dispatcher, the adapter Linear or the parity scale): the same bits and the same
// autograd nodes. Without one (no_grad, inference_mode, frozen parameters) and at
// decoding sizes on the CPU, the projection, squashing and adapter are plain loops
// summed in double (core/math/small_affine.h), equal to the ATen calls to float32's
// (float64's) rounding, and the circuit is the same operator call.
//
// It is only an eager fast path: QuantumGate takes its Python path under
// torch.compile / torch.export, functorch transforms, autocast, noise, tensor
// subclasses and hooked or replaced submodules, where the Python code is what must
// be seen.
#include <ATen/ATen.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <cmath>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qmoe/core/math/small_affine.h"
#include "qmoe/ops.h"

namespace qmoe::ops {
namespace {

// log of a probability floor: keeps "probs" logits finite when a basis state has p = 0
// (the value of qmoe_torch.gates._PROBABILITY_FLOOR)
constexpr double kProbabilityFloor = 1e-12;

class QuantumGatePlan : public torch::CustomClassHolder {
 public:
  QuantumGatePlan(int64_t d_model, int64_t n_experts, int64_t n_qubits,
                  std::vector<int64_t> program, std::vector<double> constants,
                  std::vector<int64_t> z_masks, const std::string& readout)
      : d_model_(d_model),
        n_experts_(n_experts),
        n_qubits_(n_qubits),
        program_(std::move(program)),
        constants_(std::move(constants)),
        z_masks_(std::move(z_masks)),
        probs_(readout == "probs") {
    TORCH_CHECK_VALUE(readout == "expval" || readout == "probs" || readout == "parity",
                      "QuantumGatePlan: readout='", readout,
                      "', expected 'expval', 'probs' or 'parity'");
  }

  // The arguments are QuantumGate's parameters and settings as they are now (never
  // held: a module's parameters can be replaced, moved or reloaded between calls,
  // and its angle_range and diff_method set).
  at::Tensor forward(const at::Tensor& hidden, const std::optional<at::Tensor>& projection_weight,
                     const std::optional<at::Tensor>& projection_bias,
                     const at::Tensor& circuit_weights,
                     const std::optional<at::Tensor>& adapter_weight,
                     const std::optional<at::Tensor>& adapter_bias,
                     const std::optional<at::Tensor>& scale, double angle_range,
                     const std::string& diff_method) const {
    TORCH_CHECK_VALUE(hidden.dim() >= 1 && hidden.size(-1) == d_model_,
                      "QuantumGate: hidden must have d_model=", d_model_,
                      " as its last dimension, got shape ", shape_text(hidden));
    at::Tensor tokens = hidden.dim() == 2 ? hidden : hidden.reshape({-1, d_model_});
    if (tokens.scalar_type() != circuit_weights.scalar_type()) {
      tokens = tokens.to(circuit_weights.scalar_type());
    }
    const bool direct = without_graph_on_cpu(
        tokens, {&projection_weight, &projection_bias, &adapter_weight, &adapter_bias, &scale},
        circuit_weights);
    at::Tensor angles = tokens;
    if (projection_weight.has_value()) {
      angles = direct ? direct_angles(tokens, *projection_weight, projection_bias, angle_range)
                      : at::sigmoid(at::linear(tokens, *projection_weight, projection_bias))
                            .mul(angle_range);
    }
    at::Tensor logits;
    if (probs_) {
      const at::Tensor probabilities = qmoe::probs(angles, circuit_weights, std::nullopt, program_,
                                                   constants_, n_qubits_, diff_method);
      logits = at::log(probabilities.slice(1, 0, n_experts_).add(kProbabilityFloor));
    } else {
      const at::Tensor values = qmoe::expval(angles, circuit_weights, std::nullopt, program_,
                                             constants_, n_qubits_, z_masks_, diff_method);
      if (adapter_weight.has_value()) {
        logits = direct ? direct_affine(values, *adapter_weight, adapter_bias)
                        : at::linear(values, *adapter_weight, adapter_bias);
      } else {
        TORCH_CHECK_VALUE(scale.has_value(),
                          "QuantumGatePlan: an 'expval' or 'parity' readout needs "
                          "adapter_weight or scale");
        logits = scale->mul(values);
      }
    }
    if (hidden.dim() != 2) {
      std::vector<int64_t> shape(hidden.sizes().begin(), hidden.sizes().end() - 1);
      shape.push_back(n_experts_);
      logits = logits.reshape(shape);
    }
    return logits.scalar_type() == hidden.scalar_type() ? logits : logits.to(hidden.scalar_type());
  }

 private:
  // Decoding sizes (a token, a few), no autograd graph to build, everything on the CPU
  // in the circuit's dtype: the projection, squashing and adapter as plain loops
  // (core/math/small_affine.h) instead of ATen calls, whose dispatch and BLAS setup
  // cost more than these few thousand multiply-adds. The circuit stays the operator.
  static constexpr int64_t kMaxDirectTokens = 16;

  static bool without_graph_on_cpu(const at::Tensor& tokens,
                                   std::initializer_list<const std::optional<at::Tensor>*> others,
                                   const at::Tensor& circuit_weights) {
    if (tokens.size(0) > kMaxDirectTokens || !tokens.device().is_cpu() ||
        !circuit_weights.device().is_cpu()) {
      return false;
    }
    const bool grad = at::GradMode::is_enabled();
    if (grad && (tokens.requires_grad() || circuit_weights.requires_grad())) return false;
    for (const std::optional<at::Tensor>* other : others) {
      if (!other->has_value()) continue;
      const at::Tensor& tensor = **other;
      if (!tensor.device().is_cpu() || tensor.scalar_type() != tokens.scalar_type() ||
          (grad && tensor.requires_grad())) {
        return false;
      }
    }
    return true;
  }

  static at::Tensor direct_affine(const at::Tensor& input_arg, const at::Tensor& weight_arg,
                                  const std::optional<at::Tensor>& bias_arg) {
    TORCH_CHECK_VALUE(weight_arg.dim() == 2 && weight_arg.size(1) == input_arg.size(1),
                      "QuantumGate: a Linear weight of shape ", weight_arg.sizes(),
                      " cannot take inputs of shape ", input_arg.sizes());
    const at::Tensor input = input_arg.contiguous();
    const at::Tensor weight = weight_arg.contiguous();
    const at::Tensor bias = bias_arg.has_value() ? bias_arg->contiguous() : at::Tensor();
    TORCH_CHECK_VALUE(!bias.defined() || bias.numel() == weight.size(0),
                      "QuantumGate: a Linear bias of shape ", bias.sizes(),
                      " for a weight of shape ", weight.sizes());
    at::Tensor out = at::empty({input.size(0), weight.size(0)}, input.options());
    AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "qmoe_gate_affine", [&] {
      core::small_affine(input.const_data_ptr<scalar_t>(), input.size(0), input.size(1),
                         weight.const_data_ptr<scalar_t>(),
                         bias.defined() ? bias.const_data_ptr<scalar_t>() : nullptr, weight.size(0),
                         out.mutable_data_ptr<scalar_t>());
    });
    return out;
  }

  // angle_range * sigmoid(tokens W^T + b), the sigmoid in double on the exact sum
  static at::Tensor direct_angles(const at::Tensor& tokens, const at::Tensor& weight,
                                  const std::optional<at::Tensor>& bias, double angle_range) {
    at::Tensor angles = direct_affine(tokens, weight, bias);
    AT_DISPATCH_FLOATING_TYPES(angles.scalar_type(), "qmoe_gate_squash", [&] {
      scalar_t* data = angles.mutable_data_ptr<scalar_t>();
      for (int64_t i = 0; i < angles.numel(); ++i) {
        const double z = static_cast<double>(data[i]);
        data[i] = static_cast<scalar_t>(angle_range / (1.0 + std::exp(-z)));
      }
    });
    return angles;
  }

  static std::string shape_text(const at::Tensor& tensor) {
    // Python's tuple spelling, as QuantumGate's own message has it: (3,), (2, 5), ()
    std::string text = "(";
    for (int64_t d = 0; d < tensor.dim(); ++d) {
      if (d) text += ", ";
      text += std::to_string(tensor.size(d));
    }
    return text + (tensor.dim() == 1 ? ",)" : ")");
  }

  int64_t d_model_, n_experts_, n_qubits_;
  std::vector<int64_t> program_;
  std::vector<double> constants_;
  std::vector<int64_t> z_masks_;
  bool probs_;
};

}  // namespace

TORCH_LIBRARY_FRAGMENT(qmoe, m) {
  m.class_<QuantumGatePlan>("QuantumGatePlan")
      .def(torch::init<int64_t, int64_t, int64_t, std::vector<int64_t>, std::vector<double>,
                       std::vector<int64_t>, std::string>())
      .def("forward", &QuantumGatePlan::forward);
}

}  // namespace qmoe::ops
