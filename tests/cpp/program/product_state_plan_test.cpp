// plan_product_state (product_state_plan.h): a router whose per-sample angles are
// one-qubit rotations of |0..0>, at most one per wire, with everything after them
// shared, is read out as a fixed linear form in products of Bloch components. The
// plan is evaluated here straight from the header's description (per wire the
// values 1, sin x, cos x of x = input + offset, or 1, 1, 0 without an angle; wire 0
// the most significant base-3 digit) and pinned against the dense reference
// simulator and the engine's forward on random angles; its weight coefficients
// against exact parameter-shift derivatives of the reference; offsets against
// shifted inputs; and null where the circuit lacks the shape (an entangler or a
// shared gate before a per-sample angle on its wire, two per-sample angles on one
// wire, a per-sample two-qubit rotation, a per-sample angle after the shared part).
#include "qmoe/core/program/product_state_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "circuit_reference.h"
#include "qmoe/core/program/readout.h"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

using core::ProductStatePlan;

std::unique_ptr<ProductStatePlan<double>> plan_for(const Problem& problem,
                                                   core::AngleShift shift = {}) {
  const KernelRun run(problem);  // holds the index masks
  return core::plan_product_state<double>(lower(problem, shift), run.readout());
}

// The plan's products for sample b: feature f = prod over wires of value(digit_w(f)).
std::vector<double> features(const ProductStatePlan<double>& plan, const Problem& problem,
                             int64_t b) {
  const int n = plan.n_qubits;
  std::vector<double> out(static_cast<size_t>(plan.n_features));
  for (int64_t f = 0; f < plan.n_features; ++f) {
    double value = 1;
    int64_t rest = f;
    for (int wire = n - 1; wire >= 0; --wire, rest /= 3) {
      const int digit = static_cast<int>(rest % 3);
      const int64_t column = plan.columns[static_cast<size_t>(wire)];
      double values[3] = {1, 1, 0};
      if (column >= 0) {
        const double x = problem.inputs[static_cast<size_t>(b * problem.n_input_columns + column)] +
                         plan.offsets[static_cast<size_t>(wire)];
        values[1] = std::sin(x);
        values[2] = std::cos(x);
      }
      value *= values[digit];
    }
    out[static_cast<size_t>(f)] = value;
  }
  return out;
}

// out[b][m] = sum_f coefficients[m][f] features_b[f].
std::vector<double> plan_forward(const ProductStatePlan<double>& plan, const Problem& problem) {
  std::vector<double> out;
  for (int64_t b = 0; b < problem.batch_size; ++b) {
    const auto x = features(plan, problem, b);
    for (int64_t m = 0; m < plan.n_outputs; ++m) {
      double value = 0;
      for (int64_t f = 0; f < plan.n_features; ++f) {
        value += plan.output_coefficients[static_cast<size_t>(m * plan.n_features + f)] *
                 x[static_cast<size_t>(f)];
      }
      out.push_back(value);
    }
  }
  return out;
}

// d out[b][m] / d weights[w] from the plan: the sum of the terms naming w.
std::vector<double> plan_weight_derivative(const ProductStatePlan<double>& plan,
                                           const Problem& problem, int64_t w) {
  std::vector<double> out;
  const int64_t term_size = plan.n_outputs * plan.n_features;
  for (int64_t b = 0; b < problem.batch_size; ++b) {
    const auto x = features(plan, problem, b);
    for (int64_t m = 0; m < plan.n_outputs; ++m) {
      double value = 0;
      for (size_t t = 0; t < plan.weight_indices.size(); ++t) {
        if (plan.weight_indices[t] != w) continue;
        for (int64_t f = 0; f < plan.n_features; ++f) {
          value += plan.weight_coefficients[t * static_cast<size_t>(term_size) +
                                            static_cast<size_t>(m * plan.n_features + f)] *
                   x[static_cast<size_t>(f)];
        }
      }
      out.push_back(value);
    }
  }
  return out;
}

// The same, exactly, from the reference: each rotation reading w shifted by +-pi/2
// on its own (d<O>/dt = (<O>(t + pi/2) - <O>(t - pi/2)) / 2 for Pauli rotations).
std::vector<double> reference_weight_derivative(const Problem& problem, int64_t w) {
  std::vector<double> out(static_cast<size_t>(problem.batch_size * problem.width()), 0.0);
  for (int64_t op = 0; op < problem.program.n_ops(); ++op) {
    const int64_t* word = problem.program.words().data() + op * core::kOperationWidth;
    if (static_cast<ParamSource>(word[3]) != ParamSource::kWeight || word[4] != w) continue;
    size_t at = 0;
    for (int64_t b = 0; b < problem.batch_size; ++b) {
      const double angle = operation_angle(problem, op, b);
      const auto plus =
          reference_readout(reference_state_with_angle(problem, b, op, angle + kPi / 2),
                            problem.n_qubits(), problem.probs, problem.z_masks);
      const auto minus =
          reference_readout(reference_state_with_angle(problem, b, op, angle - kPi / 2),
                            problem.n_qubits(), problem.probs, problem.z_masks);
      for (size_t m = 0; m < plus.size(); ++m) out[at++] += (plus[m] - minus[m]) / 2;
    }
  }
  return out;
}

std::vector<Problem> router_problems() {
  std::vector<Problem> problems;
  for (int n = 1; n <= 3; ++n) {
    for (uint64_t seed = 0; seed < 16; ++seed) {
      RandomOptions options;
      options.n_qubits = n;
      options.n_extra_ops = 10;
      options.batch_size = 37;
      options.encoding_layer = true;
      options.probs = seed % 2 == 1;
      options.n_input_columns = 2 + static_cast<int64_t>(seed % 2);
      problems.push_back(random_problem(8000 + 100 * n + seed, options));
    }
  }
  return problems;
}

TEST(ProductStatePlan, LinearFormEqualsTheForward) {
  int plans[4] = {0, 0, 0, 0};
  for (const Problem& problem : router_problems()) {
    const auto plan = plan_for(problem);
    if (plan == nullptr) continue;
    const int n = problem.n_qubits();
    SCOPED_TRACE("n=" + std::to_string(n) + (problem.probs ? ", probs" : ", expval"));
    ++plans[n];
    ASSERT_EQ(plan->n_qubits, n);
    ASSERT_EQ(plan->n_outputs, problem.width());
    int64_t n_features = 1;
    for (int w = 0; w < n; ++w) n_features *= 3;
    ASSERT_EQ(plan->n_features, n_features);
    ASSERT_EQ(plan->output_coefficients.size(), static_cast<size_t>(n_features * plan->n_outputs));
    const std::vector<double> expected = reference_forward(problem);
    EXPECT_TRUE(AllClose(plan_forward(*plan, problem), expected, 1e-12));
    for (const core::IsaKernels* kernels : core::supported_kernels()) {
      SCOPED_TRACE(describe(*kernels));
      EXPECT_TRUE(AllClose(Harness<double>(problem, *kernels).forward(), expected, 1e-12));
    }
  }
  for (int n = 1; n <= 3; ++n) EXPECT_GE(plans[n], 8) << "n=" << n;
}

TEST(ProductStatePlan, WeightCoefficientsAreTheGradient) {
  int checked = 0;
  for (const Problem& problem : router_problems()) {
    const auto plan = plan_for(problem);
    if (plan == nullptr) continue;
    SCOPED_TRACE("n=" + std::to_string(problem.n_qubits()));
    ASSERT_EQ(
        plan->weight_coefficients.size(),
        plan->weight_indices.size() * static_cast<size_t>(plan->n_outputs * plan->n_features));
    for (int64_t w = 0; w < static_cast<int64_t>(problem.weights.size()); ++w) {
      EXPECT_TRUE(AllClose(plan_weight_derivative(*plan, problem, w),
                           reference_weight_derivative(problem, w), 1e-12))
          << "weight " << w;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
}

TEST(ProductStatePlan, ColumnsAndOffsets) {
  // Wire 0: RY from column 1; wire 1: RX from column 0; wire 2: RZ (a phase on |0>).
  FlatProgram program(3);
  program.rot(Opcode::kRy, 0, ParamSource::kInput, 1)
      .rot(Opcode::kRx, 1, ParamSource::kInput, 0)
      .rot(Opcode::kRz, 2, ParamSource::kInput, 0)
      .gate(Opcode::kCnot, 0, 1)
      .gate(Opcode::kH, 2)
      .gate(Opcode::kCnot, 1, 2)
      .rot(Opcode::kRy, 2, ParamSource::kWeight, 0);
  Problem problem = problem_of(program, 9, false, {0b001, 0b011, 0b110});
  Rng rng(12);
  problem.weights = {0.9};
  for (double& x : problem.inputs) x = rng.uniform(-kPi, kPi);
  const auto plan = plan_for(problem);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->columns, (std::vector<int64_t>{1, 0, -1}));
  EXPECT_EQ(plan->offsets, (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(AllClose(plan_forward(*plan, problem), reference_forward(problem), 1e-12));

  // A parameter shift of the RX angle is the plan's offset on wire 1.
  const double offset = 0.6;
  const auto shifted = plan_for(problem, {1, offset});
  ASSERT_NE(shifted, nullptr);
  EXPECT_EQ(shifted->offsets, (std::vector<double>{0, offset, 0}));
  Problem moved = problem;
  // Column 0 also feeds RZ on wire 2, whose angle does not matter on |0>.
  for (int64_t b = 0; b < moved.batch_size; ++b) moved.inputs[b * 2 + 0] += offset;
  EXPECT_TRUE(AllClose(plan_forward(*shifted, problem), reference_forward(moved), 1e-12));
  EXPECT_FALSE(AllClose(plan_forward(*shifted, problem), reference_forward(problem), 1e-6));
}

// A program of one problem, all tensors random.
Problem tensors_for(const FlatProgram& program, bool probs = false) {
  Problem problem =
      problem_of(program, 4, probs, probs ? std::vector<int64_t>{} : std::vector<int64_t>{1, 2, 3});
  Rng rng(99);
  for (double& w : problem.weights) w = rng.uniform(-kPi, kPi);
  for (double& c : problem.constants) c = rng.uniform(-kPi, kPi);
  for (double& x : problem.inputs) x = rng.uniform(-kPi, kPi);
  return problem;
}

TEST(ProductStatePlan, NullWithoutTheShape) {
  // The control: a router with the shape has a plan.
  FlatProgram router(2);
  router.rot(Opcode::kRy, 0, ParamSource::kInput, 0)
      .rot(Opcode::kRx, 1, ParamSource::kInput, 1)
      .gate(Opcode::kCnot, 0, 1)
      .rot(Opcode::kRy, 1, ParamSource::kWeight, 0);
  EXPECT_NE(plan_for(tensors_for(router)), nullptr);

  FlatProgram entangler_first(2);
  entangler_first.gate(Opcode::kCnot, 0, 1)
      .rot(Opcode::kRy, 0, ParamSource::kInput, 0)
      .rot(Opcode::kRy, 1, ParamSource::kWeight, 0);
  EXPECT_EQ(plan_for(tensors_for(entangler_first)), nullptr) << "entangler before the angle";

  FlatProgram shared_first(2);
  shared_first.gate(Opcode::kH, 0)
      .rot(Opcode::kRy, 0, ParamSource::kInput, 0)
      .gate(Opcode::kCnot, 0, 1);
  EXPECT_EQ(plan_for(tensors_for(shared_first)), nullptr) << "shared gate before the angle";

  FlatProgram two_angles(2);
  two_angles.rot(Opcode::kRy, 0, ParamSource::kInput, 0)
      .rot(Opcode::kRx, 0, ParamSource::kInput, 1)
      .gate(Opcode::kCnot, 0, 1);
  EXPECT_EQ(plan_for(tensors_for(two_angles)), nullptr) << "two angles on one wire";

  FlatProgram ising(2);
  ising.add(Opcode::kIsingXX, 0, 1, ParamSource::kInput, 0).gate(Opcode::kH, 0);
  EXPECT_EQ(plan_for(tensors_for(ising)), nullptr) << "per-sample two-qubit rotation";

  FlatProgram angle_after(2);
  angle_after.rot(Opcode::kRy, 0, ParamSource::kInput, 0)
      .gate(Opcode::kCnot, 0, 1)
      .rot(Opcode::kRy, 1, ParamSource::kInput, 1);
  EXPECT_EQ(plan_for(tensors_for(angle_after)), nullptr) << "angle after the shared part";

  // Beyond 3 qubits the plan is never worth it (kMaxProductStateQubits).
  FlatProgram wide(4);
  for (int wire = 0; wire < 4; ++wire) wide.rot(Opcode::kRy, wire, ParamSource::kInput, 0);
  wide.gate(Opcode::kCnot, 0, 3);
  EXPECT_EQ(plan_for(tensors_for(wide)), nullptr) << "4 qubits";
}

}  // namespace
}  // namespace qmoe::test_support
