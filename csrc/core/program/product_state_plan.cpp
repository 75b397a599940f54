#include "qmoe/core/program/product_state_plan.h"

#include <complex>

#include "qmoe/core/math/parity.h"
#include "qmoe/core/program/dense_matrix.h"

namespace qmoe::core {
namespace {

// Beyond this, the per-call coefficients (weights x outputs x 3**n products x
// 4**n) cost more than the path saves at moderate batch sizes.
constexpr int kMaxProductStateQubits = 3;

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

// The Pauli string with paulis[w] on wire w (wire 0 = most significant bit).
Dense pauli_string(const std::vector<int>& paulis, int n_qubits) {
  const int64_t dim = int64_t{1} << n_qubits;
  Dense m(static_cast<size_t>(dim * dim));
  for (int64_t row = 0; row < dim; ++row) {
    for (int64_t column = 0; column < dim; ++column) {
      std::complex<double> entry = 1;
      for (int wire = 0; wire < n_qubits && entry != 0.0; ++wire) {
        const int bit = n_qubits - 1 - wire;
        entry *=
            pauli_entry(paulis[static_cast<size_t>(wire)], (row >> bit) & 1, (column >> bit) & 1);
      }
      m[static_cast<size_t>(row * dim + column)] = entry;
    }
  }
  return m;
}

// The diagonal of readout output m: a Z-string's signs or a basis projector.
std::vector<double> diagonal(const ReadoutView& readout, int64_t output, int64_t dim) {
  std::vector<double> values(static_cast<size_t>(dim));
  for (int64_t k = 0; k < dim; ++k) {
    if (readout.probs) {
      values[static_cast<size_t>(k)] = k == output ? 1.0 : 0.0;
    } else {
      values[static_cast<size_t>(k)] = parity_sign<double>(k, readout.index_masks[output]);
    }
  }
  return values;
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
  for (size_t i = prefix; i < segments.size(); ++i) {
    if (segments[i].kind == SegmentKind::kPauliRotation &&
        segments[i].source == ParamSource::kInput) {
      return nullptr;
    }
  }
  const SharedRun run = multiply_run(circuit, prefix, segments.size(), dim);
  const Dense& unitary = run.unitary;

  auto plan = std::make_unique<ProductStatePlan<Real>>();
  plan->n_qubits = n;
  plan->n_outputs = readout.probs ? dim : readout.n_masks;
  plan->columns = columns;
  for (double offset : offsets) plan->offsets.push_back(static_cast<Real>(offset));

  // Enumerate the products: one Bloch component per wire, wire 0 slowest.
  std::vector<std::vector<std::pair<int, BlochFactor>>> components;
  for (int wire = 0; wire < n; ++wire) components.push_back(bloch_components(axes[wire]));
  std::vector<std::vector<int>> feature_paulis{{}};
  // Each product also gets its index among the kernels' canonical products: the
  // kernels multiply per-wire values (1, sin x or 1, cos x or 0), so component c of
  // wire w is digit c of the index in base 3, wire 0 most significant, and the sign
  // of a -sin factor moves into the coefficients.
  std::vector<int64_t> canonical_index{0};
  std::vector<double> canonical_sign{1.0};
  for (int wire = 0; wire < n; ++wire) {
    std::vector<std::vector<int>> next_paulis;
    std::vector<int64_t> next_index;
    std::vector<double> next_sign;
    for (size_t f = 0; f < feature_paulis.size(); ++f) {
      const auto& wire_components = components[static_cast<size_t>(wire)];
      for (size_t c = 0; c < wire_components.size(); ++c) {
        const auto& [pauli, factor] = wire_components[c];
        next_paulis.push_back(feature_paulis[f]);
        next_paulis.back().push_back(pauli);
        next_index.push_back(3 * canonical_index[f] + static_cast<int64_t>(c));
        next_sign.push_back(factor == BlochFactor::kMinusSin ? -canonical_sign[f]
                                                             : canonical_sign[f]);
      }
    }
    feature_paulis = std::move(next_paulis);
    canonical_index = std::move(next_index);
    canonical_sign = std::move(next_sign);
  }
  // Worth it only when the linear forms cost less than the dense path's products.
  if (static_cast<int64_t>(feature_paulis.size()) * plan->n_outputs > 3 * dim * dim) {
    return nullptr;
  }
  plan->n_features = 1;
  for (int wire = 0; wire < n; ++wire) plan->n_features *= 3;
  for (int wire = 0; wire < n; ++wire) {
    // a wire without angle, or with RZ on |0>, has the values (1, 1, 0) and no derivative
    if (axes[static_cast<size_t>(wire)] == 2) plan->columns[static_cast<size_t>(wire)] = -1;
  }

  // With S_P = U P U^dagger (P a product of Paulis):
  //   <O_m> = tr(U^dagger O_m U rho), coefficient tr(O_m S_P) / dim;
  //   d<O_m>/dw = tr(i/2 U^dagger [G, O_m] U rho), coefficient
  //   i/2 sum_kl G_kl (O_l - O_k) S_P[l][k] / dim, G the generator at the end of U.
  const Dense unitary_dagger = dagger(unitary, dim);
  std::vector<Dense> conjugated;  // S_P per product
  for (const auto& paulis : feature_paulis) {
    conjugated.push_back(
        product(product(unitary, pauli_string(paulis, n), dim), unitary_dagger, dim));
  }
  std::vector<std::vector<double>> observables;  // diagonal of O_m
  for (int64_t m = 0; m < plan->n_outputs; ++m) observables.push_back(diagonal(readout, m, dim));
  const double scale = 1.0 / static_cast<double>(dim);
  const int64_t n_canonical = plan->n_features;
  plan->output_coefficients.assign(static_cast<size_t>(plan->n_outputs * n_canonical), Real(0));
  for (int64_t m = 0; m < plan->n_outputs; ++m) {
    for (size_t f = 0; f < conjugated.size(); ++f) {
      const Dense& s = conjugated[f];
      double trace = 0;
      for (int64_t k = 0; k < dim; ++k) {
        trace += observables[m][k] * s[static_cast<size_t>(k * dim + k)].real();
      }
      plan->output_coefficients[static_cast<size_t>(m * n_canonical + canonical_index[f])] =
          static_cast<Real>(canonical_sign[f] * trace * scale);
    }
  }
  for (const auto& [weight_index, generator] : run.generators) {
    plan->weight_indices.push_back(weight_index);
    const size_t term_start = plan->weight_coefficients.size();
    plan->weight_coefficients.resize(
        term_start + static_cast<size_t>(plan->n_outputs * n_canonical), Real(0));
    for (int64_t m = 0; m < plan->n_outputs; ++m) {
      const std::vector<double>& o = observables[m];
      for (size_t f = 0; f < conjugated.size(); ++f) {
        const Dense& s = conjugated[f];
        std::complex<double> trace = 0;
        for (int64_t k = 0; k < dim; ++k) {
          for (int64_t l = 0; l < dim; ++l) {
            const double difference = o[l] - o[k];
            if (difference == 0.0) continue;
            trace += generator[static_cast<size_t>(k * dim + l)] * difference *
                     s[static_cast<size_t>(l * dim + k)];
          }
        }
        plan->weight_coefficients[term_start +
                                  static_cast<size_t>(m * n_canonical + canonical_index[f])] =
            static_cast<Real>(canonical_sign[f] * (std::complex<double>(0.0, 0.5) * trace).real() *
                              scale);
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
