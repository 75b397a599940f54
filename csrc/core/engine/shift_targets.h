// The parameter-shift rule's targets: every rotation whose angle comes from an
// input column or a weight, in program order. Each is evaluated at +pi/2 and
// -pi/2 by every engine's shift driver; its derivative goes to `index` of that
// source. Channel probabilities have no shift rule and are never targets.
#pragma once

#include <cstdint>
#include <vector>

#include "qmoe/core/program/program.h"

namespace qmoe::core {

inline constexpr double kShiftAngle = 1.57079632679489661923132169163975144;  // pi/2

struct ShiftTarget {
  ParamSource source;
  int64_t index;
  int64_t operation;  // position in the program
};

std::vector<ShiftTarget> shift_targets(const Program& program);

}  // namespace qmoe::core
