#include "qmoe/core/program/dense_matrix.h"

#include <algorithm>

#include "qmoe/core/cpu/statevector/statevector_kernels.h"

namespace qmoe::core {

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
namespace {

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

}  // namespace

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
      apply_pauli_rotation<double, 1>(
          state, dim, pauli_action(segment.pauli, segment.bit0, segment.bit1), &zero, &one);
    });
    for (auto& entry : pauli) entry *= std::complex<double>(0.0, 1.0);
    generators.emplace_back(segment.param_index, std::move(pauli));
  }
  return generators;
}

SharedRun multiply_run(const ExactCircuit& circuit, size_t begin, size_t end, int64_t dim) {
  // The generator of a gate at the end of segment i moves to the end of the run
  // as V G V^dagger with V = U_run U_i^dagger, U_i the product up to segment i.
  SharedRun run{identity(dim), {}};
  std::vector<std::pair<Dense, size_t>> products_so_far;  // U_i, first generator of segment i
  for (size_t i = begin; i < end; ++i) {
    const Segment<double>& segment = circuit.segments[i];
    run.unitary = product(segment_unitary(segment, dim), run.unitary, dim);
    const size_t first = run.generators.size();
    for (auto& term : segment_generators(circuit, segment, dim)) run.generators.push_back(term);
    if (run.generators.size() > first) products_so_far.emplace_back(run.unitary, first);
  }
  for (size_t k = 0; k < products_so_far.size(); ++k) {
    const Dense rest = product(run.unitary, dagger(products_so_far[k].first, dim), dim);
    const Dense rest_dagger = dagger(rest, dim);
    const size_t last =
        k + 1 < products_so_far.size() ? products_so_far[k + 1].second : run.generators.size();
    for (size_t g = products_so_far[k].second; g < last; ++g) {
      Dense& generator = run.generators[g].second;
      generator = product(product(rest, generator, dim), rest_dagger, dim);
    }
  }
  return run;
}

}  // namespace qmoe::core
