#include "qmoe/nn/mlp_gate.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include "qmoe/nn/gate_support.h"

namespace qmoe::nn {
namespace {

torch::nn::AnyModule activation_module(const std::string& activation) {
  if (activation == "tanh") return torch::nn::AnyModule(torch::nn::Tanh());
  if (activation == "relu") return torch::nn::AnyModule(torch::nn::ReLU());
  if (activation == "gelu") return torch::nn::AnyModule(torch::nn::GELU());
  TORCH_CHECK_VALUE(false, "MLPGate: activation='", activation,
                    "' is unknown, expected one of ['gelu', 'relu', 'tanh']");
}

}  // namespace

MLPGateImpl::MLPGateImpl(MLPGateOptions options) : options_(std::move(options)) {
  const int64_t d_model = options_.d_model(), n_experts = options_.n_experts();
  auto activation = activation_module(options_.activation());
  TORCH_CHECK_VALUE(options_.hidden().has_value() != options_.parameter_budget().has_value(),
                    "MLPGate: give exactly one of hidden and parameter_budget");
  if (options_.hidden()) {
    hidden_ = *options_.hidden();
  } else {
    // parameters = hidden * (d_model + 1 + n_experts) + n_experts
    const int64_t budget = *options_.parameter_budget();
    const int64_t per_unit = d_model + 1 + n_experts;
    // Python's floor division
    hidden_ = (budget - n_experts) >= 0 ? (budget - n_experts) / per_unit
                                        : -((n_experts - budget + per_unit - 1) / per_unit);
    TORCH_CHECK_VALUE(hidden_ >= 1, "MLPGate: parameter_budget=", budget,
                      " is below the smallest MLP (", d_model + 1 + 2 * n_experts, " parameters)");
  }
  layers = register_module(
      "layers", torch::nn::Sequential(torch::nn::Linear(d_model, hidden_), std::move(activation),
                                      torch::nn::Linear(hidden_, n_experts)));
  layers->to(options_.dtype());
}

torch::Tensor MLPGateImpl::forward(const torch::Tensor& hidden) {
  check_hidden(hidden, options_.d_model(), "MLPGate");
  const auto dtype = layers[0]->as<torch::nn::Linear>()->weight.scalar_type();
  return layers->forward(hidden.to(dtype)).to(gate_output_dtype(hidden));
}

}  // namespace qmoe::nn
