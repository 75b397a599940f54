// Dense fusion for small states: a run of shared-angle segments becomes one
// 2**n x 2**n unitary, applied per sample as one matrix-vector product. The
// run's trainable angles keep their generators, transported to the end of
// the run, so the adjoint sweep needs only the summed outer product psi lambda^dagger
// of the run (see adjoint_chunk) to give all of their gradients at once.
#include <complex>
#include <vector>

#include "compiled_circuit.h"
#include "statevector_kernels.h"

namespace qmoe::core {
namespace {

// Beyond 4 qubits a dense product costs more than the gates it replaces.
constexpr int kMaxDenseQubits = 4;

using Dense = std::vector<std::complex<double>>;  // row-major dim x dim

Dense identity(int64_t dim) {
  Dense m(static_cast<size_t>(dim * dim));
  for (int64_t i = 0; i < dim; ++i) m[static_cast<size_t>(i * dim + i)] = 1.0;
  return m;
}

Dense product(const Dense& a, const Dense& b, int64_t dim) {
  Dense c(static_cast<size_t>(dim * dim));
  for (int64_t i = 0; i < dim; ++i) {
    for (int64_t k = 0; k < dim; ++k) {
      const std::complex<double> a_ik = a[static_cast<size_t>(i * dim + k)];
      for (int64_t j = 0; j < dim; ++j) {
        c[static_cast<size_t>(i * dim + j)] += a_ik * b[static_cast<size_t>(k * dim + j)];
      }
    }
  }
  return c;
}

Dense dagger(const Dense& a, int64_t dim) {
  Dense c(static_cast<size_t>(dim * dim));
  for (int64_t i = 0; i < dim; ++i) {
    for (int64_t j = 0; j < dim; ++j) {
      c[static_cast<size_t>(j * dim + i)] = std::conj(a[static_cast<size_t>(i * dim + j)]);
    }
  }
  return c;
}

// The matrix of `apply` (acting on one state, one lane) column by column.
template <class Apply>
Dense matrix_of(int64_t dim, Apply&& apply) {
  Dense m(static_cast<size_t>(dim * dim));
  std::vector<double> state(static_cast<size_t>(2 * dim));
  for (int64_t column = 0; column < dim; ++column) {
    std::fill(state.begin(), state.end(), 0.0);
    state[static_cast<size_t>(2 * column)] = 1.0;
    apply(state.data());
    for (int64_t row = 0; row < dim; ++row) {
      m[static_cast<size_t>(row * dim + column)] = {state[static_cast<size_t>(2 * row)],
                                                    state[static_cast<size_t>(2 * row + 1)]};
    }
  }
  return m;
}

Dense segment_unitary(const Segment<double>& segment, int64_t dim) {
  return matrix_of(dim, [&](double* state) {
    switch (segment.kind) {
      case SegmentKind::kSharedSingleQubit:
        apply_one_qubit<double, 1>(state, dim, segment.bit0, SharedMatrix<double>{segment.unitary});
        break;
      case SegmentKind::kPauliRotation:
        apply_pauli_rotation<double, 1>(state, dim,
                                        pauli_action(segment.pauli, segment.bit0, segment.bit1),
                                        &segment.shared_cos_half, &segment.shared_sin_half);
        break;
      default:
        apply_fixed_two_qubit<double, 1>(state, dim, segment.kind, segment.bit0, segment.bit1);
        break;
    }
  });
}

// Generators (at the end of their segment) of the segment's trainable angles.
std::vector<std::pair<int64_t, Dense>> segment_generators(const ExactCircuit& circuit,
                                                          const Segment<double>& segment,
                                                          int64_t dim) {
  std::vector<std::pair<int64_t, Dense>> generators;
  if (segment.kind == SegmentKind::kSharedSingleQubit) {
    for (int32_t t = 0; t < segment.n_terms; ++t) {
      const GradientTerm<double>& term = circuit.terms[static_cast<size_t>(segment.first_term + t)];
      generators.emplace_back(term.weight_index, matrix_of(dim, [&](double* state) {
                                apply_one_qubit<double, 1>(state, dim, segment.bit0,
                                                           SharedMatrix<double>{term.generator});
                              }));
    }
  } else if (segment.kind == SegmentKind::kPauliRotation &&
             segment.source == ParamSource::kWeight) {
    // P itself: exp(-i pi/2 P) = -i P, so P = i * (rotation with cos 0, sin 1).
    const double zero = 0.0, one = 1.0;
    Dense pauli = matrix_of(dim, [&](double* state) {
      apply_pauli_rotation<double, 1>(state, dim,
                                      pauli_action(segment.pauli, segment.bit0, segment.bit1),
                                      &zero, &one);
    });
    for (auto& entry : pauli) entry *= std::complex<double>(0.0, 1.0);
    generators.emplace_back(segment.param_index, std::move(pauli));
  }
  return generators;
}

bool is_shared(const Segment<double>& segment) {
  return segment.kind != SegmentKind::kPauliRotation || segment.source != ParamSource::kInput;
}

// Complex multiplies per sample of applying the segment gate by gate.
int64_t gate_cost(const Segment<double>& segment, int64_t dim) {
  switch (segment.kind) {
    case SegmentKind::kSharedSingleQubit:
    case SegmentKind::kPauliRotation:
      return 2 * dim;
    default:
      return dim / 2;
  }
}

int64_t append_matrix(std::vector<double>& pool, const Dense& matrix) {
  const auto offset = static_cast<int64_t>(pool.size());
  for (const auto& entry : matrix) {
    pool.push_back(entry.real());
    pool.push_back(entry.imag());
  }
  return offset;
}

}  // namespace

void fuse_dense_runs(ExactCircuit& circuit) {
  if (circuit.n_qubits > kMaxDenseQubits) return;
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  std::vector<Segment<double>> fused;
  const auto& segments = circuit.segments;
  size_t begin = 0;
  while (begin < segments.size()) {
    size_t end = begin;
    int64_t cost = 0;
    while (end < segments.size() && is_shared(segments[end])) cost += gate_cost(segments[end++], dim);
    if (end - begin < 2 || cost <= dim * dim) {
      // not worth it: keep the run (or the per-sample segment) as it is
      for (size_t i = begin; i < std::max(end, begin + 1); ++i) fused.push_back(segments[i]);
      begin = std::max(end, begin + 1);
      continue;
    }
    // Walk the run backwards: `after` is the product of the segments that follow.
    Dense after = identity(dim);
    std::vector<DenseGradientTerm> terms;
    for (size_t i = end; i-- > begin;) {
      for (auto& [weight_index, generator] : segment_generators(circuit, segments[i], dim)) {
        const Dense transported = product(product(after, generator, dim), dagger(after, dim), dim);
        terms.push_back({weight_index, 0});
        terms.back().generator_offset = append_matrix(circuit.dense_matrices, transported);
      }
      after = product(after, segment_unitary(segments[i], dim), dim);
    }
    Segment<double> segment = segments[begin];
    segment.kind = SegmentKind::kDenseUnitary;
    segment.bit0 = segment.bit1 = -1;
    segment.dense_offset = append_matrix(circuit.dense_matrices, after);
    segment.first_term = static_cast<int32_t>(circuit.dense_terms.size());
    segment.n_terms = static_cast<int32_t>(terms.size());
    segment.accumulator_slot = circuit.n_accumulator_slots++;
    circuit.dense_terms.insert(circuit.dense_terms.end(), terms.begin(), terms.end());
    fused.push_back(segment);
    begin = end;
  }
  circuit.segments = std::move(fused);
}

}  // namespace qmoe::core
