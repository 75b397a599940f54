#include "qmoe/nn/experts.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/activation.h>

namespace qmoe::nn {

SwiGLUExpertImpl::SwiGLUExpertImpl(int64_t d_model, int64_t d_hidden, int64_t d_out) {
  const auto bias_free = [](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  };
  gate_proj = register_module("gate_proj", bias_free(d_model, d_hidden));
  up_proj = register_module("up_proj", bias_free(d_model, d_hidden));
  down_proj = register_module("down_proj", bias_free(d_hidden, d_out));
}

torch::Tensor SwiGLUExpertImpl::forward(const torch::Tensor& hidden) {
  return down_proj(torch::nn::functional::silu(gate_proj(hidden)) * up_proj(hidden));
}

MLPExpertImpl::MLPExpertImpl(int64_t d_model, int64_t d_hidden, int64_t d_out) {
  layers = register_module(
      "layers", torch::nn::Sequential(torch::nn::Linear(d_model, d_hidden), torch::nn::GELU(),
                                      torch::nn::Linear(d_hidden, d_out)));
}

torch::Tensor MLPExpertImpl::forward(const torch::Tensor& hidden) {
  return layers->forward(hidden);
}

torch::nn::AnyModule make_expert(const std::string& kind, int64_t d_model, int64_t d_hidden,
                                 int64_t d_out) {
  if (kind == "mlp") return torch::nn::AnyModule(MLPExpert(d_model, d_hidden, d_out));
  if (kind == "swiglu") return torch::nn::AnyModule(SwiGLUExpert(d_model, d_hidden, d_out));
  TORCH_CHECK_VALUE(false, "expert='", kind, "', expected 'mlp' or 'swiglu'");
}

}  // namespace qmoe::nn
