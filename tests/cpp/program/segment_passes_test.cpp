// split_product_prefix and merge_permutations (segment_passes.cpp): rewrites of a
// lowering that change how it runs, never what it computes. Pinned: the prefix is
// exactly the one-qubit segments with no multi-qubit segment on their wire before
// them, in their original order, and the body keeps its order too; a run of two or
// more CNOT, CZ and SWAP after the prefix becomes one signed permutation equal to
// the product of the gates (each basis state run through test_support.h's gate
// matrices, CZ's signs included), whose inverse table is its inverse (transpose);
// one-qubit segments between such gates on other wires move out of the way so runs
// merge; single gates stay as they are; and the state is unchanged by both passes
// (dense reference and CPU kernels, random inputs and initial states).
#include <gtest/gtest.h>

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

bool is_one_qubit(const Segment<double>& segment) {
  return (segment.kind == SegmentKind::kSharedSingleQubit ||
          segment.kind == SegmentKind::kPauliRotation) &&
         segment.bit1 < 0;
}

bool is_fixed_two_qubit(const Segment<double>& segment) {
  return segment.kind == SegmentKind::kCnot || segment.kind == SegmentKind::kCz ||
         segment.kind == SegmentKind::kSwap;
}

bool touches(const Segment<double>& segment, int bit) {
  return segment.bit0 == bit || segment.bit1 == bit;
}

std::vector<SegmentKind> kinds(const ExactCircuit& circuit) {
  std::vector<SegmentKind> out;
  for (const auto& segment : circuit.segments) out.push_back(segment.kind);
  return out;
}

// Both circuits give the same state for random initial states, every sample's inputs.
void ExpectSameStates(const ExactCircuit& a, const ExactCircuit& b, const Problem& problem,
                      uint64_t seed) {
  Rng rng(seed);
  for (int64_t sample = 0; sample < problem.batch_size; ++sample) {
    const auto psi = random_state(rng, dim_of(a.n_qubits));
    EXPECT_TRUE(ComplexNear(run_segments(b, input_row(problem, sample), psi),
                            run_segments(a, input_row(problem, sample), psi), 1e-12))
        << "sample " << sample;
  }
}

std::vector<Problem> random_problems(bool entangler_runs) {
  std::vector<Problem> problems;
  for (int n = 1; n <= 5; ++n) {
    for (uint64_t seed = 0; seed < 10; ++seed) {
      RandomOptions options;
      options.n_qubits = n;
      options.n_extra_ops = 20;
      options.batch_size = 3;
      options.encoding_layer = seed % 3 == 0;
      options.entangler_runs = entangler_runs;
      options.state_kind = seed % 2 == 0 ? StateKind::kComplex : StateKind::kNone;
      problems.push_back(
          random_problem(7000 + 100 * n + seed + (entangler_runs ? 50 : 0), options));
    }
  }
  return problems;
}

// ---- split_product_prefix ---------------------------------------------------------------------

TEST(SplitProductPrefix, HandWrittenCircuit) {
  FlatProgram program(3);
  program
      .gate(Opcode::kH, 0)                           // prefix: before CNOT(0, 1)
      .gate(Opcode::kCnot, 0, 1)                     // body
      .rot(Opcode::kRx, 1, ParamSource::kWeight, 0)  // body: wire 1 is entangled
      .rot(Opcode::kRy, 2, ParamSource::kInput, 0)   // prefix: wire 2 not yet
      .gate(Opcode::kCnot, 1, 2)                     // body
      .gate(Opcode::kZ, 2);                          // body
  Problem problem = problem_of(program, 1, true);
  problem.weights = {0.4};
  problem.inputs = {1.1};
  ExactCircuit circuit = lower(problem);
  // Lowered: H(0), CNOT(0,1), RY(2), RX(1), CNOT(1,2), Z(2).
  ASSERT_EQ(circuit.segments.size(), 6u);
  const ExactCircuit before = circuit;
  core::split_product_prefix(circuit);
  EXPECT_EQ(circuit.n_prefix_segments, 2);
  const std::vector<size_t> order = {0, 2, 1, 3, 4, 5};
  ASSERT_EQ(circuit.segments.size(), 6u);
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_TRUE(SameSegment(circuit.segments[i], before.segments[order[i]])) << i;
  }
  ExpectSameStates(before, circuit, problem, 1);
}

TEST(SplitProductPrefix, PrefixIsEveryOneQubitSegmentBeforeAnEntanglerOnItsWire) {
  int prefix_segments = 0, body_segments = 0;
  for (const Problem& problem : random_problems(false)) {
    SCOPED_TRACE("n=" + std::to_string(problem.n_qubits()));
    const ExactCircuit before = lower(problem);
    ExactCircuit after = before;
    core::split_product_prefix(after);
    // Segment i belongs to the prefix iff it acts on one wire and no earlier segment
    // acting on more than one touches that wire.
    std::vector<Segment<double>> prefix, body;
    for (size_t i = 0; i < before.segments.size(); ++i) {
      const Segment<double>& segment = before.segments[i];
      bool in_prefix = is_one_qubit(segment);
      for (size_t j = 0; j < i && in_prefix; ++j) {
        if (!is_one_qubit(before.segments[j]) && touches(before.segments[j], segment.bit0)) {
          in_prefix = false;
        }
      }
      (in_prefix ? prefix : body).push_back(segment);
    }
    ASSERT_EQ(after.n_prefix_segments, static_cast<int32_t>(prefix.size()));
    ASSERT_EQ(after.segments.size(), before.segments.size());
    for (size_t i = 0; i < prefix.size(); ++i) {
      EXPECT_TRUE(SameSegment(after.segments[i], prefix[i])) << "prefix " << i;
    }
    for (size_t i = 0; i < body.size(); ++i) {
      EXPECT_TRUE(SameSegment(after.segments[prefix.size() + i], body[i])) << "body " << i;
    }
    // Nothing else moves.
    EXPECT_EQ(after.n_rotation_slots, before.n_rotation_slots);
    EXPECT_EQ(after.terms.size(), before.terms.size());
    ExpectSameStates(before, after, problem, 2);
    prefix_segments += static_cast<int>(prefix.size());
    body_segments += static_cast<int>(body.size());
  }
  EXPECT_GT(prefix_segments, 50);
  EXPECT_GT(body_segments, 200);
}

TEST(SplitProductPrefix, WithoutEntanglersEverythingIsPrefix) {
  FlatProgram program(3);
  program.gate(Opcode::kH, 0)
      .rot(Opcode::kRy, 1, ParamSource::kInput, 0)
      .gate(Opcode::kT, 2)
      .rot(Opcode::kRz, 0, ParamSource::kInput, 1)
      .gate(Opcode::kS, 1);
  ExactCircuit circuit = lower(problem_of(program, 1, true));
  const auto n = static_cast<int32_t>(circuit.segments.size());
  core::split_product_prefix(circuit);
  EXPECT_EQ(circuit.n_prefix_segments, n);

  FlatProgram entangled_first(2);
  entangled_first.add(Opcode::kIsingZZ, 0, 1, ParamSource::kInput, 0)
      .gate(Opcode::kH, 0)
      .gate(Opcode::kX, 1);
  ExactCircuit none = lower(problem_of(entangled_first, 1, true));
  core::split_product_prefix(none);
  EXPECT_EQ(none.n_prefix_segments, 0);
}

// ---- merge_permutations -----------------------------------------------------------------------

// (U psi) for a kPermutation segment's forward or inverse table.
std::vector<Cplx> apply_table(const ExactCircuit& circuit, const Segment<double>& segment,
                              bool inverse, const std::vector<Cplx>& psi) {
  const int64_t dim = dim_of(circuit.n_qubits);
  const int64_t offset = segment.permutation_offset + (inverse ? dim : 0);
  std::vector<Cplx> out(psi.size());
  for (int64_t k = 0; k < dim; ++k) {
    out[static_cast<size_t>(k)] =
        circuit.permutation_signs[static_cast<size_t>(offset + k)] *
        psi[static_cast<size_t>(circuit.permutations[static_cast<size_t>(offset + k)])];
  }
  return out;
}

// Each table a bijection with signs +-1; the inverse table the transpose of the forward one.
void ExpectValidTables(const ExactCircuit& circuit, const Segment<double>& segment) {
  const int64_t dim = dim_of(circuit.n_qubits);
  for (bool inverse : {false, true}) {
    std::vector<bool> seen(static_cast<size_t>(dim), false);
    const int64_t offset = segment.permutation_offset + (inverse ? dim : 0);
    for (int64_t k = 0; k < dim; ++k) {
      const int32_t from = circuit.permutations[static_cast<size_t>(offset + k)];
      ASSERT_GE(from, 0);
      ASSERT_LT(from, dim);
      EXPECT_FALSE(seen[static_cast<size_t>(from)]) << "not a permutation";
      seen[static_cast<size_t>(from)] = true;
      const double sign = circuit.permutation_signs[static_cast<size_t>(offset + k)];
      EXPECT_TRUE(sign == 1.0 || sign == -1.0) << sign;
    }
  }
  for (int64_t j = 0; j < dim; ++j) {
    const auto e = basis_state(dim, j);
    // U^dagger U e_j = e_j, U U^dagger e_j = e_j
    EXPECT_TRUE(ComplexNear(
        apply_table(circuit, segment, true, apply_table(circuit, segment, false, e)), e, 0));
    EXPECT_TRUE(ComplexNear(
        apply_table(circuit, segment, false, apply_table(circuit, segment, true, e)), e, 0));
  }
  // As matrices: inverse = forward^T (real).
  Matrix forward(static_cast<size_t>(dim * dim)), backward(static_cast<size_t>(dim * dim));
  for (int64_t j = 0; j < dim; ++j) {
    const auto f = apply_table(circuit, segment, false, basis_state(dim, j));
    const auto b = apply_table(circuit, segment, true, basis_state(dim, j));
    for (int64_t k = 0; k < dim; ++k) {
      forward[static_cast<size_t>(k * dim + j)] = f[static_cast<size_t>(k)];
      backward[static_cast<size_t>(k * dim + j)] = b[static_cast<size_t>(k)];
    }
  }
  Matrix transpose(forward.size());
  for (int64_t r = 0; r < dim; ++r) {
    for (int64_t c = 0; c < dim; ++c) {
      transpose[static_cast<size_t>(c * dim + r)] = forward[static_cast<size_t>(r * dim + c)];
    }
  }
  EXPECT_TRUE(ComplexNear(backward, transpose, 0));
}

ExactCircuit split_and_merge(const Problem& problem, ExactCircuit* before = nullptr) {
  ExactCircuit circuit = lower(problem);
  core::split_product_prefix(circuit);
  if (before != nullptr) *before = circuit;
  core::merge_permutations(circuit);
  return circuit;
}

TEST(MergePermutations, RunOfFixedGatesIsTheirSignedPermutation) {
  // Fixed gates only, after a prefix of Hadamards: every wire pair and order.
  const std::vector<std::vector<int>> runs = {
      {6, 0, 1, 7, 1, 2, 8, 0, 2, 6, 2, 1, 7, 0, 2}, {7, 0, 1, 7, 1, 0},
      {8, 2, 0, 6, 1, 0, 7, 2, 1, 6, 0, 2},          {6, 1, 0, 6, 0, 1, 6, 1, 0},
      {7, 2, 0, 8, 0, 1, 7, 1, 2, 7, 0, 1},
  };
  int negative_signs = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    FlatProgram gates(3);
    for (size_t i = 0; i < runs[r].size(); i += 3) {
      gates.gate(static_cast<Opcode>(runs[r][i]), runs[r][i + 1], runs[r][i + 2]);
    }
    FlatProgram program(3);
    for (int wire = 0; wire < 3; ++wire) program.gate(Opcode::kH, wire);
    for (int64_t op = 0; op < gates.n_ops(); ++op) {
      const int64_t* word = gates.words().data() + op * core::kOperationWidth;
      program.gate(static_cast<Opcode>(word[0]), word[1], word[2]);
    }
    const ExactCircuit circuit = split_and_merge(problem_of(program, 1, true));
    ASSERT_EQ(kinds(circuit), (std::vector<SegmentKind>{
                                  SegmentKind::kSharedSingleQubit, SegmentKind::kSharedSingleQubit,
                                  SegmentKind::kSharedSingleQubit, SegmentKind::kPermutation}));
    EXPECT_EQ(circuit.n_prefix_segments, 3);
    const Segment<double>& segment = circuit.segments[3];
    ExpectValidTables(circuit, segment);
    for (int64_t j = 0; j < 8; ++j) {
      const auto expected = reference_state(gates, nullptr, {}, {}, basis_state(8, j));
      EXPECT_TRUE(ComplexNear(apply_table(circuit, segment, false, basis_state(8, j)), expected, 0))
          << "basis state " << j;
    }
    for (int64_t k = 0; k < 8; ++k) {
      negative_signs +=
          circuit.permutation_signs[static_cast<size_t>(segment.permutation_offset + k)] < 0;
    }
  }
  EXPECT_GT(negative_signs, 0);  // CZ's signs are exercised
}

TEST(MergePermutations, CzSignsOnTheRightAmplitudes) {
  // CZ(0, 1) CZ(1, 2) on 3 qubits: sign -1 exactly where an odd number of the pairs
  // (wire 0, wire 1), (wire 1, wire 2) are both 1; no amplitude moves.
  FlatProgram program(3);
  program.gate(Opcode::kCz, 0, 1).gate(Opcode::kCz, 1, 2);
  const ExactCircuit circuit = split_and_merge(problem_of(program, 1, true));
  ASSERT_EQ(kinds(circuit), std::vector<SegmentKind>{SegmentKind::kPermutation});
  const int64_t offset = circuit.segments[0].permutation_offset;
  for (int64_t k = 0; k < 8; ++k) {
    const int w0 = (k >> 2) & 1, w1 = (k >> 1) & 1, w2 = k & 1;
    const double sign = ((w0 & w1) ^ (w1 & w2)) ? -1.0 : 1.0;
    EXPECT_EQ(circuit.permutations[static_cast<size_t>(offset + k)], k);
    EXPECT_EQ(circuit.permutation_signs[static_cast<size_t>(offset + k)], sign) << k;
  }
}

TEST(MergePermutations, SingleGatesStayAsTheyAre) {
  FlatProgram program(2);
  program.gate(Opcode::kCnot, 0, 1)
      .gate(Opcode::kH, 1)
      .gate(Opcode::kCz, 0, 1)
      .gate(Opcode::kS, 0)
      .gate(Opcode::kSwap, 1, 0);
  ExactCircuit before;
  const ExactCircuit after = split_and_merge(problem_of(program, 1, true), &before);
  ASSERT_EQ(after.segments.size(), before.segments.size());
  for (size_t i = 0; i < before.segments.size(); ++i) {
    EXPECT_TRUE(SameSegment(after.segments[i], before.segments[i])) << i;
  }
  EXPECT_TRUE(after.permutations.empty());
}

TEST(MergePermutations, OneQubitSegmentsBetweenRunsMoveOutOfTheWay) {
  // Lowered: CNOT(0,1) CNOT(1,2) CNOT(2,0) CNOT(0,1) H(2) CNOT(1,2): H(2) is flushed
  // only when CNOT(1, 2) arrives. It commutes with CNOT(0, 1) (not with CNOT(2, 0)),
  // so the passes give one permutation of three gates, H(2), one of two.
  FlatProgram program(3);
  program.gate(Opcode::kCnot, 0, 1)
      .gate(Opcode::kCnot, 1, 2)
      .gate(Opcode::kCnot, 2, 0)
      .gate(Opcode::kCnot, 0, 1)
      .gate(Opcode::kH, 2)
      .gate(Opcode::kCnot, 1, 2);
  const Problem problem = problem_of(program, 1, true);
  ExactCircuit before;
  const ExactCircuit after = split_and_merge(problem, &before);
  ASSERT_EQ(kinds(before),
            (std::vector<SegmentKind>{SegmentKind::kCnot, SegmentKind::kCnot, SegmentKind::kCnot,
                                      SegmentKind::kCnot, SegmentKind::kSharedSingleQubit,
                                      SegmentKind::kCnot}));
  ASSERT_EQ(kinds(after),
            (std::vector<SegmentKind>{SegmentKind::kPermutation, SegmentKind::kSharedSingleQubit,
                                      SegmentKind::kPermutation}));
  EXPECT_EQ(after.segments[1].bit0, 0);  // H on wire 2
  ExpectValidTables(after, after.segments[0]);
  ExpectValidTables(after, after.segments[2]);
  // The first permutation is CNOT(2,0) CNOT(1,2) CNOT(0,1).
  FlatProgram first(3);
  first.gate(Opcode::kCnot, 0, 1).gate(Opcode::kCnot, 1, 2).gate(Opcode::kCnot, 2, 0);
  for (int64_t j = 0; j < 8; ++j) {
    EXPECT_TRUE(ComplexNear(apply_table(after, after.segments[0], false, basis_state(8, j)),
                            reference_state(first, nullptr, {}, {}, basis_state(8, j)), 0));
  }
  ExpectSameStates(before, after, problem_of(program, 4, true), 3);
  const auto expected = reference_state(program, nullptr, {}, {}, basis_state(8, 5));
  EXPECT_TRUE(ComplexNear(run_segments(after, nullptr, basis_state(8, 5)), expected, 1e-15));
}

TEST(MergePermutations, RandomRunsKeepTheState) {
  int permutations = 0;
  for (const Problem& problem : random_problems(true)) {
    SCOPED_TRACE("n=" + std::to_string(problem.n_qubits()));
    ExactCircuit before;
    const ExactCircuit after = split_and_merge(problem, &before);
    EXPECT_EQ(after.n_prefix_segments, before.n_prefix_segments);
    for (int32_t i = 0; i < before.n_prefix_segments; ++i) {
      EXPECT_TRUE(SameSegment(after.segments[static_cast<size_t>(i)],
                              before.segments[static_cast<size_t>(i)]));
    }
    // No two fixed gates (or a permutation and a fixed gate) are left side by side.
    for (size_t i = static_cast<size_t>(after.n_prefix_segments); i + 1 < after.segments.size();
         ++i) {
      const auto& a = after.segments[i];
      const auto& b = after.segments[i + 1];
      const bool a_fixed = is_fixed_two_qubit(a) || a.kind == SegmentKind::kPermutation;
      const bool b_fixed = is_fixed_two_qubit(b) || b.kind == SegmentKind::kPermutation;
      EXPECT_FALSE(a_fixed && b_fixed) << "segments " << i << " and " << i + 1;
    }
    for (const auto& segment : after.segments) {
      if (segment.kind != SegmentKind::kPermutation) continue;
      ++permutations;
      ExpectValidTables(after, segment);
    }
    ExpectSameStates(before, after, problem, 4);
    for (int64_t b = 0; b < problem.batch_size; ++b) {
      const auto psi = initial_state_of(problem, b);
      EXPECT_TRUE(ComplexNear(run_segments(after, input_row(problem, b), psi),
                              reference_state(problem.program, input_row(problem, b),
                                              problem.weights, problem.constants, psi),
                              1e-12));
    }
  }
  EXPECT_GT(permutations, 40);
}

TEST(MergePermutations, KernelsRunTheMergedCircuit) {
  for (const Problem& problem : random_problems(true)) {
    if (problem.n_qubits() < 2) continue;
    const ExactCircuit circuit = split_and_merge(problem);
    const std::vector<double> expected = reference_forward(problem);
    for (const core::IsaKernels* kernels : core::supported_kernels()) {
      for (const auto* set : {&kernels->double_blocked, &kernels->double_single}) {
        SCOPED_TRACE(describe(*kernels) + ", lanes " + std::to_string(set->lanes));
        EXPECT_TRUE(AllClose(kernel_forward(circuit, problem, *set), expected, 1e-12));
      }
    }
  }
}

}  // namespace
}  // namespace qmoe::test_support
