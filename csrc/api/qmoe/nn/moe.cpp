#include "qmoe/nn/moe.h"

#include <torch/types.h>

#include <cmath>

#include "qmoe/nn/experts.h"
#include "qmoe/nn/gate_support.h"
#include "qmoe/nn/linear_gate.h"

namespace qmoe::nn {

MoEImpl::MoEImpl(MoEOptions options, torch::nn::AnyModule gate,
                 std::vector<torch::nn::AnyModule> experts)
    : options_(std::move(options)) {
  const int64_t n_experts = options_.n_experts();
  if (gate.is_empty()) {
    gate = torch::nn::AnyModule(LinearGate(LinearGateOptions(options_.d_model(), n_experts)));
  }
  // a gate of unknown type routes to n_experts
  int64_t gate_n_experts = n_experts;
  try {
    gate_n_experts = gate_experts(gate);
  } catch (const c10::TypeError&) {
  }
  TORCH_CHECK_VALUE(gate_n_experts == n_experts, "MoE: the gate routes to ", gate_n_experts,
                    " experts, n_experts=", n_experts);
  TORCH_CHECK_VALUE(experts.empty() || static_cast<int64_t>(experts.size()) == n_experts,
                    "MoE: ", experts.size(), " experts given for n_experts=", n_experts);
  TORCH_CHECK_VALUE(!options_.capacity_factor() || *options_.capacity_factor() > 0,
                    "MoE: capacity_factor must be > 0, got ",
                    options_.capacity_factor().value_or(0));
  // Python: d_out or d_model
  d_out_ = options_.d_out().value_or(0) ? *options_.d_out() : options_.d_model();
  router = register_module("router", TopKRouter(std::move(gate),
                                                TopKRouterOptions(options_.k())
                                                    .softmax(options_.softmax())
                                                    .renormalize(options_.renormalize())
                                                    .noise_std(options_.noise_std())
                                                    .jitter(options_.jitter())
                                                    .check_finite(options_.check_finite()),
                                                n_experts));
  if (experts.empty()) {
    for (int64_t e = 0; e < n_experts; ++e) {
      experts.push_back(
          make_expert(options_.expert(), options_.d_model(), options_.d_hidden(), d_out_));
    }
  }
  this->experts = register_module("experts", torch::nn::ModuleList());
  for (auto& expert : experts) this->experts->push_back(expert.ptr());
  expert_modules_ = std::move(experts);
}

MoEOutput MoEImpl::forward(const torch::Tensor& hidden) {
  const int64_t d_model = options_.d_model(), k = options_.k();
  TORCH_CHECK_VALUE(hidden.dim() >= 1 && hidden.size(-1) == d_model,
                    "MoE: hidden must have d_model=", d_model, " as its last dimension, got shape ",
                    python_shape(hidden.sizes()));
  auto routing = router->forward(hidden);
  const auto tokens = hidden.reshape({-1, d_model});
  const int64_t n_tokens = tokens.size(0);
  std::optional<int64_t> capacity;
  if (options_.capacity_factor()) {
    capacity = static_cast<int64_t>(std::ceil(*options_.capacity_factor() * n_tokens * k /
                                              static_cast<double>(options_.n_experts())));
  }
  // Slots sorted by expert (stable: token order kept), each expert on its own rows;
  // over capacity, an expert's later slots are dropped. The counts are read on the
  // host (one sync per forward on a GPU).
  const auto slot_expert = routing.indices.reshape(-1);
  const auto slot_token =
      torch::arange(n_tokens, tokens.options().dtype(torch::kInt64)).repeat_interleave(k);
  const auto slot_weight = routing.weights.reshape(-1);
  // (a plain `true` would pick the sort(dim, descending) overload)
  const auto order = std::get<1>(slot_expert.sort(std::optional<bool>(true), /*dim=*/0));
  const auto counts = expert_counts(slot_expert, options_.n_experts()).to(torch::kCPU);
  const auto* count_of = counts.const_data_ptr<int64_t>();
  auto output = tokens.new_zeros({n_tokens, d_out_});
  int64_t dropped = 0, start = 0;
  for (size_t e = 0; e < expert_modules_.size(); ++e) {
    const int64_t count = count_of[e];
    auto slots = order.slice(0, start, start + count);
    start += count;
    if (capacity && count > *capacity) {
      dropped += count - *capacity;
      slots = slots.slice(0, 0, *capacity);
    }
    if (slots.numel() == 0) continue;
    const auto chosen = slot_token.index_select(0, slots);
    const auto result = expert_modules_[e].forward(tokens.index_select(0, chosen));
    const auto weights = slot_weight.index_select(0, slots).to(result.scalar_type()).unsqueeze(1);
    output = output.index_add(0, chosen, (result * weights).to(output.scalar_type()));
  }
  const auto dropped_slots = torch::tensor(dropped, tokens.options().dtype(torch::kInt64));
  std::vector<int64_t> out_sizes(hidden.sizes().begin(), hidden.sizes().end() - 1);
  out_sizes.push_back(d_out_);
  return MoEOutput{
      output.reshape(out_sizes), std::move(routing), dropped_slots,
      dropped_slots.to(torch::kFloat32) / static_cast<double>(std::max<int64_t>(1, n_tokens * k))};
}

}  // namespace qmoe::nn
