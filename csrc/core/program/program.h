// The flat circuit program shared by every engine (docs/program.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qmoe::core {

enum class Opcode : int32_t {
  kH = 0,
  kX = 1,
  kY = 2,
  kZ = 3,
  kS = 4,
  kT = 5,
  kCnot = 6,
  kCz = 7,
  kSwap = 8,
  kRx = 9,
  kRy = 10,
  kRz = 11,
  kIsingXX = 12,
  kIsingYY = 13,
  kIsingZZ = 14,
  kDepolarizing = 15,
  kAmplitudeDamping = 16,
  kPhaseDamping = 17,
  kBitFlip = 18,
};
constexpr int32_t kOpcodeCount = 19;

enum class ParamSource : int32_t { kNone = 0, kInput = 1, kWeight = 2, kConstant = 3 };

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

const char* opcode_name(Opcode opcode);
bool is_two_qubit(Opcode opcode);
bool takes_parameter(Opcode opcode);
bool is_channel(Opcode opcode);

// Parses and validates a flat program. Throws std::invalid_argument whose
// message names the operation and the field at fault.
Program parse_program(const int64_t* words, int64_t n_words, int64_t n_qubits,
                      const ProgramLimits& limits);

// Validates Pauli-Z masks over wires (bit w = wire w). Throws std::invalid_argument.
void validate_z_masks(const int64_t* masks, int64_t n_masks, int n_qubits);

}  // namespace qmoe::core
