// Gradients of L = sum_b sum_j grad_out[b, j] <O_j>_b: the adjoint method against
// central finite differences of the forward pass, parameter shift against the
// adjoint method, and float against double.
//
// Conventions checked: the input gradient is per sample, the weight gradient is
// summed over the batch, and the gradient of a complex initial state is
// dL/dRe + i dL/dIm, interleaved like the state.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "test_support.h"

namespace qmoe::test_support {
namespace {

constexpr double kStep = 1e-6;
constexpr double kFiniteDifferenceTolerance = 1e-7;  // absolute and relative

// Central differences of the per-sample losses when `perturb(problem, delta)` moves
// one coordinate of every sample (or a shared one) by delta.
template <class Perturb>
std::vector<double> central_difference(const Problem& problem, const IsaKernels& kernels,
                                       Perturb perturb) {
  Problem plus = problem, minus = problem;
  perturb(plus, kStep);
  perturb(minus, -kStep);
  const auto loss_plus =
      sample_losses(Harness<double>(plus, kernels).forward(), problem.grad_out, problem.batch_size);
  const auto loss_minus = sample_losses(Harness<double>(minus, kernels).forward(), problem.grad_out,
                                        problem.batch_size);
  std::vector<double> slope(loss_plus.size());
  for (size_t b = 0; b < slope.size(); ++b) slope[b] = (loss_plus[b] - loss_minus[b]) / (2 * kStep);
  return slope;
}

struct FiniteDifferences {
  std::vector<double> inputs;   // [batch, columns]
  std::vector<double> weights;  // [n_weights]
  std::vector<double> state;    // like the initial state
};

FiniteDifferences finite_differences(const Problem& problem, const IsaKernels& kernels) {
  FiniteDifferences fd;
  const int64_t batch = problem.batch_size, columns = problem.n_input_columns;
  fd.inputs.assign(problem.inputs.size(), 0.0);
  for (int64_t c = 0; c < columns; ++c) {
    const auto slope = central_difference(problem, kernels, [&](Problem& p, double delta) {
      for (int64_t b = 0; b < batch; ++b) p.inputs[b * columns + c] += delta;
    });
    for (int64_t b = 0; b < batch; ++b) fd.inputs[b * columns + c] = slope[b];
  }
  for (size_t w = 0; w < problem.weights.size(); ++w) {
    const auto slope = central_difference(problem, kernels,
                                          [&](Problem& p, double delta) { p.weights[w] += delta; });
    double total = 0;
    for (double s : slope) total += s;
    fd.weights.push_back(total);
  }
  const int64_t row = problem.state_row();
  fd.state.assign(problem.initial_state.size(), 0.0);
  for (int64_t i = 0; problem.state_kind != StateKind::kNone && i < row; ++i) {
    const auto slope = central_difference(problem, kernels, [&](Problem& p, double delta) {
      for (int64_t b = 0; b < batch; ++b) p.initial_state[b * row + i] += delta;
    });
    for (int64_t b = 0; b < batch; ++b) fd.state[b * row + i] = slope[b];
  }
  return fd;
}

double max_abs(const std::vector<double>& values) {
  double m = 0;
  for (double v : values) m = std::max(m, std::abs(v));
  return m;
}

struct Case {
  uint64_t seed;
  RandomOptions options;
};

// n = 1..6, each with no, a real and a complex initial state, both readouts.
std::vector<Case> random_cases() {
  std::vector<Case> cases;
  for (int n = 1; n <= 6; ++n) {
    for (int variant = 0; variant < 3; ++variant) {
      Case c;
      c.seed = 7000 + 17 * n + variant;
      c.options.n_qubits = n;
      c.options.batch_size = 5;
      c.options.state_kind = static_cast<StateKind>(variant);
      c.options.probs = (n + variant) % 2 == 1;
      cases.push_back(c);
    }
  }
  // Every angle shared: long runs of shared segments, fused into dense unitaries for
  // small states (their gradients come from accumulated outer products).
  for (int n = 2; n <= 4; ++n) {
    Case c;
    c.seed = 7500 + n;
    c.options.n_qubits = n;
    c.options.n_extra_ops = 30;
    c.options.batch_size = 5;
    c.options.state_kind = static_cast<StateKind>(n % 3);
    c.options.probs = n == 3;
    c.options.input_angles = false;
    cases.push_back(c);
  }
  // Routers: an encoding layer of input angles, then shared angles only.
  for (int n = 1; n <= 5; ++n) {
    Case c;
    c.seed = 7600 + n;
    c.options.n_qubits = n;
    c.options.batch_size = 5;
    c.options.encoding_layer = true;
    c.options.probs = n % 2 == 0;
    cases.push_back(c);
  }
  // Runs of CNOT, CZ and SWAP: merged into signed permutations.
  for (int n = 2; n <= 6; ++n) {
    Case c;
    c.seed = 7700 + n;
    c.options.n_qubits = n;
    c.options.batch_size = 5;
    c.options.state_kind = static_cast<StateKind>(n % 3);
    c.options.probs = n % 2 == 1;
    c.options.entangler_runs = true;
    cases.push_back(c);
  }
  return cases;
}

std::string describe_case(const Case& c) {
  static const char* kStates[] = {"no initial state", "real initial state",
                                  "complex initial state"};
  return "seed " + std::to_string(c.seed) + ", n=" + std::to_string(c.options.n_qubits) + ", " +
         kStates[static_cast<int>(c.options.state_kind)] +
         (c.options.probs ? ", probs" : ", expval") +
         (c.options.input_angles ? "" : ", shared angles only") +
         (c.options.encoding_layer ? ", router layout" : "") +
         (c.options.entangler_runs ? ", entangler runs" : "");
}

TEST(Adjoint, CasesCoverFusedAndDenseSegments) {
  // Guards the coverage of the tests below: if the compiler stops producing these
  // segment kinds for the random cases, the cases need revisiting.
  int fused = 0, dense = 0, per_sample = 0, permutations = 0, product_prefixes = 0;
  for (const Case& c : random_cases()) {
    const Problem problem = random_problem(c.seed, c.options);
    permutations += count_segments(problem, core::SegmentKind::kPermutation);
    // the prefix becomes a product state only when the block starts from |0..0>
    product_prefixes +=
        problem.state_kind == StateKind::kNone && count_prefix_segments(problem) > 0;
    fused += count_segments(problem, core::SegmentKind::kSharedSingleQubit);
    per_sample += count_segments(problem, core::SegmentKind::kPauliRotation);
    const int dense_here = count_segments(problem, core::SegmentKind::kDenseUnitary);
    // dense fusion applies to states of up to 3 qubits (dense_fusion.cpp)
    if (!c.options.input_angles && c.options.n_qubits <= 3) {
      EXPECT_GT(dense_here, 0) << describe_case(c);
    }
    dense += dense_here;
  }
  EXPECT_GT(fused, 20);
  EXPECT_GT(per_sample, 20);
  EXPECT_GT(dense, 3);
  EXPECT_GT(permutations, 5);
  EXPECT_GT(product_prefixes, 5);
}

TEST(Adjoint, MatchesFiniteDifferences) {
  for (const Case& c : random_cases()) {
    const Problem problem = random_problem(c.seed, c.options);
    for (const IsaKernels* kernels : core::supported_kernels()) {
      SCOPED_TRACE(describe_case(c) + ", " + describe(*kernels));
      const FiniteDifferences fd = finite_differences(problem, *kernels);
      // The comparison must not pass vacuously.
      ASSERT_GT(max_abs(fd.inputs) + max_abs(fd.weights), 1e-3);
      if (problem.state_kind != StateKind::kNone) {
        ASSERT_GT(max_abs(fd.state), 1e-3);
      }
      const auto grads = Harness<double>(problem, *kernels).backward(DiffMethod::kAdjoint);
      const double tol = kFiniteDifferenceTolerance;
      EXPECT_TRUE(AllClose(grads.inputs, fd.inputs, tol, tol)) << "inputs";
      EXPECT_TRUE(AllClose(grads.weights, fd.weights, tol, tol)) << "weights";
      EXPECT_TRUE(AllClose(grads.state, fd.state, tol, tol)) << "initial state";
    }
  }
}

TEST(ParameterShift, EqualsAdjoint) {
  for (const Case& c : random_cases()) {
    const Problem problem = random_problem(c.seed, c.options);
    for (const IsaKernels* kernels : core::supported_kernels()) {
      SCOPED_TRACE(describe_case(c) + ", " + describe(*kernels));
      Harness<double> harness(problem, *kernels);
      const auto adjoint = harness.backward(DiffMethod::kAdjoint);
      const auto shift = harness.backward(DiffMethod::kParameterShift);
      EXPECT_TRUE(AllClose(shift.inputs, adjoint.inputs, 1e-12, 1e-12)) << "inputs";
      EXPECT_TRUE(AllClose(shift.weights, adjoint.weights, 1e-12, 1e-12)) << "weights";
      EXPECT_TRUE(AllClose(shift.state, adjoint.state, 1e-12, 1e-12)) << "initial state";
    }
  }
}

TEST(Adjoint, FloatMatchesDouble) {
  for (const Case& c : random_cases()) {
    const Problem problem = random_problem(c.seed, c.options);
    for (const IsaKernels* kernels : core::supported_kernels()) {
      SCOPED_TRACE(describe_case(c) + ", " + describe(*kernels));
      Harness<double> exact(problem, *kernels);
      Harness<float> single(problem, *kernels);
      const auto reference = exact.backward(DiffMethod::kAdjoint);
      EXPECT_TRUE(AllClose(single.forward(), exact.forward(), 1e-4, 1e-4)) << "forward";
      for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
        const auto grads = single.backward(method);
        const char* name = method == DiffMethod::kAdjoint ? "adjoint " : "parameter shift ";
        EXPECT_TRUE(AllClose(grads.inputs, reference.inputs, 1e-4, 1e-4)) << name << "inputs";
        EXPECT_TRUE(AllClose(grads.weights, reference.weights, 1e-4, 1e-4)) << name << "weights";
        EXPECT_TRUE(AllClose(grads.state, reference.state, 1e-4, 1e-4)) << name << "state";
      }
    }
  }
}

TEST(Adjoint, LargeStatesMatchParameterShiftAndFiniteDifferences) {
  // 11 qubits: the one-sample-at-a-time kernels. Finite differences for the weights only.
  RandomOptions options;
  options.n_qubits = 11;
  options.n_extra_ops = 6;
  options.batch_size = 3;
  options.state_kind = StateKind::kComplex;
  const Problem problem = random_problem(4242, options);
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    Harness<double> harness(problem, *kernels);
    const auto adjoint = harness.backward(DiffMethod::kAdjoint);
    const auto shift = harness.backward(DiffMethod::kParameterShift);
    EXPECT_TRUE(AllClose(shift.inputs, adjoint.inputs, 1e-12, 1e-12));
    EXPECT_TRUE(AllClose(shift.weights, adjoint.weights, 1e-12, 1e-12));
    EXPECT_TRUE(AllClose(shift.state, adjoint.state, 1e-12, 1e-12));
    for (size_t w = 0; w < problem.weights.size(); ++w) {
      const auto slope = central_difference(
          problem, *kernels, [&](Problem& p, double delta) { p.weights[w] += delta; });
      double total = 0;
      for (double s : slope) total += s;
      EXPECT_NEAR(adjoint.weights[w], total,
                  kFiniteDifferenceTolerance * std::max(1.0, std::abs(total)))
          << "weight " << w;
    }
  }
}

TEST(Adjoint, ClosedFormGradients) {
  // d<Z>/dt of RX(t) is -sin t from every source; the weight gradient sums over the batch.
  const std::vector<double> angles = {-2.0, -0.5, 0.0, 0.7, 1.9, 3.0, 4.4, 5.0, 6.0, -3.1};
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
      FlatProgram by_input(1);
      by_input.rot(Opcode::kRx, 0, ParamSource::kInput, 0);
      Problem problem = problem_of(by_input, static_cast<int64_t>(angles.size()), false, {1});
      problem.inputs = angles;
      problem.grad_out.assign(angles.size(), 1.0);
      std::vector<double> expected;
      for (double t : angles) expected.push_back(-std::sin(t));
      EXPECT_TRUE(
          AllClose(Harness<double>(problem, *kernels).backward(method).inputs, expected, 1e-14));

      // A weight angle w, with per-sample grad_out g_b: dL/dw = -sin(w) sum_b g_b.
      FlatProgram by_weight(1);
      by_weight.gate(Opcode::kH, 0)
          .rot(Opcode::kRz, 0, ParamSource::kWeight, 0)
          .gate(Opcode::kH, 0);
      Problem shared = problem_of(by_weight, 3, false, {1});
      shared.weights = {0.8};
      shared.grad_out = {1.0, 2.0, -0.5};
      const auto grads = Harness<double>(shared, *kernels).backward(method);
      ASSERT_EQ(grads.weights.size(), 1u);
      EXPECT_NEAR(grads.weights[0], -std::sin(0.8) * 2.5, 1e-14);
    }
  }
}

TEST(Adjoint, StateGradientConvention) {
  // L = |psi_1|^2 after X: the initial amplitude psi0_0 = a + ib moves psi_1, so
  // dL/da + i dL/db = 2 (a + ib); a real state gets 2a.
  FlatProgram program(1);
  program.gate(Opcode::kX, 0);
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    Problem complex = problem_of(program, 1, true);
    complex.state_kind = StateKind::kComplex;
    complex.initial_state = {0.3, -0.4, 0.5, 0.6};
    complex.grad_out = {0.0, 1.0};
    EXPECT_TRUE(AllClose(Harness<double>(complex, *kernels).backward(DiffMethod::kAdjoint).state,
                         std::vector<double>{0.6, -0.8, 0, 0}, 1e-15));
    Problem real = problem_of(program, 1, true);
    real.state_kind = StateKind::kReal;
    real.initial_state = {0.3, 0.5};
    real.grad_out = {0.0, 1.0};
    EXPECT_TRUE(AllClose(Harness<double>(real, *kernels).backward(DiffMethod::kAdjoint).state,
                         std::vector<double>{0.6, 0}, 1e-15));
  }
}

TEST(Adjoint, GradientsAskedForSeparately) {
  // Null pointers skip a gradient without changing the others; the input gradient is
  // accumulated into what the caller passes.
  RandomOptions options;
  options.n_qubits = 3;
  options.batch_size = 9;
  options.state_kind = StateKind::kComplex;
  const Problem problem = random_problem(99, options);
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
      SCOPED_TRACE(describe(*kernels) +
                   (method == DiffMethod::kAdjoint ? ", adjoint" : ", parameter shift"));
      Harness<double> harness(problem, *kernels);
      const auto all = harness.backward(method);
      const auto& sim = harness.simulator();
      const int64_t chunks = harness.n_chunks();

      Gradients<double> only;
      harness.allocate(only);
      std::fill(only.inputs.begin(), only.inputs.end(), 1.0);
      typename StatevectorSimulator<double>::Gradients inputs_only;
      inputs_only.inputs = only.inputs.data();
      sim.backward(method, harness.view(), harness.grad_out().data(), 0, chunks, inputs_only);
      std::vector<double> shifted = all.inputs;
      for (double& g : shifted) g += 1.0;
      EXPECT_TRUE(AllClose(only.inputs, shifted, 1e-15)) << "inputs, accumulated onto 1";

      typename StatevectorSimulator<double>::Gradients weights_only;
      weights_only.weight_partials = only.weight_partials.data();
      sim.backward(method, harness.view(), harness.grad_out().data(), 0, chunks, weights_only);
      harness.reduce(only);
      EXPECT_TRUE(AllClose(only.weights, all.weights, 0)) << "weights";

      typename StatevectorSimulator<double>::Gradients state_only;
      state_only.state = only.state.data();
      sim.backward(method, harness.view(), harness.grad_out().data(), 0, chunks, state_only);
      EXPECT_TRUE(AllClose(only.state, all.state, 0)) << "state";
    }
  }
}

TEST(Adjoint, SplitLargeStatesMatchFiniteDifferences) {
  // From 14 qubits every pass over a sample's amplitudes runs in parts on the
  // OpenMP threads (amplitude_parts.h), the adjoint's sums per part. (No initial state:
  // its finite differences would take 2**15 runs per amplitude pair.)
  for (StateKind state : {StateKind::kNone}) {
    RandomOptions options;
    options.n_qubits = 14;
    options.n_extra_ops = 4;
    options.batch_size = 2;
    options.state_kind = state;
    options.entangler_runs = true;
    const Problem problem = random_problem(8100 + static_cast<uint64_t>(state), options);
    const IsaKernels& kernels = *core::supported_kernels().back();
    SCOPED_TRACE(describe(kernels));
    const FiniteDifferences fd = finite_differences(problem, kernels);
    ASSERT_GT(max_abs(fd.inputs) + max_abs(fd.weights), 1e-3);
    const auto grads = Harness<double>(problem, kernels).backward(DiffMethod::kAdjoint);
    const double tol = kFiniteDifferenceTolerance;
    EXPECT_TRUE(AllClose(grads.inputs, fd.inputs, tol, tol)) << "inputs";
    EXPECT_TRUE(AllClose(grads.weights, fd.weights, tol, tol)) << "weights";
    EXPECT_TRUE(AllClose(grads.state, fd.state, tol, tol)) << "initial state";
  }
}

}  // namespace
}  // namespace qmoe::test_support
