// Moving a block's samples between the row-major tensors of the operators
// ([batch, columns]) and lanes ([columns][Lanes]). A full block takes the
// branch-free path, which compiles to gathers and scatters or unrolled moves;
// only the last, partial block of a chunk checks each lane.
#pragma once

#include <cstdint>

#include "qmoe/core/cpu/simd/lane_vector.h"
#include "qmoe/core/math/isa_tag.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// lanes[l] = rows[(first + l) * width + column]; lanes past `end` get 0.
template <class Real, int Lanes>
inline void load_column(const Real* rows, int64_t width, int64_t column, int64_t first, int64_t end,
                        Real* lanes) {
  const Real* base = rows + first * width + column;
  if (first + Lanes <= end) {
    for (int lane = 0; lane < Lanes; ++lane) lanes[lane] = base[lane * width];
    return;
  }
  for (int lane = 0; lane < Lanes; ++lane) {
    lanes[lane] = first + lane < end ? base[lane * width] : Real(0);
  }
}

// rows[(first + l) * width + j] = lane_values[j][l] for the block's samples.
template <class Real, int Lanes>
inline void store_rows(const Real* lane_values, int64_t width, int64_t first, int64_t end,
                       Real* rows) {
  const int lanes = first + Lanes <= end ? Lanes : static_cast<int>(end - first);
  Real* base = rows + first * width;
  for (int64_t j = 0; j < width; ++j) {
    const Real* values = lane_values + j * Lanes;
    if (lanes == Lanes) {
      for (int lane = 0; lane < Lanes; ++lane) base[lane * width + j] = values[lane];
    } else {
      for (int lane = 0; lane < lanes; ++lane) base[lane * width + j] = values[lane];
    }
  }
}

// rows[(first + l) * width + column] += lanes[l] for the block's samples.
template <class Real, int Lanes>
inline void add_to_column(const Real* lanes, int64_t width, int64_t column, int64_t first,
                          int64_t end, Real* rows) {
  Real* base = rows + first * width + column;
  if (first + Lanes <= end) {
    for (int lane = 0; lane < Lanes; ++lane) base[lane * width] += lanes[lane];
    return;
  }
  for (int lane = 0; first + lane < end; ++lane) base[lane * width] += lanes[lane];
}

// Rows of two columns (a router's two features or two scores) move as whole
// vectors: a full block's 2 x Lanes values are contiguous, and one shuffle per
// vector splits them into columns or merges columns into them.
template <class Real, int Lanes>
using LaneIndices = typename LaneTypes<Real, Lanes>::IntegerVector;

// result[i] = (a ++ b)[indices[i]]: GCC's two-operand __builtin_shuffle; clang has
// no shuffle with run-time indices, so it gets the element loop (which it vectorises
// for these constant index vectors after inlining).
template <class Real, int Lanes>
inline LaneVector<Real, Lanes> shuffle_lanes(LaneVector<Real, Lanes> a, LaneVector<Real, Lanes> b,
                                             LaneIndices<Real, Lanes> indices) {
#if defined(__clang__)
  LaneVector<Real, Lanes> result = a;
  for (int i = 0; i < Lanes; ++i) {
    const int k = static_cast<int>(indices[i]);
    result[i] = k < Lanes ? a[k] : b[k - Lanes];
  }
  return result;
#else
  return __builtin_shuffle(a, b, indices);
#endif
}

template <class Real, int Lanes>
inline LaneIndices<Real, Lanes> pair_indices(int offset, int step) {
  LaneIndices<Real, Lanes> indices{};
  for (int lane = 0; lane < Lanes; ++lane) indices[lane] = offset + step * lane;
  return indices;
}

// column0[l] = rows[(first + l) * 2], column1[l] = rows[(first + l) * 2 + 1], a full block.
template <class Real, int Lanes>
inline void load_two_columns(const Real* rows, int64_t first, LaneVector<Real, Lanes>& column0,
                             LaneVector<Real, Lanes>& column1) {
  const auto low = load_lanes<Real, Lanes>(rows + first * 2);
  const auto high = load_lanes<Real, Lanes>(rows + first * 2 + Lanes);
  column0 = shuffle_lanes<Real, Lanes>(low, high, pair_indices<Real, Lanes>(0, 2));
  column1 = shuffle_lanes<Real, Lanes>(low, high, pair_indices<Real, Lanes>(1, 2));
}

// The inverse of load_two_columns.
template <class Real, int Lanes>
inline void store_two_columns(LaneVector<Real, Lanes> column0, LaneVector<Real, Lanes> column1,
                              int64_t first, Real* rows) {
  LaneIndices<Real, Lanes> low{}, high{};
  for (int lane = 0; lane < Lanes; ++lane) {
    // output slot j (lane, or Lanes + lane for the high half) takes sample j / 2 of column
    // j % 2; written for j itself, so that it holds for Lanes = 1 too
    const int j = Lanes + lane;
    low[lane] = (lane / 2) + (lane % 2) * Lanes;
    high[lane] = (j / 2) + (j % 2) * Lanes;
  }
  store_lanes<Real, Lanes>(rows + first * 2, shuffle_lanes<Real, Lanes>(column0, column1, low));
  store_lanes<Real, Lanes>(rows + first * 2 + Lanes,
                           shuffle_lanes<Real, Lanes>(column0, column1, high));
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
