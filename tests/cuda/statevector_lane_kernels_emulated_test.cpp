// The lane-group-per-sample statevector bodies (cuda/kernels/statevector_lane_sample.cuh,
// statevector_lane_shift_sample.cuh), compiled by g++ and run through the host
// emulation of a lane-group launch (lane_launch_emulation.h: a host thread per lane,
// shuffles as exchanges through an array between barriers), against independent
// float64 references on fresh random circuits: the dense simulator of test_support.h
// for the forward pass and the final state, the CPU engine in double for the adjoint
// and parameter-shift gradients. Every lane width (2..32 lanes) over the n it serves
// (5..10), odd batches with padding groups, every opcode with its wires on register
// and lane bits alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "emulated_kernel_support.h"
#include "lane_launch_emulation.h"
#include "launch_emulation.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/statevector_lane_sample.cuh"
#include "qmoe/cuda/kernels/statevector_lane_shift_sample.cuh"
#include "qmoe/cuda/kernels/weight_reduction.cuh"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

namespace emulation = cuda::emulation;
using cuda::statevector::HalfAngle;

constexpr double kDoubleTolerance = 1e-10;
constexpr double kFloatTolerance = 1e-5;

template <class Real>
double tolerance() {
  return sizeof(Real) == sizeof(float) ? kFloatTolerance : kDoubleTolerance;
}

// A lane group's shape: `width` lanes per sample, `groups_per_block` groups per
// emulated block (the last block padded with groups past the batch).
struct LaneShape {
  uint32_t width;
  int64_t groups_per_block = 2;
};

int register_qubits(const Problem& problem, const LaneShape& shape) {
  return problem.n_qubits() - cuda::lane_statevector::lane_bits_of(shape.width);
}

// Calls f(RegisterFlip<R>{}) for the compiled register counts 1..5.
template <class F>
void with_registers(int registers, F&& f) {
  switch (registers) {
    case 1:
      return f(cuda::lane_statevector::RegisterFlip<1>{});
    case 2:
      return f(cuda::lane_statevector::RegisterFlip<2>{});
    case 3:
      return f(cuda::lane_statevector::RegisterFlip<3>{});
    case 4:
      return f(cuda::lane_statevector::RegisterFlip<4>{});
    case 5:
      return f(cuda::lane_statevector::RegisterFlip<5>{});
    default:
      FAIL() << registers << " register qubits: not compiled in this test";
  }
}

cuda::DeviceProgram device_program_of(const Problem& problem) {
  return cuda::make_device_program(problem.parse(), problem.constants.data(),
                                   static_cast<int64_t>(problem.constants.size()));
}

// The block's table of shared half angles, filled before any group runs (the kernel's
// first phase); entries of other operations stay NaN.
template <class Real>
std::vector<HalfAngle<Real>> fixed_table(const cuda::DeviceProgram& program, const Real* weights) {
  const Real nan = std::numeric_limits<Real>::quiet_NaN();
  std::vector<HalfAngle<Real>> table(cuda::kDeviceProgramCapacity, HalfAngle<Real>{nan, nan});
  emulation::launch(1, 4, [&](const cuda::ThreadIndex& thread) {
    cuda::statevector::fill_fixed_half_angles<Real>(thread.thread, thread.block_dim, program,
                                                    weights, table.data());
  });
  return table;
}

int64_t launched_groups(int64_t batch_size, const LaneShape& shape) {
  return (batch_size + shape.groups_per_block - 1) / shape.groups_per_block *
         shape.groups_per_block;
}

template <class Real>
struct ForwardResult {
  std::vector<Real> out;          // [batch + 1, width]: the last row must stay untouched
  std::vector<Real> final_state;  // [batch + 1, dim, 2]
};

template <class Real>
ForwardResult<Real> lane_forward(const Problem& problem, const LaneShape& shape) {
  const DeviceTensors<Real> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const auto table = fixed_table<Real>(program, tensors.batch.weights);
  ForwardResult<Real> result;
  result.out.assign(static_cast<size_t>((problem.batch_size + 1) * problem.width()),
                    static_cast<Real>(kSentinel));
  result.final_state.assign(static_cast<size_t>((problem.batch_size + 1) * problem.dim() * 2),
                            static_cast<Real>(kSentinel));
  cuda::StatevectorForwardArgs<Real> args{};
  args.batch = tensors.batch;
  args.out = result.out.data();
  args.final_state = result.final_state.data();
  with_registers(register_qubits(problem, shape), [&](auto registers) {
    emulation::launch_lane_groups(
        launched_groups(problem.batch_size, shape), shape.width,
        [&](const cuda::LaneGroup& group, int64_t sample) {
          cuda::statevector_forward_lanes<Real, decltype(registers)::value>(
              group, sample, program, readout, args, table.data());
        });
  });
  return result;
}

template <class Real>
struct BackwardResult {
  std::vector<Real> inputs;           // [batch + 1, columns]
  std::vector<Real> weight_partials;  // [batch + 1, n_weights]
  std::vector<Real> weights;          // reduced by the two-stage reduction
  std::vector<Real> state;            // like the initial state (+ 1 row); empty without one
};

// The adjoint or parameter-shift launch, then the weight reduction's two launches.
// `input_offset`: what grad_inputs holds before the call (the kernel adds to it).
template <class Real>
BackwardResult<Real> lane_backward(DiffMethod method, const Problem& problem,
                                   const LaneShape& shape,
                                   const std::vector<Real>* saved_state = nullptr,
                                   Real input_offset = 0) {
  const DeviceTensors<Real> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const auto table = fixed_table<Real>(program, tensors.batch.weights);
  const bool has_state = problem.state_kind != StateKind::kNone;
  const size_t batch = static_cast<size_t>(problem.batch_size);
  const size_t n_weights = problem.weights.size();
  BackwardResult<Real> result;
  result.inputs.assign(problem.inputs.size(), input_offset);
  result.inputs.resize(problem.inputs.size() + problem.n_input_columns,
                       static_cast<Real>(kSentinel));
  result.weight_partials.assign((batch + 1) * n_weights, static_cast<Real>(kSentinel));
  if (has_state) {
    result.state.assign(problem.initial_state.size() + problem.state_row(),
                        static_cast<Real>(kSentinel));
  }
  cuda::StatevectorAdjointArgs<Real> args{};
  args.batch = tensors.batch;
  args.grad_out = tensors.grad_out.data();
  args.saved_state = saved_state == nullptr ? nullptr : saved_state->data();
  args.grad_inputs = problem.inputs.empty() ? nullptr : result.inputs.data();
  args.weight_partials = n_weights == 0 ? nullptr : result.weight_partials.data();
  args.grad_state = has_state ? result.state.data() : nullptr;
  with_registers(register_qubits(problem, shape), [&](auto registers) {
    constexpr int kRegisters = decltype(registers)::value;
    emulation::launch_lane_groups(launched_groups(problem.batch_size, shape), shape.width,
                                  [&](const cuda::LaneGroup& group, int64_t sample) {
                                    if (method == DiffMethod::kParameterShift) {
                                      cuda::statevector_parameter_shift_lanes<Real, kRegisters>(
                                          group, sample, program, readout, args, table.data());
                                    } else {
                                      cuda::statevector_adjoint_lanes<Real, kRegisters>(
                                          group, sample, program, readout, args, table.data());
                                    }
                                  });
  });
  EXPECT_TRUE(Untouched(result.inputs, problem.inputs.size(), "grad_inputs"));
  EXPECT_TRUE(Untouched(result.weight_partials, batch * n_weights, "weight_partials"));
  EXPECT_TRUE(Untouched(result.state, problem.initial_state.size(), "grad_state"));
  result.inputs.resize(problem.inputs.size());
  result.weight_partials.resize(batch * n_weights);
  if (has_state) result.state.resize(problem.initial_state.size());

  const int64_t n_blocks = cuda::weight_reduction_blocks(problem.batch_size);
  std::vector<double> block_sums(static_cast<size_t>(cuda::weight_reduction_workspace_length(
      problem.batch_size, static_cast<int64_t>(n_weights))));
  result.weights.assign(n_weights, static_cast<Real>(kSentinel));
  emulation::launch(static_cast<uint32_t>(n_blocks), 32, [&](const cuda::ThreadIndex& thread) {
    cuda::weight_reduction_range_thread<Real>(thread, result.weight_partials.data(),
                                              problem.batch_size, static_cast<int64_t>(n_weights),
                                              block_sums.data());
  });
  emulation::launch(1, 32, [&](const cuda::ThreadIndex& thread) {
    cuda::weight_reduction_total_thread<Real>(thread, block_sums.data(), n_blocks,
                                              static_cast<int64_t>(n_weights),
                                              result.weights.data());
  });
  return result;
}

// ---- references --------------------------------------------------------------------------

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

Gradients<double> cpu_gradients(const Problem& problem, DiffMethod method) {
  return Harness<double>(problem, core::baseline_kernels()).backward(method);
}

double max_abs(const std::vector<double>& values) {
  double m = 0;
  for (double v : values) m = std::max(m, std::abs(v));
  return m;
}

std::string describe(const Problem& problem, const LaneShape& shape, uint64_t seed) {
  static const char* kStates[] = {"no initial state", "real initial state",
                                  "complex initial state"};
  return "seed " + std::to_string(seed) + ", n=" + std::to_string(problem.n_qubits()) + ", " +
         std::to_string(shape.width) + " lanes, batch " + std::to_string(problem.batch_size) +
         ", " + kStates[static_cast<int>(problem.state_kind)] +
         (problem.probs ? ", probs" : ", expval");
}

// A fresh random circuit over every unitary opcode and the three parameter sources;
// `variant` walks the initial-state kinds, both readouts and batches of 3 and 1.
std::pair<uint64_t, Problem> random_lane_problem(int n, int variant, int extra_ops) {
  RandomOptions options;
  options.n_qubits = n;
  options.state_kind = static_cast<StateKind>(variant % 3);
  options.probs = variant % 2 == 1;
  options.batch_size = variant % 4 == 3 ? 1 : 3;
  options.n_extra_ops = extra_ops;
  options.encoding_layer = variant % 4 == 0;
  const uint64_t seed = 290000 + 100 * static_cast<uint64_t>(n) + static_cast<uint64_t>(variant);
  return {seed, random_problem(seed, options)};
}

// (n, width): every width over the n it serves, each register count 1..5.
struct LaneCase {
  int n;
  uint32_t width;
};
const LaneCase kLaneCases[] = {{5, 2},  {5, 4},  {6, 4},  {6, 8},  {7, 8},  {6, 16},
                               {8, 16}, {6, 32}, {7, 32}, {8, 32}, {9, 32}, {10, 32}};

template <class Real>
void expect_forward_matches(const Problem& problem, const LaneShape& shape,
                            const std::vector<double>& out, const std::vector<double>& states) {
  SCOPED_TRACE(sizeof(Real) == sizeof(float) ? "float32" : "float64");
  const double tol = tolerance<Real>();
  ForwardResult<Real> result = lane_forward<Real>(problem, shape);
  const size_t rows = static_cast<size_t>(problem.batch_size);
  EXPECT_TRUE(Untouched(result.out, rows * problem.width(), "out"));
  EXPECT_TRUE(Untouched(result.final_state, rows * problem.dim() * 2, "final_state"));
  result.out.resize(rows * problem.width());
  result.final_state.resize(rows * problem.dim() * 2);
  EXPECT_TRUE(AllClose(result.out, out, tol, tol)) << "out";
  EXPECT_TRUE(AllClose(result.final_state, states, tol, tol)) << "final_state";
}

template <class Real>
void expect_backward_matches(DiffMethod method, const Problem& problem, const LaneShape& shape,
                             const Gradients<double>& expected) {
  SCOPED_TRACE(std::string(sizeof(Real) == sizeof(float) ? "float32" : "float64") +
               (method == DiffMethod::kAdjoint ? ", adjoint" : ", parameter shift"));
  const double tol = tolerance<Real>();
  const BackwardResult<Real> result = lane_backward<Real>(method, problem, shape);
  EXPECT_TRUE(AllClose(result.inputs, expected.inputs, tol, tol)) << "input gradients";
  EXPECT_TRUE(AllClose(result.weights, expected.weights, tol, tol)) << "weight gradients";
  EXPECT_TRUE(AllClose(result.state, expected.state, tol, tol)) << "initial-state gradient";
}

TEST(EmulatedLaneForward, EveryWidthMatchesDenseReference) {
  int variant = 0;
  for (const LaneCase& c : kLaneCases) {
    const auto [seed, problem] = random_lane_problem(c.n, variant++, 6 + c.n);
    const LaneShape shape{c.width};
    SCOPED_TRACE(describe(problem, shape, seed));
    const std::vector<double> out = reference_forward(problem);
    const std::vector<double> states = reference_final_states(problem);
    expect_forward_matches<double>(problem, shape, out, states);
    expect_forward_matches<float>(problem, shape, out, states);
  }
}

void check_backward(DiffMethod method, int extra_ops, int first_case, int case_stride) {
  double largest_input = 0, largest_weight = 0, largest_state = 0;
  int variant = 0;
  for (size_t i = first_case; i < std::size(kLaneCases); i += case_stride) {
    const LaneCase& c = kLaneCases[i];
    const auto [seed, problem] = random_lane_problem(c.n, variant++, extra_ops);
    const LaneShape shape{c.width};
    SCOPED_TRACE(describe(problem, shape, seed));
    const Gradients<double> expected = cpu_gradients(problem, method);
    largest_input = std::max(largest_input, max_abs(expected.inputs));
    largest_weight = std::max(largest_weight, max_abs(expected.weights));
    largest_state = std::max(largest_state, max_abs(expected.state));
    expect_backward_matches<double>(method, problem, shape, expected);
    expect_backward_matches<float>(method, problem, shape, expected);
  }
  // The comparisons must not pass on gradients that are empty or zero.
  EXPECT_GT(largest_input, 100 * kFloatTolerance);
  EXPECT_GT(largest_weight, 100 * kFloatTolerance);
  EXPECT_GT(largest_state, 100 * kFloatTolerance);
}

TEST(EmulatedLaneAdjoint, EveryWidthMatchesCpuEngine) {
  check_backward(DiffMethod::kAdjoint, 12, 0, 1);
}
TEST(EmulatedLaneParameterShift, EveryWidthMatchesCpuEngine) {
  check_backward(DiffMethod::kParameterShift, 3, 0, 3);
}

// Each opcode alone after a parameter-free scrambling of a 5-qubit state in groups of
// 4 lanes (wires 0..2 on register bits, 3 and 4 on lane bits), its wires on register
// and lane bits in every combination, its angle from each source: a failure names the
// gate and where its wires were.
Problem single_opcode_problem(int opcode, ParamSource source, int64_t wire0, int64_t wire1,
                              uint64_t seed) {
  Rng rng(seed);
  const int n = 5;
  FlatProgram program(n);
  for (int wire = 0; wire < n; ++wire) program.gate(Opcode::kH, wire).gate(Opcode::kT, wire);
  for (int wire = 0; wire + 1 < n; ++wire) program.gate(Opcode::kCnot, wire, wire + 1);
  program.gate(Opcode::kS, 1).gate(Opcode::kH, 4).gate(Opcode::kT, 0);
  program.add(static_cast<Opcode>(opcode), wire0, is_two_qubit_opcode(opcode) ? wire1 : -1, source,
              source == ParamSource::kNone ? -1 : 0);
  for (int wire = 0; wire < n; ++wire) {
    program.gate(Opcode::kH, wire).gate(Opcode::kT, wire).gate(Opcode::kH, wire);
  }
  program.gate(Opcode::kCz, 4, 0);
  Problem problem = problem_of(program, 3, (seed & 1) != 0, {1, 2, 4, 3, 6, 16, 31, 0});
  problem.state_kind = StateKind::kComplex;
  problem.initial_state.resize(static_cast<size_t>(problem.batch_size * problem.state_row()));
  for (double& x : problem.initial_state) x = rng.uniform(-1, 1);
  for (double& x : problem.inputs) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.weights) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.constants) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.grad_out) x = rng.uniform(-1, 1);
  return problem;
}

TEST(EmulatedLaneStatevector, EveryOpcodeOnRegisterAndLaneBitsMatches) {
  // (register, register), (register, lane), (lane, register), (lane, lane).
  const int64_t kWires[][2] = {{0, 2}, {1, 4}, {3, 0}, {4, 3}};
  const LaneShape shape{4, 2};
  for (int opcode = 0; opcode <= 14; ++opcode) {
    std::vector<ParamSource> sources = {ParamSource::kNone};
    if (is_rotation_opcode(opcode)) {
      sources = {ParamSource::kInput, ParamSource::kWeight, ParamSource::kConstant};
    }
    for (ParamSource source : sources) {
      for (const auto& wires : kWires) {
        SCOPED_TRACE(std::string(core::opcode_name(static_cast<Opcode>(opcode))) + ", source " +
                     std::to_string(static_cast<int>(source)) + ", wires " +
                     std::to_string(wires[0]) + "," + std::to_string(wires[1]));
        const Problem problem =
            single_opcode_problem(opcode, source, wires[0], wires[1], 100 * opcode + 7);
        expect_forward_matches<double>(problem, shape, reference_forward(problem),
                                       reference_final_states(problem));
        for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
          const Gradients<double> expected = cpu_gradients(problem, method);
          if (source == ParamSource::kInput) EXPECT_GT(max_abs(expected.inputs), 1e-3);
          if (source == ParamSource::kWeight) EXPECT_GT(max_abs(expected.weights), 1e-3);
          EXPECT_GT(max_abs(expected.state), 1e-3);
          expect_backward_matches<double>(method, problem, shape, expected);
          if (method == DiffMethod::kAdjoint) {
            expect_backward_matches<float>(method, problem, shape, expected);
          }
        }
      }
    }
  }
}

// The weight gradients are the same bits on every run and for any grouping of the
// lanes into blocks; the sweep from the forward's saved state is the rerun's; the
// input gradient is added to what the caller's tensor holds.
TEST(EmulatedLaneStatevector, RunsGiveTheSameBitsAndInputGradientsAccumulate) {
  RandomOptions options;
  options.n_qubits = 7;
  options.batch_size = 5;
  options.state_kind = StateKind::kComplex;
  options.n_extra_ops = 6;
  const Problem problem = random_problem(27182, options);
  const LaneShape shape{16, 2}, other{16, 4};
  const std::vector<double> saved = lane_forward<double>(problem, shape).final_state;
  for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
    const auto first = lane_backward<double>(method, problem, shape);
    EXPECT_GT(max_abs(first.weights), 0.01);
    const auto second = lane_backward<double>(method, problem, other);
    EXPECT_TRUE(BitwiseEqual(first.weight_partials, second.weight_partials));
    EXPECT_TRUE(BitwiseEqual(first.weights, second.weights));
    EXPECT_TRUE(BitwiseEqual(first.inputs, second.inputs));
    EXPECT_TRUE(BitwiseEqual(first.state, second.state));
    const auto float_first = lane_backward<float>(method, problem, shape);
    const auto float_second = lane_backward<float>(method, problem, shape);
    EXPECT_TRUE(BitwiseEqual(float_first.weights, float_second.weights));
  }
  std::vector<double> saved_rows(saved.begin(),
                                 saved.begin() + problem.batch_size * problem.dim() * 2);
  const auto from_saved = lane_backward<double>(DiffMethod::kAdjoint, problem, shape, &saved_rows);
  const auto rerun = lane_backward<double>(DiffMethod::kAdjoint, problem, shape);
  EXPECT_TRUE(BitwiseEqual(from_saved.inputs, rerun.inputs));
  EXPECT_TRUE(BitwiseEqual(from_saved.weight_partials, rerun.weight_partials));
  EXPECT_TRUE(BitwiseEqual(from_saved.state, rerun.state));
  std::vector<double> shifted = rerun.inputs;
  for (double& x : shifted) x += 0.5;
  const auto accumulated =
      lane_backward<double>(DiffMethod::kAdjoint, problem, shape, nullptr, 0.5);
  EXPECT_TRUE(AllClose(accumulated.inputs, shifted, kDoubleTolerance, kDoubleTolerance));
}

// A group whose register count and width do not make the program's n writes nothing.
TEST(EmulatedLaneStatevector, ShapeOfAnotherProgramWritesNothing) {
  const auto [seed, problem] = random_lane_problem(7, 1, 4);
  const DeviceTensors<double> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  std::vector<double> out(static_cast<size_t>(problem.batch_size * problem.width()), kSentinel);
  cuda::StatevectorForwardArgs<double> args{};
  args.batch = tensors.batch;
  args.out = out.data();
  emulation::launch_lane_groups(
      problem.batch_size, 32, [&](const cuda::LaneGroup& group, int64_t sample) {
        cuda::statevector_forward_lanes<double, 3>(group, sample, program, readout, args, nullptr);
      });
  EXPECT_TRUE(Untouched(out, 0, "out"));
}

}  // namespace
}  // namespace qmoe::test_support
