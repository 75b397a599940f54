#include "product_state.h"

#include <complex>

#include "dense_matrix.h"

namespace qmoe::core {
namespace {

// Features beyond this many products cost more than simulating the state.
constexpr int kMaxProductStateQubits = 4;

// The single-qubit Paulis I, X, Y, Z as 2x2 row-major matrices.
std::complex<double> pauli_entry(int pauli, int row, int column) {
  static const std::complex<double> table[4][2][2] = {
      {{1, 0}, {0, 1}},
      {{0, 1}, {1, 0}},
      {{0, {0, -1}}, {{0, 1}, 0}},
      {{1, 0}, {0, -1}},
  };
  return table[pauli][row][column];
}

// Bloch components (Pauli index, factor) of R(x)|0> for an embedding axis,
// or of |0> for a wire without a per-sample angle.
std::vector<std::pair<int, BlochFactor>> bloch_components(int axis) {
  switch (axis) {
    case 0:  // RX(x)|0>: b = (0, -sin x, cos x)
      return {{0, BlochFactor::kOne}, {2, BlochFactor::kMinusSin}, {3, BlochFactor::kCos}};
    case 1:  // RY(x)|0>: b = (sin x, 0, cos x)
      return {{0, BlochFactor::kOne}, {1, BlochFactor::kSin}, {3, BlochFactor::kCos}};
    default:  // RZ(x)|0> and |0>: b = (0, 0, 1)
      return {{0, BlochFactor::kOne}, {3, BlochFactor::kOne}};
  }
}

// tr(A P) / dim for the Pauli string P given per wire (wire 0 = most significant bit).
double pauli_coefficient(const Dense& a, const std::vector<int>& paulis, int n_qubits) {
  const int64_t dim = int64_t{1} << n_qubits;
  std::complex<double> trace = 0;
  for (int64_t row = 0; row < dim; ++row) {
    for (int64_t column = 0; column < dim; ++column) {
      std::complex<double> p = 1;
      for (int wire = 0; wire < n_qubits && p != 0.0; ++wire) {
        const int bit = n_qubits - 1 - wire;
        p *= pauli_entry(paulis[static_cast<size_t>(wire)], (column >> bit) & 1, (row >> bit) & 1);
      }
      // tr(A P) = sum_{row, column} A[row][column] P[column][row]
      trace += a[static_cast<size_t>(row * dim + column)] * p;
    }
  }
  return trace.real() / static_cast<double>(dim);
}

Dense diagonal_observable(const ReadoutView& readout, int64_t output, int64_t dim) {
  Dense o(static_cast<size_t>(dim * dim));
  for (int64_t k = 0; k < dim; ++k) {
    double value;
    if (readout.probs) {
      value = k == output ? 1.0 : 0.0;
    } else {
      const auto bits = static_cast<unsigned long long>(k & readout.index_masks[output]);
      value = __builtin_parityll(bits) ? -1.0 : 1.0;
    }
    o[static_cast<size_t>(k * dim + k)] = value;
  }
  return o;
}

}  // namespace

template <class Real>
std::unique_ptr<ProductStatePlan<Real>> plan_product_state(const ExactCircuit& circuit,
                                                           const ReadoutView& readout) {
  const int n = circuit.n_qubits;
  if (n > kMaxProductStateQubits) return nullptr;
  const int64_t dim = int64_t{1} << n;
  const auto& segments = circuit.segments;

  // The prefix: per-sample one-qubit rotations, at most one per wire.
  std::vector<int64_t> columns(static_cast<size_t>(n), -1);
  std::vector<double> offsets(static_cast<size_t>(n), 0.0);
  std::vector<int> axes(static_cast<size_t>(n), 2);
  size_t prefix = 0;
  for (; prefix < segments.size(); ++prefix) {
    const Segment<double>& segment = segments[prefix];
    if (segment.kind != SegmentKind::kPauliRotation || segment.source != ParamSource::kInput) {
      break;
    }
    const int wire = n - 1 - segment.bit0;
    if (segment.bit1 >= 0 || columns[static_cast<size_t>(wire)] >= 0) return nullptr;
    columns[static_cast<size_t>(wire)] = segment.param_index;
    offsets[static_cast<size_t>(wire)] = segment.angle_offset;
    axes[static_cast<size_t>(wire)] = static_cast<int>(segment.pauli);
  }
  // The rest: shared, multiplied into one unitary; generators transported to its end.
  Dense unitary = identity(dim);
  std::vector<std::pair<int64_t, Dense>> generators;
  for (size_t i = prefix; i < segments.size(); ++i) {
    const Segment<double>& segment = segments[i];
    if (segment.kind == SegmentKind::kPauliRotation && segment.source == ParamSource::kInput) {
      return nullptr;
    }
    const Dense gate = segment_unitary(segment, dim);
    const Dense gate_dagger = dagger(gate, dim);
    for (auto& [index, generator] : generators) {
      generator = product(product(gate, generator, dim), gate_dagger, dim);
    }
    for (auto& term : segment_generators(circuit, segment, dim)) generators.push_back(term);
    unitary = product(gate, unitary, dim);
  }

  auto plan = std::make_unique<ProductStatePlan<Real>>();
  plan->n_qubits = n;
  plan->n_outputs = readout.probs ? dim : readout.n_masks;
  plan->columns = columns;
  for (double offset : offsets) plan->offsets.push_back(static_cast<Real>(offset));

  // Enumerate the products: one Bloch component per wire, wire 0 slowest.
  std::vector<std::vector<std::pair<int, BlochFactor>>> components;
  for (int wire = 0; wire < n; ++wire) components.push_back(bloch_components(axes[wire]));
  std::vector<std::vector<int>> feature_paulis{{}};
  std::vector<std::vector<int8_t>> feature_factors{{}};
  for (int wire = 0; wire < n; ++wire) {
    std::vector<std::vector<int>> next_paulis;
    std::vector<std::vector<int8_t>> next_factors;
    for (size_t f = 0; f < feature_paulis.size(); ++f) {
      for (const auto& [pauli, factor] : components[static_cast<size_t>(wire)]) {
        next_paulis.push_back(feature_paulis[f]);
        next_paulis.back().push_back(pauli);
        next_factors.push_back(feature_factors[f]);
        next_factors.back().push_back(static_cast<int8_t>(factor));
      }
    }
    feature_paulis = std::move(next_paulis);
    feature_factors = std::move(next_factors);
  }
  plan->n_features = static_cast<int64_t>(feature_paulis.size());
  // Worth it only when the linear forms cost less than the dense path's products.
  if (plan->n_features * plan->n_outputs > 3 * dim * dim) return nullptr;
  for (const auto& factors : feature_factors) {
    plan->factors.insert(plan->factors.end(), factors.begin(), factors.end());
  }

  const Dense unitary_dagger = dagger(unitary, dim);
  for (int64_t m = 0; m < plan->n_outputs; ++m) {
    const Dense observable = diagonal_observable(readout, m, dim);
    // <O> = tr(U^dagger O U rho)
    const Dense heisenberg = product(product(unitary_dagger, observable, dim), unitary, dim);
    for (const auto& paulis : feature_paulis) {
      plan->output_coefficients.push_back(
          static_cast<Real>(pauli_coefficient(heisenberg, paulis, n)));
    }
  }
  // d<O>/dw = tr(i/2 U^dagger [G, O] U rho), G the generator at the end of the shared part.
  for (const auto& [weight_index, generator] : generators) {
    plan->weight_indices.push_back(weight_index);
    for (int64_t m = 0; m < plan->n_outputs; ++m) {
      const Dense observable = diagonal_observable(readout, m, dim);
      Dense commutator = product(generator, observable, dim);
      const Dense reverse = product(observable, generator, dim);
      for (size_t i = 0; i < commutator.size(); ++i) {
        commutator[i] = std::complex<double>(0.0, 0.5) * (commutator[i] - reverse[i]);
      }
      const Dense derivative =
          product(product(unitary_dagger, commutator, dim), unitary, dim);
      for (const auto& paulis : feature_paulis) {
        plan->weight_coefficients.push_back(
            static_cast<Real>(pauli_coefficient(derivative, paulis, n)));
      }
    }
  }
  return plan;
}

template std::unique_ptr<ProductStatePlan<float>> plan_product_state(const ExactCircuit&,
                                                                     const ReadoutView&);
template std::unique_ptr<ProductStatePlan<double>> plan_product_state(const ExactCircuit&,
                                                                      const ReadoutView&);

}  // namespace qmoe::core
