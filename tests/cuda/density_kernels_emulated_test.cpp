// The CUDA density-matrix kernels' bodies (cuda/kernels/density_sample.cuh) and the
// weight reduction (weight_reduction.cuh), compiled by g++ and run through the host
// emulation of their launch (launch_emulation.h), on fresh random noisy circuits
// (every opcode, every channel, probabilities and angles from inputs, weights and
// constants) against the CPU density-matrix engine: in double (itself checked against
// the plain-PyTorch oracle by tests/python/test_ops_density_matrix.py) for both
// precisions, and in float for the float kernels; plus central differences of the
// emulated forward for the gradient conventions.
//
// Every emulated launch covers the batch with whole blocks and fills every output row
// past the batch with a sentinel: the padding threads must leave them untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "emulated_kernel_support.h"
#include "launch_emulation.h"
#include "qmoe/core/cpu/density/density_matrix_engine.h"
#include "qmoe/core/engine/weight_reduction.h"
#include "qmoe/core/program/readout.h"
#include "qmoe/cuda/kernels/density_program.h"
#include "qmoe/cuda/kernels/density_sample.cuh"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/weight_reduction.cuh"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

namespace emulation = cuda::emulation;
using core::DensityMatrixSimulator;
using emulation::ThreadOrder;

constexpr double kDoubleTolerance = 1e-10;
constexpr double kFloatTolerance = 1e-5;  // absolute, and relative to the reference

template <class Real>
double tolerance() {
  return std::is_same_v<Real, float> ? kFloatTolerance : kDoubleTolerance;
}

template <class Real>
const char* precision_name() {
  return std::is_same_v<Real, float> ? "float32" : "float64";
}

// ---- random noisy problems -------------------------------------------------------------------

// Input columns 0..2, weights 0..2 and constants 0..1 are angles; input column 3,
// weight 3 and constants 2..3 are channel probabilities, in [0.05, 0.9] (away from 1,
// where the damping channels have no derivative).
constexpr int64_t kAngleColumns = 3;
constexpr int64_t kProbabilityColumn = 3;
constexpr int64_t kAngleWeights = 3;
constexpr int64_t kProbabilityWeight = 3;
constexpr int64_t kAngleConstants = 2;

struct NoisyOptions {
  int n_qubits = 2;
  int64_t batch_size = 5;
  StateKind state_kind = StateKind::kNone;
  bool probs = false;
  int n_extra_ops = 10;              // on top of one op of every opcode that fits
  int n_extra_channels = 2;          // on top of one of each channel
  bool shared_probabilities = true;  // false: every probability a constant
};

bool is_channel_opcode(int opcode) { return opcode >= 15 && opcode <= 18; }

Problem noisy_problem(uint64_t seed, const NoisyOptions& options) {
  Rng rng(seed);
  const int n = options.n_qubits;
  Problem problem;
  problem.program = FlatProgram(n);
  std::vector<int> opcodes;
  for (int opcode = 0; opcode <= 18; ++opcode) {
    if (n >= 2 || !is_two_qubit_opcode(opcode)) opcodes.push_back(opcode);
  }
  for (int i = 0; i < options.n_extra_ops; ++i) {
    int opcode;
    do {
      opcode = static_cast<int>(rng.below(15));
    } while (n < 2 && is_two_qubit_opcode(opcode));
    opcodes.push_back(opcode);
  }
  for (int i = 0; i < options.n_extra_channels; ++i) {
    opcodes.push_back(15 + static_cast<int>(rng.below(4)));
  }
  rng.shuffle(opcodes);
  for (int opcode : opcodes) {
    const int64_t wire = rng.below(n);
    int64_t wire1 = -1;
    if (is_two_qubit_opcode(opcode)) {
      wire1 = rng.below(n - 1);
      if (wire1 >= wire) ++wire1;
    }
    ParamSource source = ParamSource::kNone;
    int64_t index = -1;
    if (is_channel_opcode(opcode)) {
      switch (options.shared_probabilities ? rng.below(3) : 2) {
        case 0:
          source = ParamSource::kInput;
          index = kProbabilityColumn;
          break;
        case 1:
          source = ParamSource::kWeight;
          index = kProbabilityWeight;
          break;
        default:
          source = ParamSource::kConstant;
          index = kAngleConstants + rng.below(2);
          break;
      }
    } else if (is_rotation_opcode(opcode)) {
      switch (rng.below(3)) {
        case 0:
          source = ParamSource::kInput;
          index = rng.below(kAngleColumns);
          break;
        case 1:
          source = ParamSource::kWeight;
          index = rng.below(kAngleWeights);
          break;
        default:
          source = ParamSource::kConstant;
          index = rng.below(kAngleConstants);
          break;
      }
    }
    problem.program.add(static_cast<Opcode>(opcode), wire, wire1, source, index);
  }
  for (int64_t w = 0; w < kAngleWeights; ++w) problem.weights.push_back(rng.uniform(-kPi, kPi));
  problem.weights.push_back(rng.uniform(0.05, 0.9));
  for (int64_t c = 0; c < kAngleConstants; ++c) {
    problem.constants.push_back(rng.uniform(-kPi, kPi));
  }
  for (int c = 0; c < 2; ++c) problem.constants.push_back(rng.uniform(0.05, 0.9));
  problem.probs = options.probs;
  if (!options.probs) {
    problem.z_masks.push_back(0);  // identity: the trace
    for (int i = 0; i < 3; ++i) problem.z_masks.push_back(1 + rng.below((int64_t{1} << n) - 1));
    problem.z_masks.push_back((int64_t{1} << n) - 1);  // Z on every wire
  }
  problem.batch_size = options.batch_size;
  problem.n_input_columns = kAngleColumns + 1;
  for (int64_t b = 0; b < options.batch_size; ++b) {
    for (int64_t c = 0; c < kAngleColumns; ++c) problem.inputs.push_back(rng.uniform(-6.0, 6.0));
    problem.inputs.push_back(rng.uniform(0.05, 0.9));
  }
  problem.state_kind = options.state_kind;
  if (options.state_kind != StateKind::kNone) {
    for (int64_t b = 0; b < options.batch_size; ++b) {
      std::vector<double> row;
      double norm = 0;
      for (int64_t i = 0; i < problem.state_row(); ++i) {
        row.push_back(rng.uniform(-1, 1));
        norm += row.back() * row.back();
      }
      for (double v : row) problem.initial_state.push_back(v / std::sqrt(norm));
    }
  }
  for (int64_t i = 0; i < options.batch_size * problem.width(); ++i) {
    problem.grad_out.push_back(rng.uniform(-1, 1));
  }
  return problem;
}

core::Program parse_noisy(const Problem& problem) {
  ProgramLimits limits = problem.limits();
  limits.allow_channels = true;
  const auto& words = problem.program.words();
  return core::parse_program(words.data(), static_cast<int64_t>(words.size()), problem.n_qubits(),
                             limits);
}

int count_channels(const Problem& problem) {
  int channels = 0;
  const auto& words = problem.program.words();
  for (size_t at = 0; at < words.size(); at += 5) {
    channels += is_channel_opcode(static_cast<int>(words[at])) ? 1 : 0;
  }
  return channels;
}

std::string describe(const Problem& problem, uint64_t seed) {
  static const char* kStates[] = {"no initial state", "real initial state",
                                  "complex initial state"};
  return "seed " + std::to_string(seed) + ", n=" + std::to_string(problem.n_qubits()) + ", batch " +
         std::to_string(problem.batch_size) + ", " + std::to_string(count_channels(problem)) +
         " channels, " + kStates[static_cast<int>(problem.state_kind)] +
         (problem.probs ? ", probs" : ", expval");
}

// ---- the CPU density-matrix engine -----------------------------------------------------------

template <class Real>
struct Results {
  std::vector<Real> out;      // [batch, width]
  std::vector<Real> inputs;   // [batch, columns]; empty when not requested
  std::vector<Real> weights;  // [n_weights], reduced; empty when not requested
  std::vector<Real> state;    // like the initial state; empty without one or not requested
};

// The gradients a backward is asked for (a null pointer for the others).
struct Requested {
  bool inputs = true;
  bool weights = true;
  bool state = true;
};

template <class Real>
Results<Real> cpu_results(const Problem& problem, DiffMethod method,
                          const Requested& requested = {}) {
  const core::Program program = parse_noisy(problem);
  const std::vector<Real> weights = cast_vector<Real>(problem.weights);
  const std::vector<Real> inputs = cast_vector<Real>(problem.inputs);
  const std::vector<Real> initial_state = cast_vector<Real>(problem.initial_state);
  const std::vector<Real> grad_out = cast_vector<Real>(problem.grad_out);
  const DensityMatrixSimulator<Real> engine(
      program, weights.data(), static_cast<int64_t>(weights.size()), problem.constants.data(),
      problem.z_masks.data(), static_cast<int64_t>(problem.z_masks.size()), problem.probs);
  core::BatchView<Real> view;
  view.batch_size = problem.batch_size;
  view.inputs = inputs.data();
  view.n_input_columns = problem.n_input_columns;
  if (problem.state_kind != StateKind::kNone) {
    view.initial_state = initial_state.data();
    view.initial_state_is_complex = problem.state_kind == StateKind::kComplex;
  }
  const int64_t n_chunks = engine.n_chunks(problem.batch_size);
  Results<Real> results;
  results.out.assign(static_cast<size_t>(problem.batch_size * problem.width()), Real(0));
  engine.forward(view, 0, n_chunks, results.out.data());

  std::vector<Real> partials;
  typename DensityMatrixSimulator<Real>::Gradients pointers;
  if (requested.inputs) {
    results.inputs.assign(inputs.size(), Real(0));
    pointers.inputs = results.inputs.data();
  }
  if (requested.weights) {
    partials.assign(static_cast<size_t>(n_chunks) * weights.size(), Real(0));
    pointers.weight_partials = partials.data();
  }
  if (requested.state && problem.state_kind != StateKind::kNone) {
    results.state.assign(initial_state.size(), Real(0));
    pointers.state = results.state.data();
  }
  engine.backward(method, view, grad_out.data(), 0, n_chunks, pointers);
  if (requested.weights) {
    results.weights.assign(weights.size(), Real(0));
    core::reduce_weight_partials(partials.data(), n_chunks, engine.n_weights(),
                                 results.weights.data());
  }
  return results;
}

// ---- the emulated launches -------------------------------------------------------------------

// How a launch is emulated: its block size and the order its threads run in.
struct LaunchShape {
  uint32_t block_dim = 4;
  ThreadOrder order = ThreadOrder::kAscending;
  uint64_t seed = 0;
};

cuda::DeviceProgram device_program_of(const Problem& problem) {
  return cuda::make_density_device_program(parse_noisy(problem), problem.constants.data(),
                                           static_cast<int64_t>(problem.constants.size()));
}

template <class Real, int MaxQubits>
std::vector<Real> emulated_forward(const Problem& problem, const LaunchShape& shape = {}) {
  const DeviceTensors<Real> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const uint32_t grid = emulation::blocks_for(problem.batch_size, shape.block_dim);
  const size_t width = static_cast<size_t>(problem.width());
  std::vector<Real> out(static_cast<size_t>(grid) * shape.block_dim * width,
                        static_cast<Real>(kSentinel));
  cuda::DensityForwardArgs<Real> args{};
  args.batch = tensors.batch;
  args.out = out.data();
  emulation::launch(
      grid, shape.block_dim,
      [&](const cuda::ThreadIndex& thread) {
        cuda::density_forward_thread<Real, MaxQubits>(thread, program, readout, args);
      },
      shape.order, shape.seed);
  const size_t batch = static_cast<size_t>(problem.batch_size);
  EXPECT_TRUE(Untouched(out, batch * width, "out"));
  out.resize(batch * width);
  return out;
}

// The two reduction launches (stage 1 a block per range, stage 2 one block).
template <class Real>
std::vector<Real> emulated_reduction(const std::vector<Real>& partials, int64_t batch_size,
                                     int64_t n_weights, uint32_t block_dim, ThreadOrder order,
                                     uint64_t seed) {
  const int64_t n_blocks = cuda::weight_reduction_blocks(batch_size);
  std::vector<double> block_sums(
      static_cast<size_t>(cuda::weight_reduction_workspace_length(batch_size, n_weights)),
      std::numeric_limits<double>::quiet_NaN());
  std::vector<Real> grad_weights(static_cast<size_t>(n_weights), static_cast<Real>(kSentinel));
  emulation::launch(
      static_cast<uint32_t>(n_blocks), block_dim,
      [&](const cuda::ThreadIndex& thread) {
        cuda::weight_reduction_range_thread<Real>(thread, partials.data(), batch_size, n_weights,
                                                  block_sums.data());
      },
      order, seed);
  emulation::launch(
      1, block_dim,
      [&](const cuda::ThreadIndex& thread) {
        cuda::weight_reduction_total_thread<Real>(thread, block_sums.data(), n_blocks, n_weights,
                                                  grad_weights.data());
      },
      order, seed + 1);
  return grad_weights;
}

// The adjoint or parameter-shift launch, then the weight reduction.
template <class Real, int MaxQubits>
Results<Real> emulated_backward(DiffMethod method, const Problem& problem,
                                const LaunchShape& shape = {}, const Requested& requested = {}) {
  const DeviceTensors<Real> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const uint32_t grid = emulation::blocks_for(problem.batch_size, shape.block_dim);
  const size_t rows = static_cast<size_t>(grid) * shape.block_dim;
  const size_t batch = static_cast<size_t>(problem.batch_size);
  const size_t columns = static_cast<size_t>(problem.n_input_columns);
  const size_t n_weights = problem.weights.size();
  const bool has_state = requested.state && problem.state_kind != StateKind::kNone;
  const size_t state_row = static_cast<size_t>(problem.state_row());

  std::vector<Real> inputs(rows * columns, static_cast<Real>(kSentinel));
  for (size_t i = 0; i < batch * columns; ++i) inputs[i] = 0;  // the operator zeroes it
  std::vector<Real> partials(rows * n_weights, static_cast<Real>(kSentinel));
  std::vector<Real> state(has_state ? rows * state_row : 0, static_cast<Real>(kSentinel));
  cuda::DensityAdjointArgs<Real> args{};
  args.batch = tensors.batch;
  args.grad_out = tensors.grad_out.data();
  args.grad_inputs = requested.inputs ? inputs.data() : nullptr;
  args.weight_partials = requested.weights ? partials.data() : nullptr;
  args.grad_state = has_state ? state.data() : nullptr;
  emulation::launch(
      grid, shape.block_dim,
      [&](const cuda::ThreadIndex& thread) {
        if (method == DiffMethod::kParameterShift) {
          cuda::density_parameter_shift_thread<Real, MaxQubits>(thread, program, readout, args);
        } else {
          cuda::density_adjoint_thread<Real, MaxQubits>(thread, program, readout, args);
        }
      },
      shape.order, shape.seed);

  Results<Real> results;
  EXPECT_TRUE(Untouched(inputs, batch * columns, "grad_inputs"));
  EXPECT_TRUE(Untouched(partials, requested.weights ? batch * n_weights : 0, "weight_partials"));
  EXPECT_TRUE(Untouched(state, batch * state_row, "grad_state"));
  if (requested.inputs) results.inputs.assign(inputs.begin(), inputs.begin() + batch * columns);
  if (requested.weights) {
    partials.resize(batch * n_weights);
    results.weights =
        emulated_reduction(partials, problem.batch_size, static_cast<int64_t>(n_weights),
                           shape.block_dim, shape.order, shape.seed + 7);
  }
  if (has_state) results.state.assign(state.begin(), state.begin() + batch * state_row);
  return results;
}

// Calls fn(std::integral_constant<int, B>{}) for the smallest bucket B of
// cuda::kDensityBuckets (2, 4, 6) that holds n qubits, as the launcher picks it.
template <class Fn>
void with_bucket(int n_qubits, Fn&& fn) {
  if (n_qubits <= 2) {
    fn(std::integral_constant<int, 2>{});
  } else if (n_qubits <= 4) {
    fn(std::integral_constant<int, 4>{});
  } else {
    fn(std::integral_constant<int, 6>{});
  }
}

template <class A, class E>
void expect_results_close(const Results<A>& actual, const Results<E>& expected, double tol,
                          bool forward = true) {
  if (forward) EXPECT_TRUE(AllClose(actual.out, expected.out, tol, tol)) << "out";
  EXPECT_TRUE(AllClose(actual.inputs, expected.inputs, tol, tol)) << "input gradients";
  EXPECT_TRUE(AllClose(actual.weights, expected.weights, tol, tol)) << "weight gradients";
  EXPECT_TRUE(AllClose(actual.state, expected.state, tol, tol)) << "initial-state gradient";
}

// The emulated kernels of precision Real in the bucket for the problem, forward and
// `method`, against the CPU engine in double (and in float for the float kernels).
template <class Real>
void expect_kernels_match_cpu(const Problem& problem, DiffMethod method, const LaunchShape& shape) {
  SCOPED_TRACE(std::string(precision_name<Real>()) + ", block " + std::to_string(shape.block_dim));
  Results<Real> emulated;
  with_bucket(problem.n_qubits(), [&](auto bucket) {
    constexpr int kBucket = decltype(bucket)::value;
    emulated = emulated_backward<Real, kBucket>(method, problem, shape);
    emulated.out = emulated_forward<Real, kBucket>(problem, shape);
  });
  expect_results_close(emulated, cpu_results<double>(problem, method), tolerance<Real>());
  if (std::is_same_v<Real, float>) {
    expect_results_close(emulated, cpu_results<float>(problem, method), kFloatTolerance);
  }
}

// ---- forward and adjoint against the CPU engine ----------------------------------------------

// Fresh random noisy circuits for n = 1..6 (every bucket), each with no, a real and a
// complex initial state, both readouts, batch sizes that leave the last emulated block
// padded, and more channels than the bucket keeps checkpoints for (the sweep replays).
TEST(DensityKernelsEmulated, ForwardAndAdjointMatchTheCpuEngine) {
  uint64_t seed = 1000;
  for (int n = 1; n <= 6; ++n) {
    for (StateKind state : {StateKind::kNone, StateKind::kReal, StateKind::kComplex}) {
      for (bool probs : {false, true}) {
        NoisyOptions options;
        options.n_qubits = n;
        options.batch_size = n <= 4 ? 7 : 3;
        options.state_kind = state;
        options.probs = probs;
        options.n_extra_channels = n <= 2 ? 6 : 2;  // > 8 slots at n <= 2, > 2 at n = 3..4
        const Problem problem = noisy_problem(++seed, options);
        SCOPED_TRACE(describe(problem, seed));
        LaunchShape shape;
        shape.block_dim = n <= 4 ? 4 : 2;
        expect_kernels_match_cpu<double>(problem, DiffMethod::kAdjoint, shape);
        expect_kernels_match_cpu<float>(problem, DiffMethod::kAdjoint, shape);
      }
    }
  }
}

// Without channels rho stays pure: the kernels against the independent dense statevector
// reference of test_support.h (forward) and the CPU statevector engine in double
// (adjoint gradients), for every unitary opcode.
TEST(DensityKernelsEmulated, WithoutChannelsMatchTheStatevectorReferences) {
  uint64_t seed = 1500;
  for (int n = 1; n <= 6; ++n) {
    for (StateKind state : {StateKind::kNone, StateKind::kComplex, StateKind::kReal}) {
      RandomOptions options;
      options.n_qubits = n;
      options.batch_size = 3;
      options.state_kind = state;
      options.probs = n % 2 == 0;
      const Problem problem = random_problem(++seed, options);
      SCOPED_TRACE(describe(problem, seed));
      const std::vector<double> expected_out = reference_forward(problem);
      const Gradients<double> expected =
          Harness<double>(problem, core::baseline_kernels()).backward(DiffMethod::kAdjoint);
      with_bucket(n, [&](auto bucket) {
        constexpr int kBucket = decltype(bucket)::value;
        EXPECT_TRUE(AllClose(emulated_forward<double, kBucket>(problem), expected_out,
                             kDoubleTolerance, kDoubleTolerance));
        EXPECT_TRUE(AllClose(emulated_forward<float, kBucket>(problem), expected_out,
                             kFloatTolerance, kFloatTolerance));
        const auto grads = emulated_backward<double, kBucket>(DiffMethod::kAdjoint, problem);
        EXPECT_TRUE(AllClose(grads.inputs, expected.inputs, kDoubleTolerance, kDoubleTolerance));
        EXPECT_TRUE(AllClose(grads.weights, expected.weights, kDoubleTolerance, kDoubleTolerance));
        EXPECT_TRUE(AllClose(grads.state, expected.state, kDoubleTolerance, kDoubleTolerance));
      });
    }
  }
}

// The parameter-shift kernel (rotation angles; channel probabilities constants, as the
// rule requires) against the CPU engine's parameter shift.
TEST(DensityKernelsEmulated, ParameterShiftMatchesTheCpuEngine) {
  uint64_t seed = 2000;
  for (int n : {1, 2, 3, 5}) {
    for (StateKind state : {StateKind::kNone, StateKind::kComplex}) {
      NoisyOptions options;
      options.n_qubits = n;
      options.batch_size = 5;
      options.state_kind = state;
      options.probs = n % 2 == 1;
      options.n_extra_ops = 4;
      options.shared_probabilities = false;
      const Problem problem = noisy_problem(++seed, options);
      SCOPED_TRACE(describe(problem, seed));
      LaunchShape shape;
      shape.block_dim = 2;
      expect_kernels_match_cpu<double>(problem, DiffMethod::kParameterShift, shape);
      expect_kernels_match_cpu<float>(problem, DiffMethod::kParameterShift, shape);
    }
  }
}

// Gradients asked for one at a time are the full backward's, and what is not asked for
// is not written (null pointers).
TEST(DensityKernelsEmulated, RequestedGradientsAloneMatchTheFullBackward) {
  uint64_t seed = 3000;
  for (int n : {2, 3, 6}) {
    NoisyOptions options;
    options.n_qubits = n;
    options.batch_size = 3;
    options.state_kind = StateKind::kComplex;
    const Problem problem = noisy_problem(++seed, options);
    SCOPED_TRACE(describe(problem, seed));
    with_bucket(n, [&](auto bucket) {
      constexpr int kBucket = decltype(bucket)::value;
      const auto full = emulated_backward<double, kBucket>(DiffMethod::kAdjoint, problem);
      for (int only = 0; only < 3; ++only) {
        Requested requested;
        requested.inputs = only == 0;
        requested.weights = only == 1;
        requested.state = only == 2;
        const auto alone =
            emulated_backward<double, kBucket>(DiffMethod::kAdjoint, problem, {}, requested);
        if (only == 0) EXPECT_TRUE(AllClose(alone.inputs, full.inputs, kDoubleTolerance));
        if (only == 1) EXPECT_TRUE(AllClose(alone.weights, full.weights, kDoubleTolerance));
        if (only == 2) EXPECT_TRUE(BitwiseEqual(alone.state, full.state));
      }
    });
  }
}

// ---- gradient conventions, buckets, determinism ----------------------------------------------

double emulated_loss(const Problem& problem) {
  return total_loss(emulated_forward<double, 2>(problem), problem.grad_out);
}

// The adjoint against central differences of the emulated forward in every input
// (angles and the probability column), weight and complex initial-state entry.
TEST(DensityKernelsEmulated, AdjointMatchesFiniteDifferences) {
  NoisyOptions options;
  options.n_qubits = 2;
  options.batch_size = 3;
  options.state_kind = StateKind::kComplex;
  const Problem problem = noisy_problem(4001, options);
  SCOPED_TRACE(describe(problem, 4001));
  const auto adjoint = emulated_backward<double, 2>(DiffMethod::kAdjoint, problem);
  constexpr double kStep = 1e-6;
  auto slope = [&](std::vector<double> Problem::*field, size_t i) {
    Problem plus = problem, minus = problem;
    (plus.*field)[i] += kStep;
    (minus.*field)[i] -= kStep;
    return (emulated_loss(plus) - emulated_loss(minus)) / (2 * kStep);
  };
  std::vector<double> inputs, weights, state;
  for (size_t i = 0; i < problem.inputs.size(); ++i) inputs.push_back(slope(&Problem::inputs, i));
  for (size_t i = 0; i < problem.weights.size(); ++i) {
    weights.push_back(slope(&Problem::weights, i));
  }
  for (size_t i = 0; i < problem.initial_state.size(); ++i) {
    state.push_back(slope(&Problem::initial_state, i));
  }
  EXPECT_TRUE(AllClose(adjoint.inputs, inputs, 1e-6, 1e-6)) << "inputs";
  EXPECT_TRUE(AllClose(adjoint.weights, weights, 1e-6, 1e-6)) << "weights";
  EXPECT_TRUE(AllClose(adjoint.state, state, 1e-6, 1e-6)) << "initial state";
}

// A program runs the same in every bucket that holds it: the forward bit for bit, the
// gradients within rounding (the buckets keep 8, 2 and 0 checkpoints of rho, so the
// sweep rebuilds rho before each channel along different replays).
TEST(DensityKernelsEmulated, EveryBucketThatHoldsTheProgramAgrees) {
  NoisyOptions options;
  options.n_qubits = 2;
  options.batch_size = 5;
  options.state_kind = StateKind::kReal;
  options.n_extra_channels = 10;
  const Problem problem = noisy_problem(5001, options);
  SCOPED_TRACE(describe(problem, 5001));
  const auto out2 = emulated_forward<double, 2>(problem);
  EXPECT_TRUE(BitwiseEqual(emulated_forward<double, 4>(problem), out2));
  EXPECT_TRUE(BitwiseEqual(emulated_forward<double, 6>(problem), out2));
  const auto grads2 = emulated_backward<double, 2>(DiffMethod::kAdjoint, problem);
  for (const auto& grads : {emulated_backward<double, 4>(DiffMethod::kAdjoint, problem),
                            emulated_backward<double, 6>(DiffMethod::kAdjoint, problem)}) {
    expect_results_close(grads, grads2, kDoubleTolerance, /*forward=*/false);
  }
}

// The weight gradient's bits do not depend on the block size or the order the threads
// of the sample and reduction launches run in (three reduction ranges).
TEST(DensityKernelsEmulated, WeightGradientIsBitwiseDeterministicUnderThreadOrders) {
  NoisyOptions options;
  options.n_qubits = 2;
  options.batch_size = 2 * cuda::kWeightReductionRange + 37;
  options.n_extra_ops = 4;
  options.n_extra_channels = 0;
  const Problem problem = noisy_problem(6001, options);
  const auto reference = emulated_backward<float, 2>(DiffMethod::kAdjoint, problem);
  ASSERT_EQ(reference.weights.size(), problem.weights.size());
  uint64_t seed = 1;
  for (uint32_t block_dim : {32u, 64u, 128u}) {
    for (ThreadOrder order : {ThreadOrder::kDescending, ThreadOrder::kShuffled}) {
      LaunchShape shape;
      shape.block_dim = block_dim;
      shape.order = order;
      shape.seed = ++seed;
      const auto shuffled = emulated_backward<float, 2>(DiffMethod::kAdjoint, problem, shape);
      EXPECT_TRUE(BitwiseEqual(shuffled.weights, reference.weights)) << "block " << block_dim;
      EXPECT_TRUE(BitwiseEqual(shuffled.inputs, reference.inputs)) << "block " << block_dim;
    }
  }
}

// ---- channel probabilities -------------------------------------------------------------------

// A probability outside [0, 1] (or NaN) read from inputs makes that sample's outputs
// and gradients NaN; the other samples are the CPU engine's. One read from weights
// poisons every sample.
TEST(DensityKernelsEmulated, InvalidProbabilitiesGiveNaNNeverAWrongNumber) {
  FlatProgram program(2);
  program.add(Opcode::kRx, 0, -1, ParamSource::kInput, 0)
      .add(Opcode::kAmplitudeDamping, 0, -1, ParamSource::kInput, 1)
      .add(Opcode::kCnot, 0, 1)
      .add(Opcode::kRy, 1, -1, ParamSource::kWeight, 0)
      .add(Opcode::kPhaseDamping, 1, -1, ParamSource::kWeight, 1);
  Problem problem;
  problem.program = program;
  problem.weights = {0.4, 0.3};
  problem.z_masks = {1, 2, 3};
  problem.batch_size = 3;
  problem.n_input_columns = 2;
  problem.inputs = {0.7, 0.2, 0.5, 1.5, 1.1, std::numeric_limits<double>::quiet_NaN()};
  problem.grad_out = {0.3, -0.2, 0.9, 0.5, 0.1, -0.4, 0.2, 0.2, 0.7};
  const auto out = emulated_forward<double, 2>(problem);
  const auto grads = emulated_backward<double, 2>(DiffMethod::kAdjoint, problem);
  Problem first = problem;
  first.batch_size = 1;
  first.inputs.resize(2);
  first.grad_out.resize(3);
  const auto expected = cpu_results<double>(first, DiffMethod::kAdjoint);
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(out[j], expected.out[j], kDoubleTolerance);
    EXPECT_TRUE(std::isnan(out[3 + j]) && std::isnan(out[6 + j])) << "output " << j;
  }
  EXPECT_TRUE(AllClose(std::vector<double>(grads.inputs.begin(), grads.inputs.begin() + 2),
                       expected.inputs, kDoubleTolerance));
  for (size_t i = 2; i < grads.inputs.size(); ++i) EXPECT_TRUE(std::isnan(grads.inputs[i])) << i;
  for (double w : grads.weights) EXPECT_TRUE(std::isnan(w));

  Problem shared = first;
  shared.weights[1] = -0.25;
  for (double value : emulated_forward<double, 2>(shared)) EXPECT_TRUE(std::isnan(value));
}

// What the host refuses before a launch, with the CPU engine's messages.
TEST(DensityKernelsEmulated, HostChecksRefuseWhatTheCpuEngineRefuses) {
  FlatProgram program(1);
  program.add(Opcode::kRx, 0, -1, ParamSource::kInput, 0)
      .add(Opcode::kBitFlip, 0, -1, ParamSource::kConstant, 0)
      .add(Opcode::kDepolarizing, 0, -1, ParamSource::kInput, 1);
  Problem problem;
  problem.program = program;
  problem.constants = {1.25};
  problem.n_input_columns = 2;
  const core::Program parsed = parse_noisy(problem);
  try {
    cuda::make_density_device_program(parsed, problem.constants.data(), 1);
    ADD_FAILURE() << "a constant probability of 1.25 was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("operation 1 (BIT_FLIP): probability 1.25"),
              std::string::npos)
        << error.what();
  }
  problem.constants = {0.25};
  EXPECT_NO_THROW(cuda::make_density_device_program(parsed, problem.constants.data(), 1));
  // The statevector builder still refuses channels.
  EXPECT_THROW(cuda::make_device_program(parsed, problem.constants.data(), 1),
               std::invalid_argument);
  EXPECT_NO_THROW(cuda::check_density_parameter_shift(parsed, false, true));
  try {
    cuda::check_density_parameter_shift(parsed, true, false);
    ADD_FAILURE() << "parameter shift of an input channel probability was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("operation 2 (DEPOLARIZING): parameter_shift"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace qmoe::test_support
