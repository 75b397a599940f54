#include "qmoe/nn/top_k_router.h"

#include <torch/types.h>

#include "qmoe/nn/linear_gate.h"
#include "qmoe/nn/mlp_gate.h"
#include "qmoe/nn/quantum_gate.h"
#include "qmoe/ops.h"

namespace qmoe::nn {

int64_t gate_experts(const torch::nn::AnyModule& gate) {
  TORCH_CHECK(!gate.is_empty(), "TopKRouter: gate is empty");
  const auto module = gate.ptr();
  if (const auto* quantum = dynamic_cast<const QuantumGateImpl*>(module.get())) {
    return quantum->n_experts();
  }
  if (const auto* linear = dynamic_cast<const LinearGateImpl*>(module.get())) {
    return linear->n_experts();
  }
  if (const auto* mlp = dynamic_cast<const MLPGateImpl*>(module.get())) return mlp->n_experts();
  TORCH_CHECK_TYPE(false,
                   "TopKRouter: gate must have an integer n_experts attribute (a QuantumGate, "
                   "LinearGate or MLPGate, or give n_experts)");
}

torch::Tensor expert_counts(const torch::Tensor& indices, int64_t n_experts) {
  // a scatter-add into n_experts bins, as Python's (bincount's size would depend on data)
  const auto flat = indices.reshape(-1);
  const auto counts = torch::zeros({n_experts}, flat.options().dtype(torch::kInt64));
  return counts.scatter_add(0, flat, torch::ones_like(flat, flat.options().dtype(torch::kInt64)));
}

torch::Tensor expert_load(const torch::Tensor& indices, int64_t n_experts) {
  return expert_counts(indices, n_experts).to(torch::kFloat32) /
         static_cast<double>(std::max<int64_t>(1, indices.numel()));
}

torch::Tensor load_balancing_loss(const torch::Tensor& probs, const torch::Tensor& indices) {
  const int64_t n_experts = probs.size(-1);
  const auto load = expert_load(indices, n_experts).to(probs.scalar_type());
  return n_experts * torch::sum(load * probs.mean(0));
}

torch::Tensor router_z_loss(const torch::Tensor& logits) {
  return torch::logsumexp(logits, -1).square().mean();
}

TopKRouterImpl::TopKRouterImpl(torch::nn::AnyModule gate, TopKRouterOptions options,
                               std::optional<int64_t> n_experts)
    : gate_(std::move(gate)), options_(std::move(options)) {
  n_experts_ = n_experts ? *n_experts : gate_experts(gate_);
  const int64_t k = options_.k();
  TORCH_CHECK_VALUE(1 <= k && k <= n_experts_, "TopKRouter: k=", k,
                    " must be between 1 and n_experts=", n_experts_);
  TORCH_CHECK_VALUE(options_.softmax() == "before" || options_.softmax() == "after",
                    "TopKRouter: softmax='", options_.softmax(), "', expected 'before' or 'after'");
  TORCH_CHECK_VALUE(options_.noise_std() >= 0 && options_.jitter() >= 0 && options_.jitter() < 1,
                    "TopKRouter: noise_std must be >= 0 and jitter in [0, 1), got ",
                    options_.noise_std(), " and ", options_.jitter());
  register_module("gate", gate_.ptr());
}

RouterOutput TopKRouterImpl::forward(const torch::Tensor& input) {
  auto hidden = input;
  if (is_training() && options_.jitter() > 0) {
    hidden =
        hidden * torch::empty_like(hidden).uniform_(1 - options_.jitter(), 1 + options_.jitter());
  }
  auto logits = gate_.forward(hidden).reshape({-1, n_experts_});
  if (options_.check_finite()) {
    TORCH_CHECK_VALUE(torch::isfinite(logits).all().item<bool>(),
                      "TopKRouter: the gate's logits contain NaN or infinity");
  }
  if (is_training() && options_.noise_std() > 0) {
    logits = logits + torch::randn_like(logits) * options_.noise_std();
  }
  auto [probs, weights, indices] = qmoe::top_k_routing(
      logits, options_.k(), options_.softmax() == "before", options_.renormalize());
  // the z-loss over the logits in at least float32, as the routing decisions are
  const bool narrow =
      logits.scalar_type() == torch::kFloat16 || logits.scalar_type() == torch::kBFloat16;
  const auto wide = narrow ? logits.to(torch::kFloat32) : logits;
  return RouterOutput{logits,
                      probs,
                      weights,
                      indices,
                      expert_load(indices, n_experts_),
                      load_balancing_loss(probs, indices),
                      router_z_loss(wide)};
}

}  // namespace qmoe::nn
