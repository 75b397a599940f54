// The product-state path for small routers: when every per-sample angle is a
// one-qubit rotation of |0..0> (at most one per wire) and everything after it
// is shared, the state before the shared part is a product of single-qubit
// states rho_w = (I + b_w . sigma) / 2 whose Bloch vectors b_w are sin and cos
// of the angles. Each readout is then a fixed linear form in the 3**n products
// of Bloch components (its coefficients are tr(U^dagger O U P) / 2**n, computed
// once per call), and so is each gradient. Exact; no state is simulated per sample.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "qmoe/core/program/compiled_circuit.h"
#include "qmoe/core/program/readout.h"

namespace qmoe::core {

// What a Bloch component of one wire is, as a function of its angle x.
enum class BlochFactor : int8_t { kOne = 0, kSin = 1, kMinusSin = 2, kCos = 3 };

template <class Real>
struct ProductStateView {
  int n_qubits;
  // The kernels' products: one of the values (1, sin x, cos x) per wire (wire 0 most
  // significant digit in base 3), 3**n_qubits of them; a wire without angle has (1, 1, 0).
  int64_t n_features;
  int64_t n_outputs;       // readout width
  const int64_t* columns;  // per wire: input column, or -1 for a wire without (RX or RY) angle
  const Real* offsets;     // per wire: angle offset (parameter shift)
  const Real* output_coefficients;  // [n_outputs][n_features]
  int64_t n_weight_terms;
  const int64_t* weight_indices;    // [n_weight_terms]
  const Real* weight_coefficients;  // [n_weight_terms][n_outputs][n_features]
};

template <class Real>
struct ProductStatePlan {
  int n_qubits = 0;
  int64_t n_features = 0;
  int64_t n_outputs = 0;
  std::vector<int64_t> columns;
  std::vector<Real> offsets;
  std::vector<Real> output_coefficients;
  std::vector<int64_t> weight_indices;
  std::vector<Real> weight_coefficients;

  ProductStateView<Real> view() const {
    return {n_qubits,
            n_features,
            n_outputs,
            columns.data(),
            offsets.data(),
            output_coefficients.data(),
            static_cast<int64_t>(weight_indices.size()),
            weight_indices.data(),
            weight_coefficients.data()};
  }
};

// The plan for a lowered circuit and readout, or null when the circuit does
// not have the product-state shape or the path would not pay off.
template <class Real>
std::unique_ptr<ProductStatePlan<Real>> plan_product_state(const ExactCircuit& circuit,
                                                           const ReadoutView& readout);

}  // namespace qmoe::core
