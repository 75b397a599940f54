// The flat circuit program of a QuantumGate (docs/program.md), built as
// qmoe_torch.gates.QuantumGate builds it, so that a gate's circuit weights mean
// the same angles in C++ as in Python.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qmoe::nn {

struct CircuitProgram {
  int64_t n_qubits = 0;
  std::vector<int64_t> program;  // five integers per operation
  std::vector<double> constants;
  std::vector<int64_t> z_masks;  // empty for a probability readout
  int64_t n_weights = 0;
};

// Angle embedding (rotation "X", "Y" or "Z") of inputs 0..n_qubits-1, then `layers`
// entangling layers ("strong": StronglyEntanglingLayers, "basic":
// BasicEntanglerLayers with RX), the pair repeated `reuploads` times with fresh
// weights; readout "expval" (Z on every wire), "parity" (the first n_experts
// non-empty wire sets, fewest wires first) or "probs".
CircuitProgram gate_circuit(int64_t n_qubits, int64_t n_experts, int64_t layers,
                            const std::string& embedding, const std::string& entangler,
                            int64_t reuploads, const std::string& readout);

}  // namespace qmoe::nn
