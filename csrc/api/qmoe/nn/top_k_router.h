// TopKRouter: top-k routing over any gate's logits with the load-balancing loss
// and the router z-loss (qmoe_torch.routing). The gate is registered as "gate".
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <string>

namespace qmoe::nn {

// One routing decision for T tokens (hidden's leading dimensions flattened).
struct RouterOutput {
  torch::Tensor logits;    // [T, E]
  torch::Tensor probs;     // [T, E], float32 or wider
  torch::Tensor weights;   // [T, k] combine weights
  torch::Tensor indices;   // [T, k] experts, best first
  torch::Tensor load;      // [E] fraction of the T * k slots per expert
  torch::Tensor aux_loss;  // E * sum_e load_e * mean_t probs[t, e]
  torch::Tensor z_loss;    // mean_t logsumexp(logits[t])**2
};

struct TopKRouterOptions {
  /* implicit */ TopKRouterOptions(int64_t k = 2) : k_(k) {}
  TORCH_ARG(int64_t, k);
  TORCH_ARG(std::string, softmax) = "before";  // or "after"
  TORCH_ARG(bool, renormalize) = true;
  TORCH_ARG(double, noise_std) = 0.0;
  TORCH_ARG(double, jitter) = 0.0;
  TORCH_ARG(bool, check_finite) = false;
};

// The gate's n_experts when it is a QuantumGate, LinearGate or MLPGate; otherwise a
// c10::Error naming what TopKRouter needs (give n_experts explicitly then).
int64_t gate_experts(const torch::nn::AnyModule& gate);

torch::Tensor expert_counts(const torch::Tensor& indices, int64_t n_experts);
torch::Tensor expert_load(const torch::Tensor& indices, int64_t n_experts);
torch::Tensor load_balancing_loss(const torch::Tensor& probs, const torch::Tensor& indices);
torch::Tensor router_z_loss(const torch::Tensor& logits);

class TopKRouterImpl : public torch::nn::Module {
 public:
  // `gate`: hidden[..., d_model] -> logits[..., n_experts] (any module with that
  // forward); n_experts read from it unless given.
  TopKRouterImpl(torch::nn::AnyModule gate, TopKRouterOptions options = {},
                 std::optional<int64_t> n_experts = std::nullopt);
  RouterOutput forward(const torch::Tensor& hidden);

  const TopKRouterOptions& options() const { return options_; }
  int64_t n_experts() const { return n_experts_; }
  torch::nn::AnyModule& gate() { return gate_; }

 private:
  torch::nn::AnyModule gate_;
  TopKRouterOptions options_;
  int64_t n_experts_;
};

TORCH_MODULE(TopKRouter);

}  // namespace qmoe::nn
