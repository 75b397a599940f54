// A lane-group launch on the host, for the lane-per-sample bodies
// (cuda/kernels/statevector_lane_sample.cuh): every lane of a group is a host thread
// (std::thread) running the body with its LaneGroup. A warp shuffle is an exchange
// through the group's array: each lane writes its value to its slot, the group meets
// at a std::barrier, each reads its partner's slot, and they meet again before a slot
// is reused; group.sync() is the barrier alone. Exact: between barriers the lanes run
// in whatever order the host schedules them, so a body that reads a partner's value
// before it is written, or lets one lane skip a shuffle the others make (a deadlock
// here, undefined on a GPU), fails.
//
// Groups share nothing but what the launch wrote before them (the block's table of
// shared half angles, filled first as the barrier in the kernel orders it), so they
// run one after another. Test code only (C++20 for std::barrier).
#pragma once

#include <barrier>
#include <cstdint>
#include <thread>
#include <vector>

#include "qmoe/cuda/kernels/lane_group.h"

namespace qmoe::cuda::emulation {

struct LaneGroupExchange {
  explicit LaneGroupExchange(uint32_t width) : slots(width), barrier(width) {}
  std::vector<double> slots;
  std::barrier<> barrier;
};

inline double exchange_through_slots(void* context, uint32_t lane, uint32_t lane_mask,
                                     double value) {
  auto* exchange = static_cast<LaneGroupExchange*>(context);
  exchange->slots[lane] = value;
  exchange->barrier.arrive_and_wait();
  const double partner = exchange->slots[lane ^ lane_mask];
  exchange->barrier.arrive_and_wait();
  return partner;
}

inline void wait_for_group(void* context) {
  static_cast<LaneGroupExchange*>(context)->barrier.arrive_and_wait();
}

// Calls body(LaneGroup, group_index) for every lane of n_groups groups of `width`
// lanes; returns when all have finished.
template <class Body>
void launch_lane_groups(int64_t n_groups, uint32_t width, Body&& body) {
  for (int64_t index = 0; index < n_groups; ++index) {
    LaneGroupExchange exchange(width);
    std::vector<std::thread> lanes;
    lanes.reserve(width);
    for (uint32_t lane = 0; lane < width; ++lane) {
      const LaneGroup group{lane, width, 0u, &exchange_through_slots, &wait_for_group, &exchange};
      lanes.emplace_back([group, index, &body] { body(group, index); });
    }
    for (std::thread& thread : lanes) thread.join();
  }
}

}  // namespace qmoe::cuda::emulation
