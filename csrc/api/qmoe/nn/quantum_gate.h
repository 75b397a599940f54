// QuantumGate: the variational-circuit router of qmoe_torch.gates.QuantumGate,
// with its options and parameter names (projection.weight/bias, circuit_weights,
// adapter.weight/bias, scale), so one state dict serves both. Noise models are
// Python-only; a gate trained with noise loads here as its noiseless circuit.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cmath>
#include <optional>
#include <string>

#include "qmoe/nn/circuit_program.h"

namespace qmoe::nn {

struct QuantumGateOptions {
  QuantumGateOptions(int64_t d_model, int64_t n_experts)
      : d_model_(d_model), n_experts_(n_experts) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_experts);
  // Default: enough wires for the readout (with projection), d_model without.
  TORCH_ARG(std::optional<int64_t>, n_qubits) = std::nullopt;
  TORCH_ARG(int64_t, layers) = 3;
  TORCH_ARG(std::string, embedding) = "X";       // "X", "Y" or "Z"
  TORCH_ARG(std::string, readout) = "expval";    // "expval", "probs" or "parity"
  TORCH_ARG(std::string, entangler) = "strong";  // "strong" or "basic"
  TORCH_ARG(int64_t, reuploads) = 1;
  TORCH_ARG(double, angle_range) = M_PI;
  TORCH_ARG(std::string, diff_method) = "adjoint";  // or "parameter_shift"
  TORCH_ARG(bool, projection) = true;
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;
};

class QuantumGateImpl : public torch::nn::Module {
 public:
  explicit QuantumGateImpl(QuantumGateOptions options);

  // hidden[..., d_model] -> logits[..., n_experts].
  torch::Tensor forward(const torch::Tensor& hidden);
  // The circuit's per-token angles [tokens, n_qubits].
  torch::Tensor angles(const torch::Tensor& hidden);

  const QuantumGateOptions& options() const { return options_; }
  int64_t n_experts() const { return options_.n_experts(); }
  int64_t n_qubits() const { return circuit_.n_qubits; }
  const CircuitProgram& circuit() const { return circuit_; }

  torch::nn::Linear projection{nullptr};
  torch::Tensor circuit_weights;
  torch::nn::Linear adapter{nullptr};
  torch::Tensor scale;

 private:
  QuantumGateOptions options_;
  CircuitProgram circuit_;
};

TORCH_MODULE(QuantumGate);

}  // namespace qmoe::nn
