// The classical experts of qmoe_torch.experts with their parameter names:
// SwiGLUExpert (gate_proj, up_proj, down_proj; bias-free) and MLPExpert
// (layers.0, GELU, layers.2).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>

namespace qmoe::nn {

class SwiGLUExpertImpl : public torch::nn::Module {
 public:
  SwiGLUExpertImpl(int64_t d_model, int64_t d_hidden, int64_t d_out);
  // down(silu(gate(x)) * up(x))
  torch::Tensor forward(const torch::Tensor& hidden);

  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(SwiGLUExpert);

class MLPExpertImpl : public torch::nn::Module {
 public:
  MLPExpertImpl(int64_t d_model, int64_t d_hidden, int64_t d_out);
  torch::Tensor forward(const torch::Tensor& hidden);

  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(MLPExpert);

// kind "swiglu" or "mlp" (Python's make_expert).
torch::nn::AnyModule make_expert(const std::string& kind, int64_t d_model, int64_t d_hidden,
                                 int64_t d_out);

}  // namespace qmoe::nn
