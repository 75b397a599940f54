// Kernels of the product-state path (product_state.h), samples in SIMD lanes
// like the statevector kernels. Per block: sin/cos of each wire's angle, the
// products of Bloch components, and fixed linear forms of those products.
#pragma once

#include <cstdint>

#include "chunk_task.h"
#include "isa_tag.h"
#include "product_state.h"
#include "vector_math.h"

#if defined(__GNUC__) && !defined(__clang__)
#define QMOE_PRODUCT_VECTORIZE _Pragma("GCC ivdep")
#else
#define QMOE_PRODUCT_VECTORIZE
#endif

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// values[wire][factor][lane]: the Bloch factors (1, sin, -sin, cos) of each
// wire's angle, and their derivatives (0, cos, -cos, -sin).
template <class Real, int Lanes>
inline void bloch_factors(const ChunkTask<Real>& task, const ProductStateView<Real>& plan,
                          int64_t first, Real* values, Real* derivatives) {
  for (int wire = 0; wire < plan.n_qubits; ++wire) {
    Real* value = values + wire * 4 * Lanes;
    Real* derivative = derivatives + wire * 4 * Lanes;
    const int64_t column = plan.columns[wire];
    for (int lane = 0; lane < Lanes; ++lane) {
      value[lane] = 1;
      derivative[lane] = 0;
    }
    if (column < 0) continue;  // the wire stays |0>: only factor 1 is used
    Real* sin_x = value + Lanes;
    Real* cos_x = value + 3 * Lanes;
    for (int lane = 0; lane < Lanes; ++lane) {
      const int64_t sample = first + lane;
      sin_x[lane] = sample < task.end
                        ? task.batch.inputs[sample * task.batch.n_input_columns + column] +
                              plan.offsets[wire]
                        : Real(0);
    }
    sincos_lanes<Real, Lanes>(sin_x, sin_x, cos_x);
    QMOE_PRODUCT_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      value[2 * Lanes + lane] = -sin_x[lane];
      derivative[Lanes + lane] = cos_x[lane];
      derivative[2 * Lanes + lane] = -cos_x[lane];
      derivative[3 * Lanes + lane] = -sin_x[lane];
    }
  }
}

// features[f][lane] = product over wires of the wire's factor in product f;
// wire `differentiated` (or none, -1) contributes its derivative instead.
template <class Real, int Lanes>
inline void bloch_products(const ProductStateView<Real>& plan, const Real* values,
                           const Real* derivatives, int differentiated, Real* features) {
  for (int64_t f = 0; f < plan.n_features; ++f) {
    Real product[Lanes];
    for (int lane = 0; lane < Lanes; ++lane) product[lane] = 1;
    const int8_t* factors = plan.factors + f * plan.n_qubits;
    for (int wire = 0; wire < plan.n_qubits; ++wire) {
      const Real* source = (wire == differentiated ? derivatives : values) +
                           (wire * 4 + factors[wire]) * Lanes;
      QMOE_PRODUCT_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) product[lane] *= source[lane];
    }
    for (int lane = 0; lane < Lanes; ++lane) features[f * Lanes + lane] = product[lane];
  }
}

// result[row][lane] = sum_f coefficients[row][f] features[f][lane]
template <class Real, int Lanes>
inline void linear_forms(const Real* coefficients, int64_t n_rows, int64_t n_features,
                         const Real* features, Real* result) {
  for (int64_t row = 0; row < n_rows; ++row) {
    Real sum[Lanes] = {};
    const Real* coefficient = coefficients + row * n_features;
    for (int64_t f = 0; f < n_features; ++f) {
      const Real c = coefficient[f];
      const Real* feature = features + f * Lanes;
      QMOE_PRODUCT_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) sum[lane] += c * feature[lane];
    }
    for (int lane = 0; lane < Lanes; ++lane) result[row * Lanes + lane] = sum[lane];
  }
}

template <class Real, int Lanes>
void product_state_forward_chunk(const ChunkTask<Real>& task) {
  const ProductStateView<Real>& plan = *task.product_state;
  Real* values = task.workspace;
  Real* derivatives = values + plan.n_qubits * 4 * Lanes;
  Real* features = derivatives + plan.n_qubits * 4 * Lanes;
  Real* outputs = features + plan.n_features * Lanes;
  for (int64_t first = task.begin; first < task.end; first += Lanes) {
    bloch_factors<Real, Lanes>(task, plan, first, values, derivatives);
    bloch_products<Real, Lanes>(plan, values, derivatives, -1, features);
    linear_forms<Real, Lanes>(plan.output_coefficients, plan.n_outputs, plan.n_features, features,
                              outputs);
    for (int lane = 0; lane < Lanes && first + lane < task.end; ++lane) {
      Real* row = task.out + (first + lane) * plan.n_outputs;
      for (int64_t m = 0; m < plan.n_outputs; ++m) row[m] = outputs[m * Lanes + lane];
    }
  }
}

template <class Real, int Lanes>
void product_state_adjoint_chunk(const ChunkTask<Real>& task) {
  const ProductStateView<Real>& plan = *task.product_state;
  const int64_t n_features = plan.n_features, n_outputs = plan.n_outputs;
  Real* values = task.workspace;
  Real* derivatives = values + plan.n_qubits * 4 * Lanes;
  Real* features = derivatives + plan.n_qubits * 4 * Lanes;
  Real* feature_derivatives = features + n_features * Lanes;
  Real* folded = feature_derivatives + n_features * Lanes;  // h_f = sum_m g_m a_mf
  Real* grad = folded + n_features * Lanes;                 // [outputs][lanes]
  Real* scratch = grad + 2 * n_outputs * Lanes;
  Real* accumulators = scratch + 2 * Lanes;  // [outputs][features][lanes]: sum g_m f
  Real* weight_accumulators = accumulators + n_outputs * n_features * Lanes;
  for (int64_t i = 0; i < n_outputs * n_features * Lanes; ++i) accumulators[i] = 0;
  for (int64_t i = 0; i < task.n_weights * Lanes; ++i) weight_accumulators[i] = 0;

  for (int64_t first = task.begin; first < task.end; first += Lanes) {
    bloch_factors<Real, Lanes>(task, plan, first, values, derivatives);
    bloch_products<Real, Lanes>(plan, values, derivatives, -1, features);
    for (int64_t m = 0; m < n_outputs; ++m) {
      for (int lane = 0; lane < Lanes; ++lane) {
        const int64_t sample = first + lane;
        grad[m * Lanes + lane] = sample < task.end ? task.grad_out[sample * n_outputs + m] : 0;
      }
    }
    for (int64_t m = 0; m < n_outputs; ++m) {
      const Real* g = grad + m * Lanes;
      for (int64_t f = 0; f < n_features; ++f) {
        Real* accumulator = accumulators + (m * n_features + f) * Lanes;
        const Real* feature = features + f * Lanes;
        QMOE_PRODUCT_VECTORIZE
        for (int lane = 0; lane < Lanes; ++lane) accumulator[lane] += g[lane] * feature[lane];
      }
    }
    if (task.grad_inputs == nullptr) continue;
    for (int64_t f = 0; f < n_features; ++f) {
      Real sum[Lanes] = {};
      for (int64_t m = 0; m < n_outputs; ++m) {
        const Real a = plan.output_coefficients[m * n_features + f];
        const Real* g = grad + m * Lanes;
        QMOE_PRODUCT_VECTORIZE
        for (int lane = 0; lane < Lanes; ++lane) sum[lane] += a * g[lane];
      }
      for (int lane = 0; lane < Lanes; ++lane) folded[f * Lanes + lane] = sum[lane];
    }
    for (int wire = 0; wire < plan.n_qubits; ++wire) {
      const int64_t column = plan.columns[wire];
      if (column < 0) continue;
      bloch_products<Real, Lanes>(plan, values, derivatives, wire, feature_derivatives);
      Real sum[Lanes] = {};
      for (int64_t f = 0; f < n_features; ++f) {
        const Real* h = folded + f * Lanes;
        const Real* d = feature_derivatives + f * Lanes;
        QMOE_PRODUCT_VECTORIZE
        for (int lane = 0; lane < Lanes; ++lane) sum[lane] += h[lane] * d[lane];
      }
      for (int lane = 0; lane < Lanes && first + lane < task.end; ++lane) {
        task.grad_inputs[(first + lane) * task.batch.n_input_columns + column] += sum[lane];
      }
    }
  }
  if (task.grad_weights == nullptr) return;
  for (int64_t t = 0; t < plan.n_weight_terms; ++t) {
    linear_forms<Real, Lanes>(plan.weight_coefficients + t * n_outputs * n_features, 1,
                              n_outputs * n_features, accumulators, scratch);
    Real* target = weight_accumulators + plan.weight_indices[t] * Lanes;
    for (int lane = 0; lane < Lanes; ++lane) target[lane] += scratch[lane];
  }
  for (int64_t w = 0; w < task.n_weights; ++w) {
    Real total = 0;
    for (int lane = 0; lane < Lanes; ++lane) total += weight_accumulators[w * Lanes + lane];
    task.grad_weights[w] += total;
  }
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
