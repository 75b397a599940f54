// How the block-per-sample kernels split a program into fused passes when the states
// live in global memory: a segment is a run of consecutive operations whose basis bits
// together fit a tile of `tile_qubits` bits, so the block can walk the 2**(n - t)
// tiles of the segment's bit set (gather a tile's amplitudes into shared memory, apply
// every gate of the segment there, scatter them back) and read and write the global
// state once per segment instead of once per gate.
//
// Planned on the device, by every thread of the block alike, while it walks the
// program: a greedy scan over the by-value program (a few integer operations per op,
// read from the broadcast parameter bank) costs less than the gates and needs no
// kernel-parameter space (the program already takes most of the 4 KB), no host work
// per launch and no device copy. The same functions run on the host for the tests and
// for the pass counts of benchmarks/results/cuda_resources.md. Deterministic: the
// segments depend on the program and the tile size only.
//
// Plain functions over the program, host and device; no containers.
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"
#include "qmoe/core/program/opcodes.h"
#include "qmoe/cuda/kernels/device_program.h"

namespace qmoe::cuda {

// Rotations whose angle gradient one backward segment keeps as per-thread partials
// (shared memory: kMaxSegmentGradients x block_dim Reals): a backward segment closes
// when one more would not fit.
constexpr int kMaxSegmentGradients = 16;

// Consecutive operations [begin, end) and the basis-index bits they act on (wire w is
// bit n - 1 - w).
struct GateSegment {
  int32_t begin;
  int32_t end;
  uint32_t bits;
};

QMOE_HOST_DEVICE inline int bit_count(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __popc(bits);
#else
  return __builtin_popcount(bits);
#endif
}

// The bits an operation acts on: one or two.
QMOE_HOST_DEVICE inline uint32_t operation_bits(const PackedOp& op, int n_qubits) {
  uint32_t bits = uint32_t{1} << (n_qubits - 1 - op.wire0);
  if (core::is_two_qubit(static_cast<core::Opcode>(op.opcode))) {
    bits |= uint32_t{1} << (n_qubits - 1 - op.wire1);
  }
  return bits;
}

// Whether the adjoint may want this operation's angle gradient (an input column or a
// weight): it takes a partial slot in a backward segment.
QMOE_HOST_DEVICE inline bool takes_gradient_slot(const PackedOp& op) {
  const auto source = static_cast<core::ParamSource>(op.source);
  return core::opcode_kind(static_cast<core::Opcode>(op.opcode)) == core::OpcodeKind::kRotation &&
         (source == core::ParamSource::kInput || source == core::ParamSource::kWeight);
}

// The longest segment that starts at operation `begin` (< n_ops) and runs forward.
QMOE_HOST_DEVICE inline GateSegment forward_segment(const DeviceProgram& program, int begin,
                                                    int tile_qubits) {
  GateSegment segment{begin, begin, 0};
  for (; segment.end < program.n_ops; ++segment.end) {
    const uint32_t bits = segment.bits | operation_bits(program.ops[segment.end], program.n_qubits);
    if (bit_count(bits) > tile_qubits) break;
    segment.bits = bits;
  }
  return segment;
}

// The longest segment that ends at operation `end` - 1 (end > 0) and runs backward (the
// adjoint's reverse sweep), with at most kMaxSegmentGradients gradient slots.
QMOE_HOST_DEVICE inline GateSegment reverse_segment(const DeviceProgram& program, int end,
                                                    int tile_qubits) {
  GateSegment segment{end, end, 0};
  int slots = 0;
  for (; segment.begin > 0; --segment.begin) {
    const PackedOp& op = program.ops[segment.begin - 1];
    const uint32_t bits = segment.bits | operation_bits(op, program.n_qubits);
    const int more = takes_gradient_slot(op) ? 1 : 0;
    if (bit_count(bits) > tile_qubits || slots + more > kMaxSegmentGradients) break;
    segment.bits = bits;
    slots += more;
  }
  return segment;
}

// The tile's bits: the segment's, completed to `tile_qubits` with the lowest bits not
// among them (so a tile usually holds runs of neighbouring amplitudes: coalesced
// gathers). `n_qubits` >= tile_qubits.
QMOE_HOST_DEVICE inline uint32_t tile_bits(uint32_t segment_bits, int n_qubits, int tile_qubits) {
  uint32_t bits = segment_bits;
  for (int bit = 0; bit < n_qubits && bit_count(bits) < tile_qubits; ++bit) {
    bits |= uint32_t{1} << bit;
  }
  return bits;
}

// `value`'s low bits placed, in order, at the set bits of `mask` (a software pdep): the
// index map between a tile's local index and the state's.
QMOE_HOST_DEVICE inline int deposit_bits(int value, uint32_t mask) {
  int result = 0;
  for (uint32_t rest = mask; rest != 0 && value != 0; rest &= rest - 1, value >>= 1) {
    if (value & 1) result |= static_cast<int>(rest & (~rest + 1));
  }
  return result;
}

// Where global bit `bit` (a bit of `mask`) sits in the tile's local index.
QMOE_HOST_DEVICE inline int local_bit(uint32_t mask, int bit) {
  return bit_count(mask & ((uint32_t{1} << bit) - 1));
}

// The passes over the global state of a program: the forward's, and the reverse
// sweep's (each reads and writes psi and lambda once). Host-side counts for the tests
// and the resource report.
inline int count_forward_segments(const DeviceProgram& program, int tile_qubits) {
  int segments = 0;
  for (int begin = 0; begin < program.n_ops; ++segments) {
    begin = forward_segment(program, begin, tile_qubits).end;
  }
  return segments;
}

inline int count_reverse_segments(const DeviceProgram& program, int tile_qubits) {
  int segments = 0;
  for (int end = program.n_ops; end > 0; ++segments) {
    end = reverse_segment(program, end, tile_qubits).begin;
  }
  return segments;
}

}  // namespace qmoe::cuda
