// How a block of samples' density matrices sits in memory, and the per-sample
// coefficients of the gates and channels that differ between them.
//
// A block holds `lanes` samples (a power of two). Entry (r, c) of sample l sits
// at index (((r << n) | c) << lane_bits) | l of each plane (real parts, then
// imaginary parts): the samples are spectator bits below the matrix index, so
// a gate with one coefficient for every sample is the same pass as for one
// sample with every stride shifted by lane_bits, its inner loops running over
// all lanes at once. lane_bits = 0 is one sample's row-major rho.
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"

namespace qmoe::core {

// The most samples a block holds: one cache line of float32.
inline constexpr int kMaxDensityLanes = 16;

struct DensityLayout {
  int n_qubits;
  int lane_bits;

  QMOE_INLINE_ALWAYS int64_t lanes() const { return int64_t{1} << lane_bits; }
  // Reals per plane.
  QMOE_INLINE_ALWAYS int64_t count() const { return int64_t{1} << (2 * n_qubits + lane_bits); }
  // Index stride of wire bit `bit` on the row side and on the column side.
  QMOE_INLINE_ALWAYS int64_t row_stride(int bit) const {
    return int64_t{1} << (bit + n_qubits + lane_bits);
  }
  QMOE_INLINE_ALWAYS int64_t column_stride(int bit) const {
    return int64_t{1} << (bit + lane_bits);
  }
  // Index of entry (r, c) of lane 0.
  QMOE_INLINE_ALWAYS int64_t index(int64_t row, int64_t column) const {
    return ((row << n_qubits) | column) << lane_bits;
  }
};

// One 2x2 complex matrix per lane, stored as structure of arrays.
template <class Real>
struct LaneMatrix2 {
  Real m00_re[kMaxDensityLanes], m00_im[kMaxDensityLanes];
  Real m01_re[kMaxDensityLanes], m01_im[kMaxDensityLanes];
  Real m10_re[kMaxDensityLanes], m10_im[kMaxDensityLanes];
  Real m11_re[kMaxDensityLanes], m11_im[kMaxDensityLanes];
};

// One real 4x4 channel superoperator per lane: m[a][b][lane].
template <class Real>
struct LaneSuperoperator {
  Real m[4][4][kMaxDensityLanes];
};

}  // namespace qmoe::core
