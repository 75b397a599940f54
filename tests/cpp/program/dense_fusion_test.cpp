// fuse_dense_runs (dense_fusion.cpp): runs of shared-angle segments of a small
// state replaced by one 2**n x 2**n unitary. Pinned: the fused circuit gives the
// state and the adjoint gradients of the unfused one (through the dense reference
// of circuit_reference.h and through the CPU kernels, on random inputs and initial
// states); each dense unitary is unitary and is the product of exactly the run it
// replaced, every other segment (the prefix, per-sample rotations) kept bit for
// bit; each dense gradient term is a Hermitian generator transported to the end of
// its run (against the segment matrices and against finite differences); and
// fusion happens only where the header says it pays: states of at most 3 qubits,
// runs that cost more gate by gate (2 * dim per one-qubit segment, dim / 2 per
// fixed two-qubit gate) than one dim x dim product.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "circuit_reference.h"
#include "qmoe/core/cpu/isa/kernel_table.h"
#include "qmoe/core/program/compiled_circuit.h"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

using core::ExactCircuit;
using core::Segment;
using core::SegmentKind;

bool is_shared(const Segment<double>& segment) {
  return segment.kind != SegmentKind::kPauliRotation || segment.source != ParamSource::kInput;
}

Matrix dense_matrix_at(const ExactCircuit& circuit, int64_t offset) {
  const int64_t dim = dim_of(circuit.n_qubits);
  Matrix m(static_cast<size_t>(dim * dim));
  for (size_t k = 0; k < m.size(); ++k) {
    m[k] = Cplx(circuit.dense_matrices[static_cast<size_t>(offset) + 2 * k],
                circuit.dense_matrices[static_cast<size_t>(offset) + 2 * k + 1]);
  }
  return m;
}

// The generators of the trainable angles of `before`'s segments [begin, end), each
// carried to the end of the run by the product of the segments after its own.
std::vector<Term> expected_dense_terms(const ExactCircuit& before, size_t begin, size_t end) {
  const int n = before.n_qubits;
  const int64_t dim = dim_of(n);
  std::vector<Term> terms;
  for (size_t i = begin; i < end; ++i) {
    const Segment<double>& segment = before.segments[i];
    std::vector<Term> own;
    if (segment.kind == SegmentKind::kSharedSingleQubit) {
      for (int32_t t = 0; t < segment.n_terms; ++t) {
        const auto& term = before.terms[static_cast<size_t>(segment.first_term + t)];
        own.emplace_back(term.weight_index,
                         embed_one_qubit(entries_of(term.generator), segment.bit0, n));
      }
    } else if (segment.kind == SegmentKind::kPauliRotation &&
               segment.source == ParamSource::kWeight) {
      own.emplace_back(segment.param_index,
                       pauli_string_matrix(segment.pauli, segment.bit0, segment.bit1, n));
    }
    const Matrix after = segments_unitary(before, i + 1, end);
    const Matrix after_dagger = dagger(after, static_cast<int>(dim));
    for (auto& [weight, g] : own) {
      terms.emplace_back(weight, matmul(matmul(after, g, static_cast<int>(dim)), after_dagger,
                                        static_cast<int>(dim)));
    }
  }
  return terms;
}

// Walks `before` and `after = fuse_dense_runs(before)` side by side: the prefix and
// every segment outside a dense one kept bit for bit; each dense segment unitary,
// the product of the whole run of shared segments it stands for, with its run's
// transported generators. Returns the number of dense segments.
int CheckFusion(const ExactCircuit& before, const ExactCircuit& after) {
  const int64_t dim = dim_of(before.n_qubits);
  const int d = static_cast<int>(dim);
  EXPECT_EQ(after.n_prefix_segments, before.n_prefix_segments);
  size_t i = 0;
  int dense = 0;
  for (size_t j = 0; j < after.segments.size(); ++j) {
    const Segment<double>& segment = after.segments[j];
    if (segment.kind != SegmentKind::kDenseUnitary) {
      if (i >= before.segments.size()) {
        ADD_FAILURE() << "more segments after fusion than before";
        return dense;
      }
      EXPECT_TRUE(SameSegment(segment, before.segments[i])) << "segment " << j;
      ++i;
      continue;
    }
    ++dense;
    EXPECT_GE(static_cast<int32_t>(j), before.n_prefix_segments) << "dense segment in the prefix";
    size_t end = i;
    while (end < before.segments.size() && is_shared(before.segments[end])) ++end;
    EXPECT_GE(end - i, 2u) << "a dense segment for fewer than two segments";
    const Matrix u = dense_matrix_at(after, segment.dense_offset);
    EXPECT_TRUE(ComplexNear(matmul(u, dagger(u, d), d), identity_of(dim), 1e-13)) << "not unitary";
    EXPECT_TRUE(ComplexNear(u, segments_unitary(before, i, end), 1e-13));
    EXPECT_GE(segment.accumulator_slot, 0);
    EXPECT_LT(segment.accumulator_slot, after.n_accumulator_slots);
    std::vector<Term> terms;
    for (int32_t t = 0; t < segment.n_terms; ++t) {
      const auto& term = after.dense_terms[static_cast<size_t>(segment.first_term + t)];
      const Matrix g = dense_matrix_at(after, term.generator_offset);
      EXPECT_TRUE(ComplexNear(g, dagger(g, d), 1e-13)) << "generator not Hermitian";
      EXPECT_TRUE(ComplexNear(matmul(g, g, d), identity_of(dim), 1e-13)) << "G^2 != I";
      terms.emplace_back(term.weight_index, g);
    }
    EXPECT_TRUE(SameTerms(terms, expected_dense_terms(before, i, end), 1e-13));
    i = end;
  }
  EXPECT_EQ(i, before.segments.size()) << "segments lost by fusion";
  return dense;
}

ExactCircuit split_lowering(const Problem& problem) {
  ExactCircuit circuit = lower(problem);
  core::split_product_prefix(circuit);
  return circuit;
}

ExactCircuit fused(ExactCircuit circuit) {
  core::fuse_dense_runs(circuit);
  return circuit;
}

std::vector<Problem> random_problems() {
  std::vector<Problem> problems;
  for (int n = 2; n <= 3; ++n) {
    for (uint64_t seed = 0; seed < 16; ++seed) {
      RandomOptions options;
      options.n_qubits = n;
      options.n_extra_ops = 24;
      options.batch_size = 11;  // a full block of 8 lanes and a partial one
      options.input_angles = seed % 4 != 0;
      options.encoding_layer = seed % 4 == 1;
      options.state_kind = seed % 2 == 0 ? StateKind::kComplex : StateKind::kNone;
      problems.push_back(random_problem(5000 + 100 * n + seed, options));
    }
  }
  return problems;
}

TEST(DenseFusion, FusedCircuitGivesTheUnfusedState) {
  int dense = 0;
  for (const Problem& problem : random_problems()) {
    SCOPED_TRACE("n=" + std::to_string(problem.n_qubits()));
    const ExactCircuit before = split_lowering(problem);
    const ExactCircuit after = fused(before);
    dense += CheckFusion(before, after);
    for (int64_t b = 0; b < problem.batch_size; ++b) {
      const auto psi = initial_state_of(problem, b);
      const auto expected = reference_state(problem.program, input_row(problem, b), problem.weights,
                                            problem.constants, psi);
      EXPECT_TRUE(ComplexNear(run_segments(before, input_row(problem, b), psi), expected, 1e-12));
      EXPECT_TRUE(ComplexNear(run_segments(after, input_row(problem, b), psi), expected, 1e-12));
    }
  }
  EXPECT_GT(dense, 20);  // the problems do exercise fusion
}

TEST(DenseFusion, KernelsGiveTheSameForwardAndAdjoint) {
  for (const Problem& problem : random_problems()) {
    const ExactCircuit before = split_lowering(problem);
    const ExactCircuit after = fused(before);
    const std::vector<double> expected = reference_forward(problem);
    for (const core::IsaKernels* kernels : core::supported_kernels()) {
      for (const auto* set : {&kernels->double_blocked, &kernels->double_single}) {
        SCOPED_TRACE(describe(*kernels) + ", lanes " + std::to_string(set->lanes) +
                     ", n=" + std::to_string(problem.n_qubits()));
        EXPECT_TRUE(AllClose(kernel_forward(before, problem, *set), expected, 1e-12));
        EXPECT_TRUE(AllClose(kernel_forward(after, problem, *set), expected, 1e-12));
        const auto [inputs_before, weights_before] = kernel_adjoint(before, problem, *set);
        const auto [inputs_after, weights_after] = kernel_adjoint(after, problem, *set);
        EXPECT_TRUE(AllClose(inputs_after, inputs_before, 1e-12, 1e-12));
        EXPECT_TRUE(AllClose(weights_after, weights_before, 1e-12, 1e-12));
      }
    }
  }
}

TEST(DenseFusion, DenseTermsMatchFiniteDifferences) {
  // Every wire entangled first (no prefix), then one long shared run with weights
  // in fused one-qubit runs and in an Ising gate, one weight read twice.
  FlatProgram program(3);
  program.gate(Opcode::kCnot, 0, 1)
      .gate(Opcode::kCnot, 1, 2)
      .rot(Opcode::kRx, 0, ParamSource::kWeight, 0)
      .gate(Opcode::kH, 1)
      .rot(Opcode::kRy, 2, ParamSource::kWeight, 1)
      .gate(Opcode::kCz, 0, 2)
      .rot(Opcode::kRz, 1, ParamSource::kWeight, 0)
      .add(Opcode::kIsingXX, 0, 1, ParamSource::kWeight, 2)
      .gate(Opcode::kT, 2)
      .rot(Opcode::kRy, 0, ParamSource::kConstant, 0)
      .gate(Opcode::kSwap, 1, 2)
      .rot(Opcode::kRx, 2, ParamSource::kWeight, 1);
  Problem problem = problem_of(program, 1, true);
  Rng rng(55);
  for (double& w : problem.weights) w = rng.uniform(-kPi, kPi);
  problem.constants[0] = 0.7;
  const ExactCircuit before = split_lowering(problem);
  const ExactCircuit after = fused(before);
  ASSERT_EQ(after.segments.size(), 1u);
  ASSERT_EQ(after.segments[0].kind, SegmentKind::kDenseUnitary);
  CheckFusion(before, after);

  const int d = 8;
  const Matrix u = dense_matrix_at(after, after.segments[0].dense_offset);
  for (int64_t w = 0; w < 3; ++w) {
    const double h = 1e-5, saved = problem.weights[static_cast<size_t>(w)];
    problem.weights[static_cast<size_t>(w)] = saved + h;
    const ExactCircuit plus = fused(split_lowering(problem));
    problem.weights[static_cast<size_t>(w)] = saved - h;
    const ExactCircuit minus = fused(split_lowering(problem));
    problem.weights[static_cast<size_t>(w)] = saved;
    const Matrix up = dense_matrix_at(plus, plus.segments[0].dense_offset);
    const Matrix down = dense_matrix_at(minus, minus.segments[0].dense_offset);
    Matrix derivative(static_cast<size_t>(d * d));
    for (size_t k = 0; k < derivative.size(); ++k) derivative[k] = (up[k] - down[k]) / (2 * h);
    Matrix sum(static_cast<size_t>(d * d), 0.0);
    int terms = 0;
    for (int32_t t = 0; t < after.segments[0].n_terms; ++t) {
      const auto& term = after.dense_terms[static_cast<size_t>(after.segments[0].first_term + t)];
      if (term.weight_index != w) continue;
      ++terms;
      const Matrix g = dense_matrix_at(after, term.generator_offset);
      for (size_t k = 0; k < sum.size(); ++k) sum[k] += g[k];
    }
    EXPECT_EQ(terms, w == 2 ? 1 : 2) << "weight " << w;
    EXPECT_TRUE(ComplexNear(sum, generator_from_derivative(derivative, u, d), 1e-9))
        << "weight " << w;
  }
}

// ---- where fusion happens --------------------------------------------------------------------

// A hand-built lowering (no prefix, no gradient terms) of these segments.
ExactCircuit circuit_of(int n_qubits, const std::vector<Segment<double>>& segments) {
  ExactCircuit circuit;
  circuit.n_qubits = n_qubits;
  circuit.segments = segments;
  for (const auto& segment : segments) {
    if (segment.kind == SegmentKind::kPauliRotation) {
      circuit.n_rotation_slots = std::max(circuit.n_rotation_slots, segment.rotation_slot + 1);
    }
  }
  return circuit;
}

Segment<double> one_qubit(Rng& rng, int bit) {
  Segment<double> segment = blank_segment(SegmentKind::kSharedSingleQubit, bit, -1);
  segment.unitary = random_unitary(rng);
  return segment;
}

Segment<double> per_sample_rotation(int bit, int32_t slot) {
  Segment<double> segment = blank_segment(SegmentKind::kPauliRotation, bit, -1);
  segment.pauli = core::PauliString::kY;
  segment.source = ParamSource::kInput;
  segment.param_index = 0;
  segment.rotation_slot = slot;
  return segment;
}

std::vector<SegmentKind> kinds(const ExactCircuit& circuit) {
  std::vector<SegmentKind> out;
  for (const auto& segment : circuit.segments) out.push_back(segment.kind);
  return out;
}

constexpr SegmentKind kDense = SegmentKind::kDenseUnitary;
constexpr SegmentKind kShared = SegmentKind::kSharedSingleQubit;
constexpr SegmentKind kRotation = SegmentKind::kPauliRotation;

TEST(DenseFusion, LeavesStatesOfMoreThanThreeQubitsAlone) {
  for (int n = 4; n <= 6; ++n) {
    for (uint64_t seed = 0; seed < 4; ++seed) {
      RandomOptions options;
      options.n_qubits = n;
      options.n_extra_ops = 40;
      options.input_angles = false;  // one long shared run
      const Problem problem = random_problem(6000 + 10 * n + seed, options);
      const ExactCircuit before = split_lowering(problem);
      const ExactCircuit after = fused(before);
      ASSERT_EQ(after.segments.size(), before.segments.size());
      for (size_t i = 0; i < before.segments.size(); ++i) {
        EXPECT_TRUE(SameSegment(after.segments[i], before.segments[i])) << i;
      }
      EXPECT_TRUE(after.dense_matrices.empty());
      EXPECT_TRUE(after.dense_terms.empty());
      EXPECT_EQ(after.n_accumulator_slots, 0);
    }
  }
  // The same kind of circuit on 3 qubits is fused (the bound, not the circuit, decides).
  Rng rng(1);
  std::vector<Segment<double>> run;
  for (int i = 0; i < 8; ++i) run.push_back(one_qubit(rng, i % 3));
  EXPECT_EQ(kinds(fused(circuit_of(3, run))), std::vector<SegmentKind>{kDense});
  for (auto& segment : run) segment.bit0 = (segment.bit0 + 1) % 4;
  EXPECT_EQ(kinds(fused(circuit_of(4, run))).size(), run.size());
}

TEST(DenseFusion, FusesOnlyRunsThatCostMoreThanTheDenseProduct) {
  Rng rng(2);
  // 2 qubits: a dense product costs 16, a one-qubit segment 8, a fixed gate 2.
  {
    const ExactCircuit two = circuit_of(2, {one_qubit(rng, 0), one_qubit(rng, 1)});
    EXPECT_EQ(kinds(fused(two)), (std::vector<SegmentKind>{kShared, kShared}));
    const ExactCircuit three =
        circuit_of(2, {one_qubit(rng, 0), one_qubit(rng, 1), one_qubit(rng, 0)});
    const ExactCircuit after = fused(three);
    EXPECT_EQ(kinds(after), std::vector<SegmentKind>{kDense});
    CheckFusion(three, after);
    const auto cnot = blank_segment(SegmentKind::kCnot, 1, 0);
    const ExactCircuit with_gate =
        circuit_of(2, {one_qubit(rng, 0), cnot, one_qubit(rng, 1), cnot});  // 20 > 16
    EXPECT_EQ(kinds(fused(with_gate)), std::vector<SegmentKind>{kDense});
    const ExactCircuit cheap = circuit_of(2, {one_qubit(rng, 0), cnot, cnot, cnot});  // 14
    EXPECT_EQ(kinds(fused(cheap)).size(), 4u);
  }
  // 3 qubits: a dense product costs 64, a one-qubit segment 16.
  {
    std::vector<Segment<double>> run;
    for (int i = 0; i < 4; ++i) run.push_back(one_qubit(rng, i % 3));
    EXPECT_EQ(kinds(fused(circuit_of(3, run))).size(), 4u);
    run.push_back(one_qubit(rng, 2));
    const ExactCircuit five = circuit_of(3, run);
    const ExactCircuit after = fused(five);
    EXPECT_EQ(kinds(after), std::vector<SegmentKind>{kDense});
    CheckFusion(five, after);
  }
}

TEST(DenseFusion, PerSampleRotationsAndThePrefixAreKept) {
  Rng rng(3);
  std::vector<Segment<double>> segments = {one_qubit(rng, 0), one_qubit(rng, 1),  // prefix
                                           one_qubit(rng, 0)};
  const auto cnot = blank_segment(SegmentKind::kCnot, 0, 1);
  segments.push_back(cnot);
  for (int i = 0; i < 3; ++i) segments.push_back(one_qubit(rng, i % 2));
  segments.push_back(per_sample_rotation(1, 0));
  for (int i = 0; i < 3; ++i) segments.push_back(one_qubit(rng, i % 2));
  segments.push_back(per_sample_rotation(0, 1));
  segments.push_back(one_qubit(rng, 1));  // a run of one: kept
  ExactCircuit before = circuit_of(2, segments);
  before.n_prefix_segments = 3;
  const ExactCircuit after = fused(before);
  EXPECT_EQ(kinds(after), (std::vector<SegmentKind>{kShared, kShared, kShared, kDense, kRotation,
                                                    kDense, kRotation, kShared}));
  EXPECT_EQ(after.n_accumulator_slots, 2);
  EXPECT_NE(after.segments[3].accumulator_slot, after.segments[5].accumulator_slot);
  EXPECT_EQ(CheckFusion(before, after), 2);
  Rng states(4);
  const double inputs[] = {0.8};
  for (int trial = 0; trial < 4; ++trial) {
    const auto psi = random_state(states, 4);
    EXPECT_TRUE(
        ComplexNear(run_segments(after, inputs, psi), run_segments(before, inputs, psi), 1e-13));
  }
}

}  // namespace
}  // namespace qmoe::test_support
