// Host-callable launchers of the block-per-sample statevector kernels
// (statevector_block_kernels.cu, bodies in statevector_block_sample.cuh), and the
// choice between them and the thread-per-sample kernels. The same program, readout
// and arguments as the thread-per-sample launchers (statevector_kernels.h), plus the
// launch's BlockLayout and its workspace: the caller plans the layout
// (plan_statevector_block_launch), allocates block_workspace_bytes(layout) bytes
// (from torch's allocator: no cudaMalloc here) and passes both. Each launcher
// enqueues one kernel on `stream` and returns its cudaError_t; no synchronisation.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "qmoe/cuda/kernels/block_layout.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"
#include "qmoe/cuda/kernels/statevector_lane_kernels.h"

namespace qmoe::cuda {

// How the operators run a statevector program of n qubits:
//   n <= kMaxOpThreadPerSampleQubits: a thread per sample (statevector_kernels.h);
//   n <= kMaxOpLanePerSampleQubits: a lane group per sample, its amplitudes in
//   registers (statevector_lane_kernels.h: 4 and 8 lanes at n = 5, 6, a warp at 7, 8);
//   above, up to the CPU engine's limit: a block per sample, the states in shared
//   memory for n <= kMaxSharedStateQubits, in the global workspace beyond.
// Chosen without a GPU, from the ptxas report (benchmarks/results/cuda_resources.md):
// a thread-per-sample state of 2**n amplitudes lives in the thread's stack frame
// (local memory) from 5 qubits on, since its indices are runtime bit positions, while
// the lane kernels keep 4..8 amplitudes per lane and state in registers up to 8 qubits
// (no float64 spills, a few dozen bytes in float32), with shuffles instead of barriers
// between gates. At 9 and 10 qubits the float64 backward of a warp spills (255
// registers, 1.4 KB and 39 KB), so the block kernels' shared memory takes over there.
constexpr int kMaxOpThreadPerSampleQubits = 4;
constexpr int kMaxOpLanePerSampleQubits = kMaxLanePerSampleQubits;

enum class StatevectorDecomposition { kThreadPerSample, kLanePerSample, kBlockPerSample };

inline StatevectorDecomposition statevector_decomposition(int n_qubits) {
  if (n_qubits <= kMaxOpThreadPerSampleQubits) return StatevectorDecomposition::kThreadPerSample;
  if (n_qubits <= kMaxOpLanePerSampleQubits) return StatevectorDecomposition::kLanePerSample;
  return StatevectorDecomposition::kBlockPerSample;
}

// States per sample: the forward keeps psi, the backward psi and lambda.
constexpr int kForwardStates = 1;
constexpr int kBackwardStates = 2;

// The layout of a launch on the current device: make_block_layout with the device's
// opt-in shared memory per block and the blocks of that kernel that fit on it at once
// (cudaDeviceGetAttribute, cudaOccupancyMaxActiveBlocksPerMultiprocessor: host-side
// queries, no synchronisation). `backward` picks the adjoint kernel's occupancy (the
// parameter-shift kernel's is not smaller: the same states and scratch).
// std::invalid_argument outside kMinBlockPerSampleQubits..kMaxBlockPerSampleQubits.
template <class Real>
cudaError_t plan_statevector_block_launch(int n_qubits, bool backward, int64_t batch_size,
                                          BlockLayout* layout);

template <class Real>
cudaError_t launch_statevector_block_forward(const BlockLayout& layout, unsigned char* workspace,
                                             const DeviceProgram& program,
                                             const DeviceReadout& readout,
                                             const StatevectorForwardArgs<Real>& args,
                                             cudaStream_t stream);

template <class Real>
cudaError_t launch_statevector_block_adjoint(const BlockLayout& layout, unsigned char* workspace,
                                             const DeviceProgram& program,
                                             const DeviceReadout& readout,
                                             const StatevectorAdjointArgs<Real>& args,
                                             cudaStream_t stream);

template <class Real>
cudaError_t launch_statevector_block_parameter_shift(
    const BlockLayout& layout, unsigned char* workspace, const DeviceProgram& program,
    const DeviceReadout& readout, const StatevectorAdjointArgs<Real>& args, cudaStream_t stream);

static_assert(sizeof(DeviceProgram) + sizeof(DeviceReadout) +
                      sizeof(StatevectorAdjointArgs<double>) + sizeof(BlockLayout) +
                      sizeof(unsigned char*) <=
                  kKernelParameterLimit,
              "the block kernels' parameters exceed the 4 KB kernel-parameter limit");

#define QMOE_DECLARE_BLOCK_LAUNCHERS(Real)                                            \
  extern template cudaError_t plan_statevector_block_launch<Real>(int, bool, int64_t, \
                                                                  BlockLayout*);      \
  extern template cudaError_t launch_statevector_block_forward<Real>(                 \
      const BlockLayout&, unsigned char*, const DeviceProgram&, const DeviceReadout&, \
      const StatevectorForwardArgs<Real>&, cudaStream_t);                             \
  extern template cudaError_t launch_statevector_block_adjoint<Real>(                 \
      const BlockLayout&, unsigned char*, const DeviceProgram&, const DeviceReadout&, \
      const StatevectorAdjointArgs<Real>&, cudaStream_t);                             \
  extern template cudaError_t launch_statevector_block_parameter_shift<Real>(         \
      const BlockLayout&, unsigned char*, const DeviceProgram&, const DeviceReadout&, \
      const StatevectorAdjointArgs<Real>&, cudaStream_t);
QMOE_DECLARE_BLOCK_LAUNCHERS(float)
QMOE_DECLARE_BLOCK_LAUNCHERS(double)
#undef QMOE_DECLARE_BLOCK_LAUNCHERS

}  // namespace qmoe::cuda
