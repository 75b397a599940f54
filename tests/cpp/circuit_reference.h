// An independent reading of lowered circuits (program/compiled_circuit.h) for the
// tests of the program passes: the full 2**n x 2**n unitary of every kind of
// unitary segment, built from the segment's data alone with the dense matrices of
// test_support.h (no kernel code, no code of program/); states run segment by
// segment through an ExactCircuit; programs with one operation's angle moved (for
// the reference simulator); gradient terms compared as multisets; hand-built
// segments; and the CPU statevector kernels run on a view of an ExactCircuit as it
// stands, so that a test can run one lowering before and after a pass through the
// engine's own kernels.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <sstream>
#include <utility>
#include <vector>

#include "qmoe/core/cpu/isa/kernel_table.h"
#include "qmoe/core/cpu/statevector/chunk_task.h"
#include "qmoe/core/program/compiled_circuit.h"
#include "qmoe/core/program/readout.h"
#include "test_support.h"

namespace qmoe::test_support {

inline int64_t dim_of(int n_qubits) { return int64_t{1} << n_qubits; }

inline Cplx to_cplx(core::Complex<double> z) { return {z.re, z.im}; }

// A Matrix2 as a 2x2 row-major Matrix.
inline Matrix entries_of(const core::Matrix2<double>& m) {
  return {to_cplx(m.m00), to_cplx(m.m01), to_cplx(m.m10), to_cplx(m.m11)};
}

inline Matrix identity_of(int64_t dim) {
  Matrix m(static_cast<size_t>(dim * dim), 0.0);
  for (int64_t i = 0; i < dim; ++i) m[static_cast<size_t>(i * dim + i)] = 1.0;
  return m;
}

// A 2x2 matrix acting on basis-index bit `bit` of an n-qubit state.
inline Matrix embed_one_qubit(const Matrix& m, int bit, int n_qubits) {
  const int64_t dim = dim_of(n_qubits), mask = int64_t{1} << bit;
  Matrix out(static_cast<size_t>(dim * dim), 0.0);
  for (int64_t r = 0; r < dim; ++r) {
    for (int64_t c = 0; c < dim; ++c) {
      if (((r ^ c) & ~mask) != 0) continue;
      out[static_cast<size_t>(r * dim + c)] = m[((r >> bit) & 1) * 2 + ((c >> bit) & 1)];
    }
  }
  return out;
}

// A 4x4 matrix (index 2 * b0 + b1) acting on basis-index bits bit0 and bit1.
inline Matrix embed_two_qubit(const Matrix& m, int bit0, int bit1, int n_qubits) {
  const int64_t dim = dim_of(n_qubits);
  const int64_t mask = (int64_t{1} << bit0) | (int64_t{1} << bit1);
  Matrix out(static_cast<size_t>(dim * dim), 0.0);
  for (int64_t r = 0; r < dim; ++r) {
    for (int64_t c = 0; c < dim; ++c) {
      if (((r ^ c) & ~mask) != 0) continue;
      const int64_t rq = 2 * ((r >> bit0) & 1) + ((r >> bit1) & 1);
      const int64_t cq = 2 * ((c >> bit0) & 1) + ((c >> bit1) & 1);
      out[static_cast<size_t>(r * dim + c)] = m[static_cast<size_t>(rq * 4 + cq)];
    }
  }
  return out;
}

// X, Y, Z on bit0, or XX, YY, ZZ on (bit0, bit1).
inline Matrix pauli_string_matrix(core::PauliString pauli, int bit0, int bit1, int n_qubits) {
  const int value = static_cast<int>(pauli);
  const Matrix single = one_qubit_matrix(1 + value % 3, 0.0);  // opcodes 1, 2, 3: X, Y, Z
  if (value < 3) return embed_one_qubit(single, bit0, n_qubits);
  return embed_two_qubit(kron(single, single), bit0, bit1, n_qubits);
}

// cos I - i sin P.
inline Matrix rotation_of(const Matrix& pauli, double cos_half, double sin_half) {
  Matrix out(pauli.size());
  const auto dim = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(pauli.size()))));
  for (int64_t r = 0; r < dim; ++r) {
    for (int64_t c = 0; c < dim; ++c) {
      const size_t k = static_cast<size_t>(r * dim + c);
      out[k] = (r == c ? cos_half : 0.0) - Cplx(0, 1) * sin_half * pauli[k];
    }
  }
  return out;
}

// The whole-state unitary of one unitary segment of `circuit`, for one sample
// whose inputs row is `input_row` (only read by per-sample rotations).
inline Matrix segment_matrix(const core::ExactCircuit& circuit,
                             const core::Segment<double>& segment, const double* input_row) {
  using core::SegmentKind;
  const int n = circuit.n_qubits;
  const int64_t dim = dim_of(n);
  switch (segment.kind) {
    case SegmentKind::kSharedSingleQubit:
      return embed_one_qubit(entries_of(segment.unitary), segment.bit0, n);
    case SegmentKind::kPauliRotation: {
      double cos_half = segment.shared_cos_half, sin_half = segment.shared_sin_half;
      if (segment.source == core::ParamSource::kInput) {
        const double angle = input_row[segment.param_index] + segment.angle_offset;
        cos_half = std::cos(angle / 2);
        sin_half = std::sin(angle / 2);
      }
      return rotation_of(pauli_string_matrix(segment.pauli, segment.bit0, segment.bit1, n),
                         cos_half, sin_half);
    }
    case SegmentKind::kCnot:
      return embed_two_qubit(two_qubit_matrix(6, 0), segment.bit0, segment.bit1, n);
    case SegmentKind::kCz:
      return embed_two_qubit(two_qubit_matrix(7, 0), segment.bit0, segment.bit1, n);
    case SegmentKind::kSwap:
      return embed_two_qubit(two_qubit_matrix(8, 0), segment.bit0, segment.bit1, n);
    case SegmentKind::kDenseUnitary: {
      Matrix out(static_cast<size_t>(dim * dim));
      const double* entries = circuit.dense_matrices.data() + segment.dense_offset;
      for (size_t k = 0; k < out.size(); ++k) out[k] = Cplx(entries[2 * k], entries[2 * k + 1]);
      return out;
    }
    case SegmentKind::kPermutation: {
      // (U psi)_k = sign_k psi_{source_k}: row k holds sign_k in column source_k.
      Matrix out(static_cast<size_t>(dim * dim), 0.0);
      const int32_t* source = circuit.permutations.data() + segment.permutation_offset;
      const double* sign = circuit.permutation_signs.data() + segment.permutation_offset;
      for (int64_t k = 0; k < dim; ++k) out[static_cast<size_t>(k * dim + source[k])] = sign[k];
      return out;
    }
    default:
      ADD_FAILURE() << "not a unitary segment kind: " << static_cast<int>(segment.kind);
      return identity_of(dim);
  }
}

inline std::vector<Cplx> apply_matrix(const Matrix& m, const std::vector<Cplx>& psi) {
  const size_t dim = psi.size();
  std::vector<Cplx> out(dim, 0.0);
  for (size_t r = 0; r < dim; ++r) {
    for (size_t c = 0; c < dim; ++c) out[r] += m[r * dim + c] * psi[c];
  }
  return out;
}

// The product U_{end-1} ... U_begin of segments [begin, end) of `circuit`.
inline Matrix segments_unitary(const core::ExactCircuit& circuit, size_t begin, size_t end,
                               const double* input_row = nullptr) {
  const int64_t dim = dim_of(circuit.n_qubits);
  Matrix u = identity_of(dim);
  for (size_t i = begin; i < end; ++i) {
    u = matmul(segment_matrix(circuit, circuit.segments[i], input_row), u, static_cast<int>(dim));
  }
  return u;
}

// psi after every segment of `circuit`, in order (the prefix is no different).
inline std::vector<Cplx> run_segments(const core::ExactCircuit& circuit, const double* input_row,
                                      std::vector<Cplx> psi) {
  for (const auto& segment : circuit.segments) {
    psi = apply_matrix(segment_matrix(circuit, segment, input_row), psi);
  }
  return psi;
}

inline std::vector<Cplx> random_state(Rng& rng, int64_t dim) {
  std::vector<Cplx> psi(static_cast<size_t>(dim));
  double norm = 0;
  for (Cplx& a : psi) {
    a = Cplx(rng.uniform(-1, 1), rng.uniform(-1, 1));
    norm += std::norm(a);
  }
  for (Cplx& a : psi) a /= std::sqrt(norm);
  return psi;
}

inline std::vector<Cplx> basis_state(int64_t dim, int64_t k) {
  std::vector<Cplx> psi(static_cast<size_t>(dim), 0.0);
  psi[static_cast<size_t>(k)] = 1.0;
  return psi;
}

// max |a_i - b_i| <= tol over complex vectors or matrices of one size.
inline ::testing::AssertionResult ComplexNear(const std::vector<Cplx>& actual,
                                              const std::vector<Cplx>& expected, double tol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << actual.size() << " vs " << expected.size();
  }
  size_t worst = 0;
  double worst_error = -1;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double error = std::abs(actual[i] - expected[i]);
    if (!(error <= worst_error)) {  // also catches NaN
      worst = i;
      worst_error = error;
    }
  }
  if (worst_error <= tol) return ::testing::AssertionSuccess();
  std::ostringstream message;
  message.precision(17);
  message << "worst at [" << worst << "]: " << actual[worst] << " vs expected " << expected[worst]
          << " (error " << worst_error << ", tol " << tol << ")";
  return ::testing::AssertionFailure() << message.str();
}

// The inputs row of sample b (null when the problem has no input columns).
inline const double* input_row(const Problem& problem, int64_t b) {
  return problem.n_input_columns == 0 ? nullptr
                                      : problem.inputs.data() + b * problem.n_input_columns;
}

// Whether two segments are the same, field by field (a pass that keeps a segment
// must keep it bit for bit).
inline ::testing::AssertionResult SameSegment(const core::Segment<double>& a,
                                              const core::Segment<double>& b) {
  auto fail = [](const char* field) {
    return ::testing::AssertionFailure() << "segments differ in " << field;
  };
  if (a.kind != b.kind) return fail("kind");
  if (a.bit0 != b.bit0 || a.bit1 != b.bit1) return fail("bits");
  if (entries_of(a.unitary) != entries_of(b.unitary)) return fail("unitary");
  if (a.first_term != b.first_term || a.n_terms != b.n_terms) return fail("terms");
  if (a.pauli != b.pauli || a.source != b.source || a.param_index != b.param_index) {
    return fail("rotation");
  }
  if (a.angle_offset != b.angle_offset || a.shared_cos_half != b.shared_cos_half ||
      a.shared_sin_half != b.shared_sin_half || a.rotation_slot != b.rotation_slot) {
    return fail("angle");
  }
  if (a.dense_offset != b.dense_offset || a.accumulator_slot != b.accumulator_slot) {
    return fail("dense fields");
  }
  if (a.permutation_offset != b.permutation_offset) return fail("permutation_offset");
  return ::testing::AssertionSuccess();
}

// A segment with every field at the value lower_program gives a segment of no use
// for it (hand-built circuits).
inline core::Segment<double> blank_segment(core::SegmentKind kind, int bit0, int bit1) {
  core::Segment<double> segment{};
  segment.kind = kind;
  segment.bit0 = bit0;
  segment.bit1 = bit1;
  segment.unitary = {{1, 0}, {0, 0}, {0, 0}, {1, 0}};
  segment.param_index = -1;
  segment.rotation_slot = -1;
  segment.dense_offset = -1;
  segment.accumulator_slot = -1;
  segment.permutation_offset = -1;
  return segment;
}

// A random 2x2 unitary: RZ(a) RY(b) RZ(c) times a phase.
inline core::Matrix2<double> random_unitary(Rng& rng) {
  const Matrix u = matmul(matmul(one_qubit_matrix(11, rng.uniform(-kPi, kPi)),
                                 one_qubit_matrix(10, rng.uniform(-kPi, kPi)), 2),
                          one_qubit_matrix(11, rng.uniform(-kPi, kPi)), 2);
  const Cplx phase = std::polar(1.0, rng.uniform(-kPi, kPi));
  auto c = [&](int k) {
    const Cplx z = phase * u[static_cast<size_t>(k)];
    return core::Complex<double>{z.real(), z.imag()};
  };
  return {c(0), c(1), c(2), c(3)};
}

// ---- programs with one angle moved ----------------------------------------------------------

// The angle operation `op` of the problem's program gets for sample b (0 for fixed gates).
inline double operation_angle(const Problem& problem, int64_t op, int64_t b) {
  const int64_t* word = problem.program.words().data() + op * core::kOperationWidth;
  switch (static_cast<ParamSource>(word[3])) {
    case ParamSource::kInput:
      return problem.inputs[static_cast<size_t>(b * problem.n_input_columns + word[4])];
    case ParamSource::kWeight:
      return problem.weights[static_cast<size_t>(word[4])];
    case ParamSource::kConstant:
      return problem.constants[static_cast<size_t>(word[4])];
    default:
      return 0.0;
  }
}

// The program with operation `op` reading its angle from constants[constant_index]
// instead (every other operation as it was).
inline FlatProgram with_constant_angle(const FlatProgram& program, int64_t op,
                                       int64_t constant_index) {
  FlatProgram out(program.n_qubits());
  const auto& words = program.words();
  for (int64_t i = 0; i < program.n_ops(); ++i) {
    const int64_t* word = words.data() + i * core::kOperationWidth;
    if (i == op) {
      out.add(static_cast<Opcode>(word[0]), word[1], word[2], ParamSource::kConstant,
              constant_index);
    } else {
      out.add(static_cast<Opcode>(word[0]), word[1], word[2], static_cast<ParamSource>(word[3]),
              word[4]);
    }
  }
  return out;
}

// The final state of sample b with operation `op`'s angle replaced by `angle` (by the
// reference simulator of test_support.h, from the sample's initial state).
inline std::vector<Cplx> reference_state_with_angle(const Problem& problem, int64_t b, int64_t op,
                                                    double angle) {
  std::vector<double> constants = problem.constants;
  const auto index = static_cast<int64_t>(constants.size());
  constants.push_back(angle);
  return reference_state(with_constant_angle(problem.program, op, index), input_row(problem, b),
                         problem.weights, constants, initial_state_of(problem, b));
}

// ---- gradient terms --------------------------------------------------------------------------

using Term = std::pair<int64_t, Matrix>;  // (weight index, generator)

// Whether two lists of terms are equal as multisets, generators to `tol`.
inline ::testing::AssertionResult SameTerms(const std::vector<Term>& actual,
                                            const std::vector<Term>& expected, double tol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << actual.size() << " terms, expected " << expected.size();
  }
  std::vector<bool> used(expected.size(), false);
  for (size_t a = 0; a < actual.size(); ++a) {
    bool found = false;
    for (size_t e = 0; e < expected.size() && !found; ++e) {
      if (used[e] || expected[e].first != actual[a].first) continue;
      if (ComplexNear(actual[a].second, expected[e].second, tol)) found = used[e] = true;
    }
    if (!found) {
      return ::testing::AssertionFailure()
             << "term " << a << " (weight " << actual[a].first << ") matches no expected term";
    }
  }
  return ::testing::AssertionSuccess();
}

// 2i (dU/dw) U^dagger: for U = ... exp(-i w/2 P) ..., the sum of the generators of the
// rotations that read w, each transported to the end of U.
inline Matrix generator_from_derivative(const Matrix& derivative, const Matrix& unitary,
                                        int64_t dim) {
  Matrix g = matmul(derivative, dagger(unitary, static_cast<int>(dim)), static_cast<int>(dim));
  for (Cplx& entry : g) entry *= Cplx(0, 2);
  return g;
}

// ---- running an ExactCircuit on the CPU kernels ---------------------------------------------

// The view the kernels take, over the circuit's own (double) arrays.
inline core::CircuitView<double> view_of(const core::ExactCircuit& circuit) {
  core::CircuitView<double> view{};
  view.n_qubits = circuit.n_qubits;
  view.segments = circuit.segments.data();
  view.n_segments = static_cast<int32_t>(circuit.segments.size());
  view.n_prefix_segments = circuit.n_prefix_segments;
  view.terms = circuit.terms.data();
  view.n_rotation_slots = circuit.n_rotation_slots;
  view.dense_matrices = circuit.dense_matrices.data();
  view.dense_terms = circuit.dense_terms.data();
  view.n_accumulator_slots = circuit.n_accumulator_slots;
  view.permutations = circuit.permutations.data();
  view.permutation_signs = circuit.permutation_signs.data();
  return view;
}

// The readout and batch of a problem, as the kernels take them.
struct KernelRun {
  explicit KernelRun(const Problem& problem) : problem(problem) {
    if (!problem.probs) {
      index_masks = core::index_masks_from_wires(
          problem.z_masks.data(), static_cast<int64_t>(problem.z_masks.size()), problem.n_qubits());
    }
  }
  core::ReadoutView readout() const {
    return {problem.probs, index_masks.data(), static_cast<int64_t>(index_masks.size())};
  }
  core::BatchView<double> batch() const {
    core::BatchView<double> view;
    view.batch_size = problem.batch_size;
    view.inputs = problem.inputs.data();
    view.n_input_columns = problem.n_input_columns;
    if (problem.state_kind != StateKind::kNone) {
      view.initial_state = problem.initial_state.data();
      view.initial_state_is_complex = problem.state_kind == StateKind::kComplex;
    }
    return view;
  }
  core::ChunkTask<double> task(const core::CircuitView<double>& view, int lanes,
                               std::vector<double>& workspace) const {
    core::ChunkTask<double> task;
    task.circuit = view;
    task.batch = batch();
    task.readout = readout();
    task.begin = 0;
    task.end = problem.batch_size;
    task.n_weights = static_cast<int64_t>(problem.weights.size());
    const auto layout = core::workspace_layout(view, task.readout, task.n_weights, lanes);
    workspace.assign(static_cast<size_t>(layout.total), 0.0);
    task.workspace = workspace.data();
    return task;
  }

  Problem problem;
  std::vector<int64_t> index_masks;
};

// forward [batch, width] of a lowered circuit, all samples in one kernel call.
inline std::vector<double> kernel_forward(const core::ExactCircuit& circuit, const Problem& problem,
                                          const core::KernelSet<double>& kernels) {
  const KernelRun run(problem);
  std::vector<double> workspace;
  core::ChunkTask<double> task = run.task(view_of(circuit), kernels.lanes, workspace);
  std::vector<double> out(static_cast<size_t>(problem.batch_size * problem.width()), -7.0);
  task.out = out.data();
  kernels.forward(task);
  return out;
}

// The adjoint gradients of a lowered circuit: inputs [batch, n_input_columns], then weights.
inline std::pair<std::vector<double>, std::vector<double>> kernel_adjoint(
    const core::ExactCircuit& circuit, const Problem& problem,
    const core::KernelSet<double>& kernels) {
  const KernelRun run(problem);
  std::vector<double> workspace;
  core::ChunkTask<double> task = run.task(view_of(circuit), kernels.lanes, workspace);
  std::vector<double> grad_inputs(problem.inputs.size(), 0.0);
  std::vector<double> grad_weights(problem.weights.size(), 0.0);
  task.grad_out = problem.grad_out.data();
  task.grad_inputs = grad_inputs.empty() ? nullptr : grad_inputs.data();
  task.grad_weights = grad_weights.empty() ? nullptr : grad_weights.data();
  kernels.adjoint(task);
  return {grad_inputs, grad_weights};
}

// The lowering a simulator starts from (lower_program on the problem's tensors).
inline core::ExactCircuit lower(const Problem& problem, core::AngleShift shift = {}) {
  return core::lower_program(problem.parse(), problem.weights.data(), problem.constants.data(),
                             shift);
}

}  // namespace qmoe::test_support
