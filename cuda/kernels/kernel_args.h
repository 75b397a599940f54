// What a kernel body is given besides the program: its position in the launch
// (ThreadIndex, filled from blockIdx/threadIdx by the __global__ wrappers and by
// the host emulation of tests/cuda/launch_emulation.h, so both run the same body)
// and the tensors of one call. Plain data, host and device.
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"

namespace qmoe::cuda {

// A thread of a one-dimensional launch.
struct ThreadIndex {
  uint32_t block;
  uint32_t thread;
  uint32_t block_dim;
  uint32_t grid_dim;

  QMOE_HOST_DEVICE int64_t global() const {
    return static_cast<int64_t>(block) * block_dim + thread;
  }
};

// The per-sample tensors of one call, all row-major and on the device.
template <class Real>
struct SampleBatch {
  int64_t batch_size;
  const Real* inputs;  // [batch, n_input_columns]
  int64_t n_input_columns;
  const Real* weights;  // [n_weights], read by every thread (never copied to the host)
  int64_t n_weights;
  const Real* initial_state;  // [batch, 2**n] real or [batch, 2**n, 2] complex; null: |0..0>
  int32_t initial_state_is_complex;
};

template <class Real>
struct StatevectorForwardArgs {
  SampleBatch<Real> batch;
  Real* out;          // [batch, readout width], written
  Real* final_state;  // [batch, 2**n, 2], written, or null (keep_state off)
};

// The gradients of L = sum_b sum_j grad_out[b, j] out[b, j].
template <class Real>
struct StatevectorAdjointArgs {
  SampleBatch<Real> batch;
  const Real* grad_out;     // [batch, readout width]
  const Real* saved_state;  // [batch, 2**n, 2] from a forward's final_state, or null: rerun it
  Real* grad_inputs;        // [batch, n_input_columns], added to (+=), or null
  Real* weight_partials;    // [batch, n_weights], each sample's row written, or null
  Real* grad_state;         // like the initial state, written, or null
};

}  // namespace qmoe::cuda
