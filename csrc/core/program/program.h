// The flat circuit program shared by every engine (docs/program.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qmoe/core/program/opcodes.h"

namespace qmoe::core {

// Words per operation in the flat program.
constexpr int kOperationWidth = 5;

// The statevector engine refuses more qubits than this: a sample's state is
// 2**n complex amplitudes and the adjoint sweep holds two of them per thread.
constexpr int kMaxStatevectorQubits = 24;

struct Operation {
  Opcode opcode;
  int32_t wire0;
  int32_t wire1;  // -1 for one-qubit operations
  ParamSource source;
  int64_t index;  // -1 when source is kNone
};

struct Program {
  int n_qubits = 0;
  std::vector<Operation> operations;
};

// What a program may reference, known only once the tensors are at hand.
struct ProgramLimits {
  int64_t n_input_columns = 0;
  int64_t n_weights = 0;
  int64_t n_constants = 0;
  int max_qubits = kMaxStatevectorQubits;
  bool allow_channels = false;
};

// Parses and validates a flat program. Throws std::invalid_argument whose
// message names the operation and the field at fault.
Program parse_program(const int64_t* words, int64_t n_words, int64_t n_qubits,
                      const ProgramLimits& limits);

// Validates Pauli-Z masks over wires (bit w = wire w). Throws std::invalid_argument.
void validate_z_masks(const int64_t* masks, int64_t n_masks, int n_qubits);

}  // namespace qmoe::core
