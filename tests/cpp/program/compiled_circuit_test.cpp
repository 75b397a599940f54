// lower_program and CompiledCircuit (compiled_circuit.h), read segment by segment
// with the independent dense matrices of circuit_reference.h. Pinned: a run of
// one-qubit gates on a wire becomes one 2x2 unitary, the product of the gates'
// own matrices (written out in test_support.h); entanglers and per-sample angles
// cut runs; shared angles are evaluated into cos/sin once; AngleShift moves the
// angle of exactly one operation, even when others read the same weight; each
// trainable angle of a fused run gets a Hermitian generator, V P V^dagger with V
// the rest of the run, which is what the adjoint sweep relies on (checked against
// the gate matrices and against finite differences of the lowering itself); and
// rounding a lowering to float stays within float's half-ulp.
#include "qmoe/core/program/compiled_circuit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "circuit_reference.h"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

using core::ExactCircuit;
using core::PauliString;
using core::Segment;
using core::SegmentKind;

constexpr int kOneQubitOpcodes[] = {0, 1, 2, 3, 4, 5, 9, 10, 11};

// A random run of `length` one-qubit gates on `wire`, rotations reading weights
// (indices below n_weights) or constants (below 2).
void add_random_run(FlatProgram& program, Rng& rng, int wire, int length, int64_t n_weights) {
  for (int i = 0; i < length; ++i) {
    const int opcode = kOneQubitOpcodes[rng.below(9)];
    if (opcode < 9) {
      program.gate(static_cast<Opcode>(opcode), wire);
    } else if (rng.below(3) != 0) {
      program.rot(static_cast<Opcode>(opcode), wire, ParamSource::kWeight, rng.below(n_weights));
    } else {
      program.rot(static_cast<Opcode>(opcode), wire, ParamSource::kConstant, rng.below(2));
    }
  }
}

// A problem for a hand-written program with random weights and constants.
Problem random_tensors(const FlatProgram& program, Rng& rng, int64_t batch = 1) {
  Problem problem = problem_of(program, batch, true);
  for (double& w : problem.weights) w = rng.uniform(-kPi, kPi);
  for (double& c : problem.constants) c = rng.uniform(-kPi, kPi);
  for (double& x : problem.inputs) x = rng.uniform(-kPi, kPi);
  return problem;
}

// The matrix of operation i of a one-qubit program, straight from test_support.h.
Matrix gate_matrix(const Problem& problem, int64_t op) {
  const int opcode = static_cast<int>(problem.program.words()[op * core::kOperationWidth]);
  return one_qubit_matrix(opcode, operation_angle(problem, op, 0));
}

Matrix product_of_gates(const Problem& problem, int64_t begin, int64_t end) {
  Matrix u = identity_of(2);
  for (int64_t op = begin; op < end; ++op) u = matmul(gate_matrix(problem, op), u, 2);
  return u;
}

bool is_weight_rotation(const Problem& problem, int64_t op) {
  const int64_t* word = problem.program.words().data() + op * core::kOperationWidth;
  return word[0] >= 9 && static_cast<ParamSource>(word[3]) == ParamSource::kWeight;
}

TEST(LowerProgram, FusedRunIsTheProductOfItsGates) {
  Rng rng(101);
  for (int trial = 0; trial < 60; ++trial) {
    const int n = 1 + static_cast<int>(rng.below(4));
    const int wire = static_cast<int>(rng.below(n));
    const int length = 1 + static_cast<int>(rng.below(9));
    FlatProgram program(n);
    add_random_run(program, rng, wire, length, 3);
    const Problem problem = random_tensors(program, rng);
    SCOPED_TRACE("trial " + std::to_string(trial));

    const ExactCircuit circuit = lower(problem);
    ASSERT_EQ(circuit.segments.size(), 1u);
    const Segment<double>& segment = circuit.segments[0];
    EXPECT_EQ(segment.kind, SegmentKind::kSharedSingleQubit);
    EXPECT_EQ(segment.bit0, n - 1 - wire);
    EXPECT_EQ(segment.bit1, -1);
    EXPECT_TRUE(
        ComplexNear(entries_of(segment.unitary), product_of_gates(problem, 0, length), 1e-14));
    int weight_rotations = 0;
    for (int64_t op = 0; op < length; ++op) weight_rotations += is_weight_rotation(problem, op);
    EXPECT_EQ(segment.first_term, 0);
    EXPECT_EQ(segment.n_terms, weight_rotations);
    EXPECT_EQ(static_cast<int>(circuit.terms.size()), weight_rotations);
    EXPECT_EQ(circuit.n_rotation_slots, 0);
  }
}

TEST(LowerProgram, EntanglersAndPerSampleAnglesCutRuns) {
  FlatProgram program(2);
  program
      .gate(Opcode::kH, 0)                                     // 0 \ one run on wire 0
      .rot(Opcode::kRx, 0, ParamSource::kWeight, 0)            // 1 /
      .gate(Opcode::kZ, 1)                                     // 2   a run on wire 1
      .gate(Opcode::kCnot, 0, 1)                               // 3
      .gate(Opcode::kT, 0)                                     // 4   cut by the input angle
      .rot(Opcode::kRy, 0, ParamSource::kInput, 0)             // 5
      .gate(Opcode::kS, 0)                                     // 6   cut by the Ising gate
      .add(Opcode::kIsingZZ, 0, 1, ParamSource::kConstant, 0)  // 7
      .gate(Opcode::kX, 1);                                    // 8   flushed at the end
  Rng rng(7);
  const Problem problem = random_tensors(program, rng);
  const ExactCircuit circuit = lower(problem);

  struct Expected {
    SegmentKind kind;
    int bit0, bit1;
  };
  const std::vector<Expected> expected = {{SegmentKind::kSharedSingleQubit, 1, -1},
                                          {SegmentKind::kSharedSingleQubit, 0, -1},
                                          {SegmentKind::kCnot, 1, 0},
                                          {SegmentKind::kSharedSingleQubit, 1, -1},
                                          {SegmentKind::kPauliRotation, 1, -1},
                                          {SegmentKind::kSharedSingleQubit, 1, -1},
                                          {SegmentKind::kPauliRotation, 1, 0},
                                          {SegmentKind::kSharedSingleQubit, 0, -1}};
  ASSERT_EQ(circuit.segments.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("segment " + std::to_string(i));
    EXPECT_EQ(circuit.segments[i].kind, expected[i].kind);
    EXPECT_EQ(circuit.segments[i].bit0, expected[i].bit0);
    EXPECT_EQ(circuit.segments[i].bit1, expected[i].bit1);
  }
  const auto& s = circuit.segments;
  EXPECT_TRUE(ComplexNear(entries_of(s[0].unitary), product_of_gates(problem, 0, 2), 1e-15));
  EXPECT_TRUE(ComplexNear(entries_of(s[1].unitary), gate_matrix(problem, 2), 1e-15));
  EXPECT_TRUE(ComplexNear(entries_of(s[3].unitary), gate_matrix(problem, 4), 1e-15));
  EXPECT_TRUE(ComplexNear(entries_of(s[5].unitary), gate_matrix(problem, 6), 1e-15));
  EXPECT_TRUE(ComplexNear(entries_of(s[7].unitary), gate_matrix(problem, 8), 1e-15));
  EXPECT_EQ(s[0].n_terms, 1);
  EXPECT_EQ(s[1].n_terms + s[3].n_terms + s[5].n_terms + s[7].n_terms, 0);
  // The per-sample RY keeps its column; each rotation has its own slot.
  EXPECT_EQ(s[4].pauli, PauliString::kY);
  EXPECT_EQ(s[4].source, ParamSource::kInput);
  EXPECT_EQ(s[4].param_index, 0);
  EXPECT_EQ(s[4].angle_offset, 0.0);
  EXPECT_EQ(s[6].pauli, PauliString::kZZ);
  EXPECT_EQ(circuit.n_rotation_slots, 2);
  EXPECT_NE(s[4].rotation_slot, s[6].rotation_slot);
  for (const auto& segment : s) {
    if (segment.kind == SegmentKind::kPauliRotation) {
      EXPECT_GE(segment.rotation_slot, 0);
      EXPECT_LT(segment.rotation_slot, 2);
    }
  }
}

TEST(LowerProgram, SharedAnglesAreEvaluated) {
  FlatProgram program(3);
  program.add(Opcode::kIsingXX, 0, 2, ParamSource::kWeight, 1)
      .add(Opcode::kIsingYY, 2, 1, ParamSource::kConstant, 0)
      .add(Opcode::kIsingZZ, 1, 0, ParamSource::kWeight, 0)
      .add(Opcode::kIsingXX, 1, 2, ParamSource::kInput, 1);
  Rng rng(8);
  const Problem problem = random_tensors(program, rng);
  const ExactCircuit circuit = lower(problem);
  ASSERT_EQ(circuit.segments.size(), 4u);
  const PauliString paulis[] = {PauliString::kXX, PauliString::kYY, PauliString::kZZ,
                                PauliString::kXX};
  const int bits[][2] = {{2, 0}, {0, 1}, {1, 2}, {1, 0}};
  for (int64_t op = 0; op < 4; ++op) {
    SCOPED_TRACE("operation " + std::to_string(op));
    const Segment<double>& segment = circuit.segments[static_cast<size_t>(op)];
    EXPECT_EQ(segment.kind, SegmentKind::kPauliRotation);
    EXPECT_EQ(segment.pauli, paulis[op]);
    EXPECT_EQ(segment.bit0, bits[op][0]);
    EXPECT_EQ(segment.bit1, bits[op][1]);
    EXPECT_EQ(segment.rotation_slot, op);
    const int64_t* word = program.words().data() + op * core::kOperationWidth;
    EXPECT_EQ(segment.source, static_cast<ParamSource>(word[3]));
    EXPECT_EQ(segment.param_index, word[4]);
    if (segment.source == ParamSource::kInput) continue;  // evaluated per sample
    const double angle = operation_angle(problem, op, 0);
    EXPECT_NEAR(segment.shared_cos_half, std::cos(angle / 2), 1e-16);
    EXPECT_NEAR(segment.shared_sin_half, std::sin(angle / 2), 1e-16);
  }
}

// The foundation of every other test here: the segments of a lowering, applied in
// order, give the state of the reference simulator.
TEST(LowerProgram, SegmentsGiveTheProgramsState) {
  for (int n = 1; n <= 4; ++n) {
    for (uint64_t seed = 0; seed < 12; ++seed) {
      RandomOptions options;
      options.n_qubits = n;
      options.n_extra_ops = 16;
      options.batch_size = 3;
      options.state_kind = seed % 2 == 0 ? StateKind::kComplex : StateKind::kNone;
      const Problem problem = random_problem(1000 * n + seed, options);
      SCOPED_TRACE("n=" + std::to_string(n) + ", seed " + std::to_string(seed));
      const ExactCircuit circuit = lower(problem);
      for (int64_t b = 0; b < problem.batch_size; ++b) {
        const auto expected =
            reference_state(problem.program, input_row(problem, b), problem.weights,
                            problem.constants, initial_state_of(problem, b));
        EXPECT_TRUE(
            ComplexNear(run_segments(circuit, input_row(problem, b), initial_state_of(problem, b)),
                        expected, 1e-12));
      }
    }
  }
}

TEST(AngleShift, MovesExactlyOneOperationsAngle) {
  int shifted_ops = 0, changed_states = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    RandomOptions options;
    options.n_qubits = 3;
    options.n_extra_ops = 14;
    options.batch_size = 2;
    options.n_weights = 2;  // few weights: several operations read the same one
    options.n_constants = 1;
    options.state_kind = StateKind::kComplex;
    const Problem problem = random_problem(2000 + seed, options);
    Rng rng(seed);
    for (int64_t op = 0; op < problem.program.n_ops(); ++op) {
      const int64_t* word = problem.program.words().data() + op * core::kOperationWidth;
      if (word[0] < 9) continue;  // no angle
      SCOPED_TRACE("seed " + std::to_string(seed) + ", operation " + std::to_string(op));
      const double offset = rng.uniform(0.5, 2.5);
      const ExactCircuit shifted = lower(problem, {op, offset});
      const ExactCircuit unshifted = lower(problem);
      ++shifted_ops;
      for (int64_t b = 0; b < problem.batch_size; ++b) {
        const auto expected =
            reference_state_with_angle(problem, b, op, operation_angle(problem, op, b) + offset);
        const auto actual =
            run_segments(shifted, input_row(problem, b), initial_state_of(problem, b));
        EXPECT_TRUE(ComplexNear(actual, expected, 1e-12));
        const auto before =
            run_segments(unshifted, input_row(problem, b), initial_state_of(problem, b));
        changed_states += !ComplexNear(actual, before, 1e-6);
      }
      // A per-sample angle carries the shift as its offset, on its segment only.
      int offsets = 0;
      for (const auto& segment : shifted.segments) {
        if (segment.kind != SegmentKind::kPauliRotation || segment.source != ParamSource::kInput) {
          continue;
        }
        if (segment.angle_offset != 0.0) {
          ++offsets;
          EXPECT_EQ(segment.angle_offset, offset);
        }
      }
      EXPECT_EQ(offsets, static_cast<ParamSource>(word[3]) == ParamSource::kInput ? 1 : 0);
    }
  }
  EXPECT_GT(shifted_ops, 50);
  EXPECT_GT(changed_states, shifted_ops);  // the shift is not a no-op
}

TEST(AngleShift, NoOperationIsTheUnshiftedLowering) {
  RandomOptions options;
  options.n_qubits = 2;
  const Problem problem = random_problem(77, options);
  const ExactCircuit plain = lower(problem);
  for (const core::AngleShift shift : {core::AngleShift{}, core::AngleShift{-1, 1.0},
                                       core::AngleShift{problem.program.n_ops(), 1.0}}) {
    const ExactCircuit shifted = lower(problem, shift);
    for (int64_t b = 0; b < problem.batch_size; ++b) {
      EXPECT_TRUE(ComplexNear(run_segments(shifted, input_row(problem, b), basis_state(4, 0)),
                              run_segments(plain, input_row(problem, b), basis_state(4, 0)), 0));
    }
  }
}

// The generators of a fused run: (weight, V P V^dagger) per weight rotation, V the
// product of the gates after it, by the gate matrices of test_support.h.
std::vector<Term> expected_terms(const Problem& problem) {
  std::vector<Term> terms;
  const int64_t n_ops = problem.program.n_ops();
  for (int64_t op = 0; op < n_ops; ++op) {
    if (!is_weight_rotation(problem, op)) continue;
    const int64_t* word = problem.program.words().data() + op * core::kOperationWidth;
    const Matrix pauli = one_qubit_matrix(static_cast<int>(word[0]) - 8, 0.0);  // RX -> X, ...
    const Matrix after = product_of_gates(problem, op + 1, n_ops);
    terms.emplace_back(word[4], matmul(matmul(after, pauli, 2), dagger(after, 2), 2));
  }
  return terms;
}

TEST(GradientTerms, AreTheTransportedGenerators) {
  Rng rng(303);
  int checked = 0;
  for (int trial = 0; trial < 60; ++trial) {
    FlatProgram program(1);
    add_random_run(program, rng, 0, 2 + static_cast<int>(rng.below(8)), 2);
    Problem problem = random_tensors(program, rng);
    SCOPED_TRACE("trial " + std::to_string(trial));
    const ExactCircuit circuit = lower(problem);
    ASSERT_EQ(circuit.segments.size(), 1u);
    const Segment<double>& segment = circuit.segments[0];
    std::vector<Term> actual;
    for (int32_t t = 0; t < segment.n_terms; ++t) {
      const auto& term = circuit.terms[static_cast<size_t>(segment.first_term + t)];
      const Matrix g = entries_of(term.generator);
      EXPECT_TRUE(ComplexNear(g, dagger(g, 2), 1e-15)) << "not Hermitian";
      EXPECT_TRUE(ComplexNear(matmul(g, g, 2), identity_of(2), 1e-14)) << "G^2 != I";
      actual.emplace_back(term.weight_index, g);
    }
    EXPECT_TRUE(SameTerms(actual, expected_terms(problem), 1e-14));
    checked += segment.n_terms;

    // Independently of the gate matrices: the generators reading weight w sum to
    // 2i (dU/dw) U^dagger, U the fused unitary (central differences of the lowering).
    const Matrix u = entries_of(segment.unitary);
    for (int64_t w = 0; w < static_cast<int64_t>(problem.weights.size()); ++w) {
      const double h = 1e-5, saved = problem.weights[static_cast<size_t>(w)];
      problem.weights[static_cast<size_t>(w)] = saved + h;
      const Matrix plus = entries_of(lower(problem).segments[0].unitary);
      problem.weights[static_cast<size_t>(w)] = saved - h;
      const Matrix minus = entries_of(lower(problem).segments[0].unitary);
      problem.weights[static_cast<size_t>(w)] = saved;
      Matrix derivative(4);
      for (int k = 0; k < 4; ++k) derivative[k] = (plus[k] - minus[k]) / (2 * h);
      Matrix sum(4, 0.0);
      for (const Term& term : actual) {
        if (term.first != w) continue;
        for (int k = 0; k < 4; ++k) sum[k] += term.second[k];
      }
      EXPECT_TRUE(ComplexNear(sum, generator_from_derivative(derivative, u, 2), 1e-9))
          << "weight " << w;
    }
  }
  EXPECT_GT(checked, 60);
}

TEST(GradientTerms, RunsOnSeveralWiresKeepTheirOwnTerms) {
  // Interleaved runs on two wires: each segment's terms name its own gates only.
  FlatProgram program(2);
  program.rot(Opcode::kRx, 0, ParamSource::kWeight, 0)
      .rot(Opcode::kRy, 1, ParamSource::kWeight, 1)
      .gate(Opcode::kH, 0)
      .rot(Opcode::kRz, 1, ParamSource::kWeight, 2)
      .rot(Opcode::kRy, 0, ParamSource::kWeight, 2);
  Rng rng(9);
  const Problem problem = random_tensors(program, rng);
  const ExactCircuit circuit = lower(problem);
  ASSERT_EQ(circuit.segments.size(), 2u);
  for (const auto& segment : circuit.segments) {
    std::vector<int64_t> weights;
    for (int32_t t = 0; t < segment.n_terms; ++t) {
      weights.push_back(circuit.terms[static_cast<size_t>(segment.first_term + t)].weight_index);
    }
    std::sort(weights.begin(), weights.end());
    const std::vector<int64_t> expected =
        segment.bit0 == 1 ? std::vector<int64_t>{0, 2} : std::vector<int64_t>{1, 2};
    EXPECT_EQ(weights, expected) << "bit " << segment.bit0;
  }
}

// |rounded - exact| <= half an ulp of float at |exact|: round to nearest.
bool within_float_rounding(float rounded, double exact) {
  const double bound = std::abs(exact) * 0x1.0p-24 + std::numeric_limits<float>::denorm_min();
  return std::abs(static_cast<double>(rounded) - exact) <= bound;
}

void ExpectRoundedMatrix(const core::Matrix2<float>& rounded, const core::Matrix2<double>& exact) {
  const core::Complex<float> r[] = {rounded.m00, rounded.m01, rounded.m10, rounded.m11};
  const core::Complex<double> e[] = {exact.m00, exact.m01, exact.m10, exact.m11};
  for (int k = 0; k < 4; ++k) {
    EXPECT_TRUE(within_float_rounding(r[k].re, e[k].re)) << "entry " << k;
    EXPECT_TRUE(within_float_rounding(r[k].im, e[k].im)) << "entry " << k;
  }
}

TEST(Rounding, MatricesAndSegmentsStayWithinFloatPrecision) {
  for (uint64_t seed = 0; seed < 8; ++seed) {
    RandomOptions options;
    options.n_qubits = 3;
    options.n_extra_ops = 20;
    const Problem problem = random_problem(3000 + seed, options);
    const ExactCircuit circuit = lower(problem);
    for (const auto& term : circuit.terms) {
      ExpectRoundedMatrix(core::round_matrix<float>(term.generator), term.generator);
      const auto same = core::round_matrix<double>(term.generator);
      EXPECT_TRUE(ComplexNear(entries_of(same), entries_of(term.generator), 0));
    }
    for (const Segment<double>& exact : circuit.segments) {
      const Segment<float> rounded = core::round_segment<float>(exact);
      EXPECT_EQ(rounded.kind, exact.kind);
      EXPECT_EQ(rounded.bit0, exact.bit0);
      EXPECT_EQ(rounded.bit1, exact.bit1);
      EXPECT_EQ(rounded.first_term, exact.first_term);
      EXPECT_EQ(rounded.n_terms, exact.n_terms);
      EXPECT_EQ(rounded.pauli, exact.pauli);
      EXPECT_EQ(rounded.source, exact.source);
      EXPECT_EQ(rounded.param_index, exact.param_index);
      EXPECT_EQ(rounded.rotation_slot, exact.rotation_slot);
      EXPECT_EQ(rounded.dense_offset, exact.dense_offset);
      EXPECT_EQ(rounded.accumulator_slot, exact.accumulator_slot);
      EXPECT_EQ(rounded.permutation_offset, exact.permutation_offset);
      ExpectRoundedMatrix(rounded.unitary, exact.unitary);
      EXPECT_TRUE(within_float_rounding(rounded.angle_offset, exact.angle_offset));
      EXPECT_TRUE(within_float_rounding(rounded.shared_cos_half, exact.shared_cos_half));
      EXPECT_TRUE(within_float_rounding(rounded.shared_sin_half, exact.shared_sin_half));
      EXPECT_TRUE(within_float_rounding(rounded.channel_probability, exact.channel_probability));
    }
  }
}

TEST(Rounding, FloatCircuitIsTheDoubleCircuitRounded) {
  // Weights exactly representable in float: both precisions lower the same angles.
  for (int n = 2; n <= 4; ++n) {
    RandomOptions options;
    options.n_qubits = n;
    options.n_extra_ops = 20;
    options.entangler_runs = true;
    Problem problem = random_problem(4000 + n, options);
    for (double& w : problem.weights) w = static_cast<float>(w);
    const core::Program program = problem.parse();
    const std::vector<float> float_weights(problem.weights.begin(), problem.weights.end());
    const core::CompiledCircuit<double> exact(program, problem.weights.data(),
                                              problem.constants.data());
    const core::CompiledCircuit<float> rounded(program, float_weights.data(),
                                               problem.constants.data());
    const auto e = exact.view();
    const auto r = rounded.view();
    SCOPED_TRACE("n=" + std::to_string(n));
    ASSERT_EQ(r.n_segments, e.n_segments);
    EXPECT_EQ(r.n_prefix_segments, e.n_prefix_segments);
    EXPECT_EQ(r.n_rotation_slots, e.n_rotation_slots);
    EXPECT_EQ(r.n_accumulator_slots, e.n_accumulator_slots);
    const int64_t dim = dim_of(n);
    for (int32_t i = 0; i < e.n_segments; ++i) {
      const Segment<double>& se = e.segments[i];
      const Segment<float>& sr = r.segments[i];
      EXPECT_EQ(sr.kind, se.kind) << i;
      EXPECT_EQ(sr.bit0, se.bit0) << i;
      EXPECT_EQ(sr.bit1, se.bit1) << i;
      ExpectRoundedMatrix(sr.unitary, se.unitary);
      EXPECT_TRUE(within_float_rounding(sr.shared_cos_half, se.shared_cos_half)) << i;
      EXPECT_TRUE(within_float_rounding(sr.shared_sin_half, se.shared_sin_half)) << i;
      for (int32_t t = 0; se.kind == SegmentKind::kSharedSingleQubit && t < se.n_terms; ++t) {
        ExpectRoundedMatrix(r.terms[sr.first_term + t].generator,
                            e.terms[se.first_term + t].generator);
      }
      if (se.kind == SegmentKind::kDenseUnitary) {
        for (int64_t k = 0; k < 2 * dim * dim; ++k) {
          EXPECT_TRUE(within_float_rounding(r.dense_matrices[sr.dense_offset + k],
                                            e.dense_matrices[se.dense_offset + k]));
        }
      }
      if (se.kind == SegmentKind::kPermutation) {
        for (int64_t k = 0; k < 2 * dim; ++k) {
          EXPECT_EQ(r.permutations[sr.permutation_offset + k],
                    e.permutations[se.permutation_offset + k]);
          EXPECT_EQ(r.permutation_signs[sr.permutation_offset + k],
                    e.permutation_signs[se.permutation_offset + k]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace qmoe::test_support
