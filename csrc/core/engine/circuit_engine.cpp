#include "qmoe/core/engine/circuit_engine.h"

#include <stdexcept>

namespace qmoe::core {

DiffMethod parse_diff_method(const std::string& name) {
  if (name == "adjoint") return DiffMethod::kAdjoint;
  if (name == "parameter_shift") return DiffMethod::kParameterShift;
  throw std::invalid_argument("diff_method=\"" + name +
                              "\" is unknown (expected \"adjoint\" or \"parameter_shift\")");
}

EngineKind engine_kind_for(const Program& program) {
  for (const Operation& op : program.operations) {
    if (is_channel(op.opcode)) return EngineKind::kDensityMatrix;
  }
  return EngineKind::kStatevector;
}

const char* engine_kind_name(EngineKind kind) {
  return kind == EngineKind::kDensityMatrix ? "density_matrix" : "statevector";
}

}  // namespace qmoe::core
