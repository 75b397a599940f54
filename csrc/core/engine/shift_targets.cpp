#include "qmoe/core/engine/shift_targets.h"

namespace qmoe::core {

std::vector<ShiftTarget> shift_targets(const Program& program) {
  std::vector<ShiftTarget> targets;
  for (size_t i = 0; i < program.operations.size(); ++i) {
    const Operation& op = program.operations[i];
    if (is_channel(op.opcode) || !takes_parameter(op.opcode)) continue;
    if (op.source != ParamSource::kInput && op.source != ParamSource::kWeight) continue;
    targets.push_back({op.source, op.index, static_cast<int64_t>(i)});
  }
  return targets;
}

}  // namespace qmoe::core
