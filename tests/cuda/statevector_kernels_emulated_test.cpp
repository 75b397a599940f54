// The CUDA statevector kernels' bodies (cuda/kernels/statevector_sample.cuh,
// weight_reduction.cuh), compiled by g++ and run through the host emulation of their
// launch (launch_emulation.h), against independent float64 references on fresh
// random circuits: the dense simulator of test_support.h for the forward pass and
// the final state, the CPU engine in double for the adjoint and parameter-shift
// gradients (and the emulated adjoint for the parameter shift), and central
// differences of the dense simulator for the gradient conventions.
//
// Every emulated launch covers the batch with whole blocks and fills every output
// row past the batch with a sentinel: the padding threads must leave them untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "emulated_kernel_support.h"
#include "launch_emulation.h"
#include "qmoe/core/program/readout.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/statevector_sample.cuh"
#include "qmoe/cuda/kernels/statevector_shift_sample.cuh"
#include "qmoe/cuda/kernels/weight_reduction.cuh"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

namespace emulation = cuda::emulation;
using emulation::ThreadOrder;

constexpr double kDoubleTolerance = 1e-10;
constexpr double kFloatTolerance = 1e-5;  // absolute, and relative to the reference

template <class Real>
double tolerance() {
  return sizeof(Real) == sizeof(float) ? kFloatTolerance : kDoubleTolerance;
}

const char* precision_name(size_t real_size) {
  return real_size == sizeof(float) ? "float32" : "float64";
}

cuda::DeviceProgram device_program_of(const Problem& problem) {
  return cuda::make_device_program(problem.parse(), problem.constants.data(),
                                   static_cast<int64_t>(problem.constants.size()));
}

// How a launch is emulated: its block size and the order its threads run in.
struct LaunchShape {
  uint32_t block_dim = 32;
  ThreadOrder order = ThreadOrder::kAscending;
  uint64_t seed = 0;
  // As the kernels run: shared half angles from a per-block table filled before the
  // samples (statevector_kernels.cu); false: each thread takes its own.
  bool shared_angles = true;
};

// The per-block tables of shared half angles, as the kernels keep them in shared
// memory. NaN until filled: an entry read but never written poisons the result.
template <class Real>
class FixedAngleTables {
 public:
  using HalfAngle = cuda::statevector::HalfAngle<Real>;

  FixedAngleTables(uint32_t grid_dim, bool enabled)
      : enabled_(enabled),
        blocks_(grid_dim,
                std::vector<HalfAngle>(cuda::kDeviceProgramCapacity,
                                       HalfAngle{std::numeric_limits<Real>::quiet_NaN(),
                                                 std::numeric_limits<Real>::quiet_NaN()})) {}

  // The block-wide phase: this thread's share of its block's table.
  void fill(const cuda::ThreadIndex& thread, const cuda::DeviceProgram& program,
            const Real* weights) {
    if (!enabled_) return;
    cuda::statevector::fill_fixed_half_angles<Real>(thread.thread, thread.block_dim, program,
                                                    weights, blocks_[thread.block].data());
  }

  // What the kernel hands its thread: the block's table, or null.
  const HalfAngle* of(const cuda::ThreadIndex& thread) const {
    return enabled_ ? blocks_[thread.block].data() : nullptr;
  }

 private:
  bool enabled_;
  std::vector<std::vector<HalfAngle>> blocks_;
};

template <class Real>
struct ForwardResult {
  std::vector<Real> out;          // [batch, width]
  std::vector<Real> final_state;  // [batch, dim, 2], empty without keep_state
};

template <class Real, int MaxQubits>
ForwardResult<Real> emulated_forward(const Problem& problem, const LaunchShape& shape,
                                     bool keep_state) {
  const DeviceTensors<Real> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const uint32_t grid = emulation::blocks_for(problem.batch_size, shape.block_dim);
  const size_t rows = static_cast<size_t>(grid) * shape.block_dim;
  const size_t width = static_cast<size_t>(problem.width());
  const size_t state_row = static_cast<size_t>(problem.dim()) * 2;
  ForwardResult<Real> result;
  result.out.assign(rows * width, static_cast<Real>(kSentinel));
  if (keep_state) result.final_state.assign(rows * state_row, static_cast<Real>(kSentinel));

  cuda::StatevectorForwardArgs<Real> args{};
  args.batch = tensors.batch;
  args.out = result.out.data();
  args.final_state = keep_state ? result.final_state.data() : nullptr;
  FixedAngleTables<Real> tables(grid, shape.shared_angles);
  emulation::launch_two_phase(
      grid, shape.block_dim,
      [&](const cuda::ThreadIndex& thread) { tables.fill(thread, program, args.batch.weights); },
      [&](const cuda::ThreadIndex& thread) {
        cuda::statevector_forward_thread<Real, MaxQubits>(thread, program, readout, args,
                                                          tables.of(thread));
      },
      shape.order, shape.seed);

  const size_t batch = static_cast<size_t>(problem.batch_size);
  EXPECT_TRUE(Untouched(result.out, batch * width, "out"));
  EXPECT_TRUE(Untouched(result.final_state, batch * state_row, "final_state"));
  result.out.resize(batch * width);
  if (keep_state) result.final_state.resize(batch * state_row);
  return result;
}

// The two reduction launches: stage 1 with `range_block_dim` threads per range,
// stage 2 with `total_grid` x `total_block_dim` threads.
struct ReductionShape {
  uint32_t range_block_dim = 32;
  uint32_t total_block_dim = 32;
  uint32_t total_grid = 1;
  ThreadOrder order = ThreadOrder::kAscending;
  uint64_t seed = 0;
};

template <class Real>
std::vector<Real> emulated_reduction(const std::vector<Real>& partials, int64_t batch_size,
                                     int64_t n_weights, const ReductionShape& shape) {
  const int64_t n_blocks = cuda::weight_reduction_blocks(batch_size);
  // NaN everywhere: a range sum stage 1 failed to write would poison its weight.
  std::vector<double> block_sums(
      static_cast<size_t>(cuda::weight_reduction_workspace_length(batch_size, n_weights)),
      std::numeric_limits<double>::quiet_NaN());
  std::vector<Real> grad_weights(static_cast<size_t>(n_weights), static_cast<Real>(kSentinel));
  emulation::launch(
      static_cast<uint32_t>(n_blocks), shape.range_block_dim,
      [&](const cuda::ThreadIndex& thread) {
        cuda::weight_reduction_range_thread<Real>(thread, partials.data(), batch_size, n_weights,
                                                  block_sums.data());
      },
      shape.order, shape.seed);
  emulation::launch(
      shape.total_grid, shape.total_block_dim,
      [&](const cuda::ThreadIndex& thread) {
        cuda::weight_reduction_total_thread<Real>(thread, block_sums.data(), n_blocks, n_weights,
                                                  grad_weights.data());
      },
      shape.order, shape.seed + 1);
  return grad_weights;
}

template <class Real>
struct AdjointResult {
  std::vector<Real> inputs;           // [batch, columns]
  std::vector<Real> weight_partials;  // [batch, n_weights]
  std::vector<Real> weights;          // [n_weights], reduced
  std::vector<Real> state;            // like the initial state; empty without one
};

// The gradients a backward launch is asked for (a null pointer for the others).
struct Requested {
  bool inputs = true;
  bool weights = true;
  bool state = true;
};

// The adjoint launch, or the parameter-shift launch (the same arguments).
// `saved_state`: a forward's final states, or null (the sweep reruns the circuit).
// `input_offset`: what grad_inputs holds before the call (the kernel adds to it).
template <class Real, int MaxQubits>
AdjointResult<Real> emulated_backward(DiffMethod method, const Problem& problem,
                                      const LaunchShape& shape,
                                      const std::vector<Real>* saved_state = nullptr,
                                      const ReductionShape& reduction = {}, Real input_offset = 0,
                                      const Requested& requested = {}) {
  const DeviceTensors<Real> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const uint32_t grid = emulation::blocks_for(problem.batch_size, shape.block_dim);
  const size_t rows = static_cast<size_t>(grid) * shape.block_dim;
  const size_t batch = static_cast<size_t>(problem.batch_size);
  const size_t columns = static_cast<size_t>(problem.n_input_columns);
  const size_t n_weights = requested.weights ? problem.weights.size() : 0;
  const bool has_state = requested.state && problem.state_kind != StateKind::kNone;
  const size_t state_row = static_cast<size_t>(problem.state_row());

  AdjointResult<Real> result;
  result.inputs.assign(rows * columns, static_cast<Real>(kSentinel));
  for (size_t i = 0; i < batch * columns; ++i) result.inputs[i] = input_offset;
  result.weight_partials.assign(rows * n_weights, static_cast<Real>(kSentinel));
  if (has_state) result.state.assign(rows * state_row, static_cast<Real>(kSentinel));

  cuda::StatevectorAdjointArgs<Real> args{};
  args.batch = tensors.batch;
  args.grad_out = tensors.grad_out.data();
  args.saved_state = saved_state == nullptr ? nullptr : saved_state->data();
  args.grad_inputs = columns == 0 || !requested.inputs ? nullptr : result.inputs.data();
  args.weight_partials = n_weights == 0 ? nullptr : result.weight_partials.data();
  args.grad_state = has_state ? result.state.data() : nullptr;
  FixedAngleTables<Real> tables(grid, shape.shared_angles);
  emulation::launch_two_phase(
      grid, shape.block_dim,
      [&](const cuda::ThreadIndex& thread) { tables.fill(thread, program, args.batch.weights); },
      [&](const cuda::ThreadIndex& thread) {
        if (method == DiffMethod::kParameterShift) {
          cuda::statevector_parameter_shift_thread<Real, MaxQubits>(thread, program, readout, args,
                                                                    tables.of(thread));
        } else {
          cuda::statevector_adjoint_thread<Real, MaxQubits>(thread, program, readout, args,
                                                            tables.of(thread));
        }
      },
      shape.order, shape.seed);

  // Not asked for: left as the caller had it.
  if (!requested.inputs) {
    for (size_t i = 0; i < batch * columns; ++i) {
      if (result.inputs[i] != input_offset) {
        ADD_FAILURE() << "grad_inputs (not requested): element " << i << " was written";
        break;
      }
    }
  }
  EXPECT_TRUE(Untouched(result.inputs, batch * columns, "grad_inputs"));
  EXPECT_TRUE(Untouched(result.weight_partials, batch * n_weights, "weight_partials"));
  EXPECT_TRUE(Untouched(result.state, batch * state_row, "grad_state"));
  result.inputs.resize(batch * columns);
  result.weight_partials.resize(batch * n_weights);
  if (has_state) result.state.resize(batch * state_row);
  result.weights = emulated_reduction(result.weight_partials, problem.batch_size,
                                      static_cast<int64_t>(n_weights), reduction);
  return result;
}

template <class Real, int MaxQubits>
AdjointResult<Real> emulated_adjoint(const Problem& problem, const LaunchShape& shape,
                                     const std::vector<Real>* saved_state = nullptr,
                                     const ReductionShape& reduction = {}, Real input_offset = 0) {
  return emulated_backward<Real, MaxQubits>(DiffMethod::kAdjoint, problem, shape, saved_state,
                                            reduction, input_offset);
}

template <class Real, int MaxQubits>
AdjointResult<Real> emulated_parameter_shift(const Problem& problem, const LaunchShape& shape,
                                             const std::vector<Real>* saved_state = nullptr,
                                             const ReductionShape& reduction = {},
                                             Real input_offset = 0,
                                             const Requested& requested = {}) {
  return emulated_backward<Real, MaxQubits>(DiffMethod::kParameterShift, problem, shape,
                                            saved_state, reduction, input_offset, requested);
}

// ---- references --------------------------------------------------------------------------

// Each sample's final state by the dense simulator, as [batch, dim, 2].
std::vector<double> reference_final_states(const Problem& problem) {
  std::vector<double> states;
  for (int64_t b = 0; b < problem.batch_size; ++b) {
    const double* row =
        problem.inputs.empty() ? nullptr : problem.inputs.data() + b * problem.n_input_columns;
    for (const Cplx& a : reference_state(problem.program, row, problem.weights, problem.constants,
                                         initial_state_of(problem, b))) {
      states.push_back(a.real());
      states.push_back(a.imag());
    }
  }
  return states;
}

// The CPU engine's adjoint gradients in double (baseline instruction set).
Gradients<double> cpu_gradients(const Problem& problem) {
  return Harness<double>(problem, core::baseline_kernels()).backward(DiffMethod::kAdjoint);
}

std::string describe_problem(const Problem& problem, uint64_t seed) {
  static const char* kStates[] = {"no initial state", "real initial state",
                                  "complex initial state"};
  return "seed " + std::to_string(seed) + ", n=" + std::to_string(problem.n_qubits()) + ", batch " +
         std::to_string(problem.batch_size) + ", " + kStates[static_cast<int>(problem.state_kind)] +
         (problem.probs ? ", probs" : ", expval");
}

template <class Real, int MaxQubits>
void expect_forward_matches(const Problem& problem, const LaunchShape& shape) {
  SCOPED_TRACE(std::string(precision_name(sizeof(Real))) + ", bucket " + std::to_string(MaxQubits) +
               ", block " + std::to_string(shape.block_dim));
  const double tol = tolerance<Real>();
  const ForwardResult<Real> result = emulated_forward<Real, MaxQubits>(problem, shape, true);
  EXPECT_TRUE(AllClose(result.out, reference_forward(problem), tol, tol)) << "out";
  EXPECT_TRUE(AllClose(result.final_state, reference_final_states(problem), tol, tol))
      << "final_state";
  // Without keep_state the readout is the same, bit for bit.
  EXPECT_TRUE(
      BitwiseEqual(emulated_forward<Real, MaxQubits>(problem, shape, false).out, result.out));
}

template <class Real, int MaxQubits>
void expect_adjoint_matches(const Problem& problem, const Gradients<double>& expected,
                            const LaunchShape& shape) {
  SCOPED_TRACE(std::string(precision_name(sizeof(Real))) + ", bucket " + std::to_string(MaxQubits) +
               ", block " + std::to_string(shape.block_dim));
  const double tol = tolerance<Real>();
  const AdjointResult<Real> result = emulated_adjoint<Real, MaxQubits>(problem, shape);
  EXPECT_TRUE(AllClose(result.inputs, expected.inputs, tol, tol)) << "input gradients";
  EXPECT_TRUE(AllClose(result.weights, expected.weights, tol, tol)) << "weight gradients";
  EXPECT_TRUE(AllClose(result.state, expected.state, tol, tol)) << "initial-state gradient";
}

// Fresh random circuits (every unitary opcode, the three parameter sources) for
// n = 1 .. MaxQubits, each with no, a real and a complex initial state, both
// readouts, odd batch sizes that are no multiple of the emulated block size.
template <int MaxQubits>
std::vector<std::pair<uint64_t, Problem>> bucket_problems() {
  static const int64_t kBatchSizes[] = {1, 5, 37, 19, 3, 43};
  std::vector<std::pair<uint64_t, Problem>> problems;
  for (int n = 1; n <= MaxQubits; ++n) {
    for (int variant = 0; variant < 6; ++variant) {
      RandomOptions options;
      options.n_qubits = n;
      options.state_kind = static_cast<StateKind>(variant % 3);
      options.probs = variant >= 3;
      options.batch_size = kBatchSizes[(n + variant) % 6];
      options.n_extra_ops = 10 + 2 * n;
      options.encoding_layer = variant == 1 || variant == 4;
      const uint64_t seed = 90000 + 1000 * MaxQubits + 10 * n + variant;
      problems.emplace_back(seed, random_problem(seed, options));
    }
  }
  return problems;
}

template <int MaxQubits>
void check_bucket_forward() {
  for (const auto& [seed, problem] : bucket_problems<MaxQubits>()) {
    SCOPED_TRACE(describe_problem(problem, seed));
    const LaunchShape shape{seed % 2 == 0 ? 8u : 16u};
    expect_forward_matches<double, MaxQubits>(problem, shape);
    expect_forward_matches<float, MaxQubits>(problem, shape);
  }
}

double max_abs(const std::vector<double>& values) {
  double m = 0;
  for (double v : values) m = std::max(m, std::abs(v));
  return m;
}

template <int MaxQubits>
void check_bucket_adjoint() {
  // The largest gradient of each kind over the cases: the comparisons must not pass
  // on vectors that are empty or zero.
  double largest_input = 0, largest_weight = 0, largest_state = 0;
  for (const auto& [seed, problem] : bucket_problems<MaxQubits>()) {
    SCOPED_TRACE(describe_problem(problem, seed));
    const Gradients<double> expected = cpu_gradients(problem);
    largest_input = std::max(largest_input, max_abs(expected.inputs));
    largest_weight = std::max(largest_weight, max_abs(expected.weights));
    largest_state = std::max(largest_state, max_abs(expected.state));
    const LaunchShape shape{16, ThreadOrder::kDescending};
    expect_adjoint_matches<double, MaxQubits>(problem, expected, shape);
    expect_adjoint_matches<float, MaxQubits>(problem, expected, shape);
  }
  EXPECT_GT(largest_input, 0.1);
  EXPECT_GT(largest_weight, 0.1);
  EXPECT_GT(largest_state, 0.1);
}

TEST(EmulatedStatevectorForward, Bucket4MatchesDenseReference) { check_bucket_forward<4>(); }
TEST(EmulatedStatevectorForward, Bucket6MatchesDenseReference) { check_bucket_forward<6>(); }
TEST(EmulatedStatevectorForward, Bucket8MatchesDenseReference) { check_bucket_forward<8>(); }
TEST(EmulatedStatevectorForward, Bucket10MatchesDenseReference) { check_bucket_forward<10>(); }

TEST(EmulatedStatevectorAdjoint, Bucket4MatchesCpuEngine) { check_bucket_adjoint<4>(); }
TEST(EmulatedStatevectorAdjoint, Bucket6MatchesCpuEngine) { check_bucket_adjoint<6>(); }
TEST(EmulatedStatevectorAdjoint, Bucket8MatchesCpuEngine) { check_bucket_adjoint<8>(); }
TEST(EmulatedStatevectorAdjoint, Bucket10MatchesCpuEngine) { check_bucket_adjoint<10>(); }

// Each opcode alone after a parameter-free scrambling of the state, with each source
// its angle can come from, so a failure names the gate and the source.
Problem single_opcode_problem(int opcode, ParamSource source, uint64_t seed) {
  Rng rng(seed);
  const int n = 3;
  FlatProgram program(n);
  // A generic state from fixed gates only: the op under test holds the only angle.
  for (int wire = 0; wire < n; ++wire) program.gate(Opcode::kH, wire).gate(Opcode::kT, wire);
  program.gate(Opcode::kCnot, 0, 1).gate(Opcode::kCnot, 1, 2).gate(Opcode::kS, 1);
  program.gate(Opcode::kH, 2).gate(Opcode::kT, 0);
  const int64_t wire0 = rng.below(n);
  int64_t wire1 = -1;
  if (is_two_qubit_opcode(opcode)) {
    wire1 = rng.below(n - 1);
    if (wire1 >= wire0) ++wire1;
  }
  program.add(static_cast<Opcode>(opcode), wire0, wire1, source,
              source == ParamSource::kNone ? -1 : 0);
  // Mix the phases into the populations the readouts see: H T H is no Clifford gate,
  // so no generator of the op under test becomes diagonal (invisible to the readouts).
  for (int wire = 0; wire < n; ++wire) {
    program.gate(Opcode::kH, wire).gate(Opcode::kT, wire).gate(Opcode::kH, wire);
  }
  program.gate(Opcode::kCz, 2, 0);

  Problem problem = problem_of(program, 7, (seed & 1) != 0, {1, 2, 4, 3, 6, 7, 5, 0});
  problem.state_kind = StateKind::kComplex;
  problem.initial_state.resize(static_cast<size_t>(problem.batch_size * problem.state_row()));
  for (double& x : problem.initial_state) x = rng.uniform(-1, 1);
  for (double& x : problem.inputs) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.weights) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.constants) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.grad_out) x = rng.uniform(-1, 1);
  return problem;
}

TEST(EmulatedStatevector, EveryOpcodeWithEverySourceMatches) {
  for (int opcode = 0; opcode <= 14; ++opcode) {
    std::vector<ParamSource> sources = {ParamSource::kNone};
    if (is_rotation_opcode(opcode)) {
      sources = {ParamSource::kInput, ParamSource::kWeight, ParamSource::kConstant};
    }
    for (ParamSource source : sources) {
      for (uint64_t seed : {1u, 2u}) {
        SCOPED_TRACE(std::string(core::opcode_name(static_cast<Opcode>(opcode))) + ", source " +
                     std::to_string(static_cast<int>(source)) + ", seed " + std::to_string(seed));
        const Problem problem = single_opcode_problem(opcode, source, 100 * opcode + seed);
        const LaunchShape shape{4};
        expect_forward_matches<double, 4>(problem, shape);
        expect_forward_matches<float, 4>(problem, shape);
        const Gradients<double> expected = cpu_gradients(problem);
        if (source == ParamSource::kInput) EXPECT_GT(max_abs(expected.inputs), 1e-3);
        if (source == ParamSource::kWeight) EXPECT_GT(max_abs(expected.weights), 1e-3);
        EXPECT_GT(max_abs(expected.state), 1e-3);
        expect_adjoint_matches<double, 4>(problem, expected, shape);
        expect_adjoint_matches<float, 4>(problem, expected, shape);
      }
    }
  }
}

// The gradient conventions pinned without the CPU engine: central differences of
// the dense simulator's loss sum_b <grad_out[b], out[b]>.
TEST(EmulatedStatevectorAdjoint, MatchesFiniteDifferencesOfDenseReference) {
  constexpr double kStep = 1e-6, kTolerance = 1e-7;
  for (StateKind kind : {StateKind::kNone, StateKind::kReal, StateKind::kComplex}) {
    RandomOptions options;
    options.n_qubits = 3;
    options.batch_size = 3;
    options.state_kind = kind;
    options.probs = kind == StateKind::kReal;
    const uint64_t seed = 4242 + static_cast<uint64_t>(kind);
    const Problem problem = random_problem(seed, options);
    SCOPED_TRACE(describe_problem(problem, seed));
    auto slope = [&](auto perturb) {
      Problem plus = problem, minus = problem;
      perturb(plus, kStep);
      perturb(minus, -kStep);
      return (total_loss(reference_forward(plus), problem.grad_out) -
              total_loss(reference_forward(minus), problem.grad_out)) /
             (2 * kStep);
    };
    std::vector<double> inputs, weights, state;
    for (size_t i = 0; i < problem.inputs.size(); ++i) {
      inputs.push_back(slope([&](Problem& p, double d) { p.inputs[i] += d; }));
    }
    for (size_t w = 0; w < problem.weights.size(); ++w) {
      weights.push_back(slope([&](Problem& p, double d) { p.weights[w] += d; }));
    }
    for (size_t i = 0; i < problem.initial_state.size(); ++i) {
      state.push_back(slope([&](Problem& p, double d) { p.initial_state[i] += d; }));
    }
    const AdjointResult<double> result = emulated_adjoint<double, 4>(problem, LaunchShape{2});
    EXPECT_TRUE(AllClose(result.inputs, inputs, kTolerance, kTolerance)) << "inputs";
    EXPECT_TRUE(AllClose(result.weights, weights, kTolerance, kTolerance)) << "weights";
    EXPECT_TRUE(AllClose(result.state, state, kTolerance, kTolerance)) << "initial state";
  }
}

// The kernels take a shared weight's or constant's sincos once per block (a table in
// shared memory, filled before the samples run); the threads that would each take it
// themselves get the same bits, in every launch, with blocks of several sizes (so
// several tables, each filled by its own block's threads in strides).
TEST(EmulatedStatevector, SharedHalfAngleTableGivesTheBitsOfPerThreadAngles) {
  for (uint64_t seed : {21u, 22u}) {
    RandomOptions options;
    options.n_qubits = 4;
    options.batch_size = 13;
    options.state_kind = seed % 2 ? StateKind::kComplex : StateKind::kNone;
    const Problem problem = random_problem(seed, options);
    SCOPED_TRACE(describe_problem(problem, seed));
    for (uint32_t block_dim : {1u, 4u, 32u}) {
      LaunchShape table{block_dim, ThreadOrder::kShuffled, seed, true};
      LaunchShape own{block_dim, ThreadOrder::kShuffled, seed, false};
      EXPECT_TRUE(BitwiseEqual(emulated_forward<float, 4>(problem, table, true).final_state,
                               emulated_forward<float, 4>(problem, own, true).final_state));
      EXPECT_TRUE(BitwiseEqual(emulated_forward<double, 4>(problem, table, false).out,
                               emulated_forward<double, 4>(problem, own, false).out));
      for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
        const auto with_table = emulated_backward<double, 4>(method, problem, table);
        const auto per_thread = emulated_backward<double, 4>(method, problem, own);
        EXPECT_TRUE(BitwiseEqual(with_table.inputs, per_thread.inputs));
        EXPECT_TRUE(BitwiseEqual(with_table.weight_partials, per_thread.weight_partials));
        EXPECT_TRUE(BitwiseEqual(with_table.state, per_thread.state));
      }
    }
  }
}

// Training keeps the forward's final states: the sweep from them gives the same
// gradients as the sweep that reruns the circuit, bit for bit (the same amplitudes).
TEST(EmulatedStatevectorAdjoint, SweepFromSavedStateEqualsRerun) {
  for (StateKind kind : {StateKind::kNone, StateKind::kComplex}) {
    RandomOptions options;
    options.n_qubits = 5;
    options.batch_size = 11;
    options.state_kind = kind;
    const Problem problem = random_problem(555 + static_cast<uint64_t>(kind), options);
    const LaunchShape shape{4};
    const auto saved = emulated_forward<float, 6>(problem, shape, true).final_state;
    const auto from_saved = emulated_adjoint<float, 6>(problem, shape, &saved);
    const auto rerun = emulated_adjoint<float, 6>(problem, shape);
    EXPECT_TRUE(BitwiseEqual(from_saved.inputs, rerun.inputs));
    EXPECT_TRUE(BitwiseEqual(from_saved.weight_partials, rerun.weight_partials));
    EXPECT_TRUE(BitwiseEqual(from_saved.state, rerun.state));
  }
}

// A batch of 37 in blocks of 16: 11 padding threads, which must write nothing (checked
// in every emulated call; here with every output on). The input gradient is added to
// what the caller's tensor holds.
TEST(EmulatedStatevector, PaddingThreadsWriteNothingAndInputGradientsAccumulate) {
  RandomOptions options;
  options.n_qubits = 4;
  options.batch_size = 37;
  options.state_kind = StateKind::kReal;
  const Problem problem = random_problem(31337, options);
  const LaunchShape shape{16, ThreadOrder::kShuffled, 9};
  emulated_forward<double, 4>(problem, shape, true);
  const Gradients<double> expected = cpu_gradients(problem);
  const auto result = emulated_adjoint<double, 4>(problem, shape, nullptr, {}, 0.5);
  std::vector<double> shifted = expected.inputs;
  for (double& x : shifted) x += 0.5;
  EXPECT_TRUE(AllClose(result.inputs, shifted, kDoubleTolerance));
  EXPECT_TRUE(AllClose(result.state, expected.state, kDoubleTolerance));
}

// ---- parameter shift ---------------------------------------------------------------------

// The CPU engine's parameter shift in double (baseline instruction set).
Gradients<double> cpu_shift_gradients(const Problem& problem) {
  return Harness<double>(problem, core::baseline_kernels()).backward(DiffMethod::kParameterShift);
}

// The parameter-shift launch against the CPU engine's parameter shift, and (float64)
// against the adjoint launch on the same problem.
template <class Real, int MaxQubits>
void expect_shift_matches(const Problem& problem, const Gradients<double>& expected,
                          const LaunchShape& shape) {
  SCOPED_TRACE(std::string(precision_name(sizeof(Real))) + ", bucket " + std::to_string(MaxQubits) +
               ", block " + std::to_string(shape.block_dim));
  const double tol = tolerance<Real>();
  const AdjointResult<Real> shift = emulated_parameter_shift<Real, MaxQubits>(problem, shape);
  EXPECT_TRUE(AllClose(shift.inputs, expected.inputs, tol, tol)) << "input gradients";
  EXPECT_TRUE(AllClose(shift.weights, expected.weights, tol, tol)) << "weight gradients";
  EXPECT_TRUE(AllClose(shift.state, expected.state, tol, tol)) << "initial-state gradient";
  const AdjointResult<Real> adjoint = emulated_adjoint<Real, MaxQubits>(problem, shape);
  EXPECT_TRUE(AllClose(shift.inputs, adjoint.inputs, tol, tol)) << "inputs vs adjoint launch";
  EXPECT_TRUE(AllClose(shift.weight_partials, adjoint.weight_partials, tol, tol))
      << "weight partials vs adjoint launch";
  EXPECT_TRUE(AllClose(shift.weights, adjoint.weights, tol, tol)) << "weights vs adjoint launch";
  EXPECT_TRUE(AllClose(shift.state, adjoint.state, tol, tol)) << "state vs adjoint launch";
}

template <int MaxQubits>
void check_bucket_parameter_shift() {
  double largest_input = 0, largest_weight = 0, largest_state = 0;
  for (const auto& [seed, problem] : bucket_problems<MaxQubits>()) {
    SCOPED_TRACE(describe_problem(problem, seed));
    const Gradients<double> expected = cpu_shift_gradients(problem);
    // The CPU engine's two methods agree: the reference is no artefact of one of them.
    const Gradients<double> adjoint = cpu_gradients(problem);
    ASSERT_TRUE(AllClose(expected.inputs, adjoint.inputs, kDoubleTolerance, kDoubleTolerance));
    ASSERT_TRUE(AllClose(expected.weights, adjoint.weights, kDoubleTolerance, kDoubleTolerance));
    largest_input = std::max(largest_input, max_abs(expected.inputs));
    largest_weight = std::max(largest_weight, max_abs(expected.weights));
    largest_state = std::max(largest_state, max_abs(expected.state));
    const LaunchShape shape{seed % 2 == 0 ? 16u : 8u, ThreadOrder::kShuffled, seed};
    expect_shift_matches<double, MaxQubits>(problem, expected, shape);
    expect_shift_matches<float, MaxQubits>(problem, expected, shape);
  }
  EXPECT_GT(largest_input, 0.1);
  EXPECT_GT(largest_weight, 0.1);
  EXPECT_GT(largest_state, 0.1);
}

TEST(EmulatedStatevectorParameterShift, Bucket4MatchesAdjointAndCpuEngine) {
  check_bucket_parameter_shift<4>();
}
TEST(EmulatedStatevectorParameterShift, Bucket6MatchesAdjointAndCpuEngine) {
  check_bucket_parameter_shift<6>();
}
TEST(EmulatedStatevectorParameterShift, Bucket8MatchesAdjointAndCpuEngine) {
  check_bucket_parameter_shift<8>();
}
TEST(EmulatedStatevectorParameterShift, Bucket10MatchesAdjointAndCpuEngine) {
  check_bucket_parameter_shift<10>();
}

// Each rotation alone, from each source: a failure names the gate; the fixed gates
// and constant angles are no targets, and give zero angle gradients.
TEST(EmulatedStatevectorParameterShift, EveryOpcodeWithEverySourceMatches) {
  for (int opcode = 0; opcode <= 14; ++opcode) {
    std::vector<ParamSource> sources = {ParamSource::kNone};
    if (is_rotation_opcode(opcode)) {
      sources = {ParamSource::kInput, ParamSource::kWeight, ParamSource::kConstant};
    }
    for (ParamSource source : sources) {
      SCOPED_TRACE(std::string(core::opcode_name(static_cast<Opcode>(opcode))) + ", source " +
                   std::to_string(static_cast<int>(source)));
      const Problem problem = single_opcode_problem(opcode, source, 100 * opcode + 1);
      const Gradients<double> expected = cpu_shift_gradients(problem);
      if (source == ParamSource::kInput) EXPECT_GT(max_abs(expected.inputs), 1e-3);
      if (source == ParamSource::kWeight) EXPECT_GT(max_abs(expected.weights), 1e-3);
      const LaunchShape shape{4};
      expect_shift_matches<double, 4>(problem, expected, shape);
      expect_shift_matches<float, 4>(problem, expected, shape);
    }
  }
}

// Every angle shared, by few weights: each weight is the angle of several targets,
// and its gradient the sum of their shift terms (partials then the reduction).
TEST(EmulatedStatevectorParameterShift, WeightsSharedBySeveralOperationsGetTheSum) {
  for (bool probs : {false, true}) {
    RandomOptions options;
    options.n_qubits = 4;
    options.batch_size = 23;
    options.n_weights = 2;
    options.input_angles = false;
    options.n_extra_ops = 40;
    options.probs = probs;
    const uint64_t seed = 7070 + (probs ? 1 : 0);
    const Problem problem = random_problem(seed, options);
    SCOPED_TRACE(describe_problem(problem, seed));
    // Each weight is the angle of at least three shift targets.
    int uses[2] = {0, 0};
    for (const core::Operation& op : problem.parse().operations) {
      if (op.source == ParamSource::kWeight) ++uses[op.index];
    }
    EXPECT_GE(uses[0], 3);
    EXPECT_GE(uses[1], 3);
    const Gradients<double> expected = cpu_shift_gradients(problem);
    EXPECT_GT(max_abs(expected.weights), 0.1);
    const LaunchShape shape{8, ThreadOrder::kDescending};
    expect_shift_matches<double, 4>(problem, expected, shape);
    expect_shift_matches<float, 4>(problem, expected, shape);
    expect_shift_matches<double, 6>(problem, expected, shape);
  }
}

// The initial-state gradient (one adjoint sweep inside the shift launch): the CPU
// engine's, the same from a saved final state, and the same when it is the only
// gradient asked for; the angle gradients do not depend on whether it is asked.
TEST(EmulatedStatevectorParameterShift, InitialStateGradient) {
  for (StateKind kind : {StateKind::kReal, StateKind::kComplex}) {
    RandomOptions options;
    options.n_qubits = 5;
    options.batch_size = 13;
    options.state_kind = kind;
    options.probs = kind == StateKind::kReal;
    const uint64_t seed = 8181 + static_cast<uint64_t>(kind);
    const Problem problem = random_problem(seed, options);
    SCOPED_TRACE(describe_problem(problem, seed));
    const Gradients<double> expected = cpu_shift_gradients(problem);
    EXPECT_GT(max_abs(expected.state), 0.1);
    const LaunchShape shape{4, ThreadOrder::kShuffled, 5};
    const auto all = emulated_parameter_shift<double, 6>(problem, shape);
    EXPECT_TRUE(AllClose(all.state, expected.state, kDoubleTolerance, kDoubleTolerance));
    EXPECT_TRUE(AllClose(all.state, emulated_adjoint<double, 6>(problem, shape).state,
                         kDoubleTolerance, kDoubleTolerance));
    const auto saved = emulated_forward<double, 6>(problem, shape, true).final_state;
    const auto from_saved = emulated_parameter_shift<double, 6>(problem, shape, &saved);
    EXPECT_TRUE(AllClose(from_saved.state, all.state, kDoubleTolerance, kDoubleTolerance));
    EXPECT_TRUE(BitwiseEqual(from_saved.inputs, all.inputs));
    const auto state_only = emulated_parameter_shift<double, 6>(problem, shape, nullptr, {}, 0.0,
                                                                Requested{false, false, true});
    EXPECT_TRUE(BitwiseEqual(state_only.state, all.state));
    const auto angles_only = emulated_parameter_shift<double, 6>(problem, shape, nullptr, {}, 0.0,
                                                                 Requested{true, true, false});
    EXPECT_TRUE(BitwiseEqual(angles_only.inputs, all.inputs));
    EXPECT_TRUE(BitwiseEqual(angles_only.weight_partials, all.weight_partials));
    const auto float_state = emulated_parameter_shift<float, 6>(problem, shape);
    EXPECT_TRUE(AllClose(float_state.state, expected.state, kFloatTolerance, kFloatTolerance));
  }
}

// A batch of 37 in blocks of 16 (11 padding threads, which write nothing: checked in
// every emulated call), every output on; the input gradient is added to what the
// caller's tensor holds.
TEST(EmulatedStatevectorParameterShift, PaddingThreadsWriteNothingAndInputGradientsAccumulate) {
  RandomOptions options;
  options.n_qubits = 4;
  options.batch_size = 37;
  options.state_kind = StateKind::kComplex;
  const Problem problem = random_problem(4711, options);
  const Gradients<double> expected = cpu_shift_gradients(problem);
  for (const LaunchShape& shape :
       {LaunchShape{16, ThreadOrder::kShuffled, 9}, LaunchShape{128, ThreadOrder::kDescending}}) {
    const auto result = emulated_parameter_shift<double, 4>(problem, shape, nullptr, {}, 0.5);
    std::vector<double> shifted = expected.inputs;
    for (double& x : shifted) x += 0.5;
    EXPECT_TRUE(AllClose(result.inputs, shifted, kDoubleTolerance));
    EXPECT_TRUE(AllClose(result.weights, expected.weights, kDoubleTolerance));
    EXPECT_TRUE(AllClose(result.state, expected.state, kDoubleTolerance));
  }
}

// The weight gradients of the shift launch are deterministic too: the same bits
// whatever the block size and the thread order.
TEST(EmulatedStatevectorParameterShift, WeightGradientsBitwiseAcrossShapes) {
  RandomOptions options;
  options.n_qubits = 3;
  options.batch_size = 301;
  options.input_angles = false;
  const Problem problem = random_problem(2025, options);
  const auto reference = emulated_parameter_shift<float, 4>(problem, LaunchShape{32});
  for (const LaunchShape& shape :
       {LaunchShape{1, ThreadOrder::kDescending}, LaunchShape{7, ThreadOrder::kShuffled, 3}}) {
    const auto run =
        emulated_parameter_shift<float, 4>(problem, shape, nullptr, ReductionShape{3, 2, 2});
    EXPECT_TRUE(BitwiseEqual(run.weight_partials, reference.weight_partials));
    EXPECT_TRUE(BitwiseEqual(run.weights, reference.weights));
  }
}

// ---- the deterministic weight reduction --------------------------------------------------

// The sum the reduction defines: ranges of kWeightReductionRange samples summed in
// order in double, the range sums in order, one rounding.
template <class Real>
std::vector<Real> fixed_grouping_sum(const std::vector<Real>& partials, int64_t batch,
                                     int64_t n_weights) {
  std::vector<Real> out;
  for (int64_t w = 0; w < n_weights; ++w) {
    double total = 0;
    for (int64_t begin = 0; begin < batch; begin += cuda::kWeightReductionRange) {
      double range = 0;
      for (int64_t b = begin; b < std::min(batch, begin + cuda::kWeightReductionRange); ++b) {
        range += static_cast<double>(partials[b * n_weights + w]);
      }
      total += range;
    }
    out.push_back(static_cast<Real>(total));
  }
  return out;
}

template <class Real>
void check_weight_gradients_bitwise() {
  RandomOptions options;
  options.n_qubits = 3;
  options.batch_size = 601;  // three ranges, the last one partial
  options.n_weights = 5;
  options.input_angles = false;  // every angle shared: each weight occurs several times
  options.n_extra_ops = 30;
  const Problem problem = random_problem(2024, options);
  const auto reference = emulated_adjoint<Real, 4>(problem, LaunchShape{32});
  ASSERT_EQ(reference.weights.size(), 5u);
  // The same bits on a second run.
  EXPECT_TRUE(
      BitwiseEqual(emulated_adjoint<Real, 4>(problem, LaunchShape{32}).weights, reference.weights));
  // Whatever the block sizes and the order the threads run in.
  const LaunchShape sample_shapes[] = {{1, ThreadOrder::kDescending},
                                       {7, ThreadOrder::kShuffled, 3},
                                       {128, ThreadOrder::kShuffled, 4}};
  const ReductionShape reduction_shapes[] = {{1, 1, 1, ThreadOrder::kDescending},
                                             {3, 2, 2, ThreadOrder::kShuffled, 5},
                                             {256, 256, 1, ThreadOrder::kShuffled, 6},
                                             {64, 1, 7, ThreadOrder::kDescending}};
  for (const LaunchShape& sample_shape : sample_shapes) {
    for (const ReductionShape& reduction_shape : reduction_shapes) {
      SCOPED_TRACE("sample block " + std::to_string(sample_shape.block_dim) + ", range block " +
                   std::to_string(reduction_shape.range_block_dim) + ", total block " +
                   std::to_string(reduction_shape.total_block_dim) + " x " +
                   std::to_string(reduction_shape.total_grid));
      const auto run = emulated_adjoint<Real, 4>(problem, sample_shape, nullptr, reduction_shape);
      EXPECT_TRUE(BitwiseEqual(run.weight_partials, reference.weight_partials));
      EXPECT_TRUE(BitwiseEqual(run.weights, reference.weights));
    }
  }
  // The result is the fixed grouping's, and the gradient the CPU engine's.
  EXPECT_TRUE(BitwiseEqual(reference.weights,
                           fixed_grouping_sum(reference.weight_partials, problem.batch_size, 5)));
  EXPECT_TRUE(AllClose(reference.weights, cpu_gradients(problem).weights, 100 * tolerance<Real>(),
                       tolerance<Real>()));
}

TEST(EmulatedWeightReduction, BitwiseAcrossRunsBlockSizesAndThreadOrdersFloat) {
  check_weight_gradients_bitwise<float>();
}

TEST(EmulatedWeightReduction, BitwiseAcrossRunsBlockSizesAndThreadOrdersDouble) {
  check_weight_gradients_bitwise<double>();
}

TEST(EmulatedWeightReduction, EmptyBatchGivesZeros) {
  const std::vector<float> partials;
  EXPECT_TRUE(BitwiseEqual(emulated_reduction(partials, 0, 3, ReductionShape{}),
                           std::vector<float>(3, 0.0f)));
}

// ---- the by-value program's capacity -----------------------------------------------------

template <class Body>
std::string invalid_argument_message(Body&& body) {
  try {
    body();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "(nothing thrown)";
}

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" lacks \"" << part << "\"";
}

TEST(DeviceProgram, FitsTheKernelParameterLimit) {
  EXPECT_LE(sizeof(cuda::DeviceProgram) + sizeof(cuda::DeviceReadout) +
                sizeof(cuda::StatevectorAdjointArgs<double>),
            static_cast<size_t>(cuda::kKernelParameterLimit));
}

TEST(DeviceProgram, BuilderRejectsWhatExceedsItsCapacity) {
  FlatProgram full(2);
  for (int i = 0; i < cuda::kDeviceProgramCapacity; ++i)
    full.rot(Opcode::kRy, i % 2, ParamSource::kWeight, 0);
  const cuda::DeviceProgram fits = cuda::make_device_program(full.parse(), nullptr, 0);
  EXPECT_EQ(fits.n_ops, cuda::kDeviceProgramCapacity);

  FlatProgram too_long = full;
  too_long.gate(Opcode::kH, 0);
  const std::string ops_message =
      invalid_argument_message([&] { cuda::make_device_program(too_long.parse(), nullptr, 0); });
  EXPECT_TRUE(Contains(ops_message, "kDeviceProgramCapacity"));
  EXPECT_TRUE(Contains(ops_message, std::to_string(cuda::kDeviceProgramCapacity + 1)));

  FlatProgram many_constants(1);
  std::vector<double> constants(cuda::kDeviceConstantCapacity + 1, 0.25);
  for (int c = 0; c <= cuda::kDeviceConstantCapacity; ++c) {
    many_constants.rot(Opcode::kRx, 0, ParamSource::kConstant, c);
  }
  const std::string constants_message = invalid_argument_message([&] {
    cuda::make_device_program(many_constants.parse(), constants.data(),
                              static_cast<int64_t>(constants.size()));
  });
  EXPECT_TRUE(Contains(constants_message, "kDeviceConstantCapacity"));
  // Constants the program does not reference do not travel and do not count.
  FlatProgram few_constants(1);
  few_constants.rot(Opcode::kRx, 0, ParamSource::kConstant, 1);
  const cuda::DeviceProgram fewer = cuda::make_device_program(
      few_constants.parse(), constants.data(), static_cast<int64_t>(constants.size()));
  EXPECT_EQ(fewer.n_constants, 2);
  EXPECT_EQ(fewer.constants[1], 0.25);

  const std::vector<int64_t> masks(cuda::kDeviceMaskCapacity + 1, 1);
  const std::string masks_message = invalid_argument_message(
      [&] { cuda::make_expval_readout(masks.data(), static_cast<int64_t>(masks.size())); });
  EXPECT_TRUE(Contains(masks_message, "kDeviceMaskCapacity"));

  FlatProgram noisy(1);
  noisy.add(Opcode::kDepolarizing, 0, -1, ParamSource::kConstant, 0);
  ProgramLimits limits = noisy.limits();
  limits.allow_channels = true;
  const core::Program noisy_program = core::parse_program(
      noisy.words().data(), static_cast<int64_t>(noisy.words().size()), 1, limits);
  const double probability = 0.1;
  const std::string channel_message =
      invalid_argument_message([&] { cuda::make_device_program(noisy_program, &probability, 1); });
  EXPECT_TRUE(Contains(channel_message, "DEPOLARIZING"));
  EXPECT_TRUE(Contains(channel_message, "channel"));
}

}  // namespace
}  // namespace qmoe::test_support
