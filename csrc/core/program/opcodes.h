// The opcodes and parameter sources of the flat program, generated from the one
// list in opcodes.def. Plain enums and constexpr switches, no containers:
// host and device code (math/, the kernels) include it.
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"

namespace qmoe::core {

enum class Opcode : int32_t {
#define QMOE_OPCODE(enumerator, value, name, python_name, wires, kind) enumerator = value,
#include "qmoe/core/program/opcodes.def"
#undef QMOE_OPCODE
};

enum class ParamSource : int32_t {
#define QMOE_PARAM_SOURCE(enumerator, value, python_name) enumerator = value,
#include "qmoe/core/program/opcodes.def"
#undef QMOE_PARAM_SOURCE
};

enum class OpcodeKind : int32_t { kFixed, kRotation, kChannel };

constexpr int32_t kOpcodeCount = 0
#define QMOE_OPCODE(enumerator, value, name, python_name, wires, kind) +1
#include "qmoe/core/program/opcodes.def"
#undef QMOE_OPCODE
    ;

constexpr int32_t kParamSourceCount = 0
#define QMOE_PARAM_SOURCE(enumerator, value, python_name) +1
#include "qmoe/core/program/opcodes.def"
#undef QMOE_PARAM_SOURCE
    ;

// The values run 0 .. count - 1 in list order: an opcode is valid iff it is in range.
#define QMOE_OPCODE(enumerator, value, name, python_name, wires, kind) \
  static_assert(value >= 0 && value < kOpcodeCount, "opcodes.def: values must be 0..count-1");
#include "qmoe/core/program/opcodes.def"
#undef QMOE_OPCODE

QMOE_HOST_DEVICE constexpr OpcodeKind opcode_kind(Opcode opcode) {
  switch (opcode) {
#define QMOE_OPCODE(enumerator, value, name, python_name, wires, kind) \
  case Opcode::enumerator:                                             \
    return OpcodeKind::k##kind;
#include "qmoe/core/program/opcodes.def"
#undef QMOE_OPCODE
  }
  return OpcodeKind::kFixed;
}

// Wires an operation acts on: 1, or 2 (wire1 used).
QMOE_HOST_DEVICE constexpr int opcode_wires(Opcode opcode) {
  switch (opcode) {
#define QMOE_OPCODE(enumerator, value, name, python_name, wires, kind) \
  case Opcode::enumerator:                                             \
    return wires;
#include "qmoe/core/program/opcodes.def"
#undef QMOE_OPCODE
  }
  return 1;
}

QMOE_HOST_DEVICE constexpr bool is_two_qubit(Opcode opcode) { return opcode_wires(opcode) == 2; }
// A rotation angle or a channel probability.
QMOE_HOST_DEVICE constexpr bool takes_parameter(Opcode opcode) {
  return opcode_kind(opcode) != OpcodeKind::kFixed;
}
QMOE_HOST_DEVICE constexpr bool is_channel(Opcode opcode) {
  return opcode_kind(opcode) == OpcodeKind::kChannel;
}

// The name error messages print; "unknown" outside the list.
const char* opcode_name(Opcode opcode);

}  // namespace qmoe::core
