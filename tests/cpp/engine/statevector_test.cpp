// Forward pass of the statevector engine: entangled states, basis order,
// closed forms, readouts, initial states, chunking, and random circuits
// against the dense reference simulator of test_support.h.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "qmoe/core/cpu/statevector/statevector_engine.h"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

// Both precisions of one kernel set against the dense reference simulator.
void ExpectForwardMatchesReference(const Problem& problem, const IsaKernels& kernels) {
  const std::vector<double> expected = reference_forward(problem);
  EXPECT_TRUE(AllClose(Harness<double>(problem, kernels).forward(), expected, 1e-13));
  EXPECT_TRUE(AllClose(Harness<float>(problem, kernels).forward(), expected, 2e-5));
}

const std::vector<double> kAngles = {-4.0, -kPi / 2, -0.3, 0.0, 0.25, 1.0, kPi / 2, 2.5, kPi};

FlatProgram ghz(int n) {
  FlatProgram program(n);
  program.gate(Opcode::kH, 0);
  for (int wire = 0; wire + 1 < n; ++wire) program.gate(Opcode::kCnot, wire, wire + 1);
  return program;
}

TEST(Statevector, BellStateProbabilities) {
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    const auto probs = run_once(ghz(2), true, {}, *kernels);
    EXPECT_TRUE(AllClose(probs, std::vector<double>{0.5, 0, 0, 0.5}, 1e-15));
  }
}

TEST(Statevector, GhzStates) {
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (int n = 2; n <= 8; ++n) {
      SCOPED_TRACE(describe(*kernels) + ", n=" + std::to_string(n));
      const int64_t last = (int64_t{1} << n) - 1;
      std::vector<double> expected(static_cast<size_t>(last + 1), 0.0);
      expected[0] = expected[last] = 0.5;
      EXPECT_TRUE(AllClose(run_once(ghz(n), true, {}, *kernels), expected, 1e-15));
      // Z0 Z1 = 1, Z0 = 0, identity = 1, Z on wires 0 and n-1 = 1, Z on every wire.
      const std::vector<int64_t> masks = {
          0b11, 0b1, 0, 1 | (int64_t{1} << (n - 1)), last, int64_t{1} << (n - 1)};
      const std::vector<double> values = {1, 0, 1, 1, n % 2 == 0 ? 1.0 : 0.0, 0};
      EXPECT_TRUE(AllClose(run_once(ghz(n), false, masks, *kernels), values, 1e-15));
    }
  }
}

TEST(Statevector, WireZeroIsTheMostSignificantBit) {
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    for (int wire = 0; wire < 3; ++wire) {
      FlatProgram program(3);
      program.gate(Opcode::kX, wire);
      std::vector<double> expected(8, 0.0);
      expected[size_t{1} << (2 - wire)] = 1;  // wire 0 -> index 4, wire 2 -> index 1
      EXPECT_TRUE(AllClose(run_once(program, true, {}, *kernels), expected, 0)) << "X on " << wire;
      // Bit w of a mask is wire w: only the flipped wire reads -1.
      std::vector<double> z(3, 1.0);
      z[wire] = -1;
      EXPECT_TRUE(AllClose(run_once(program, false, {0b001, 0b010, 0b100}, *kernels), z, 0));
    }
    // |01> (wire 0 in |0>, wire 1 in |1>) is index 1 of two qubits.
    FlatProgram two(2);
    two.gate(Opcode::kX, 1);
    EXPECT_TRUE(AllClose(run_once(two, true, {}, *kernels), std::vector<double>{0, 1, 0, 0}, 0));
  }
}

// <Z> of one qubit after `gates`, with angle t as an input, for every angle in a batch.
std::vector<double> expval_z(const FlatProgram& program, const IsaKernels& kernels) {
  Problem problem = problem_of(program, static_cast<int64_t>(kAngles.size()), false, {1});
  problem.inputs = kAngles;
  return Harness<double>(problem, kernels).forward();
}

template <class F>
std::vector<double> of_angles(F f) {
  std::vector<double> values;
  for (double t : kAngles) values.push_back(f(t));
  return values;
}

TEST(Statevector, OneQubitClosedForms) {
  auto cos = [](double t) { return std::cos(t); };
  auto minus_sin = [](double t) { return -std::sin(t); };
  struct Case {
    const char* name;
    FlatProgram program;
    std::vector<double> expected;
  };
  auto make = [](std::vector<int> before, Opcode rotation, std::vector<int> after) {
    FlatProgram program(1);
    for (int g : before) program.gate(static_cast<Opcode>(g), 0);
    program.rot(rotation, 0, ParamSource::kInput, 0);
    for (int g : after) program.gate(static_cast<Opcode>(g), 0);
    return program;
  };
  const std::vector<Case> cases = {
      {"RX", make({}, Opcode::kRx, {}), of_angles(cos)},
      {"RY", make({}, Opcode::kRy, {}), of_angles(cos)},
      {"RZ", make({}, Opcode::kRz, {}), std::vector<double>(kAngles.size(), 1.0)},
      {"H RZ H", make({0}, Opcode::kRz, {0}), of_angles(cos)},
      {"H RY", make({0}, Opcode::kRy, {}), of_angles(minus_sin)},
      {"H RX", make({0}, Opcode::kRx, {}), std::vector<double>(kAngles.size(), 0.0)},
      // S then RX: |+i> rotates to <Z> = sin t (S^dagger would give -sin t).
      {"H S RX", make({0, 4}, Opcode::kRx, {}), of_angles([](double t) { return std::sin(t); })},
      // T T = S.
      {"H T T RX", make({0, 5, 5}, Opcode::kRx, {}),
       of_angles([](double t) { return std::sin(t); })},
      // Y S^2 = Y Z: phase only; X flips.
      {"X RY", make({1}, Opcode::kRy, {}), of_angles([](double t) { return -std::cos(t); })},
      {"Y RX", make({2}, Opcode::kRx, {}), of_angles([](double t) { return -std::cos(t); })},
      {"RX Z", make({}, Opcode::kRx, {3}), of_angles(cos)},
      // H T RZ(t) H: <Z> = cos(t + pi/4).
      {"H T RZ H", make({0, 5}, Opcode::kRz, {0}),
       of_angles([](double t) { return std::cos(t + kPi / 4); })},
  };
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (const Case& c : cases) {
      EXPECT_TRUE(AllClose(expval_z(c.program, *kernels), c.expected, 1e-14))
          << c.name << ", " << describe(*kernels);
    }
  }
}

TEST(Statevector, IsingClosedForms) {
  // From |00>: IsingXX/YY(t) give cos(t/2)|00> -+ i sin(t/2)|11>: <Z0> = cos t, <Z0 Z1> = 1.
  // IsingZZ(t) between H layers: <Z0> = cos t.
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (Opcode opcode : {Opcode::kIsingXX, Opcode::kIsingYY, Opcode::kIsingZZ}) {
      SCOPED_TRACE(std::string(core::opcode_name(opcode)) + ", " + describe(*kernels));
      FlatProgram program(2);
      const bool zz = opcode == Opcode::kIsingZZ;
      if (zz) program.gate(Opcode::kH, 0).gate(Opcode::kH, 1);
      program.add(opcode, 1, 0, ParamSource::kInput, 0);
      if (zz) program.gate(Opcode::kH, 0).gate(Opcode::kH, 1);
      Problem problem =
          problem_of(program, static_cast<int64_t>(kAngles.size()), false, {0b01, 0b10, 0b11});
      problem.inputs = kAngles;
      const auto out = Harness<double>(problem, *kernels).forward();
      std::vector<double> expected;
      for (double t : kAngles) expected.insert(expected.end(), {std::cos(t), std::cos(t), 1.0});
      EXPECT_TRUE(AllClose(out, expected, 1e-14));
    }
  }
}

TEST(Statevector, LargeAndNonFiniteAngles) {
  // Per-sample angles beyond the range of the vectorised sin/cos fall back to std::sin/cos
  // for their block of lanes; a NaN angle spoils its own sample only.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> angles = {0.5,   3.0e5, -2.5e5, 1.9e5, nan, -1.0,
                                      2.1e4, 7.0,   -3.0e4, 0.25,  1e6, -0.5};
  FlatProgram program(1);
  program.rot(Opcode::kRx, 0, ParamSource::kInput, 0);
  Problem problem = problem_of(program, static_cast<int64_t>(angles.size()), false, {1});
  problem.inputs = angles;
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    const auto out = Harness<double>(problem, *kernels).forward();
    const auto out_float = Harness<float>(problem, *kernels).forward();
    for (size_t b = 0; b < angles.size(); ++b) {
      if (std::isnan(angles[b])) {
        EXPECT_TRUE(std::isnan(out[b])) << b;
        EXPECT_TRUE(std::isnan(out_float[b])) << b;
        continue;
      }
      EXPECT_NEAR(out[b], std::cos(angles[b]), 1e-13) << "angle " << angles[b];
      // Float rounds the angle itself: compare with the cosine of the float angle.
      const float angle = static_cast<float>(angles[b]);
      EXPECT_NEAR(out_float[b], std::cos(static_cast<double>(angle)), 2e-6)
          << "angle " << angles[b];
    }
  }
}

TEST(Statevector, ParameterSourcesAgree) {
  // The same angle from an input column, a weight or a constant, on one- and two-qubit gates.
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (Opcode opcode : {Opcode::kRx, Opcode::kRy, Opcode::kRz, Opcode::kIsingXX, Opcode::kIsingYY,
                          Opcode::kIsingZZ}) {
      SCOPED_TRACE(std::string(core::opcode_name(opcode)) + ", " + describe(*kernels));
      const bool two = opcode >= Opcode::kIsingXX;
      std::vector<std::vector<double>> results;
      for (ParamSource source :
           {ParamSource::kInput, ParamSource::kWeight, ParamSource::kConstant}) {
        FlatProgram program(2);
        program.gate(Opcode::kH, 0).rot(Opcode::kRy, 1, ParamSource::kConstant, 1);
        program.add(opcode, 0, two ? 1 : -1, source, 0);
        program.gate(Opcode::kH, 0).gate(Opcode::kS, 1).gate(Opcode::kH, 1);
        Problem problem = problem_of(program, 1, true);
        problem.constants.resize(2);
        problem.constants[1] = 0.9;
        const double angle = 1.234;
        if (source == ParamSource::kInput) problem.inputs = {angle};
        if (source == ParamSource::kWeight) problem.weights = {angle};
        if (source == ParamSource::kConstant) problem.constants[0] = angle;
        results.push_back(Harness<double>(problem, *kernels).forward());
        EXPECT_TRUE(AllClose(results.back(), reference_forward(problem), 1e-14));
      }
      EXPECT_TRUE(AllClose(results[1], results[0], 1e-14));
      EXPECT_TRUE(AllClose(results[2], results[0], 1e-14));
    }
  }
}

TEST(Statevector, InitialStatesAreUsedAsGiven) {
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    FlatProgram program(2);
    program.gate(Opcode::kCnot, 0, 1);
    // Real state (a, b, c, d) -> CNOT -> (a, b, d, c); not normalised: probs are as given.
    Problem real = problem_of(program, 2, true);
    real.state_kind = StateKind::kReal;
    real.initial_state = {1, 2, 3, 4, 0, 0, 0.5, 0};
    EXPECT_TRUE(AllClose(Harness<double>(real, *kernels).forward(),
                         std::vector<double>{1, 4, 16, 9, 0, 0, 0, 0.25}, 1e-15));
    // Complex state: |i 0 0 1>/sqrt2 -> H on wire 1 -> probs, and the identity mask is the norm.
    FlatProgram h(2);
    h.gate(Opcode::kH, 1);
    Problem complex = problem_of(h, 1, false, {0, 0b10, 0b01});
    complex.state_kind = StateKind::kComplex;
    const double r = 1 / std::sqrt(2.0);
    complex.initial_state = {0, r, 0, 0, 0, 0, r, 0};
    // After H on wire 1: (i|00> + i|01> + |10> - |11>)/2: <Z1> = 0, <Z0> = 0.
    EXPECT_TRUE(AllClose(Harness<double>(complex, *kernels).forward(), std::vector<double>{1, 0, 0},
                         1e-15));
    // Scaling the state by 3 scales every readout by 9.
    for (double& a : complex.initial_state) a *= 3;
    EXPECT_TRUE(AllClose(Harness<double>(complex, *kernels).forward(), std::vector<double>{9, 0, 0},
                         1e-14));
  }
}

TEST(Statevector, RandomCircuitsMatchReference) {
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (int n = 1; n <= 6; ++n) {
      for (StateKind state : {StateKind::kNone, StateKind::kReal, StateKind::kComplex}) {
        for (bool probs : {false, true}) {
          RandomOptions options;
          options.n_qubits = n;
          options.batch_size = 11;  // more than one block of lanes, and a partial block
          options.state_kind = state;
          options.probs = probs;
          const uint64_t seed = 1000 + 10 * n + static_cast<uint64_t>(state) * 2 + probs;
          const Problem problem = random_problem(seed, options);
          SCOPED_TRACE(describe(*kernels) + ", seed " + std::to_string(seed));
          ExpectForwardMatchesReference(problem, *kernels);
        }
      }
    }
  }
}

TEST(Statevector, RouterLayoutsMatchReference) {
  // An encoding layer of input angles on |0..0>, then only shared angles: the layout
  // of a router, for which the engine may use a cheaper path than the full state.
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (int n = 1; n <= 7; ++n) {
      for (bool probs : {false, true}) {
        RandomOptions options;
        options.n_qubits = n;
        options.batch_size = 19;
        options.encoding_layer = true;
        options.probs = probs;
        const uint64_t seed = 3000 + 2 * n + probs;
        const Problem problem = random_problem(seed, options);
        SCOPED_TRACE(describe(*kernels) + ", seed " + std::to_string(seed));
        ExpectForwardMatchesReference(problem, *kernels);
      }
    }
  }
}

TEST(Statevector, EntanglerRunsMatchReference) {
  // Runs of CNOT, CZ and SWAP become one signed permutation; one-qubit gates ahead
  // of every entangling gate on their wire become the product-state prefix.
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (int n = 2; n <= 8; ++n) {
      for (StateKind state : {StateKind::kNone, StateKind::kComplex}) {
        RandomOptions options;
        options.n_qubits = n;
        options.n_extra_ops = 20;
        options.batch_size = 21;
        options.state_kind = state;
        options.probs = n % 2 == 0;
        options.entangler_runs = true;
        const uint64_t seed = 4000 + 2 * n + static_cast<uint64_t>(state);
        const Problem problem = random_problem(seed, options);
        // up to 3 qubits, dense fusion takes the runs first
        if (n > 3) ASSERT_GT(count_segments(problem, core::SegmentKind::kPermutation), 0);
        SCOPED_TRACE(describe(*kernels) + ", seed " + std::to_string(seed));
        ExpectForwardMatchesReference(problem, *kernels);
      }
    }
  }
}

TEST(Statevector, LargeBlockedStatesMatchReference) {
  // Up to 16 qubits a batch of at least one block runs with samples in lanes.
  for (const IsaKernels* kernels : core::supported_kernels()) {
    RandomOptions options;
    options.n_qubits = 12;
    options.n_extra_ops = 10;
    options.batch_size = 17;
    options.state_kind = StateKind::kComplex;
    options.entangler_runs = true;
    const Problem problem = random_problem(91, options);
    SCOPED_TRACE(describe(*kernels));
    ExpectForwardMatchesReference(problem, *kernels);
  }
}

TEST(Statevector, LargeStatesMatchReference) {
  // A batch smaller than a block of lanes runs one sample at a time (the "single"
  // kernels), and so do states above 16 qubits; from 14 qubits each pass over the
  // amplitudes is split across threads.
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (int n : {11, 12, 14}) {
      RandomOptions options;
      options.n_qubits = n;
      options.n_extra_ops = 10;
      options.batch_size = 3;
      options.state_kind = n == 11 ? StateKind::kComplex : StateKind::kNone;
      const Problem problem = random_problem(77 + n, options);
      SCOPED_TRACE(describe(*kernels) + ", n=" + std::to_string(n));
      ExpectForwardMatchesReference(problem, *kernels);
    }
  }
}

TEST(Statevector, ChunksCoverTheBatch) {
  // A batch of many chunks with a partial last chunk; forward over any range of chunks
  // writes exactly those chunks' rows.
  RandomOptions options;
  options.n_qubits = 10;
  options.batch_size = 101;
  const Problem problem = random_problem(5, options);
  const auto expected = reference_forward(problem);
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    Harness<double> harness(problem, *kernels);
    const auto& sim = harness.simulator();
    ASSERT_GT(harness.n_chunks(), 2);
    ASSERT_NE(problem.batch_size % sim.chunk_size(), 0);
    EXPECT_EQ(sim.output_width(), problem.width());
    EXPECT_TRUE(AllClose(harness.forward(), expected, 1e-13));
    const int64_t width = problem.width();
    std::vector<double> out(expected.size(), -7.0);
    sim.forward(harness.view(), 1, 2, out.data());
    for (int64_t row = 0; row < problem.batch_size; ++row) {
      const bool inside = row >= sim.chunk_size() && row < 2 * sim.chunk_size();
      for (int64_t j = 0; j < width; ++j) {
        const double value = out[static_cast<size_t>(row * width + j)];
        if (inside) {
          EXPECT_NEAR(value, expected[static_cast<size_t>(row * width + j)], 1e-13) << row;
        } else {
          EXPECT_EQ(value, -7.0) << "row " << row << " outside chunk 1 was written";
        }
      }
    }
  }
}

TEST(Statevector, ChunkSizeDependsOnlyOnTheCircuit) {
  // Chunk boundaries fix the summation order of weight gradients: they must not
  // depend on the batch. The lanes are the kernels', so compare per instruction set.
  for (const IsaKernels* kernels : core::supported_kernels()) {
    for (int n : {1, 4, 10, 11}) {
      FlatProgram program(n);
      program.gate(Opcode::kH, 0);
      const core::Program parsed = program.parse();
      StatevectorSimulator<double> sim(parsed, nullptr, 0, nullptr, nullptr, 0, true, *kernels);
      EXPECT_GE(sim.chunk_size(), 1);
      EXPECT_EQ(sim.chunk_size() % sim.lanes(), 0);
      EXPECT_EQ(sim.n_chunks(0), 0);
      EXPECT_EQ(sim.n_chunks(1), 1);
      EXPECT_EQ(sim.n_chunks(sim.chunk_size()), 1);
      EXPECT_EQ(sim.n_chunks(sim.chunk_size() + 1), 2);
    }
  }
}

}  // namespace
}  // namespace qmoe::test_support
