// Where the block-per-sample kernels keep a sample's states, and how many blocks a
// launch has. A block holds one sample at a time: the forward one state (psi), the
// adjoint and the parameter shift two (psi, lambda). Each state is 2**n complex
// amplitudes, in the block's dynamic shared memory while they fit (n <= 13: the
// "shared" decomposition) and in the block's slot of a global-memory workspace
// otherwise (n >= 14 always: the "global" decomposition; also the second state of a
// float64 backward at n = 13, 256 KB together). The blocks stride over the batch,
// so the workspace is grid_dim slots, not one per sample: its size is chosen to fit
// the device's free memory, and any grid gives the same bits (a sample's arithmetic
// does not depend on which block runs it).
//
// With the states in global memory (n >= 14), the gates run in fused passes
// (gate_segments.h): the shared memory then holds a tile of 2**tile_qubits amplitudes
// per state and, for a backward, the per-thread partials of a segment's angle
// gradients. The tile is the largest (up to kMaxTileQubits) whose tiles and partials
// fit kFusedSharedBudgetBytes, so a few blocks share a multiprocessor; chosen without
// a GPU to measure on, a budget to revisit with one.
//
// Plain data and host-side planning; the kernels read the layout by value.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "qmoe/core/math/host_device.h"
#include "qmoe/core/program/program.h"
#include "qmoe/cuda/kernels/gate_segments.h"

namespace qmoe::cuda {

// The qubit range of the block-per-sample kernels (below it, the thread-per-sample
// kernels hold the state; above kMaxSharedStateQubits no state is kept in shared memory).
constexpr int kMinBlockPerSampleQubits = 7;
constexpr int kMaxSharedStateQubits = 13;
constexpr int kMaxBlockPerSampleQubits = core::kMaxStatevectorQubits;
// Threads per block at most: a thread per amplitude quad up to this many.
constexpr int kMaxBlockThreads = 256;
// Fused passes: the tile's size at most, and the shared memory its tiles and gradient
// partials may take per block (a third of an H100's, half of an A100's).
constexpr int kMaxTileQubits = 12;
constexpr int64_t kFusedSharedBudgetBytes = 64 * 1024;
// make_block_layout's tile_qubits: choose (fused above kMaxSharedStateQubits).
constexpr int kAutomaticTile = -1;

// A thread per quad of amplitudes (the two-qubit gates' unit of work), at most
// kMaxBlockThreads and at least one warp: n = 7 -> 32, 8 -> 64, 9 -> 128, >= 10 -> 256.
QMOE_HOST_DEVICE inline int block_threads_for(int n_qubits) {
  if (n_qubits >= 10) return kMaxBlockThreads;
  const int quads = n_qubits >= 2 ? 1 << (n_qubits - 2) : 1;
  return quads < 32 ? 32 : quads;
}

struct BlockLayout {
  int32_t n_qubits;
  int32_t block_dim;      // threads per block, a power of two
  int32_t n_states;       // per sample: 1 (forward) or 2 (adjoint, parameter shift)
  int32_t shared_states;  // how many of them live in shared memory (the first ones)
  int64_t scratch_bytes;  // the reduction scratch at the start of shared memory
  int64_t state_bytes;    // 2**n complex amplitudes
  int64_t shared_bytes;   // dynamic shared memory per block: scratch + shared states
  int64_t slot_bytes;     // global workspace per block: the states not in shared memory
  int64_t grid_dim;       // blocks; each takes samples block, block + grid_dim, ...
  int32_t tile_qubits;    // fused passes over tiles of 2**tile_qubits amplitudes; 0: gate by gate
  int32_t partial_bytes;  // the backward's gradient partials after the scratch (fused only)
};

// What the launch may use on the device it is planned for.
struct BlockDeviceLimits {
  int64_t max_shared_bytes;     // dynamic shared memory a block may opt into
  int64_t max_resident_blocks;  // blocks that fill the device (SMs x blocks per SM)
};

// Bytes of the workspace the launch needs (zero when every state is in shared memory).
QMOE_HOST_DEVICE inline int64_t block_workspace_bytes(const BlockLayout& layout) {
  return layout.slot_bytes * layout.grid_dim;
}

// Where a fused layout keeps the tile of state `index` (0: psi, 1: lambda) in the
// block's shared memory.
QMOE_HOST_DEVICE inline int64_t tile_offset(const BlockLayout& layout, int index) {
  const int64_t tile_bytes = layout.state_bytes >> (layout.n_qubits - layout.tile_qubits);
  return layout.scratch_bytes + layout.partial_bytes + index * tile_bytes;
}

// The fused tile for a layout whose states are all in global memory: the largest
// t <= kMaxTileQubits whose tiles and partials fit both the budget and the device,
// or 0 (gate by gate) when not even a tile of two qubits does.
inline int choose_tile_qubits(const BlockLayout& layout, int real_size,
                              const BlockDeviceLimits& limits) {
  const int64_t partials =
      layout.n_states > 1 ? int64_t{kMaxSegmentGradients} * layout.block_dim * real_size : 0;
  for (int t = kMaxTileQubits < layout.n_qubits ? kMaxTileQubits : layout.n_qubits; t >= 2; --t) {
    const int64_t tiles = layout.n_states * (int64_t{1} << t) * 2 * real_size;
    if (partials + tiles <= kFusedSharedBudgetBytes &&
        layout.scratch_bytes + partials + tiles <= limits.max_shared_bytes) {
      return t;
    }
  }
  return 0;
}

// The layout for n qubits in precision `real_size` (4 or 8 bytes). `block_dim` 0
// takes block_threads_for(n); the emulated tests pass small blocks. `tile_qubits`:
// kAutomaticTile fuses the gates of n > kMaxSharedStateQubits (choose_tile_qubits), 0
// runs gate by gate, t >= 2 forces tiles of t qubits wherever every state is in global
// memory (the tests exercise the segments at small n).
inline BlockLayout make_block_layout(int n_qubits, int real_size, int n_states, int64_t batch_size,
                                     const BlockDeviceLimits& limits, int block_dim = 0,
                                     int tile_qubits = kAutomaticTile) {
  if (n_qubits < kMinBlockPerSampleQubits || n_qubits > kMaxBlockPerSampleQubits) {
    throw std::invalid_argument("CUDA block-per-sample statevector kernels: n_qubits " +
                                std::to_string(n_qubits) + " outside " +
                                std::to_string(kMinBlockPerSampleQubits) + ".." +
                                std::to_string(kMaxBlockPerSampleQubits));
  }
  if (block_dim == 0) block_dim = block_threads_for(n_qubits);
  if (block_dim < 1 || block_dim > 1024 || (block_dim & (block_dim - 1)) != 0) {
    throw std::invalid_argument("CUDA block-per-sample statevector kernels: block_dim " +
                                std::to_string(block_dim) + " is no power of two in 1..1024");
  }
  BlockLayout layout{};
  layout.n_qubits = n_qubits;
  layout.block_dim = block_dim;
  layout.n_states = n_states;
  // Rounded up to 16 bytes: the states after it are Complex<double>.
  layout.scratch_bytes = (int64_t{block_dim} * real_size + 15) / 16 * 16;
  layout.state_bytes = (int64_t{1} << n_qubits) * 2 * real_size;
  if (n_qubits <= kMaxSharedStateQubits) {
    const int64_t room = limits.max_shared_bytes - layout.scratch_bytes;
    const int64_t fit = room > 0 ? room / layout.state_bytes : 0;
    layout.shared_states = static_cast<int32_t>(fit < n_states ? fit : n_states);
  }
  layout.shared_bytes = layout.scratch_bytes + layout.shared_states * layout.state_bytes;
  if (tile_qubits != kAutomaticTile && tile_qubits != 0 &&
      (tile_qubits < 2 || tile_qubits > kMaxTileQubits || tile_qubits > n_qubits)) {
    throw std::invalid_argument("CUDA block-per-sample statevector kernels: tile_qubits " +
                                std::to_string(tile_qubits) + " outside 2.." +
                                std::to_string(kMaxTileQubits) + " and n_qubits " +
                                std::to_string(n_qubits));
  }
  if (layout.shared_states == 0) {
    if (tile_qubits == kAutomaticTile) {
      layout.tile_qubits =
          n_qubits > kMaxSharedStateQubits ? choose_tile_qubits(layout, real_size, limits) : 0;
    } else {
      layout.tile_qubits = tile_qubits;
    }
  }
  if (layout.tile_qubits > 0) {
    if (n_states > 1) {
      layout.partial_bytes = static_cast<int32_t>(
          (int64_t{kMaxSegmentGradients} * block_dim * real_size + 15) / 16 * 16);
    }
    layout.shared_bytes = tile_offset(layout, n_states);
  }
  layout.slot_bytes = (n_states - layout.shared_states) * layout.state_bytes;
  // Without a workspace, a block per sample (the grid limit of a launch aside);
  // with one, enough blocks to fill the device, each a workspace slot.
  const int64_t most = layout.slot_bytes == 0 ? int64_t{INT32_MAX} : limits.max_resident_blocks;
  layout.grid_dim = batch_size < most ? batch_size : most;
  if (layout.grid_dim < 1) layout.grid_dim = 1;
  return layout;
}

// Fewer blocks when their workspace slots would not fit `free_bytes` of device
// memory; std::invalid_argument naming the state size and the limit when not even
// one slot fits.
inline void fit_block_workspace(BlockLayout& layout, int64_t free_bytes) {
  if (layout.slot_bytes == 0 || block_workspace_bytes(layout) <= free_bytes) return;
  const int64_t slots = free_bytes / layout.slot_bytes;
  if (slots < 1) {
    throw std::invalid_argument(
        "n_qubits=" + std::to_string(layout.n_qubits) + ": a sample's state needs " +
        std::to_string(layout.slot_bytes) + " bytes of device workspace (" +
        std::to_string(layout.n_states - layout.shared_states) + " state(s) of 2**" +
        std::to_string(layout.n_qubits) + " amplitudes), more than the " +
        std::to_string(free_bytes) + " bytes free on the device");
  }
  layout.grid_dim = slots;
}

}  // namespace qmoe::cuda
