// Kernels of the product-state path (product_state.h), samples in SIMD lanes
// like the statevector kernels. Per block: sin/cos of each wire's angle, the
// products of Bloch components, and fixed linear forms of those products.
#pragma once

#include <cstdint>

#include "chunk_task.h"
#include "isa_tag.h"
#include "lane_io.h"
#include "lane_vector.h"
#include "product_state.h"
#include "vector_math.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// staged[c][b * Lanes + lane] = rows[(group + b * Lanes + lane) * width + columns[c]], for the
// blocks of the group that start before `end`; columns[c] < 0 is skipped.
template <class Real, int Lanes>
inline void stage_columns(const Real* rows, int64_t width, const int64_t* columns,
                          int64_t n_columns, int64_t group, int64_t end, Real* staged) {
  for (int64_t c = 0; c < n_columns; ++c) {
    const int64_t column = columns == nullptr ? c : columns[c];
    if (column < 0) continue;
    for (int block = 0; block < kStagedBlocks; ++block) {
      const int64_t first = group + block * Lanes;
      if (first >= end) break;
      load_column<Real, Lanes>(rows, width, column, first, end,
                               staged + (c * kStagedBlocks + block) * Lanes);
    }
  }
}

// values[wire][factor][lane]: the Bloch factors (1, sin, -sin, cos) of each
// wire's angle, and their derivatives (0, cos, -cos, -sin). `angles` is the
// block's first lane in the staged inputs.
template <class Real, int Lanes>
inline void bloch_factors(const ProductStateView<Real>& plan, const Real* angles, Real* values,
                          Real* derivatives) {
  const auto one = broadcast_lanes<Real, Lanes>(1), zero = broadcast_lanes<Real, Lanes>(0);
  for (int wire = 0; wire < plan.n_qubits; ++wire) {
    Real* value = values + wire * 4 * Lanes;
    Real* derivative = derivatives + wire * 4 * Lanes;
    store_lanes<Real, Lanes>(value, one);
    store_lanes<Real, Lanes>(derivative, zero);
    if (plan.columns[wire] < 0) continue;  // the wire stays |0>: only factor 1 is used
    const auto angle =
        load_lanes<Real, Lanes>(angles + wire * kStagedBlocks * Lanes) + plan.offsets[wire];
    LaneVector<Real, Lanes> sine, cosine;
    sincos_vector<Real, Lanes>(angle, sine, cosine);
    store_lanes<Real, Lanes>(value + Lanes, sine);
    store_lanes<Real, Lanes>(value + 2 * Lanes, -sine);
    store_lanes<Real, Lanes>(value + 3 * Lanes, cosine);
    store_lanes<Real, Lanes>(derivative + Lanes, cosine);
    store_lanes<Real, Lanes>(derivative + 2 * Lanes, -cosine);
    store_lanes<Real, Lanes>(derivative + 3 * Lanes, -sine);
  }
}

// features[f][lane] = product over wires of the wire's factor in product f;
// wire `differentiated` (or none, -1) contributes its derivative instead.
template <class Real, int Lanes>
inline void bloch_products(const ProductStateView<Real>& plan, const Real* values,
                           const Real* derivatives, int differentiated, Real* features) {
  for (int64_t f = 0; f < plan.n_features; ++f) {
    auto product = broadcast_lanes<Real, Lanes>(1);
    const int8_t* factors = plan.factors + f * plan.n_qubits;
    for (int wire = 0; wire < plan.n_qubits; ++wire) {
      const Real* source =
          (wire == differentiated ? derivatives : values) + (wire * 4 + factors[wire]) * Lanes;
      product *= load_lanes<Real, Lanes>(source);
    }
    store_lanes<Real, Lanes>(features + f * Lanes, product);
  }
}

// result[row][lane] = sum_f coefficients[row][f] features[f][lane], in four
// interleaved partial sums so that the FMAs do not wait on each other.
template <class Real, int Lanes>
inline void linear_forms(const Real* coefficients, int64_t n_rows, int64_t n_features,
                         const Real* features, Real* result) {
  for (int64_t row = 0; row < n_rows; ++row) {
    const Real* coefficient = coefficients + row * n_features;
    LaneVector<Real, Lanes> sums[4] = {};
    int64_t f = 0;
    for (; f + 4 <= n_features; f += 4) {
      for (int part = 0; part < 4; ++part) {
        sums[part] +=
            coefficient[f + part] * load_lanes<Real, Lanes>(features + (f + part) * Lanes);
      }
    }
    for (; f < n_features; ++f) {
      sums[0] += coefficient[f] * load_lanes<Real, Lanes>(features + f * Lanes);
    }
    store_lanes<Real, Lanes>(result + row * Lanes, (sums[0] + sums[1]) + (sums[2] + sums[3]));
  }
}

template <class Real, int Lanes>
void product_state_forward_chunk(const ChunkTask<Real>& task) {
  const ProductStateView<Real>& plan = *task.product_state;
  Real* values = task.workspace;
  Real* derivatives = values + plan.n_qubits * 4 * Lanes;
  Real* features = derivatives + plan.n_qubits * 4 * Lanes;
  Real* outputs = features + plan.n_features * Lanes;
  Real* staged_angles = outputs + plan.n_outputs * Lanes;
  for (int64_t group = task.begin; group < task.end; group += kStagedBlocks * Lanes) {
    stage_columns<Real, Lanes>(task.batch.inputs, task.batch.n_input_columns, plan.columns,
                               plan.n_qubits, group, task.end, staged_angles);
    for (int block = 0; block < kStagedBlocks; ++block) {
      const int64_t first = group + block * Lanes;
      if (first >= task.end) break;
      bloch_factors<Real, Lanes>(plan, staged_angles + block * Lanes, values, derivatives);
      bloch_products<Real, Lanes>(plan, values, derivatives, -1, features);
      linear_forms<Real, Lanes>(plan.output_coefficients, plan.n_outputs, plan.n_features, features,
                                outputs);
      store_rows<Real, Lanes>(outputs, plan.n_outputs, first, task.end, task.out);
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
  Real* staged_angles = weight_accumulators + task.n_weights * Lanes;
  Real* staged_grads = staged_angles + plan.n_qubits * kStagedBlocks * Lanes;
  for (int64_t i = 0; i < n_outputs * n_features * Lanes; ++i) accumulators[i] = 0;
  for (int64_t i = 0; i < task.n_weights * Lanes; ++i) weight_accumulators[i] = 0;

  for (int64_t group = task.begin; group < task.end; group += kStagedBlocks * Lanes) {
    stage_columns<Real, Lanes>(task.batch.inputs, task.batch.n_input_columns, plan.columns,
                               plan.n_qubits, group, task.end, staged_angles);
    stage_columns<Real, Lanes>(task.grad_out, n_outputs, nullptr, n_outputs, group, task.end,
                               staged_grads);
    for (int block = 0; block < kStagedBlocks; ++block) {
      const int64_t first = group + block * Lanes;
      if (first >= task.end) break;
      bloch_factors<Real, Lanes>(plan, staged_angles + block * Lanes, values, derivatives);
      bloch_products<Real, Lanes>(plan, values, derivatives, -1, features);
      for (int64_t m = 0; m < n_outputs; ++m) {
        store_lanes<Real, Lanes>(
            grad + m * Lanes,
            load_lanes<Real, Lanes>(staged_grads + (m * kStagedBlocks + block) * Lanes));
      }
      for (int64_t m = 0; m < n_outputs; ++m) {
        const auto g = load_lanes<Real, Lanes>(grad + m * Lanes);
        for (int64_t f = 0; f < n_features; ++f) {
          Real* accumulator = accumulators + (m * n_features + f) * Lanes;
          store_lanes<Real, Lanes>(accumulator,
                                   load_lanes<Real, Lanes>(accumulator) +
                                       g * load_lanes<Real, Lanes>(features + f * Lanes));
        }
      }
      if (task.grad_inputs == nullptr) continue;
      for (int64_t f = 0; f < n_features; ++f) {
        auto sum = broadcast_lanes<Real, Lanes>(0);
        for (int64_t m = 0; m < n_outputs; ++m) {
          sum += plan.output_coefficients[m * n_features + f] *
                 load_lanes<Real, Lanes>(grad + m * Lanes);
        }
        store_lanes<Real, Lanes>(folded + f * Lanes, sum);
      }
      for (int wire = 0; wire < plan.n_qubits; ++wire) {
        const int64_t column = plan.columns[wire];
        if (column < 0) continue;
        bloch_products<Real, Lanes>(plan, values, derivatives, wire, feature_derivatives);
        auto sum = broadcast_lanes<Real, Lanes>(0);
        for (int64_t f = 0; f < n_features; ++f) {
          sum += load_lanes<Real, Lanes>(folded + f * Lanes) *
                 load_lanes<Real, Lanes>(feature_derivatives + f * Lanes);
        }
        Real* lane_sums = scratch;
        store_lanes<Real, Lanes>(lane_sums, sum);
        add_to_column<Real, Lanes>(lane_sums, task.batch.n_input_columns, column, first, task.end,
                                   task.grad_inputs);
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
