// The tensors of one call of the density-matrix kernels (density_sample.cuh), besides
// the by-value program and readout: plain data, host and device, with no CUDA header,
// so that the host emulation of tests/cuda/ includes it with g++ alone.
//
// The density-matrix engine keeps no final states (a sample's rho is 4**n entries):
// there is no keep_state output and no saved state input, unlike the statevector
// kernels' arguments (kernel_args.h).
#pragma once

#include "qmoe/cuda/kernels/kernel_args.h"

namespace qmoe::cuda {

template <class Real>
struct DensityForwardArgs {
  SampleBatch<Real> batch;
  Real* out;  // [batch, readout width], written
};

// The gradients of L = sum_b sum_j grad_out[b, j] out[b, j], for rotation angles and
// channel probabilities (from inputs or weights) and the initial state.
template <class Real>
struct DensityAdjointArgs {
  SampleBatch<Real> batch;
  const Real* grad_out;   // [batch, readout width]
  Real* grad_inputs;      // [batch, n_input_columns], added to (+=), or null
  Real* weight_partials;  // [batch, n_weights], each sample's row written, or null
  Real* grad_state;       // like the initial state, written, or null
};

}  // namespace qmoe::cuda
