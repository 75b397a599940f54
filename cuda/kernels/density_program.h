// What a call must satisfy before the density-matrix kernels launch, checked on the
// host where the CPU engine checks it (csrc/core/cpu/density/), with its messages:
// channel probabilities that are constants of the program in [0, 1], and no
// parameter-shift gradient of a channel probability. Probabilities read from inputs or
// weights live on the device; the kernels check those per sample (density_sample.cuh).
// Host-only code.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "qmoe/core/program/opcodes.h"
#include "qmoe/core/program/program.h"
#include "qmoe/cuda/kernels/device_program.h"

namespace qmoe::cuda {

inline std::string density_operation_label(size_t op_index, core::Opcode opcode) {
  return "program: operation " + std::to_string(op_index) + " (" + core::opcode_name(opcode) + ")";
}

// The by-value program of a density-matrix launch (channels allowed); throws
// std::invalid_argument as make_device_program does, and for a constant channel
// probability outside [0, 1].
inline DeviceProgram make_density_device_program(const core::Program& program,
                                                 const double* constants, int64_t n_constants) {
  const DeviceProgram device =
      make_device_program(program, constants, n_constants, /*allow_channels=*/true);
  for (size_t i = 0; i < program.operations.size(); ++i) {
    const core::Operation& op = program.operations[i];
    if (!core::is_channel(op.opcode) || op.source != core::ParamSource::kConstant) continue;
    const double p = device.constants[op.index];
    if (!(p >= 0.0 && p <= 1.0)) {
      throw std::invalid_argument(density_operation_label(i, op.opcode) + ": probability " +
                                  std::to_string(p) + " (constants[" + std::to_string(op.index) +
                                  "]) is outside [0, 1]");
    }
  }
  return device;
}

// The parameter-shift rule holds for rotation angles only: a gradient asked of a
// channel probability read from inputs or weights is refused.
inline void check_density_parameter_shift(const core::Program& program, bool input_gradients,
                                          bool weight_gradients) {
  for (size_t i = 0; i < program.operations.size(); ++i) {
    const core::Operation& op = program.operations[i];
    if (!core::is_channel(op.opcode)) continue;
    if ((op.source == core::ParamSource::kInput && input_gradients) ||
        (op.source == core::ParamSource::kWeight && weight_gradients)) {
      throw std::invalid_argument(
          density_operation_label(i, op.opcode) +
          ": parameter_shift cannot differentiate a channel probability (the shift rule "
          "holds for rotation angles only); use diff_method='adjoint' or a constant");
    }
  }
}

}  // namespace qmoe::cuda
