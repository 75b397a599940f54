#include "qmoe/core/program/program.h"

#include <sstream>
#include <stdexcept>

namespace qmoe::core {
namespace {

[[noreturn]] void fail(int64_t op_index, const std::string& opcode, const std::string& what) {
  std::ostringstream message;
  message << "program: operation " << op_index;
  if (!opcode.empty()) message << " (" << opcode << ")";
  message << ": " << what;
  throw std::invalid_argument(message.str());
}

void check_wire(int64_t op_index, const char* name, const char* field, int64_t wire, int n_qubits) {
  if (wire < 0 || wire >= n_qubits) {
    fail(op_index, name,
         std::string(field) + "=" + std::to_string(wire) + " is out of range for n_qubits=" +
             std::to_string(n_qubits) + " (expected 0.." + std::to_string(n_qubits - 1) + ")");
  }
}

}  // namespace

const char* opcode_name(Opcode opcode) {
  switch (opcode) {
#define QMOE_OPCODE(enumerator, value, name, python_name, wires, kind) \
  case Opcode::enumerator:                                             \
    return name;
#include "qmoe/core/program/opcodes.def"
#undef QMOE_OPCODE
  }
  return "unknown";
}

Program parse_program(const int64_t* words, int64_t n_words, int64_t n_qubits,
                      const ProgramLimits& limits) {
  if (n_qubits < 1 || n_qubits > limits.max_qubits) {
    throw std::invalid_argument(
        "n_qubits=" + std::to_string(n_qubits) + " is out of range: expected 1.." +
        std::to_string(limits.max_qubits) + " (a sample's state holds 2**n_qubits amplitudes)");
  }
  if (n_words % kOperationWidth != 0) {
    throw std::invalid_argument("program: length " + std::to_string(n_words) +
                                " is not a multiple of " + std::to_string(kOperationWidth) +
                                " (opcode, wire0, wire1, param_source, param_index per op)");
  }
  Program program;
  program.n_qubits = static_cast<int>(n_qubits);
  program.operations.reserve(static_cast<size_t>(n_words / kOperationWidth));
  for (int64_t op_index = 0; op_index < n_words / kOperationWidth; ++op_index) {
    const int64_t* word = words + op_index * kOperationWidth;
    const int64_t opcode_value = word[0];
    if (opcode_value < 0 || opcode_value >= kOpcodeCount) {
      fail(op_index, "",
           "unknown opcode " + std::to_string(opcode_value) + " (expected 0.." +
               std::to_string(kOpcodeCount - 1) + ")");
    }
    const auto opcode = static_cast<Opcode>(opcode_value);
    const char* name = opcode_name(opcode);
    if (is_channel(opcode) && !limits.allow_channels) {
      fail(op_index, name,
           "noise channels need the density-matrix engine; the statevector engine cannot "
           "apply them");
    }
    check_wire(op_index, name, "wire0", word[1], program.n_qubits);
    if (is_two_qubit(opcode)) {
      check_wire(op_index, name, "wire1", word[2], program.n_qubits);
      if (word[1] == word[2]) {
        fail(op_index, name,
             "wire0 and wire1 are both " + std::to_string(word[1]) +
                 " (a two-qubit gate needs two distinct wires)");
      }
    } else if (word[2] != -1) {
      fail(op_index, name,
           "wire1=" + std::to_string(word[2]) + " must be -1 for a one-qubit operation");
    }
    const int64_t source_value = word[3];
    if (source_value < 0 || source_value >= kParamSourceCount) {
      fail(op_index, name,
           "param_source=" + std::to_string(source_value) +
               " is unknown (expected 0=none, 1=input, 2=weight, 3=constant)");
    }
    const auto source = static_cast<ParamSource>(source_value);
    const int64_t index = word[4];
    if (!takes_parameter(opcode)) {
      if (source != ParamSource::kNone || index != -1) {
        fail(op_index, name,
             "a fixed gate takes no parameter (expected param_source=0, "
             "param_index=-1)");
      }
    } else {
      int64_t bound = 0;
      const char* tensor = "";
      switch (source) {
        case ParamSource::kNone:
          fail(op_index, name, "param_source=0 (none) but this operation needs a parameter");
        case ParamSource::kInput:
          bound = limits.n_input_columns;
          tensor = "inputs columns";
          break;
        case ParamSource::kWeight:
          bound = limits.n_weights;
          tensor = "weights";
          break;
        case ParamSource::kConstant:
          bound = limits.n_constants;
          tensor = "constants";
          break;
      }
      if (index < 0 || index >= bound) {
        fail(op_index, name,
             "param_index=" + std::to_string(index) + " is out of range of " + tensor + " (size " +
                 std::to_string(bound) + ")");
      }
    }
    program.operations.push_back(Operation{opcode, static_cast<int32_t>(word[1]),
                                           static_cast<int32_t>(word[2]), source, index});
  }
  return program;
}

void validate_z_masks(const int64_t* masks, int64_t n_masks, int n_qubits) {
  const int64_t limit = int64_t{1} << n_qubits;
  for (int64_t i = 0; i < n_masks; ++i) {
    if (masks[i] < 0 || masks[i] >= limit) {
      throw std::invalid_argument("z_masks[" + std::to_string(i) + "]=" + std::to_string(masks[i]) +
                                  " names a wire outside 0.." + std::to_string(n_qubits - 1) +
                                  " (bit w of a mask = wire w)");
    }
  }
}

}  // namespace qmoe::core
