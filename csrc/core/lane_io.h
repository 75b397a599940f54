// Moving a block's samples between the row-major tensors of the operators
// ([batch, columns]) and lanes ([columns][Lanes]). A full block takes the
// branch-free path, which compiles to gathers and scatters or unrolled moves;
// only the last, partial block of a chunk checks each lane.
#pragma once

#include <cstdint>

#include "isa_tag.h"

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

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
