// The block-per-sample statevector bodies (cuda/kernels/statevector_block_sample.cuh),
// compiled by g++ and run through the host emulation of a cooperative launch
// (block_launch_emulation.h: a host thread per CUDA thread, a std::barrier per block),
// against independent float64 references on fresh random circuits: the dense simulator
// of test_support.h for the forward pass and the final state, the CPU engine in double
// for the adjoint and parameter-shift gradients. Each decomposition's range of n: the
// states in shared memory (7..13), in the global workspace (14, 15), and split between
// the two (float64 backward at 13); small blocks and batches of 2 or 3 keep it fast.
// The fused passes over tiles (gate_segments.h) run at 14 and 15 with the tile the
// layout chooses, and at 7..9 with tiles of 2..4 qubits forced, so that the segments
// and the tile index maps are exercised at sizes the emulation runs quickly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "block_launch_emulation.h"
#include "emulated_kernel_support.h"
#include "launch_emulation.h"
#include "qmoe/core/program/readout.h"
#include "qmoe/cuda/kernels/block_layout.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/gate_segments.h"
#include "qmoe/cuda/kernels/statevector_block_sample.cuh"
#include "qmoe/cuda/kernels/weight_reduction.cuh"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

namespace emulation = cuda::emulation;

constexpr double kDoubleTolerance = 1e-10;
constexpr double kFloatTolerance = 1e-5;
// Opt-in shared memory per block of an H100/H200 (sm_90) and an A100 (sm_80).
constexpr int64_t kHopperSharedBytes = 227 * 1024;
constexpr int64_t kAmpereSharedBytes = 163 * 1024;

template <class Real>
double tolerance() {
  return sizeof(Real) == sizeof(float) ? kFloatTolerance : kDoubleTolerance;
}

const char* precision_name(size_t real_size) {
  return real_size == sizeof(float) ? "float32" : "float64";
}

// The device an emulated launch is planned for, and its block size.
struct EmulatedDevice {
  int64_t max_shared_bytes = kHopperSharedBytes;
  int64_t resident_blocks = 2;  // fewer blocks than samples: the blocks stride
  int block_dim = 8;
  int tile_qubits = cuda::kAutomaticTile;
};

template <class Real>
cuda::BlockLayout layout_for(const Problem& problem, int n_states, const EmulatedDevice& device) {
  return cuda::make_block_layout(problem.n_qubits(), sizeof(Real), n_states, problem.batch_size,
                                 {device.max_shared_bytes, device.resident_blocks},
                                 device.block_dim, device.tile_qubits);
}

// No shared memory for a state: every state in the global workspace, in fused passes
// over tiles of `tile_qubits`.
EmulatedDevice fused_device(int tile_qubits, int block_dim, int64_t resident_blocks = 2) {
  return EmulatedDevice{0, resident_blocks, block_dim, tile_qubits};
}

cuda::DeviceProgram device_program_of(const Problem& problem) {
  return cuda::make_device_program(problem.parse(), problem.constants.data(),
                                   static_cast<int64_t>(problem.constants.size()));
}

// The global workspace of a layout, NaN-filled (a state read before it is written
// poisons the result); doubles, so it is aligned for Complex<double>.
struct Workspace {
  explicit Workspace(const cuda::BlockLayout& layout)
      : words(static_cast<size_t>(cuda::block_workspace_bytes(layout) / 8 + 1),
              std::numeric_limits<double>::quiet_NaN()) {}
  unsigned char* data() { return reinterpret_cast<unsigned char*>(words.data()); }
  std::vector<double> words;
};

template <class Real>
struct ForwardResult {
  std::vector<Real> out;          // [batch, width]
  std::vector<Real> final_state;  // [batch, dim, 2]
};

template <class Real>
ForwardResult<Real> block_forward(const Problem& problem, const EmulatedDevice& device) {
  const DeviceTensors<Real> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const cuda::BlockLayout layout = layout_for<Real>(problem, 1, device);
  Workspace workspace(layout);
  ForwardResult<Real> result;
  result.out.assign(static_cast<size_t>(problem.batch_size * problem.width()),
                    static_cast<Real>(kSentinel));
  result.final_state.assign(static_cast<size_t>(problem.batch_size * problem.dim() * 2),
                            static_cast<Real>(kSentinel));
  cuda::StatevectorForwardArgs<Real> args{};
  args.batch = tensors.batch;
  args.out = result.out.data();
  args.final_state = result.final_state.data();
  emulation::launch_blocks(
      static_cast<uint32_t>(layout.grid_dim), static_cast<uint32_t>(layout.block_dim),
      static_cast<size_t>(layout.shared_bytes), [&](const cuda::BlockGroup& group) {
        cuda::statevector_forward_block<Real>(group, layout, workspace.data(), program, readout,
                                              args);
      });
  return result;
}

template <class Real>
struct BackwardResult {
  std::vector<Real> inputs;           // [batch, columns]
  std::vector<Real> weight_partials;  // [batch, n_weights]
  std::vector<Real> weights;          // reduced by the two-stage reduction
  std::vector<Real> state;            // like the initial state; empty without one
};

// The adjoint or parameter-shift launch, then the weight reduction's two launches.
// `input_offset`: what grad_inputs holds before the call (the kernel adds to it).
template <class Real>
BackwardResult<Real> block_backward(DiffMethod method, const Problem& problem,
                                    const EmulatedDevice& device,
                                    const std::vector<Real>* saved_state = nullptr,
                                    Real input_offset = 0) {
  const DeviceTensors<Real> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const cuda::BlockLayout layout = layout_for<Real>(problem, 2, device);
  Workspace workspace(layout);
  const bool has_state = problem.state_kind != StateKind::kNone;
  BackwardResult<Real> result;
  result.inputs.assign(problem.inputs.size(), input_offset);
  result.weight_partials.assign(static_cast<size_t>(problem.batch_size) * problem.weights.size(),
                                static_cast<Real>(kSentinel));
  if (has_state) result.state.assign(problem.initial_state.size(), static_cast<Real>(kSentinel));
  cuda::StatevectorAdjointArgs<Real> args{};
  args.batch = tensors.batch;
  args.grad_out = tensors.grad_out.data();
  args.saved_state = saved_state == nullptr ? nullptr : saved_state->data();
  args.grad_inputs = result.inputs.empty() ? nullptr : result.inputs.data();
  args.weight_partials = result.weight_partials.empty() ? nullptr : result.weight_partials.data();
  args.grad_state = has_state ? result.state.data() : nullptr;
  emulation::launch_blocks(
      static_cast<uint32_t>(layout.grid_dim), static_cast<uint32_t>(layout.block_dim),
      static_cast<size_t>(layout.shared_bytes), [&](const cuda::BlockGroup& group) {
        if (method == DiffMethod::kParameterShift) {
          cuda::statevector_parameter_shift_block<Real>(group, layout, workspace.data(), program,
                                                        readout, args);
        } else {
          cuda::statevector_adjoint_block<Real>(group, layout, workspace.data(), program, readout,
                                                args);
        }
      });

  const int64_t n_weights = static_cast<int64_t>(problem.weights.size());
  const int64_t n_blocks = cuda::weight_reduction_blocks(problem.batch_size);
  std::vector<double> block_sums(
      static_cast<size_t>(cuda::weight_reduction_workspace_length(problem.batch_size, n_weights)));
  result.weights.assign(static_cast<size_t>(n_weights), static_cast<Real>(kSentinel));
  emulation::launch(static_cast<uint32_t>(n_blocks), 32, [&](const cuda::ThreadIndex& thread) {
    cuda::weight_reduction_range_thread<Real>(thread, result.weight_partials.data(),
                                              problem.batch_size, n_weights, block_sums.data());
  });
  emulation::launch(1, 32, [&](const cuda::ThreadIndex& thread) {
    cuda::weight_reduction_total_thread<Real>(thread, block_sums.data(), n_blocks, n_weights,
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

std::string describe(const Problem& problem, uint64_t seed) {
  static const char* kStates[] = {"no initial state", "real initial state",
                                  "complex initial state"};
  return "seed " + std::to_string(seed) + ", n=" + std::to_string(problem.n_qubits()) + ", batch " +
         std::to_string(problem.batch_size) + ", " + kStates[static_cast<int>(problem.state_kind)] +
         (problem.probs ? ", probs" : ", expval");
}

// A fresh random circuit over every unitary opcode and the three parameter sources;
// `variant` walks the initial-state kinds, both readouts and batches of 2 and 3.
std::pair<uint64_t, Problem> random_block_problem(int n, int variant, int extra_ops) {
  RandomOptions options;
  options.n_qubits = n;
  options.state_kind = static_cast<StateKind>(variant % 3);
  options.probs = variant % 2 == 1;
  options.batch_size = 2 + variant % 2;
  options.n_extra_ops = extra_ops;
  options.encoding_layer = variant % 4 == 0;
  const uint64_t seed = 190000 + 100 * static_cast<uint64_t>(n) + static_cast<uint64_t>(variant);
  return {seed, random_problem(seed, options)};
}

template <class Real>
void expect_forward_matches(const Problem& problem, const EmulatedDevice& device,
                            const std::vector<double>& out, const std::vector<double>& states) {
  SCOPED_TRACE(std::string(precision_name(sizeof(Real))) + ", block " +
               std::to_string(device.block_dim) + ", tile " + std::to_string(device.tile_qubits));
  const double tol = tolerance<Real>();
  const ForwardResult<Real> result = block_forward<Real>(problem, device);
  EXPECT_TRUE(AllClose(result.out, out, tol, tol)) << "out";
  EXPECT_TRUE(AllClose(result.final_state, states, tol, tol)) << "final_state";
}

template <class Real>
void expect_backward_matches(DiffMethod method, const Problem& problem,
                             const EmulatedDevice& device, const Gradients<double>& expected) {
  SCOPED_TRACE(std::string(precision_name(sizeof(Real))) +
               (method == DiffMethod::kAdjoint ? ", adjoint" : ", parameter shift") + ", tile " +
               std::to_string(device.tile_qubits));
  const double tol = tolerance<Real>();
  const BackwardResult<Real> result = block_backward<Real>(method, problem, device);
  EXPECT_TRUE(AllClose(result.inputs, expected.inputs, tol, tol)) << "input gradients";
  EXPECT_TRUE(AllClose(result.weights, expected.weights, tol, tol)) << "weight gradients";
  EXPECT_TRUE(AllClose(result.state, expected.state, tol, tol)) << "initial-state gradient";
}

// `tile_qubits` > 0: every state in global memory, fused over tiles of that size.
EmulatedDevice device_for(int n, int tile_qubits, bool even_block_wide) {
  const int block_dim = (n % 2 == 0) == even_block_wide ? 8 : 4;
  if (tile_qubits > 0) return fused_device(tile_qubits, block_dim);
  return EmulatedDevice{kHopperSharedBytes, 2, block_dim};
}

void check_forward(int n_first, int n_last, int tile_qubits = 0) {
  for (int n = n_first; n <= n_last; ++n) {
    const auto [seed, problem] = random_block_problem(n, n % 6, 8 + n);
    SCOPED_TRACE(describe(problem, seed));
    const std::vector<double> out = reference_forward(problem);
    const std::vector<double> states = reference_final_states(problem);
    const EmulatedDevice device = device_for(n, tile_qubits, true);
    expect_forward_matches<double>(problem, device, out, states);
    expect_forward_matches<float>(problem, device, out, states);
  }
}

void check_backward(DiffMethod method, const std::vector<int>& sizes, int extra_ops,
                    int tile_qubits = 0) {
  double largest_input = 0, largest_weight = 0, largest_state = 0;
  for (int n : sizes) {
    const auto [seed, problem] = random_block_problem(n, n % 6, extra_ops);
    SCOPED_TRACE(describe(problem, seed));
    const Gradients<double> expected = cpu_gradients(problem, method);
    largest_input = std::max(largest_input, max_abs(expected.inputs));
    largest_weight = std::max(largest_weight, max_abs(expected.weights));
    largest_state = std::max(largest_state, max_abs(expected.state));
    const EmulatedDevice device = device_for(n, tile_qubits, false);
    expect_backward_matches<double>(method, problem, device, expected);
    expect_backward_matches<float>(method, problem, device, expected);
  }
  // The comparisons must not pass on gradients that are empty or zero: a hundred
  // times the float32 tolerance at least (random circuits on many qubits have small
  // gradients, shrinking with n).
  EXPECT_GT(largest_input, 100 * kFloatTolerance);
  EXPECT_GT(largest_weight, 100 * kFloatTolerance);
  EXPECT_GT(largest_state, 100 * kFloatTolerance);
}

TEST(EmulatedBlockForward, SharedStatesMatchDenseReference) { check_forward(7, 13); }
TEST(EmulatedBlockForward, GlobalStatesMatchDenseReference) { check_forward(14, 15); }

TEST(EmulatedBlockAdjoint, SharedStatesMatchCpuEngine) {
  check_backward(DiffMethod::kAdjoint, {7, 8, 9, 10, 11, 12, 13}, 16);
}
TEST(EmulatedBlockAdjoint, GlobalStatesMatchCpuEngine) {
  check_backward(DiffMethod::kAdjoint, {14, 15}, 16);
}
TEST(EmulatedBlockParameterShift, SharedStatesMatchCpuEngine) {
  check_backward(DiffMethod::kParameterShift, {7, 10, 13}, 6);
}
TEST(EmulatedBlockParameterShift, GlobalStatesMatchCpuEngine) {
  check_backward(DiffMethod::kParameterShift, {14}, 4);
}

// ---- fused passes over tiles --------------------------------------------------------------

// The layouts above n = 13 are fused (the global tests above run the tiles); here the
// tile is forced small so that the segments are many and short at small n.
TEST(EmulatedBlockFused, LayoutsAbove13AreFused) {
  const cuda::BlockDeviceLimits hopper{kHopperSharedBytes, 264};
  for (int n : {14, 15, 20, core::kMaxStatevectorQubits}) {
    EXPECT_GT(cuda::make_block_layout(n, 4, 1, 3, hopper).tile_qubits, 0) << n;
    EXPECT_GT(cuda::make_block_layout(n, 8, 2, 3, hopper).tile_qubits, 0) << n;
  }
  EXPECT_EQ(cuda::make_block_layout(13, 8, 2, 3, hopper).tile_qubits, 0);  // split: gate by gate
}

TEST(EmulatedBlockFused, SmallTilesForwardMatchesDenseReference) {
  check_forward(7, 9, 3);
  check_forward(8, 8, 2);
  check_forward(9, 9, 4);
}
TEST(EmulatedBlockFused, SmallTilesAdjointMatchesCpuEngine) {
  check_backward(DiffMethod::kAdjoint, {7, 8, 9}, 16, 3);
  check_backward(DiffMethod::kAdjoint, {8}, 24, 2);
}
TEST(EmulatedBlockFused, SmallTilesParameterShiftMatchesCpuEngine) {
  check_backward(DiffMethod::kParameterShift, {7, 8}, 6, 3);
}
// Tiles of 10 qubits at 14: more than one tile per segment, and long segments.
TEST(EmulatedBlockFused, TenQubitTilesAt14MatchReferences) {
  const auto [seed, problem] = random_block_problem(14, 3, 30);
  SCOPED_TRACE(describe(problem, seed));
  const EmulatedDevice device = fused_device(10, 8);
  expect_forward_matches<double>(problem, device, reference_forward(problem),
                                 reference_final_states(problem));
  expect_backward_matches<float>(DiffMethod::kAdjoint, problem, device,
                                 cpu_gradients(problem, DiffMethod::kAdjoint));
}

// Fused runs give the same bits on every run and grid (the host schedules the threads
// differently each time); the segments' gradient trees do not depend on the schedule.
TEST(EmulatedBlockFused, RunsAndGridsGiveTheSameBits) {
  RandomOptions options;
  options.n_qubits = 7;
  options.batch_size = 3;
  options.state_kind = StateKind::kComplex;
  options.n_extra_ops = 12;
  const Problem problem = random_problem(27182, options);
  const EmulatedDevice two_blocks = fused_device(4, 8, 2);
  const EmulatedDevice block_per_sample = fused_device(4, 8, 3);
  const auto forward = block_forward<double>(problem, two_blocks);
  EXPECT_TRUE(BitwiseEqual(block_forward<double>(problem, block_per_sample).out, forward.out));
  EXPECT_TRUE(
      BitwiseEqual(block_forward<double>(problem, two_blocks).final_state, forward.final_state));
  for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
    const auto first = block_backward<float>(method, problem, two_blocks);
    EXPECT_GT(max_abs(std::vector<double>(first.weights.begin(), first.weights.end())), 0.01);
    for (const EmulatedDevice& device : {two_blocks, block_per_sample}) {
      const auto run = block_backward<float>(method, problem, device);
      EXPECT_TRUE(BitwiseEqual(run.inputs, first.inputs));
      EXPECT_TRUE(BitwiseEqual(run.weight_partials, first.weight_partials));
      EXPECT_TRUE(BitwiseEqual(run.weights, first.weights));
      EXPECT_TRUE(BitwiseEqual(run.state, first.state));
    }
  }
}

// ---- the segment planner ------------------------------------------------------------------

cuda::DeviceProgram device_program_of(const FlatProgram& program) {
  const Problem problem = problem_of(program, 1, true);
  return device_program_of(problem);
}

TEST(GateSegments, ForwardSegmentsAreTheLongestRunsThatFitTheTile) {
  // n = 6: wire w is bit 5 - w.
  FlatProgram flat(6);
  flat.rot(Opcode::kRx, 0, ParamSource::kInput, 0)             // 0: bit 5
      .gate(Opcode::kCnot, 0, 1)                               // 1: bits 5, 4
      .rot(Opcode::kRz, 2, ParamSource::kWeight, 0)            // 2: bit 3 -> three bits
      .gate(Opcode::kH, 1)                                     // 3: still three
      .gate(Opcode::kCz, 3, 4)                                 // 4: bits 2, 1 -> a new segment
      .add(Opcode::kIsingXX, 4, 5, ParamSource::kConstant, 0)  // 5: bits 1, 0
      .gate(Opcode::kSwap, 0, 5);                              // 6: bits 5, 0 -> four bits: new
  const cuda::DeviceProgram program = device_program_of(flat);
  const cuda::GateSegment first = cuda::forward_segment(program, 0, 3);
  EXPECT_EQ(first.begin, 0);
  EXPECT_EQ(first.end, 4);
  EXPECT_EQ(first.bits, 0b111000u);
  const cuda::GateSegment second = cuda::forward_segment(program, 4, 3);
  EXPECT_EQ(second.begin, 4);
  EXPECT_EQ(second.end, 6);
  EXPECT_EQ(second.bits, 0b000111u);
  const cuda::GateSegment third = cuda::forward_segment(program, 6, 3);
  EXPECT_EQ(third.end, 7);
  EXPECT_EQ(third.bits, 0b100001u);
  EXPECT_EQ(cuda::count_forward_segments(program, 3), 3);
  // The reverse sweep scans from the end: SWAP(0, 5), IsingXX(4, 5), CZ(3, 4) share
  // bits 5, 2, 1, 0 -> four: the first reverse segment is ops 5..6.
  const cuda::GateSegment last = cuda::reverse_segment(program, 7, 3);
  EXPECT_EQ(last.begin, 5);
  EXPECT_EQ(last.end, 7);
  EXPECT_EQ(last.bits, 0b100011u);
  EXPECT_EQ(cuda::count_reverse_segments(program, 3), 3);
  // Tiles as large as the state: one segment each way.
  EXPECT_EQ(cuda::count_forward_segments(program, 6), 1);
  EXPECT_EQ(cuda::count_reverse_segments(program, 6), 1);
  // The tile: the segment's bits, then the lowest others.
  EXPECT_EQ(cuda::tile_bits(0b100010u, 6, 4), 0b100111u);
  EXPECT_EQ(cuda::tile_bits(0b000011u, 6, 2), 0b000011u);
}

TEST(GateSegments, ReverseSegmentsKeepAtMostTheGradientSlots) {
  // Rotations on one wire: one bit, so only the gradient slots split the segments;
  // constant-angle rotations take no slot.
  FlatProgram flat(7);
  const int n_weighted = 2 * cuda::kMaxSegmentGradients + 3;
  for (int i = 0; i < n_weighted; ++i) {
    flat.rot(Opcode::kRy, 2, ParamSource::kWeight, i);
    flat.rot(Opcode::kRz, 2, ParamSource::kConstant, 0);
  }
  const cuda::DeviceProgram program = device_program_of(flat);
  EXPECT_EQ(cuda::count_forward_segments(program, 2), 1);
  EXPECT_EQ(cuda::count_reverse_segments(program, 2), 3);
  const cuda::GateSegment last = cuda::reverse_segment(program, program.n_ops, 2);
  int slots = 0;
  for (int i = last.begin; i < last.end; ++i) slots += cuda::takes_gradient_slot(program.ops[i]);
  EXPECT_EQ(slots, cuda::kMaxSegmentGradients);
  EXPECT_EQ(last.bits, 1u << 4);
}

TEST(GateSegments, DepositAndLocalBitsAreInverse) {
  const uint32_t mask = 0b1011010u;
  for (int j = 0; j < 16; ++j) {
    const int index = cuda::deposit_bits(j, mask);
    EXPECT_EQ(index & ~static_cast<int>(mask), 0);
    int back = 0;
    for (int bit = 0; bit < 7; ++bit) {
      if ((mask >> bit) & 1u) back |= ((index >> bit) & 1) << cuda::local_bit(mask, bit);
    }
    EXPECT_EQ(back, j);
  }
}

// The benchmark circuit (benchmarks/cells.py: RX embedding, StronglyEntanglingLayers,
// <Z> per wire) as the program the kernels take.
FlatProgram strongly_entangling_router(int n, int layers) {
  FlatProgram flat(n);
  for (int w = 0; w < n; ++w) flat.rot(Opcode::kRx, w, ParamSource::kInput, w);
  int weight = 0;
  for (int layer = 0; layer < layers; ++layer) {
    for (int w = 0; w < n; ++w) {
      for (Opcode opcode : {Opcode::kRz, Opcode::kRy, Opcode::kRz}) {
        flat.rot(opcode, w, ParamSource::kWeight, weight++);
      }
    }
    const int range = layer % (n - 1) + 1;
    for (int w = 0; w < n; ++w) flat.gate(Opcode::kCnot, w, (w + range) % n);
  }
  return flat;
}

// Passes over the global state per circuit, gate by gate against fused, with the tiles
// the layouts choose (printed for benchmarks/results/cuda_resources.md).
TEST(GateSegments, BenchmarkCircuitsNeedFewerPasses) {
  const cuda::BlockDeviceLimits hopper{kHopperSharedBytes, 264};
  for (int n : {8, 12, 14, 16}) {
    const cuda::DeviceProgram program = device_program_of(strongly_entangling_router(n, 3));
    for (int real_size : {4, 8}) {
      const int forward_tile = cuda::choose_tile_qubits(
          cuda::make_block_layout(n, real_size, 1, 1, {0, 1}, 0, 0), real_size, hopper);
      const int backward_tile = cuda::choose_tile_qubits(
          cuda::make_block_layout(n, real_size, 2, 1, {0, 1}, 0, 0), real_size, hopper);
      const int forward = cuda::count_forward_segments(program, forward_tile);
      const int reverse = cuda::count_reverse_segments(program, backward_tile);
      EXPECT_LT(forward, program.n_ops);
      EXPECT_LT(reverse, program.n_ops);
      std::printf("n=%d %s ops=%d | forward tile %d: %d passes | reverse tile %d: %d passes\n", n,
                  precision_name(static_cast<size_t>(real_size)), program.n_ops, forward_tile,
                  forward, backward_tile, reverse);
    }
  }
}

// Each opcode alone after a parameter-free scrambling of a 7-qubit state, from each
// source its angle can come from: a failure names the gate.
Problem single_opcode_problem(int opcode, ParamSource source, uint64_t seed) {
  Rng rng(seed);
  const int n = 7;
  FlatProgram program(n);
  for (int wire = 0; wire < n; ++wire) program.gate(Opcode::kH, wire).gate(Opcode::kT, wire);
  for (int wire = 0; wire + 1 < n; ++wire) program.gate(Opcode::kCnot, wire, wire + 1);
  program.gate(Opcode::kS, 1).gate(Opcode::kH, 2).gate(Opcode::kT, 0);
  const int64_t wire0 = rng.below(n);
  int64_t wire1 = -1;
  if (is_two_qubit_opcode(opcode)) {
    wire1 = rng.below(n - 1);
    if (wire1 >= wire0) ++wire1;
  }
  program.add(static_cast<Opcode>(opcode), wire0, wire1, source,
              source == ParamSource::kNone ? -1 : 0);
  // H T H mixes the phases into the populations the readouts see.
  for (int wire = 0; wire < n; ++wire) {
    program.gate(Opcode::kH, wire).gate(Opcode::kT, wire).gate(Opcode::kH, wire);
  }
  program.gate(Opcode::kCz, 6, 0);
  Problem problem = problem_of(program, 3, (seed & 1) != 0, {1, 2, 4, 3, 6, 64, 127, 0});
  problem.state_kind = StateKind::kComplex;
  problem.initial_state.resize(static_cast<size_t>(problem.batch_size * problem.state_row()));
  for (double& x : problem.initial_state) x = rng.uniform(-1, 1);
  for (double& x : problem.inputs) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.weights) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.constants) x = rng.uniform(-kPi, kPi);
  for (double& x : problem.grad_out) x = rng.uniform(-1, 1);
  return problem;
}

TEST(EmulatedBlockStatevector, EveryOpcodeWithEverySourceMatches) {
  for (int opcode = 0; opcode <= 14; ++opcode) {
    std::vector<ParamSource> sources = {ParamSource::kNone};
    if (is_rotation_opcode(opcode)) {
      sources = {ParamSource::kInput, ParamSource::kWeight, ParamSource::kConstant};
    }
    for (ParamSource source : sources) {
      SCOPED_TRACE(std::string(core::opcode_name(static_cast<Opcode>(opcode))) + ", source " +
                   std::to_string(static_cast<int>(source)));
      const Problem problem = single_opcode_problem(opcode, source, 100 * opcode + 7);
      const std::vector<double> out = reference_forward(problem);
      const std::vector<double> states = reference_final_states(problem);
      // In shared memory gate by gate, and fused over tiles of 4 qubits.
      for (const EmulatedDevice& device :
           {EmulatedDevice{kHopperSharedBytes, 3, 4}, fused_device(4, 4, 3)}) {
        expect_forward_matches<double>(problem, device, out, states);
        expect_forward_matches<float>(problem, device, out, states);
        for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
          const Gradients<double> expected = cpu_gradients(problem, method);
          if (source == ParamSource::kInput) EXPECT_GT(max_abs(expected.inputs), 1e-3);
          if (source == ParamSource::kWeight) EXPECT_GT(max_abs(expected.weights), 1e-3);
          EXPECT_GT(max_abs(expected.state), 1e-3);
          expect_backward_matches<double>(method, problem, device, expected);
          expect_backward_matches<float>(method, problem, device, expected);
        }
      }
    }
  }
}

// Where the states live changes no bit: all in shared memory, all in the global
// workspace, or split; a block per sample or two blocks striding over five samples.
// The weight gradients are the same bits on every run.
TEST(EmulatedBlockStatevector, LayoutsAndGridsGiveTheSameBits) {
  RandomOptions options;
  options.n_qubits = 8;
  options.batch_size = 5;
  options.state_kind = StateKind::kComplex;
  options.n_extra_ops = 20;
  const Problem problem = random_problem(31415, options);
  const EmulatedDevice shared{kHopperSharedBytes, 5, 8};
  const int64_t one_state = problem.dim() * 16 + 8 * 8;  // scratch + one double state
  const EmulatedDevice split{one_state, 2, 8};
  const EmulatedDevice global{0, 2, 8};
  ASSERT_EQ(layout_for<double>(problem, 2, shared).shared_states, 2);
  ASSERT_EQ(layout_for<double>(problem, 2, split).shared_states, 1);
  ASSERT_EQ(layout_for<double>(problem, 2, global).shared_states, 0);
  ASSERT_EQ(layout_for<double>(problem, 2, global).grid_dim, 2);

  const ForwardResult<double> forward = block_forward<double>(problem, shared);
  for (const EmulatedDevice& device : {split, global}) {
    EXPECT_TRUE(BitwiseEqual(block_forward<double>(problem, device).out, forward.out));
  }
  for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
    const BackwardResult<double> reference = block_backward<double>(method, problem, shared);
    EXPECT_GT(max_abs(reference.weights), 0.01);
    for (const EmulatedDevice& device : {shared, split, global}) {
      const BackwardResult<double> run = block_backward<double>(method, problem, device);
      EXPECT_TRUE(BitwiseEqual(run.inputs, reference.inputs));
      EXPECT_TRUE(BitwiseEqual(run.weight_partials, reference.weight_partials));
      EXPECT_TRUE(BitwiseEqual(run.weights, reference.weights));
      EXPECT_TRUE(BitwiseEqual(run.state, reference.state));
    }
    const auto float_first = block_backward<float>(method, problem, global);
    const auto float_second = block_backward<float>(method, problem, global);
    EXPECT_TRUE(BitwiseEqual(float_first.weights, float_second.weights));
  }
}

// Training keeps the forward's final states: the sweep from them is the rerun's; and
// the input gradient is added to what the caller's tensor holds.
TEST(EmulatedBlockAdjoint, SweepFromSavedStateAndInputGradientsAccumulate) {
  const auto [seed, problem] = random_block_problem(9, 2, 12);
  SCOPED_TRACE(describe(problem, seed));
  const EmulatedDevice device{kHopperSharedBytes, 2, 8};
  const std::vector<double> saved = block_forward<double>(problem, device).final_state;
  const auto from_saved = block_backward<double>(DiffMethod::kAdjoint, problem, device, &saved);
  const auto rerun = block_backward<double>(DiffMethod::kAdjoint, problem, device);
  EXPECT_TRUE(BitwiseEqual(from_saved.inputs, rerun.inputs));
  EXPECT_TRUE(BitwiseEqual(from_saved.weight_partials, rerun.weight_partials));
  EXPECT_TRUE(BitwiseEqual(from_saved.state, rerun.state));
  const Gradients<double> expected = cpu_gradients(problem, DiffMethod::kAdjoint);
  std::vector<double> shifted = expected.inputs;
  for (double& x : shifted) x += 0.5;
  for (DiffMethod method : {DiffMethod::kAdjoint, DiffMethod::kParameterShift}) {
    const auto result = block_backward<double>(method, problem, device, nullptr, 0.5);
    EXPECT_TRUE(AllClose(result.inputs, shifted, kDoubleTolerance, kDoubleTolerance));
  }
}

// A launch planned for another program runs nothing (and leaves no barrier waiting).
TEST(EmulatedBlockStatevector, LayoutOfAnotherProgramWritesNothing) {
  const auto [seed, problem] = random_block_problem(8, 1, 4);
  const auto [other_seed, other] = random_block_problem(9, 1, 4);
  const DeviceTensors<double> tensors(problem);
  const cuda::DeviceProgram program = device_program_of(problem);
  const cuda::DeviceReadout readout = readout_of(problem);
  const cuda::BlockLayout layout = layout_for<double>(other, 1, EmulatedDevice{});
  std::vector<double> out(static_cast<size_t>(problem.batch_size * problem.width()), kSentinel);
  cuda::StatevectorForwardArgs<double> args{};
  args.batch = tensors.batch;
  args.out = out.data();
  emulation::launch_blocks(
      static_cast<uint32_t>(layout.grid_dim), static_cast<uint32_t>(layout.block_dim),
      static_cast<size_t>(layout.shared_bytes), [&](const cuda::BlockGroup& group) {
        cuda::statevector_forward_block<double>(group, layout, nullptr, program, readout, args);
      });
  EXPECT_TRUE(BitwiseEqual(out, std::vector<double>(out.size(), kSentinel)));
}

// ---- the layout ---------------------------------------------------------------------------

TEST(BlockLayout, ThreadsPerBlockFollowTheQuads) {
  EXPECT_EQ(cuda::block_threads_for(7), 32);
  EXPECT_EQ(cuda::block_threads_for(8), 64);
  EXPECT_EQ(cuda::block_threads_for(9), 128);
  EXPECT_EQ(cuda::block_threads_for(10), 256);
  EXPECT_EQ(cuda::block_threads_for(24), 256);
}

TEST(BlockLayout, StatesInSharedMemoryWhileTheyFit) {
  const cuda::BlockDeviceLimits hopper{kHopperSharedBytes, 264};
  const cuda::BlockDeviceLimits ampere{kAmpereSharedBytes, 216};
  // n = 13 in double: one state is 128 KB, two are more than any device's 227 KB.
  const cuda::BlockLayout forward = cuda::make_block_layout(13, 8, 1, 1000, hopper);
  EXPECT_EQ(forward.shared_states, 1);
  EXPECT_EQ(forward.shared_bytes, 256 * 8 + 128 * 1024);
  EXPECT_EQ(forward.slot_bytes, 0);
  EXPECT_EQ(forward.grid_dim, 1000);  // no workspace: a block per sample
  const cuda::BlockLayout backward = cuda::make_block_layout(13, 8, 2, 1000, ampere);
  EXPECT_EQ(backward.shared_states, 1);
  EXPECT_EQ(backward.slot_bytes, 128 * 1024);
  EXPECT_EQ(backward.grid_dim, 216);  // workspace slots for the blocks that fit at once
  EXPECT_EQ(cuda::block_workspace_bytes(backward), 216 * 128 * 1024);
  EXPECT_EQ(cuda::make_block_layout(13, 4, 2, 1000, hopper).shared_states, 2);
  // n >= 14: every state in the global workspace; the scratch, the gradient partials
  // and the fused tiles in shared memory (float backward: tiles of 11 qubits fit the
  // 64 KB budget beside 16 x 256 partials).
  const cuda::BlockLayout global = cuda::make_block_layout(14, 4, 2, 7, hopper);
  EXPECT_EQ(global.shared_states, 0);
  EXPECT_EQ(global.tile_qubits, 11);
  EXPECT_EQ(global.partial_bytes, cuda::kMaxSegmentGradients * 256 * 4);
  EXPECT_EQ(global.shared_bytes,
            256 * 4 + cuda::kMaxSegmentGradients * 256 * 4 + 2 * (int64_t{1} << 11) * 8);
  EXPECT_LE(global.shared_bytes - global.scratch_bytes, cuda::kFusedSharedBudgetBytes);
  // No room for a tile of two qubits: gate by gate over the workspace.
  EXPECT_EQ(cuda::make_block_layout(14, 4, 2, 7, {256 * 4, 264}).tile_qubits, 0);
  EXPECT_EQ(global.slot_bytes, 2 * (int64_t{1} << 14) * 8);
  EXPECT_EQ(global.grid_dim, 7);
}

TEST(BlockLayout, RefusesWhatItCannotRun) {
  const cuda::BlockDeviceLimits hopper{kHopperSharedBytes, 264};
  EXPECT_THROW(cuda::make_block_layout(6, 4, 1, 1, hopper), std::invalid_argument);
  EXPECT_THROW(cuda::make_block_layout(core::kMaxStatevectorQubits + 1, 4, 1, 1, hopper),
               std::invalid_argument);
  EXPECT_THROW(cuda::make_block_layout(8, 4, 1, 1, hopper, 6), std::invalid_argument);
  EXPECT_THROW(cuda::make_block_layout(8, 4, 1, 1, {0, 2}, 8, 1), std::invalid_argument);
  EXPECT_THROW(cuda::make_block_layout(8, 4, 1, 1, {0, 2}, 8, 9), std::invalid_argument);
}

TEST(BlockLayout, WorkspaceFitsTheFreeMemoryOrNamesTheLimit) {
  cuda::BlockLayout layout = cuda::make_block_layout(20, 8, 2, 5000, {kHopperSharedBytes, 1056});
  const int64_t slot = 2 * (int64_t{1} << 20) * 16;  // 32 MiB: psi and lambda in double
  ASSERT_EQ(layout.slot_bytes, slot);
  cuda::fit_block_workspace(layout, 10 * slot + slot / 2);
  EXPECT_EQ(layout.grid_dim, 10);  // fewer blocks, each still a whole slot
  cuda::fit_block_workspace(layout, 100 * slot);
  EXPECT_EQ(layout.grid_dim, 10);  // never more blocks than planned
  try {
    cuda::fit_block_workspace(layout, slot - 1);
    ADD_FAILURE() << "nothing thrown";
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("n_qubits=20"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(slot) + " bytes"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(slot - 1) + " bytes free"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace qmoe::test_support
