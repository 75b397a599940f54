#include "qmoe/nn/circuit_program.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <bitset>

#include "qmoe/core/program/opcodes.h"

namespace qmoe::nn {
namespace {

using core::Opcode;
using core::ParamSource;

struct ProgramWriter {
  CircuitProgram& circuit;

  void add(Opcode opcode, int64_t wire0, int64_t wire1, ParamSource source, int64_t index) {
    circuit.program.insert(circuit.program.end(), {static_cast<int64_t>(opcode), wire0, wire1,
                                                   static_cast<int64_t>(source), index});
  }
  void fixed(Opcode opcode, int64_t wire0, int64_t wire1) {
    add(opcode, wire0, wire1, ParamSource::kNone, -1);
  }
  void with_weight(Opcode opcode, int64_t wire, int64_t index) {
    add(opcode, wire, -1, ParamSource::kWeight, index);
  }

  // templates.AngleEmbedding: feature i on wire i.
  void angle_embedding(Opcode rotation) {
    for (int64_t wire = 0; wire < circuit.n_qubits; ++wire) {
      add(rotation, wire, -1, ParamSource::kInput, wire);
    }
  }

  // templates.StronglyEntanglingLayers: a [layers, n, 3] weight block; Rot as RZ RY RZ,
  // then CNOT(i, (i + r) % n) with r = layer % (n - 1) + 1.
  void strongly_entangling(int64_t layers) {
    const int64_t n = circuit.n_qubits;
    const int64_t offset = circuit.n_weights;
    for (int64_t layer = 0; layer < layers; ++layer) {
      for (int64_t wire = 0; wire < n; ++wire) {
        const int64_t base = offset + (layer * n + wire) * 3;
        with_weight(Opcode::kRz, wire, base);
        with_weight(Opcode::kRy, wire, base + 1);
        with_weight(Opcode::kRz, wire, base + 2);
      }
      if (n > 1) {
        const int64_t range = layer % (n - 1) + 1;
        for (int64_t wire = 0; wire < n; ++wire) fixed(Opcode::kCnot, wire, (wire + range) % n);
      }
    }
    circuit.n_weights = offset + layers * n * 3;
  }

  // templates.BasicEntanglerLayers with RX: a [layers, n] block; a CNOT ring of range
  // 1 (none for one wire, a single CNOT(0, 1) for two).
  void basic_entangler(int64_t layers) {
    const int64_t n = circuit.n_qubits;
    const int64_t offset = circuit.n_weights;
    for (int64_t layer = 0; layer < layers; ++layer) {
      for (int64_t wire = 0; wire < n; ++wire) {
        with_weight(Opcode::kRx, wire, offset + layer * n + wire);
      }
      if (n == 2) {
        fixed(Opcode::kCnot, 0, 1);
      } else if (n > 2) {
        for (int64_t wire = 0; wire < n; ++wire) fixed(Opcode::kCnot, wire, (wire + 1) % n);
      }
    }
    circuit.n_weights = offset + layers * n;
  }
};

Opcode embedding_rotation(const std::string& embedding) {
  if (embedding == "X") return Opcode::kRx;
  if (embedding == "Y") return Opcode::kRy;
  if (embedding == "Z") return Opcode::kRz;
  TORCH_CHECK_VALUE(false, "QuantumGate: embedding='", embedding, "', expected 'X', 'Y' or 'Z'");
}

}  // namespace

CircuitProgram gate_circuit(int64_t n_qubits, int64_t n_experts, int64_t layers,
                            const std::string& embedding, const std::string& entangler,
                            int64_t reuploads, const std::string& readout) {
  CircuitProgram circuit;
  circuit.n_qubits = n_qubits;
  ProgramWriter writer{circuit};
  const Opcode rotation = embedding_rotation(embedding);
  for (int64_t repeat = 0; repeat < reuploads; ++repeat) {
    writer.angle_embedding(rotation);
    // One upload without layers is the embedding alone; re-uploading needs them.
    if (layers > 0 || reuploads > 1) {
      TORCH_CHECK_VALUE(layers >= 1, "n_layers=", layers, " must be at least 1");
      if (entangler == "strong") {
        writer.strongly_entangling(layers);
      } else {
        writer.basic_entangler(layers);
      }
    }
  }
  if (readout == "expval") {
    for (int64_t wire = 0; wire < n_qubits; ++wire) circuit.z_masks.push_back(int64_t{1} << wire);
  } else if (readout == "parity") {
    std::vector<int64_t> masks;
    for (int64_t mask = 1; mask < (int64_t{1} << n_qubits); ++mask) masks.push_back(mask);
    // fewest wires first, then by mask: Z0, Z1, ..., Z0Z1, ...
    std::stable_sort(masks.begin(), masks.end(), [](int64_t a, int64_t b) {
      const auto wires_a = std::bitset<64>(a).count(), wires_b = std::bitset<64>(b).count();
      return wires_a != wires_b ? wires_a < wires_b : a < b;
    });
    masks.resize(n_experts);
    circuit.z_masks = masks;
  }
  return circuit;
}

}  // namespace qmoe::nn
