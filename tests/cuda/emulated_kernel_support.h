// What the emulated kernel tests (tests/cuda/*_emulated_test.cpp) share: the sentinel
// a launch's padding must leave in place, the check that it did, a problem's readout
// by value, and its tensors in the kernels' precision as the device would hold them.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "qmoe/core/program/readout.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"
#include "test_support.h"

namespace qmoe::test_support {

inline constexpr double kSentinel = -12345.0;  // a value no kernel writes

// Whether every element from `from` on still holds the sentinel.
template <class Real>
::testing::AssertionResult Untouched(const std::vector<Real>& values, size_t from,
                                     const char* what) {
  for (size_t i = from; i < values.size(); ++i) {
    if (values[i] != static_cast<Real>(kSentinel)) {
      return ::testing::AssertionFailure()
             << what << ": padding element " << i << " was written (" << values[i] << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

inline cuda::DeviceReadout readout_of(const Problem& problem) {
  if (problem.probs) return cuda::make_probs_readout();
  const std::vector<int64_t> masks = core::index_masks_from_wires(
      problem.z_masks.data(), static_cast<int64_t>(problem.z_masks.size()), problem.n_qubits());
  return cuda::make_expval_readout(masks.data(), static_cast<int64_t>(masks.size()));
}

// The problem's tensors in precision Real, as the device would hold them.
template <class Real>
struct DeviceTensors {
  explicit DeviceTensors(const Problem& problem)
      : inputs(cast_vector<Real>(problem.inputs)),
        weights(cast_vector<Real>(problem.weights)),
        initial_state(cast_vector<Real>(problem.initial_state)),
        grad_out(cast_vector<Real>(problem.grad_out)) {
    batch.batch_size = problem.batch_size;
    batch.inputs = inputs.empty() ? nullptr : inputs.data();
    batch.n_input_columns = problem.n_input_columns;
    batch.weights = weights.empty() ? nullptr : weights.data();
    batch.n_weights = static_cast<int64_t>(weights.size());
    batch.initial_state = initial_state.empty() ? nullptr : initial_state.data();
    batch.initial_state_is_complex = problem.state_kind == StateKind::kComplex;
  }
  std::vector<Real> inputs, weights, initial_state, grad_out;
  cuda::SampleBatch<Real> batch{};
};

}  // namespace qmoe::test_support
