// The program, its constants and the readout as the CUDA kernels take them: fixed-size
// structs passed BY VALUE as kernel arguments. A launch then needs no device copy of
// the program (no cudaMalloc, no cudaMemcpy, no host synchronisation: CUDA-graph safe),
// and every thread reads the same words from the kernel-parameter bank, which is
// cached and broadcast to a warp. The price is a capacity: all kernel parameters
// together must stay under 4 KB (the limit every driver accepts), so the builders
// below refuse what does not fit, naming the limit, instead of truncating.
//
// Plain data (no containers) for the device; the builders are host-only code.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "qmoe/core/math/host_device.h"
#include "qmoe/core/program/opcodes.h"
#include "qmoe/core/program/program.h"

namespace qmoe::cuda {

// Operations, constants and Pauli-Z masks one launch can carry. Sized so that
// DeviceProgram + DeviceReadout + the largest argument struct stay under 4 KB
// (static_assert in statevector_kernels.h): 384 ops hold 12 layers of 8 qubits
// (RZ RY RZ + CNOT per wire), a router's usual depth.
constexpr int kDeviceProgramCapacity = 384;
constexpr int kDeviceConstantCapacity = 32;
constexpr int kDeviceMaskCapacity = 64;
// The whole parameter space of a kernel launch.
constexpr int kKernelParameterLimit = 4096;

// One operation in 8 bytes: the program format's five words, narrowed once the
// program is validated (wires < 256; sources 0..3; the index of an input column,
// weight or constant in 32 bits, -1 for none).
struct PackedOp {
  uint8_t opcode;
  uint8_t wire0;
  uint8_t wire1;  // 0xff for one-qubit operations
  uint8_t source;
  int32_t index;
};
static_assert(sizeof(PackedOp) == 8, "PackedOp: 8 bytes per operation");

struct DeviceProgram {
  int32_t n_qubits;
  int32_t n_ops;
  int32_t n_constants;
  int32_t reserved;  // keeps the arrays 8-byte aligned without implicit padding
  PackedOp ops[kDeviceProgramCapacity];
  // In double, as the program format gives them; converted to Real where used.
  double constants[kDeviceConstantCapacity];
};

// The diagonal readout: 2**n probabilities, or one Pauli-Z product per mask. The
// masks are over basis-index bits (wire w is bit n - 1 - w), already mapped from the
// wire masks of the operators (core::index_masks_from_wires).
struct DeviceReadout {
  int32_t probs;
  int32_t n_masks;
  uint32_t index_masks[kDeviceMaskCapacity];
};

QMOE_HOST_DEVICE inline int64_t readout_width(const DeviceReadout& readout, int n_qubits) {
  return readout.probs ? (int64_t{1} << n_qubits) : readout.n_masks;
}

// ---- host-side builders --------------------------------------------------------------------

// From a validated program (core::parse_program) and the constants it may reference.
// Only the referenced prefix of `constants` travels, as in the CPU engine. Throws
// std::invalid_argument naming the limit when the program does not fit, and for
// channels unless `allow_channels` (the statevector kernels simulate pure states; the
// density-matrix kernels take channels, their probability in the op's source).
inline DeviceProgram make_device_program(const core::Program& program, const double* constants,
                                         int64_t n_constants, bool allow_channels = false) {
  const std::string kernels =
      allow_channels ? "CUDA density-matrix kernels" : "CUDA statevector kernels";
  const int64_t n_ops = static_cast<int64_t>(program.operations.size());
  if (n_ops > kDeviceProgramCapacity) {
    throw std::invalid_argument(
        kernels + ": the program has " + std::to_string(n_ops) + " operations, more than the " +
        std::to_string(kDeviceProgramCapacity) +
        " a launch carries (kDeviceProgramCapacity, bounded by the 4 KB kernel-parameter limit)");
  }
  if (program.n_qubits < 1 || program.n_qubits > 255) {
    throw std::invalid_argument(kernels + ": n_qubits " + std::to_string(program.n_qubits) +
                                " outside 1..255");
  }
  DeviceProgram device{};
  device.n_qubits = program.n_qubits;
  device.n_ops = static_cast<int32_t>(n_ops);
  int64_t referenced_constants = 0;
  for (int64_t i = 0; i < n_ops; ++i) {
    const core::Operation& op = program.operations[static_cast<size_t>(i)];
    const std::string where =
        kernels + ": operation " + std::to_string(i) + " (" + core::opcode_name(op.opcode) + ")";
    if (core::is_channel(op.opcode) && !allow_channels) {
      throw std::invalid_argument(where +
                                  " is a channel; the statevector kernels take pure states only");
    }
    if (op.index > INT32_MAX || op.index < -1) {
      throw std::invalid_argument(where + ": param_index " + std::to_string(op.index) +
                                  " does not fit in 32 bits");
    }
    if (op.source == core::ParamSource::kConstant) {
      referenced_constants =
          referenced_constants > op.index + 1 ? referenced_constants : op.index + 1;
    }
    PackedOp& packed = device.ops[i];
    packed.opcode = static_cast<uint8_t>(op.opcode);
    packed.wire0 = static_cast<uint8_t>(op.wire0);
    packed.wire1 = op.wire1 < 0 ? uint8_t{0xff} : static_cast<uint8_t>(op.wire1);
    packed.source = static_cast<uint8_t>(op.source);
    packed.index = static_cast<int32_t>(op.index);
  }
  if (referenced_constants > kDeviceConstantCapacity) {
    throw std::invalid_argument(
        kernels + ": the program references " + std::to_string(referenced_constants) +
        " constants, more than the " + std::to_string(kDeviceConstantCapacity) +
        " a launch carries (kDeviceConstantCapacity, bounded by the 4 KB kernel-parameter limit)");
  }
  if (referenced_constants > n_constants) {
    throw std::invalid_argument(kernels + ": the program references constant " +
                                std::to_string(referenced_constants - 1) + " of " +
                                std::to_string(n_constants));
  }
  device.n_constants = static_cast<int32_t>(referenced_constants);
  for (int64_t c = 0; c < referenced_constants; ++c) device.constants[c] = constants[c];
  return device;
}

inline DeviceReadout make_probs_readout() {
  DeviceReadout readout{};
  readout.probs = 1;
  return readout;
}

// From basis-index masks (core::index_masks_from_wires validates the wire masks).
inline DeviceReadout make_expval_readout(const int64_t* index_masks, int64_t n_masks) {
  if (n_masks > kDeviceMaskCapacity) {
    throw std::invalid_argument(
        "CUDA statevector kernels: " + std::to_string(n_masks) + " z_masks, more than the " +
        std::to_string(kDeviceMaskCapacity) +
        " a launch carries (kDeviceMaskCapacity, bounded by the 4 KB kernel-parameter limit)");
  }
  DeviceReadout readout{};
  readout.probs = 0;
  readout.n_masks = static_cast<int32_t>(n_masks);
  for (int64_t m = 0; m < n_masks; ++m) {
    if (index_masks[m] < 0 || index_masks[m] > UINT32_MAX) {
      throw std::invalid_argument("CUDA statevector kernels: index mask " + std::to_string(m) +
                                  " outside 32 bits");
    }
    readout.index_masks[m] = static_cast<uint32_t>(index_masks[m]);
  }
  return readout;
}

}  // namespace qmoe::cuda
