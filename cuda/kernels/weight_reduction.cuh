// The deterministic sum over samples of the adjoint kernel's weight partials
// ([batch, n_weights], one row per sample): two launches, no float atomics, so a
// GPU gives the same bits on every run, as the CPU engine does on 1 or N threads.
//
//   stage 1: block j sums samples [j R, (j + 1) R) of each weight, in sample order,
//            in double, into block_sums[j, w] (R = kWeightReductionRange);
//   stage 2: block_sums summed over j in order, in double, rounded once to Real.
//
// Every (block, weight) sum has one owner thread and a fixed order, so the result
// depends on R only: not on the block size, the thread schedule, or which thread
// of a block takes which weight. Bodies written once for the device and the host
// emulation (tests/cuda/launch_emulation.h).
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"
#include "qmoe/cuda/kernels/kernel_args.h"

namespace qmoe::cuda {

// Samples per stage-1 block: a fixed constant (never derived from the device or the
// block size), so the grouping of the sums is the same on every GPU.
constexpr int64_t kWeightReductionRange = 256;

QMOE_HOST_DEVICE inline int64_t weight_reduction_blocks(int64_t batch_size) {
  return (batch_size + kWeightReductionRange - 1) / kWeightReductionRange;
}

// Doubles of workspace the reduction needs: block_sums[n_blocks, n_weights].
QMOE_HOST_DEVICE inline int64_t weight_reduction_workspace_length(int64_t batch_size,
                                                                  int64_t n_weights) {
  return weight_reduction_blocks(batch_size) * n_weights;
}

// Stage 1, one block per range: the block's threads stride over the weights (adjacent
// threads read adjacent weights of a row: coalesced).
template <class Real>
QMOE_HOST_DEVICE inline void weight_reduction_range_thread(const ThreadIndex& thread,
                                                           const Real* partials, int64_t batch_size,
                                                           int64_t n_weights, double* block_sums) {
  const int64_t begin = static_cast<int64_t>(thread.block) * kWeightReductionRange;
  const int64_t end =
      begin + kWeightReductionRange < batch_size ? begin + kWeightReductionRange : batch_size;
  for (int64_t w = thread.thread; w < n_weights; w += thread.block_dim) {
    double sum = 0;
    for (int64_t sample = begin; sample < end; ++sample) {
      sum += static_cast<double>(partials[sample * n_weights + w]);
    }
    block_sums[thread.block * n_weights + w] = sum;
  }
}

// Stage 2: a thread per weight (any grid; one block in the launcher) adds the range
// sums in range order and rounds once. With no samples it writes zeros.
template <class Real>
QMOE_HOST_DEVICE inline void weight_reduction_total_thread(const ThreadIndex& thread,
                                                           const double* block_sums,
                                                           int64_t n_blocks, int64_t n_weights,
                                                           Real* grad_weights) {
  const int64_t stride = static_cast<int64_t>(thread.block_dim) * thread.grid_dim;
  for (int64_t w = thread.global(); w < n_weights; w += stride) {
    double sum = 0;
    for (int64_t block = 0; block < n_blocks; ++block) sum += block_sums[block * n_weights + w];
    grad_weights[w] = static_cast<Real>(sum);
  }
}

}  // namespace qmoe::cuda
