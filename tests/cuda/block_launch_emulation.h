// A cooperative CUDA launch on the host, for the block-per-sample bodies
// (cuda/kernels/statevector_block_sample.cuh): every CUDA thread of the grid is a
// host thread (std::thread) running the body with its BlockGroup; a block's threads
// meet at the block's std::barrier wherever the body calls group.sync(), and share the
// block's dynamic shared memory, a byte array per block. Exact: the threads run
// concurrently between barriers in whatever order the host schedules them, so
// a body is only right here if it is right under any schedule the barriers allow
// (as on a GPU); a missing barrier shows as a wrong or varying result.
//
// Shared memory starts as 0xff bytes (NaN as float or double): a body that reads
// before it writes gets NaN, not a convenient zero. Test code only (C++20 for
// std::barrier); the kernels' source stays C++17.
#pragma once

#include <barrier>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "qmoe/cuda/kernels/block_group.h"

namespace qmoe::cuda::emulation {

inline void wait_at_block_barrier(void* barrier) {
  static_cast<std::barrier<>*>(barrier)->arrive_and_wait();
}

// Calls body(BlockGroup) on grid_dim x block_dim host threads at once (a real
// cooperative launch: the blocks run concurrently too), each block with
// `shared_bytes` of shared memory; returns when every thread has finished.
template <class Body>
void launch_blocks(uint32_t grid_dim, uint32_t block_dim, size_t shared_bytes, Body&& body) {
  std::vector<std::unique_ptr<std::barrier<>>> barriers;
  std::vector<std::vector<unsigned char>> shared(grid_dim);
  for (uint32_t block = 0; block < grid_dim; ++block) {
    barriers.push_back(std::make_unique<std::barrier<>>(block_dim));
    // Aligned for Complex<double> as __align__(16) makes it on the device.
    shared[block].assign(shared_bytes + 16, 0xff);
  }
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(grid_dim) * block_dim);
  for (uint32_t block = 0; block < grid_dim; ++block) {
    auto address = reinterpret_cast<uintptr_t>(shared[block].data());
    unsigned char* aligned = shared[block].data() + ((16 - address % 16) % 16);
    for (uint32_t thread = 0; thread < block_dim; ++thread) {
      const BlockGroup group{thread,
                             block_dim,
                             block,
                             grid_dim,
                             aligned,
                             &wait_at_block_barrier,
                             barriers[block].get()};
      threads.emplace_back([group, &body] { body(group); });
    }
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace qmoe::cuda::emulation
