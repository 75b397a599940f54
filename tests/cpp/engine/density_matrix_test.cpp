// The density-matrix engine on its own: the adjoint sweep must not depend on how
// many checkpoints of rho it may keep (every channel, some, or none and replay
// from the initial state), must agree with finite differences and with the
// parameter-shift rule, and the memory check must refuse what cannot fit.
//
// The comparisons with the plain-PyTorch oracle live in
// tests/python/test_ops_density_matrix.py; here the engine is driven directly,
// so the checkpoint budget (not reachable from the operators) can be varied.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "qmoe/core/cpu/density/density_matrix_engine.h"
#include "qmoe/core/engine/weight_reduction.h"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

using core::DensityMatrixSimulator;

constexpr int kQubits = 3;
constexpr int kChannels = 6;
// One copy of rho: 4**n complex entries of two doubles.
constexpr int64_t kCopyBytes = int64_t{2} * (int64_t{1} << (2 * kQubits)) * sizeof(double);

// The probability of a channel: the shared one reads a weight, the per-sample one
// an input column, the rest constants.
enum class ProbabilitySource { kConstantsOnly, kWeightAndInput };

// Weights 0..2 are angles; weight 3 is a channel probability. Input columns 0..1
// are angles; column 2 is a channel probability. Channels sit on every wire,
// between rotations on the same wire (so one-qubit runs cannot be fused across
// them) and at both ends.
FlatProgram noisy_program(ProbabilitySource source) {
  const bool shared = source == ProbabilitySource::kWeightAndInput;
  FlatProgram program(kQubits);
  program.add(Opcode::kBitFlip, 1, -1, ParamSource::kConstant, 0)
      .rot(Opcode::kRx, 0, ParamSource::kInput, 0)
      .rot(Opcode::kRy, 1, ParamSource::kWeight, 0)
      .gate(Opcode::kH, 2)
      .gate(Opcode::kCnot, 0, 1)
      .add(Opcode::kDepolarizing, 0, -1, ParamSource::kConstant, 1)
      .rot(Opcode::kRz, 0, ParamSource::kWeight, 1)
      .rot(Opcode::kRy, 0, ParamSource::kInput, 1)
      .add(Opcode::kAmplitudeDamping, 2, -1, shared ? ParamSource::kWeight : ParamSource::kConstant,
           shared ? 3 : 2)
      .add(Opcode::kIsingXX, 1, 2, ParamSource::kInput, 0)
      .rot(Opcode::kRx, 2, ParamSource::kWeight, 2)
      .add(Opcode::kPhaseDamping, 1, -1, shared ? ParamSource::kInput : ParamSource::kConstant,
           shared ? 2 : 3)
      .gate(Opcode::kS, 1)
      .rot(Opcode::kRy, 1, ParamSource::kInput, 1)
      .add(Opcode::kIsingZZ, 0, 2, ParamSource::kWeight, 0)
      .add(Opcode::kDepolarizing, 2, -1, ParamSource::kConstant, 4)
      .gate(Opcode::kCz, 2, 0)
      .rot(Opcode::kRx, 1, ParamSource::kWeight, 1)
      .add(Opcode::kAmplitudeDamping, 0, -1, ParamSource::kConstant, 5);
  return program;
}

// The tensors of one call: angles in [-pi, pi], probabilities in [0.1, 0.8]
// (away from 1, where the damping channels have no derivative).
struct NoisyProblem {
  FlatProgram program{kQubits};
  std::vector<double> weights;
  std::vector<double> constants;
  std::vector<int64_t> z_masks{0, 1, 2, 4, 5, 7};
  int64_t batch_size = 5;
  int64_t n_input_columns = 3;
  std::vector<double> inputs;
  std::vector<double> initial_state;  // complex interleaved, normalised
  std::vector<double> grad_out;

  int64_t dim() const { return int64_t{1} << kQubits; }
  int64_t width() const { return static_cast<int64_t>(z_masks.size()); }
  core::Program parse() const {
    ProgramLimits limits;
    limits.n_input_columns = n_input_columns;
    limits.n_weights = static_cast<int64_t>(weights.size());
    limits.n_constants = static_cast<int64_t>(constants.size());
    limits.allow_channels = true;
    const auto& words = program.words();
    return core::parse_program(words.data(), static_cast<int64_t>(words.size()), kQubits, limits);
  }
};

NoisyProblem make_problem(ProbabilitySource source, uint64_t seed) {
  Rng rng(seed);
  NoisyProblem problem;
  problem.program = noisy_program(source);
  problem.weights = {rng.uniform(-kPi, kPi), rng.uniform(-kPi, kPi), rng.uniform(-kPi, kPi),
                     rng.uniform(0.1, 0.8)};
  for (int i = 0; i < kChannels; ++i) problem.constants.push_back(rng.uniform(0.1, 0.8));
  for (int64_t b = 0; b < problem.batch_size; ++b) {
    problem.inputs.push_back(rng.uniform(-kPi, kPi));
    problem.inputs.push_back(rng.uniform(-kPi, kPi));
    problem.inputs.push_back(rng.uniform(0.1, 0.8));
    double norm = 0;
    std::vector<double> row;
    for (int64_t i = 0; i < 2 * problem.dim(); ++i) {
      row.push_back(rng.uniform(-1, 1));
      norm += row.back() * row.back();
    }
    for (double v : row) problem.initial_state.push_back(v / std::sqrt(norm));
  }
  for (int64_t i = 0; i < problem.batch_size * problem.width(); ++i) {
    problem.grad_out.push_back(rng.uniform(-1, 1));
  }
  return problem;
}

struct DensityGradients {
  std::vector<double> inputs;
  std::vector<double> weights;
  std::vector<double> state;
};

class DensityHarness {
 public:
  DensityHarness(
      const NoisyProblem& problem,
      int64_t checkpoint_budget_bytes = DensityMatrixSimulator<double>::kCheckpointBudgetBytes)
      : problem_(problem),
        program_(problem.parse()),
        simulator_(program_, problem_.weights.data(), static_cast<int64_t>(problem_.weights.size()),
                   problem_.constants.data(), problem_.z_masks.data(), problem_.width(),
                   /*probs=*/false, checkpoint_budget_bytes) {}

  const DensityMatrixSimulator<double>& simulator() const { return simulator_; }

  core::BatchView<double> view() const {
    core::BatchView<double> view;
    view.batch_size = problem_.batch_size;
    view.inputs = problem_.inputs.data();
    view.n_input_columns = problem_.n_input_columns;
    view.initial_state = problem_.initial_state.data();
    view.initial_state_is_complex = true;
    return view;
  }

  std::vector<double> forward() const {
    std::vector<double> out(static_cast<size_t>(problem_.batch_size * problem_.width()), -7.0);
    simulator_.forward(view(), 0, simulator_.n_chunks(problem_.batch_size), out.data());
    return out;
  }

  // One chunk at a time, as the operators share them out to threads.
  DensityGradients backward(DiffMethod method) const {
    const int64_t n_chunks = simulator_.n_chunks(problem_.batch_size);
    DensityGradients grads;
    grads.inputs.assign(problem_.inputs.size(), 0.0);
    grads.weights.assign(problem_.weights.size(), 0.0);
    grads.state.assign(problem_.initial_state.size(), 0.0);
    std::vector<double> partials(static_cast<size_t>(n_chunks) * problem_.weights.size(), 0.0);
    typename DensityMatrixSimulator<double>::Gradients pointers;
    pointers.inputs = grads.inputs.data();
    pointers.weight_partials = partials.data();
    pointers.state = grads.state.data();
    for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
      simulator_.backward(method, view(), problem_.grad_out.data(), chunk, chunk + 1, pointers);
    }
    core::reduce_weight_partials(partials.data(), n_chunks, simulator_.n_weights(),
                                 grads.weights.data());
    return grads;
  }

 private:
  NoisyProblem problem_;
  core::Program program_;
  DensityMatrixSimulator<double> simulator_;
};

double loss(const NoisyProblem& problem) {
  return total_loss(DensityHarness(problem).forward(), problem.grad_out);
}

// Central differences of the total loss in every input, weight and state entry.
DensityGradients finite_differences(const NoisyProblem& problem) {
  constexpr double kStep = 1e-6;
  auto slope = [&](auto perturb) {
    NoisyProblem plus = problem, minus = problem;
    perturb(plus, kStep);
    perturb(minus, -kStep);
    return (loss(plus) - loss(minus)) / (2 * kStep);
  };
  DensityGradients fd;
  for (size_t i = 0; i < problem.inputs.size(); ++i) {
    fd.inputs.push_back(slope([i](NoisyProblem& p, double d) { p.inputs[i] += d; }));
  }
  for (size_t i = 0; i < problem.weights.size(); ++i) {
    fd.weights.push_back(slope([i](NoisyProblem& p, double d) { p.weights[i] += d; }));
  }
  for (size_t i = 0; i < problem.initial_state.size(); ++i) {
    fd.state.push_back(slope([i](NoisyProblem& p, double d) { p.initial_state[i] += d; }));
  }
  return fd;
}

void expect_gradients_near(const DensityGradients& actual, const DensityGradients& expected,
                           double tolerance) {
  EXPECT_TRUE(AllClose(actual.inputs, expected.inputs, tolerance, tolerance)) << "inputs";
  EXPECT_TRUE(AllClose(actual.weights, expected.weights, tolerance, tolerance)) << "weights";
  EXPECT_TRUE(AllClose(actual.state, expected.state, tolerance, tolerance)) << "initial state";
}

TEST(DensityMatrixAdjoint, MatchesFiniteDifferences) {
  // Covers the gradients of the shared and the per-sample channel probability,
  // which parameter shift cannot check.
  const NoisyProblem problem = make_problem(ProbabilitySource::kWeightAndInput, 11);
  const DensityGradients fd = finite_differences(problem);
  ASSERT_GT(std::abs(fd.weights[3]), 1e-3) << "the shared probability must matter";
  double column_two = 0;
  for (int64_t b = 0; b < problem.batch_size; ++b) {
    column_two = std::max(column_two, std::abs(fd.inputs[b * problem.n_input_columns + 2]));
  }
  ASSERT_GT(column_two, 1e-3) << "the per-sample probability must matter";
  expect_gradients_near(DensityHarness(problem).backward(DiffMethod::kAdjoint), fd, 1e-7);
}

TEST(DensityMatrixAdjoint, CheckpointBudgetDoesNotChangeGradients) {
  const NoisyProblem problem = make_problem(ProbabilitySource::kWeightAndInput, 12);
  int channels = 0;
  for (int64_t op = 0; op < problem.program.n_ops(); ++op) {
    channels += core::is_channel(static_cast<Opcode>(problem.program.words()[op * 5]));
  }
  ASSERT_EQ(channels, kChannels);  // the strides below are worked out for six
  const DensityGradients every =
      DensityHarness(problem).backward(DiffMethod::kAdjoint);  // default: all 6 fit
  // Two copies for six channels: a checkpoint before every third channel, the
  // sweep replays the two channels after each from it.
  const DensityGradients some =
      DensityHarness(problem, 2 * kCopyBytes).backward(DiffMethod::kAdjoint);
  // Four copies: every second channel (stride 2, and a last slot left unused).
  const DensityGradients half =
      DensityHarness(problem, 4 * kCopyBytes).backward(DiffMethod::kAdjoint);
  // Less than one copy: no checkpoint, every channel replays from the initial state.
  const DensityGradients none =
      DensityHarness(problem, kCopyBytes - 1).backward(DiffMethod::kAdjoint);
  const DensityGradients zero = DensityHarness(problem, 0).backward(DiffMethod::kAdjoint);
  for (const DensityGradients* grads : {&some, &half, &none, &zero}) {
    expect_gradients_near(*grads, every, 1e-12);
  }
}

TEST(DensityMatrixAdjoint, CheckpointBudgetDoesNotChangeTheForward) {
  const NoisyProblem problem = make_problem(ProbabilitySource::kWeightAndInput, 13);
  EXPECT_TRUE(
      BitwiseEqual(DensityHarness(problem, 0).forward(), DensityHarness(problem).forward()));
}

TEST(DensityMatrixParameterShift, EqualsAdjointForAngles) {
  // Constant probabilities only: the channels do not depend on any parameter, so
  // the shift rule is exact for every angle.
  for (uint64_t seed : {21, 22, 23}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const NoisyProblem problem = make_problem(ProbabilitySource::kConstantsOnly, seed);
    for (int64_t budget :
         {DensityMatrixSimulator<double>::kCheckpointBudgetBytes, 2 * kCopyBytes, int64_t{0}}) {
      SCOPED_TRACE("checkpoint budget " + std::to_string(budget));
      const DensityHarness harness(problem, budget);
      expect_gradients_near(harness.backward(DiffMethod::kParameterShift),
                            harness.backward(DiffMethod::kAdjoint), 1e-12);
    }
  }
}

TEST(DensityMatrixParameterShift, RefusesChannelProbabilityGradients) {
  const NoisyProblem problem = make_problem(ProbabilitySource::kWeightAndInput, 31);
  const DensityHarness harness(problem);
  const auto& simulator = harness.simulator();
  EXPECT_THROW(simulator.check_gradients(DiffMethod::kParameterShift, true, false),
               std::invalid_argument);
  EXPECT_THROW(simulator.check_gradients(DiffMethod::kParameterShift, false, true),
               std::invalid_argument);
  // Neither inputs nor weights wanted (only the initial state), or the adjoint: fine.
  EXPECT_NO_THROW(simulator.check_gradients(DiffMethod::kParameterShift, false, false));
  EXPECT_NO_THROW(simulator.check_gradients(DiffMethod::kAdjoint, true, true));
  const DensityHarness constants_only(make_problem(ProbabilitySource::kConstantsOnly, 31));
  EXPECT_NO_THROW(
      constants_only.simulator().check_gradients(DiffMethod::kParameterShift, true, true));
}

TEST(DensityMatrixMemory, RefusesWhatCannotFit) {
  // 4**16 complex doubles are 64 GiB a copy: refused before anything is allocated.
  EXPECT_THROW(core::check_density_matrix_fits(16, sizeof(double), 1), std::invalid_argument);
  EXPECT_THROW(core::check_density_matrix_fits(16, sizeof(float), 1), std::invalid_argument);
  EXPECT_NO_THROW(core::check_density_matrix_fits(4, sizeof(double), 1));
  EXPECT_NO_THROW(core::check_density_matrix_fits(4, sizeof(double), 64));
  try {
    core::check_density_matrix_fits(16, sizeof(double), 2);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("n_qubits=16"), std::string::npos) << message;
    EXPECT_NE(message.find("memory"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace qmoe::test_support
