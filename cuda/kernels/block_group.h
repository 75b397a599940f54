// The threads of one block as the block-per-sample kernels see them: their rank and
// count, the block's place in the grid, the barrier between the phases of a body and
// the block's dynamic shared memory. Under nvcc these are threadIdx, blockDim,
// blockIdx, gridDim, __syncthreads() and the extern __shared__ array; under a host
// compiler the launch emulation of tests/cuda/block_launch_emulation.h fills them in
// (a host thread per CUDA thread, a std::barrier per block, a per-block byte array).
// The bodies name nothing else of the device, so both compilers build the same source.
#pragma once

#include <cstdint>

// The block bodies call __syncthreads(): device-only under nvcc (never __host__, which
// would make nvcc compile a host copy that cannot synchronise), plain functions elsewhere.
#if defined(__CUDACC__)
#define QMOE_GROUP_DEVICE __device__
#else
#define QMOE_GROUP_DEVICE
#endif

namespace qmoe::cuda {

struct BlockGroup {
  uint32_t rank;                 // threadIdx.x
  uint32_t size;                 // blockDim.x: a power of two (the reductions halve it)
  uint32_t block;                // blockIdx.x
  uint32_t grid;                 // gridDim.x
  unsigned char* shared_memory;  // the block's dynamic shared memory
#if !defined(__CUDACC__)
  // The emulation's block barrier: every thread of the block calls wait(barrier).
  void (*wait)(void* barrier);
  void* barrier;
#endif

  // Every thread of the block arrives before any leaves; what one wrote before it is
  // visible to all after it (__syncthreads orders shared and global memory both).
  QMOE_GROUP_DEVICE void sync() const {
#if defined(__CUDACC__)
    __syncthreads();
#else
    wait(barrier);
#endif
  }
};

#if defined(__CUDACC__)
__device__ inline BlockGroup this_block() {
  // 16-byte aligned: the states placed after the reduction scratch are Complex<double>.
  extern __shared__ __align__(16) unsigned char block_shared_memory[];
  return BlockGroup{threadIdx.x, blockDim.x, blockIdx.x, gridDim.x, block_shared_memory};
}
#endif

}  // namespace qmoe::cuda
