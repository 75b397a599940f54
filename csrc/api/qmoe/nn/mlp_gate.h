// MLPGate: Linear(d_model, hidden) -> activation -> Linear(hidden, n_experts);
// parameter names layers.0.* and layers.2.*, as in Python.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <string>

namespace qmoe::nn {

struct MLPGateOptions {
  MLPGateOptions(int64_t d_model, int64_t n_experts) : d_model_(d_model), n_experts_(n_experts) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_experts);
  // Exactly one of hidden and parameter_budget (the largest hidden size that fits).
  TORCH_ARG(std::optional<int64_t>, hidden) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, parameter_budget) = std::nullopt;
  TORCH_ARG(std::string, activation) = "tanh";  // "tanh", "relu" or "gelu"
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;
};

class MLPGateImpl : public torch::nn::Module {
 public:
  explicit MLPGateImpl(MLPGateOptions options);
  torch::Tensor forward(const torch::Tensor& hidden);

  const MLPGateOptions& options() const { return options_; }
  int64_t n_experts() const { return options_.n_experts(); }
  int64_t hidden_size() const { return hidden_; }

  torch::nn::Sequential layers{nullptr};

 private:
  MLPGateOptions options_;
  int64_t hidden_ = 0;
};

TORCH_MODULE(MLPGate);

}  // namespace qmoe::nn
