// MoE: output = sum over a token's k experts of weight * expert(token), the
// eager sorted dispatch of qmoe_torch.moe.MoE (each expert runs once on exactly
// its own tokens; with capacity_factor, first come first served in token order).
// Submodules "router" (with "router.gate") and "experts" ("experts.0", ...).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <string>
#include <vector>

#include "qmoe/nn/top_k_router.h"

namespace qmoe::nn {

struct MoEOutput {
  torch::Tensor output;  // [..., d_out]
  RouterOutput routing;
  torch::Tensor dropped;           // int64 0-d: slots over capacity, not computed
  torch::Tensor dropped_fraction;  // float32 0-d, of the T * k slots
};

struct MoEOptions {
  MoEOptions(int64_t d_model, int64_t n_experts, int64_t d_hidden)
      : d_model_(d_model), n_experts_(n_experts), d_hidden_(d_hidden) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_experts);
  TORCH_ARG(int64_t, d_hidden);
  TORCH_ARG(int64_t, k) = 2;
  TORCH_ARG(std::string, expert) = "swiglu";  // or "mlp"; unused when experts are given
  TORCH_ARG(std::optional<int64_t>, d_out) = std::nullopt;  // default d_model
  TORCH_ARG(std::optional<double>, capacity_factor) = std::nullopt;
  TORCH_ARG(std::string, softmax) = "before";
  TORCH_ARG(bool, renormalize) = true;
  TORCH_ARG(double, noise_std) = 0.0;
  TORCH_ARG(double, jitter) = 0.0;
  TORCH_ARG(bool, check_finite) = false;
};

class MoEImpl : public torch::nn::Module {
 public:
  // `gate`: default LinearGate(d_model, n_experts); `experts`: default n_experts
  // experts of options.expert(), else one module per expert (forward(Tensor) ->
  // Tensor).
  explicit MoEImpl(MoEOptions options, torch::nn::AnyModule gate = {},
                   std::vector<torch::nn::AnyModule> experts = {});
  MoEOutput forward(const torch::Tensor& hidden);

  const MoEOptions& options() const { return options_; }
  int64_t d_out() const { return d_out_; }

  TopKRouter router{nullptr};
  torch::nn::ModuleList experts{nullptr};

 private:
  MoEOptions options_;
  int64_t d_out_;
  std::vector<torch::nn::AnyModule> expert_modules_;
};

TORCH_MODULE(MoE);

}  // namespace qmoe::nn
