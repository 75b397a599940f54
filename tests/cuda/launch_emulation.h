// A CUDA launch on the host: the grid and the block become loops that call the
// kernel's body (the same QMOE_HOST_DEVICE function the __global__ wrapper calls)
// with each ThreadIndex. Exact for the bodies of cuda/kernels/, whose threads share
// nothing (no shared memory, no barriers, no atomics): any order of the threads is a
// legal schedule, and a test may pick one to show the result does not depend on it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "qmoe/cuda/kernels/kernel_args.h"

namespace qmoe::cuda::emulation {

enum class ThreadOrder { kAscending, kDescending, kShuffled };

// Calls body(ThreadIndex) once for every thread of a grid_dim x block_dim launch.
template <class Body>
void launch(uint32_t grid_dim, uint32_t block_dim, Body&& body,
            ThreadOrder order = ThreadOrder::kAscending, uint64_t seed = 0) {
  std::vector<ThreadIndex> threads;
  threads.reserve(static_cast<size_t>(grid_dim) * block_dim);
  for (uint32_t block = 0; block < grid_dim; ++block) {
    for (uint32_t thread = 0; thread < block_dim; ++thread) {
      threads.push_back(ThreadIndex{block, thread, block_dim, grid_dim});
    }
  }
  if (order == ThreadOrder::kDescending) std::reverse(threads.begin(), threads.end());
  if (order == ThreadOrder::kShuffled)
    std::shuffle(threads.begin(), threads.end(), std::mt19937_64(seed));
  for (const ThreadIndex& thread : threads) body(thread);
}

// A launch whose body starts with a block-wide phase ended by a barrier (the kernels'
// per-block table of shared half angles): every thread of every block runs `phase`
// first, then every thread runs `body`, in `order`. Finishing one phase everywhere
// before the next begins is one of the schedules a __syncthreads() allows, and the
// only one a phase's result may depend on, since the barrier orders them all.
template <class Phase, class Body>
void launch_two_phase(uint32_t grid_dim, uint32_t block_dim, Phase&& phase, Body&& body,
                      ThreadOrder order = ThreadOrder::kAscending, uint64_t seed = 0) {
  launch(grid_dim, block_dim, phase, order, seed);
  launch(grid_dim, block_dim, body, order, seed + 1);
}

// Blocks of block_dim threads covering n items, the last one padded.
inline uint32_t blocks_for(int64_t n, uint32_t block_dim) {
  return static_cast<uint32_t>((n + block_dim - 1) / block_dim);
}

}  // namespace qmoe::cuda::emulation
