#include "qmoe/nn/linear_gate.h"

#include "qmoe/nn/gate_support.h"

namespace qmoe::nn {

LinearGateImpl::LinearGateImpl(LinearGateOptions options) : options_(std::move(options)) {
  linear = register_module(
      "linear", torch::nn::Linear(torch::nn::LinearOptions(options_.d_model(), options_.n_experts())
                                      .bias(options_.bias())));
  linear->to(options_.dtype());
}

torch::Tensor LinearGateImpl::forward(const torch::Tensor& hidden) {
  check_hidden(hidden, options_.d_model(), "LinearGate");
  return linear(hidden.to(linear->weight.scalar_type())).to(gate_output_dtype(hidden));
}

}  // namespace qmoe::nn
