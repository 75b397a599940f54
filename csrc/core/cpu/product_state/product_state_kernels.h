// Kernels of the product-state path (product_state.h), samples in SIMD lanes
// like the statevector kernels. Per block: sin/cos of each wire's angle, the
// 3**N products of per-wire values, and fixed linear forms of those products.
// Templated on the number of qubits N (1 to 3), so every product is a
// compile-time combination of registers.
#pragma once

#include <cstdint>

#include "qmoe/core/cpu/product_state/product_state_workspace.h"
#include "qmoe/core/cpu/simd/lane_io.h"
#include "qmoe/core/cpu/simd/lane_vector.h"
#include "qmoe/core/cpu/simd/vector_math.h"
#include "qmoe/core/cpu/statevector/chunk_task.h"
#include "qmoe/core/math/isa_tag.h"
#include "qmoe/core/program/product_state_plan.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

constexpr int power_of_three(int n) { return n == 0 ? 1 : 3 * power_of_three(n - 1); }

// Digit `wire` (wire 0 most significant) of product index f in base 3.
template <int N>
constexpr int product_digit(int f, int wire) {
  return f / power_of_three(N - 1 - wire) % 3;
}

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

// One block of N wires: per wire the values (1, sin x, cos x) and their
// derivatives (0, cos x, -sin x), or (1, 1, 0) and 0 for a wire without angle;
// and the 3**N products of one value per wire.
template <class Real, int Lanes, int N>
struct ProductBlock {
  using Vector = LaneVector<Real, Lanes>;
  static constexpr int kProducts = power_of_three(N);
  Vector value[N][3];
  Vector slope[N][3];
  Vector products[kProducts];

  // From the block's angles, one vector per wire (ignored for a wire without angle).
  QMOE_ALWAYS_INLINE void load(const ProductStateView<Real>& plan, const Vector* angles) {
    const Vector one = broadcast_lanes<Real, Lanes>(1), zero = broadcast_lanes<Real, Lanes>(0);
#pragma GCC unroll 4
    for (int wire = 0; wire < N; ++wire) {
      value[wire][0] = one;
      slope[wire][0] = zero;
      if (plan.columns[wire] < 0) {
        value[wire][1] = one;
        value[wire][2] = zero;
        slope[wire][1] = slope[wire][2] = zero;
        continue;
      }
      const Vector angle = angles[wire] + plan.offsets[wire];
      Vector sine, cosine;
      sincos_vector<Real, Lanes>(angle, sine, cosine);
      value[wire][1] = sine;
      value[wire][2] = cosine;
      slope[wire][1] = cosine;
      slope[wire][2] = -sine;
    }
#pragma GCC unroll 27
    for (int f = 0; f < kProducts; ++f) products[f] = product(f, -1);
  }

  // Product f, with wire `differentiated` (or none, -1) taking its derivative.
  QMOE_ALWAYS_INLINE Vector product(int f, int differentiated) const {
    Vector result =
        differentiated == 0 ? slope[0][product_digit<N>(f, 0)] : value[0][product_digit<N>(f, 0)];
#pragma GCC unroll 4
    for (int wire = 1; wire < N; ++wire) {
      const int digit = product_digit<N>(f, wire);
      result *= differentiated == wire ? slope[wire][digit] : value[wire][digit];
    }
    return result;
  }

  // sum_f coefficients[f] products[f], in three partial sums so the FMAs overlap.
  QMOE_ALWAYS_INLINE Vector linear_form(const Real* coefficients) const {
    Vector sums[3] = {};
#pragma GCC unroll 27
    for (int f = 0; f < kProducts; ++f) sums[f % 3] += coefficients[f] * products[f];
    return (sums[0] + sums[1]) + sums[2];
  }
};

// Whether full blocks may move their two input columns and two outputs as whole
// vectors (lane_io.h): two wires with angles from the inputs' two columns.
template <class Real, int Lanes, int N>
inline bool two_column_router(const ChunkTask<Real>& task) {
  const ProductStateView<Real>& plan = *task.product_state;
  return Lanes >= 2 && N == 2 && task.batch.n_input_columns == 2 && plan.n_outputs == 2 &&
         plan.columns[0] >= 0 && plan.columns[1] >= 0 && plan.columns[0] != plan.columns[1];
}

// The angles of the block at `first`: straight from the rows on the two-column
// path (full blocks), else from the staged lanes (block `block` of the group).
template <class Real, int Lanes, int N>
QMOE_ALWAYS_INLINE void block_angles(const ChunkTask<Real>& task, bool two_columns, int64_t first,
                                     const Real* staged, int block,
                                     LaneVector<Real, Lanes>* angles) {
  const ProductStateView<Real>& plan = *task.product_state;
  if constexpr (Lanes >= 2) {
    if (two_columns && first + Lanes <= task.end) {
      LaneVector<Real, Lanes> columns[2];
      load_two_columns<Real, Lanes>(task.batch.inputs, first, columns[0], columns[1]);
      for (int wire = 0; wire < N; ++wire) angles[wire] = columns[plan.columns[wire] & 1];
      return;
    }
  }
  for (int wire = 0; wire < N; ++wire) {
    angles[wire] = load_lanes<Real, Lanes>(staged + (wire * kStagedBlocks + block) * Lanes);
  }
}

template <class Real, int Lanes, int N>
void product_state_forward_chunk_n(const ChunkTask<Real>& task) {
  const ProductStateView<Real>& plan = *task.product_state;
  Real* outputs = task.workspace;
  Real* staged_angles = outputs + plan.n_outputs * Lanes;
  const bool two_columns = two_column_router<Real, Lanes, N>(task);
  for (int64_t group = task.begin; group < task.end; group += kStagedBlocks * Lanes) {
    const bool full_group = group + kStagedBlocks * Lanes <= task.end;
    if (!(two_columns && full_group)) {
      stage_columns<Real, Lanes>(task.batch.inputs, task.batch.n_input_columns, plan.columns, N,
                                 group, task.end, staged_angles);
    }
    for (int block = 0; block < kStagedBlocks; ++block) {
      const int64_t first = group + block * Lanes;
      if (first >= task.end) break;
      LaneVector<Real, Lanes> angles[N];
      block_angles<Real, Lanes, N>(task, two_columns && full_group, first, staged_angles, block,
                                   angles);
      ProductBlock<Real, Lanes, N> products;
      products.load(plan, angles);
      if constexpr (Lanes >= 2) {
        if (two_columns && first + Lanes <= task.end) {
          store_two_columns<Real, Lanes>(
              products.linear_form(plan.output_coefficients),
              products.linear_form(plan.output_coefficients + plan.n_features), first, task.out);
          continue;
        }
      }
      for (int64_t m = 0; m < plan.n_outputs; ++m) {
        store_lanes<Real, Lanes>(
            outputs + m * Lanes,
            products.linear_form(plan.output_coefficients + m * plan.n_features));
      }
      store_rows<Real, Lanes>(outputs, plan.n_outputs, first, task.end, task.out);
    }
  }
}

template <class Real, int Lanes, int N>
void product_state_adjoint_chunk_n(const ChunkTask<Real>& task) {
  using Vector = LaneVector<Real, Lanes>;
  constexpr int kProducts = power_of_three(N);
  const ProductStateView<Real>& plan = *task.product_state;
  const int64_t n_outputs = plan.n_outputs;
  // accumulators[m][f][lane]: sum over the chunk of g_m products[f]
  Real* accumulators = task.workspace;
  Real* weight_accumulators = accumulators + n_outputs * kProducts * Lanes;
  Real* staged_angles = weight_accumulators + task.n_weights * Lanes;
  Real* staged_grads = staged_angles + N * kStagedBlocks * Lanes;
  Real* lane_sums = staged_grads + n_outputs * kStagedBlocks * Lanes;
  for (int64_t i = 0; i < n_outputs * kProducts * Lanes; ++i) accumulators[i] = 0;
  for (int64_t i = 0; i < task.n_weights * Lanes; ++i) weight_accumulators[i] = 0;

  const bool two_columns = two_column_router<Real, Lanes, N>(task);
  for (int64_t group = task.begin; group < task.end; group += kStagedBlocks * Lanes) {
    const bool full_group = group + kStagedBlocks * Lanes <= task.end;
    const bool fast = two_columns && full_group;
    if (!fast) {
      stage_columns<Real, Lanes>(task.batch.inputs, task.batch.n_input_columns, plan.columns, N,
                                 group, task.end, staged_angles);
      stage_columns<Real, Lanes>(task.grad_out, n_outputs, nullptr, n_outputs, group, task.end,
                                 staged_grads);
    }
    for (int block = 0; block < kStagedBlocks; ++block) {
      const int64_t first = group + block * Lanes;
      if (first >= task.end) break;
      Vector angles[N];
      block_angles<Real, Lanes, N>(task, fast, first, staged_angles, block, angles);
      ProductBlock<Real, Lanes, N> products;
      products.load(plan, angles);
      Vector fast_grads[2] = {};
      if constexpr (Lanes >= 2) {
        if (fast) load_two_columns<Real, Lanes>(task.grad_out, first, fast_grads[0], fast_grads[1]);
      }
      // folded[f] = sum_m g_m a_mf: the gradient of the block's loss in each product
      Vector folded[kProducts] = {};
      for (int64_t m = 0; m < n_outputs; ++m) {
        const Vector g =
            fast ? fast_grads[m & 1]
                 : load_lanes<Real, Lanes>(staged_grads + (m * kStagedBlocks + block) * Lanes);
        Real* accumulator = accumulators + m * kProducts * Lanes;
        const Real* coefficients = plan.output_coefficients + m * kProducts;
#pragma GCC unroll 27
        for (int f = 0; f < kProducts; ++f) {
          store_lanes<Real, Lanes>(
              accumulator + f * Lanes,
              load_lanes<Real, Lanes>(accumulator + f * Lanes) + g * products.products[f]);
          folded[f] += coefficients[f] * g;
        }
      }
      if (task.grad_inputs == nullptr) continue;
      if constexpr (Lanes >= 2 && N == 2) {
        if (fast) {
          // both columns are wires' angles: add the two input gradients as whole rows
          Vector by_column[2];
#pragma GCC unroll 2
          for (int wire = 0; wire < 2; ++wire) {
            Vector sum = {};
#pragma GCC unroll 27
            for (int f = 0; f < kProducts; ++f) sum += folded[f] * products.product(f, wire);
            by_column[plan.columns[wire] & 1] = sum;
          }
          Vector old[2];
          load_two_columns<Real, Lanes>(task.grad_inputs, first, old[0], old[1]);
          store_two_columns<Real, Lanes>(old[0] + by_column[0], old[1] + by_column[1], first,
                                         task.grad_inputs);
          continue;
        }
      }
#pragma GCC unroll 4
      for (int wire = 0; wire < N; ++wire) {
        if (plan.columns[wire] < 0) continue;
        Vector sum = {};
#pragma GCC unroll 27
        for (int f = 0; f < kProducts; ++f) sum += folded[f] * products.product(f, wire);
        store_lanes<Real, Lanes>(lane_sums, sum);
        add_to_column<Real, Lanes>(lane_sums, task.batch.n_input_columns, plan.columns[wire], first,
                                   task.end, task.grad_inputs);
      }
    }
  }
  if (task.grad_weights == nullptr) return;
  const int64_t term_size = n_outputs * kProducts;
  for (int64_t t = 0; t < plan.n_weight_terms; ++t) {
    const Real* coefficients = plan.weight_coefficients + t * term_size;
    Vector sum = {};
    for (int64_t i = 0; i < term_size; ++i) {
      sum += coefficients[i] * load_lanes<Real, Lanes>(accumulators + i * Lanes);
    }
    Real* target = weight_accumulators + plan.weight_indices[t] * Lanes;
    store_lanes<Real, Lanes>(target, load_lanes<Real, Lanes>(target) + sum);
  }
  for (int64_t w = 0; w < task.n_weights; ++w) {
    Real total = 0;
    for (int lane = 0; lane < Lanes; ++lane) total += weight_accumulators[w * Lanes + lane];
    task.grad_weights[w] += total;
  }
}

template <class Real, int Lanes>
void product_state_forward_chunk(const ChunkTask<Real>& task) {
  switch (task.product_state->n_qubits) {
    case 1:
      return product_state_forward_chunk_n<Real, Lanes, 1>(task);
    case 2:
      return product_state_forward_chunk_n<Real, Lanes, 2>(task);
    default:
      return product_state_forward_chunk_n<Real, Lanes, 3>(task);
  }
}

template <class Real, int Lanes>
void product_state_adjoint_chunk(const ChunkTask<Real>& task) {
  switch (task.product_state->n_qubits) {
    case 1:
      return product_state_adjoint_chunk_n<Real, Lanes, 1>(task);
    case 2:
      return product_state_adjoint_chunk_n<Real, Lanes, 2>(task);
    default:
      return product_state_adjoint_chunk_n<Real, Lanes, 3>(task);
  }
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
