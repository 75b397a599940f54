// LinearGate: the classical router nn.Linear(d_model, n_experts), bias-free by
// default; parameter names linear.weight (and linear.bias), as in Python.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace qmoe::nn {

struct LinearGateOptions {
  LinearGateOptions(int64_t d_model, int64_t n_experts)
      : d_model_(d_model), n_experts_(n_experts) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_experts);
  TORCH_ARG(bool, bias) = false;
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;
};

class LinearGateImpl : public torch::nn::Module {
 public:
  explicit LinearGateImpl(LinearGateOptions options);
  torch::Tensor forward(const torch::Tensor& hidden);

  const LinearGateOptions& options() const { return options_; }
  int64_t n_experts() const { return options_.n_experts(); }

  torch::nn::Linear linear{nullptr};

 private:
  LinearGateOptions options_;
};

TORCH_MODULE(LinearGate);

}  // namespace qmoe::nn
