// qmoe::top_k_routing: top-k routing over a gate's logits (TopKRouter, in Python and
// in C++), as one operator made of ATen calls (CompositeImplicitAutograd).
//
// A decoding step routes a few tokens, where each Python-level ATen call costs more
// than its arithmetic: one call from Python instead of four (softmax, topk, sum,
// div). Composite, so autograd, torch.compile, torch.export, functorch and autocast
// see the ATen calls it is made of and need nothing of their own: the same bits and
// the same graph as those calls written out in Python.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <tuple>

namespace qmoe::ops {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> top_k_routing(const at::Tensor& logits, int64_t k,
                                                             bool softmax_before,
                                                             bool renormalize) {
  TORCH_CHECK_VALUE(logits.dim() == 2, "top_k_routing: logits must be [tokens, n_experts], got ",
                    logits.dim(), " dimensions");
  // sym_size: under torch.export / torch.compile the token count is symbolic and must
  // stay so (size() would specialise it); the expert count is static
  const c10::SymInt n_experts = logits.sym_size(1);
  TORCH_CHECK_VALUE(1 <= k && n_experts >= k, "top_k_routing: k=", k,
                    " must be between 1 and n_experts=", n_experts);
  // routing decisions in at least float32, whatever the model's dtype
  const bool narrow = logits.scalar_type() == at::kHalf || logits.scalar_type() == at::kBFloat16;
  const at::Tensor wide = narrow ? logits.to(at::kFloat) : logits;
  const at::Tensor probs = at::softmax(wide, -1);
  if (softmax_before) {
    auto [weights, indices] = at::topk(probs, k, -1);
    if (renormalize) weights = weights / weights.sum(-1, /*keepdim=*/true);
    return {probs, weights, indices};
  }
  auto [top_logits, indices] = at::topk(wide, k, -1);
  return {probs, at::softmax(top_logits, -1), indices};
}

}  // namespace

TORCH_LIBRARY_IMPL(qmoe, CompositeImplicitAutograd, m) { m.impl("top_k_routing", &top_k_routing); }

}  // namespace qmoe::ops
