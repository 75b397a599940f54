// Every instruction-set path this CPU runs gives the results of the baseline
// kernels: forward, adjoint and parameter-shift gradients, in float and double,
// for the blocked (<= 10 qubits) and the one-sample-at-a-time kernels.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "qmoe/core/cpu/isa/kernel_table.h"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

template <class Real>
void CheckAgainstBaseline(const Problem& problem, double tol) {
  const auto kernels = core::supported_kernels();
  ASSERT_FALSE(kernels.empty());
  ASSERT_STREQ(kernels.front()->name, "baseline");
  Harness<Real> baseline(problem, *kernels.front());
  const auto forward = baseline.forward();
  const auto adjoint = baseline.backward(DiffMethod::kAdjoint);
  const auto shift = baseline.backward(DiffMethod::kParameterShift);
  for (const IsaKernels* other : kernels) {
    SCOPED_TRACE(describe(*other));
    Harness<Real> harness(problem, *other);
    EXPECT_TRUE(AllClose(harness.forward(), forward, tol, tol)) << "forward";
    const auto a = harness.backward(DiffMethod::kAdjoint);
    EXPECT_TRUE(AllClose(a.inputs, adjoint.inputs, tol, tol)) << "adjoint inputs";
    EXPECT_TRUE(AllClose(a.weights, adjoint.weights, tol, tol)) << "adjoint weights";
    EXPECT_TRUE(AllClose(a.state, adjoint.state, tol, tol)) << "adjoint state";
    const auto s = harness.backward(DiffMethod::kParameterShift);
    EXPECT_TRUE(AllClose(s.inputs, shift.inputs, tol, tol)) << "shift inputs";
    EXPECT_TRUE(AllClose(s.weights, shift.weights, tol, tol)) << "shift weights";
    EXPECT_TRUE(AllClose(s.state, shift.state, tol, tol)) << "shift state";
  }
}

std::vector<std::pair<uint64_t, RandomOptions>> isa_cases() {
  std::vector<std::pair<uint64_t, RandomOptions>> cases;
  for (int n : {1, 2, 3, 5, 6, 8, 11}) {
    RandomOptions options;
    options.n_qubits = n;
    options.batch_size = n >= 8 ? 7 : 37;  // several blocks of lanes, the last partial
    options.n_extra_ops = n >= 8 ? 8 : 20;
    options.state_kind = static_cast<StateKind>(n % 3);
    options.probs = n % 2 == 0;
    cases.push_back({500 + static_cast<uint64_t>(n), options});
  }
  // Every angle shared: dense unitaries for small states.
  for (int n : {2, 4}) {
    RandomOptions options;
    options.n_qubits = n;
    options.batch_size = 37;
    options.n_extra_ops = 30;
    options.input_angles = false;
    options.state_kind = StateKind::kComplex;
    cases.push_back({550 + static_cast<uint64_t>(n), options});
  }
  // Router layouts: an encoding layer of input angles, then shared angles only.
  for (int n : {3, 6}) {
    RandomOptions options;
    options.n_qubits = n;
    options.batch_size = 37;
    options.encoding_layer = true;
    options.probs = n == 3;
    cases.push_back({560 + static_cast<uint64_t>(n), options});
  }
  // Large angles: blocks of lanes in and out of the range of the vectorised sin/cos.
  for (double scale : {1.5e5, 3.0e5}) {
    RandomOptions options;
    options.n_qubits = 3;
    options.batch_size = 40;
    options.input_scale = scale;
    cases.push_back({600 + static_cast<uint64_t>(scale / 1e5), options});
  }
  return cases;
}

TEST(InstructionSets, ListStartsWithBaselineAndHasNoRepeats) {
  const auto kernels = core::supported_kernels();
  ASSERT_FALSE(kernels.empty());
  EXPECT_STREQ(kernels.front()->name, "baseline");
  for (size_t i = 0; i < kernels.size(); ++i) {
    for (size_t j = i + 1; j < kernels.size(); ++j) EXPECT_NE(kernels[i], kernels[j]);
    // Every set brings all four kernel sets.
    EXPECT_GE(kernels[i]->double_blocked.lanes, 1);
    EXPECT_EQ(kernels[i]->double_single.lanes, 1) << kernels[i]->name;
    EXPECT_NE(kernels[i]->float_blocked.adjoint, nullptr);
    EXPECT_NE(kernels[i]->double_single.parameter_shift, nullptr);
  }
  // The widest supported set is the default unless QMOE_ISA names another.
  if (std::getenv("QMOE_ISA") == nullptr) {
    EXPECT_EQ(&core::active_kernels(), kernels.back());
  }
}

TEST(InstructionSets, DoubleMatchesBaseline) {
  for (const auto& [seed, options] : isa_cases()) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", n=" + std::to_string(options.n_qubits) +
                 ", inputs up to " + std::to_string(options.input_scale));
    CheckAgainstBaseline<double>(random_problem(seed, options), 1e-12);
  }
}

TEST(InstructionSets, FloatMatchesBaseline) {
  for (const auto& [seed, options] : isa_cases()) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", n=" + std::to_string(options.n_qubits) +
                 ", inputs up to " + std::to_string(options.input_scale));
    CheckAgainstBaseline<float>(random_problem(seed, options), 1e-5);
  }
}

TEST(InstructionSets, SelectKernelsRejectsUnknownNames) {
  EXPECT_THROW(core::select_kernels("sse9"), std::invalid_argument);
}

}  // namespace
}  // namespace qmoe::test_support
