// The lanes of one lane group as the lane-per-sample kernels see them: a group of
// width = 2**k lanes of one warp (k = 1..5, never straddling two warps) holds one
// sample, lane `lane` of it a share of the amplitudes. Under nvcc the exchange between
// two lanes is __shfl_xor_sync over the group's lanes and the group's barrier
// __syncwarp; under a host compiler the launch emulation of
// tests/cuda/lane_launch_emulation.h fills them in (a host thread per lane, the
// values exchanged through a per-group array between two barriers). The bodies name
// nothing else of the device, so both compilers build the same source.
#pragma once

#include <cstdint>

// The lane bodies call __shfl_xor_sync: device-only under nvcc, plain functions elsewhere.
#if defined(__CUDACC__)
#define QMOE_LANE_DEVICE __device__
#else
#define QMOE_LANE_DEVICE
#endif

namespace qmoe::cuda {

constexpr uint32_t kWarpWidth = 32;

struct LaneGroup {
  uint32_t lane;   // rank within the group, 0..width-1
  uint32_t width;  // lanes per group: a power of two dividing the warp
  uint32_t mask;   // the group's lanes within their warp (the shuffles' member mask)
#if !defined(__CUDACC__)
  // The emulation's exchange: every lane of the group calls it with its value and
  // gets the value of lane ^ lane_mask; `sync` is the group's barrier.
  double (*exchange)(void* context, uint32_t lane, uint32_t lane_mask, double value);
  void (*wait)(void* context);
  void* context;
#endif

  // The value of lane (lane ^ lane_mask) of this group; every lane of the group calls it.
  QMOE_LANE_DEVICE float shuffle_xor(float value, uint32_t lane_mask) const {
#if defined(__CUDACC__)
    return __shfl_xor_sync(mask, value, static_cast<int>(lane_mask), static_cast<int>(width));
#else
    // float -> double -> float is exact: the emulation moves the same bits.
    return static_cast<float>(exchange(context, lane, lane_mask, value));
#endif
  }

  QMOE_LANE_DEVICE double shuffle_xor(double value, uint32_t lane_mask) const {
#if defined(__CUDACC__)
    return __shfl_xor_sync(mask, value, static_cast<int>(lane_mask), static_cast<int>(width));
#else
    return exchange(context, lane, lane_mask, value);
#endif
  }

  // Every lane of the group arrives before any leaves; what one wrote to memory before
  // it is visible to the others after it.
  QMOE_LANE_DEVICE void sync() const {
#if defined(__CUDACC__)
    __syncwarp(mask);
#else
    wait(context);
#endif
  }
};

#if defined(__CUDACC__)
// The group of `width` lanes this thread belongs to (threadIdx.x's low bits).
__device__ inline LaneGroup this_lane_group(uint32_t width) {
  const uint32_t warp_lane = threadIdx.x % kWarpWidth;
  const uint32_t first = warp_lane - warp_lane % width;
  const uint32_t mask = width == kWarpWidth ? 0xffffffffu : ((uint32_t{1} << width) - 1) << first;
  return LaneGroup{warp_lane % width, width, mask};
}
#endif

}  // namespace qmoe::cuda
