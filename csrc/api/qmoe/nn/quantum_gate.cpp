#include "qmoe/nn/quantum_gate.h"

#include <torch/nn/init.h>
#include <torch/types.h>

#include "qmoe/nn/gate_support.h"
#include "qmoe/ops.h"

namespace qmoe::nn {
namespace {

// log of a probability floor: keeps "probs" logits finite when a basis state has p = 0
constexpr double kProbabilityFloor = 1e-12;

int64_t default_qubits(int64_t n_experts, const std::string& readout) {
  int64_t bits = 0;  // ceil(log2(n_experts + offset))
  const int64_t count = readout == "parity" ? n_experts + 1 : n_experts;
  while ((int64_t{1} << bits) < count) ++bits;
  if (readout == "expval") return std::max<int64_t>(2, bits);
  return std::max<int64_t>(1, bits);
}

// The checks of Python's QuantumGate.__init__, with its messages.
int64_t checked_qubits(const QuantumGateOptions& o) {
  TORCH_CHECK_VALUE(o.d_model() >= 1 && o.n_experts() >= 1,
                    "QuantumGate: d_model and n_experts must be >= 1, got ", o.d_model(), " and ",
                    o.n_experts());
  TORCH_CHECK_VALUE(o.readout() == "expval" || o.readout() == "probs" || o.readout() == "parity",
                    "QuantumGate: readout='", o.readout(),
                    "', expected 'expval', 'probs' or 'parity'");
  TORCH_CHECK_VALUE(o.entangler() == "strong" || o.entangler() == "basic",
                    "QuantumGate: entangler='", o.entangler(), "', expected 'strong' or 'basic'");
  TORCH_CHECK_VALUE(o.layers() >= 0 && o.reuploads() >= 1,
                    "QuantumGate: layers must be >= 0 and reuploads >= 1, got ", o.layers(),
                    " and ", o.reuploads());
  TORCH_CHECK_VALUE(o.diff_method() == "adjoint" || o.diff_method() == "parameter_shift",
                    "QuantumGate: diff_method='", o.diff_method(),
                    "', expected 'adjoint' or 'parameter_shift'");
  const int64_t n_qubits = o.n_qubits().value_or(
      o.projection() ? default_qubits(o.n_experts(), o.readout()) : o.d_model());
  TORCH_CHECK_VALUE(o.projection() || o.d_model() == n_qubits,
                    "QuantumGate: projection=False embeds the d_model=", o.d_model(),
                    " features directly and needs n_qubits == d_model, got ", n_qubits);
  TORCH_CHECK_VALUE(n_qubits >= 1 && n_qubits < 63, "n_qubits=", n_qubits, " must be at least 1");
  const int64_t states = int64_t{1} << n_qubits;
  TORCH_CHECK_VALUE(o.readout() != "probs" || o.n_experts() <= states,
                    "QuantumGate: readout='probs' gives 2**n_qubits = ", states,
                    " scores, fewer than n_experts=", o.n_experts());
  TORCH_CHECK_VALUE(o.readout() != "parity" || o.n_experts() <= states - 1,
                    "QuantumGate: readout='parity' gives 2**n_qubits - 1 = ", states - 1,
                    " Z strings, fewer than n_experts=", o.n_experts());
  return n_qubits;
}

}  // namespace

QuantumGateImpl::QuantumGateImpl(QuantumGateOptions options) : options_(std::move(options)) {
  const int64_t n_qubits = checked_qubits(options_);
  circuit_ = gate_circuit(n_qubits, options_.n_experts(), options_.layers(), options_.embedding(),
                          options_.entangler(), options_.reuploads(), options_.readout());
  const auto dtype = torch::TensorOptions().dtype(options_.dtype());
  if (options_.projection()) {
    projection = register_module(
        "projection", torch::nn::Linear(torch::nn::LinearOptions(options_.d_model(), n_qubits)));
    projection->to(options_.dtype());
  }
  circuit_weights =
      register_parameter("circuit_weights", torch::rand({circuit_.n_weights}, dtype) * (2 * M_PI));
  if (options_.readout() == "expval") {
    adapter = register_module(
        "adapter", torch::nn::Linear(torch::nn::LinearOptions(n_qubits, options_.n_experts())));
    adapter->to(options_.dtype());
  }
  if (options_.readout() == "parity") scale = register_parameter("scale", torch::ones({}, dtype));
}

torch::Tensor QuantumGateImpl::angles(const torch::Tensor& hidden) {
  auto tokens = hidden.reshape({-1, options_.d_model()}).to(circuit_weights.scalar_type());
  if (!projection) return tokens;
  return options_.angle_range() * torch::sigmoid(projection(tokens));
}

torch::Tensor QuantumGateImpl::forward(const torch::Tensor& hidden) {
  check_hidden(hidden, options_.d_model(), "QuantumGate");
  const auto angles = this->angles(hidden);
  torch::Tensor logits;
  if (options_.readout() == "probs") {
    const auto probabilities =
        qmoe::probs(angles, circuit_weights, std::nullopt, circuit_.program, circuit_.constants,
                    circuit_.n_qubits, options_.diff_method());
    logits = torch::log(probabilities.slice(1, 0, options_.n_experts()) + kProbabilityFloor);
  } else {
    const auto values =
        qmoe::expval(angles, circuit_weights, std::nullopt, circuit_.program, circuit_.constants,
                     circuit_.n_qubits, circuit_.z_masks, options_.diff_method());
    logits = adapter ? adapter(values) : scale * values;
  }
  return logits.reshape(with_last_dimension(hidden, options_.n_experts()))
      .to(gate_output_dtype(hidden));
}

}  // namespace qmoe::nn
