// sin and cos written so that a loop over SIMD lanes vectorises: Cody-Waite
// reduction by pi/2 and Taylor polynomials on [-pi/4, pi/4], the quadrant
// chosen by selects instead of branches. Accurate to about 1 ulp for
// |x| <= kFastTrigLimit; callers use std::sin/std::cos beyond it.
#pragma once

#include <cmath>
#include <cstdint>

#include "qmoe/core/cpu/simd/lane_vector.h"
#include "qmoe/core/math/isa_tag.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

template <class Real>
struct TrigConstants;

template <>
struct TrigConstants<double> {
  // pi/2 in three parts with trailing zeros, so j * part is exact without FMA.
  static constexpr double kPiOver2Part1 = 1.5707962512969971e+00;
  static constexpr double kPiOver2Part2 = 7.5497894158615964e-08;
  static constexpr double kPiOver2Part3 = 5.3903028581581190e-15;
  static constexpr double kTwoOverPi = 0.63661977236758134308;
  static constexpr double kRoundingShift = 6755399441055744.0;  // 1.5 * 2**52
  static constexpr double kFastTrigLimit = 1.0e5;
};

template <>
struct TrigConstants<float> {
  static constexpr float kPiOver2Part1 = 1.5703125f;
  static constexpr float kPiOver2Part2 = 4.837512969970703125e-4f;
  static constexpr float kPiOver2Part3 = 7.54978995489188216e-8f;
  static constexpr float kTwoOverPi = 0.636619772f;
  static constexpr float kRoundingShift = 12582912.0f;  // 1.5 * 2**23
  static constexpr float kFastTrigLimit = 1.0e4f;
};

// sin and cos of every lane of x: Cody-Waite reduction by pi/2, Taylor terms on
// [-pi/4, pi/4] to below the precision of Real, the quadrant chosen by selects.
template <class Real, int Lanes>
QMOE_ALWAYS_INLINE void fast_sincos_vector(LaneVector<Real, Lanes> x,
                                           LaneVector<Real, Lanes>& sin_x,
                                           LaneVector<Real, Lanes>& cos_x) {
  using K = TrigConstants<Real>;
  using IntegerVector = typename LaneTypes<Real, Lanes>::IntegerVector;
  const auto j = (x * K::kTwoOverPi + K::kRoundingShift) - K::kRoundingShift;
  const auto r = ((x - j * K::kPiOver2Part1) - j * K::kPiOver2Part2) - j * K::kPiOver2Part3;
  const auto r2 = r * r;
  LaneVector<Real, Lanes> s, c;
  if constexpr (sizeof(Real) == 8) {
    s = r2 * -7.6471637318198164759e-13 + 1.6059043836821614599e-10;
    s = s * r2 - 2.5052108385441718775e-08;
    s = s * r2 + 2.7557319223985890653e-06;
    s = s * r2 - 1.9841269841269841270e-04;
    s = s * r2 + 8.3333333333333333333e-03;
    s = s * r2 - 1.6666666666666666667e-01;
    c = r2 * 1.5619206968586225e-16 - 4.7794773323873853e-14;
    c = c * r2 + 1.1470745597729725e-11;
    c = c * r2 - 2.0876756987868099e-09;
    c = c * r2 + 2.7557319223985891e-07;
    c = c * r2 - 2.4801587301587302e-05;
    c = c * r2 + 1.3888888888888889e-03;
    c = c * r2 - 4.1666666666666667e-02;
    c = c * r2 + 0.5;
    c = 1.0 - r2 * c;
  } else {
    s = r2 * 2.7557319e-06f - 1.9841270e-04f;
    s = s * r2 + 8.3333333e-03f;
    s = s * r2 - 1.6666667e-01f;
    c = r2 * -2.7557319e-07f + 2.4801587e-05f;
    c = c * r2 - 1.3888889e-03f;
    c = c * r2 + 4.1666667e-02f;
    c = c * r2 - 0.5f;
    c = 1.0f + r2 * c;
  }
  s = r + r * r2 * s;
  const IntegerVector quadrant = __builtin_convertvector(j, IntegerVector) & 3;
  const auto odd = (quadrant & 1) != 0;
  const auto swapped_sin = odd ? c : s;
  const auto swapped_cos = odd ? s : c;
  sin_x = ((quadrant & 2) != 0) ? -swapped_sin : swapped_sin;
  cos_x = (((quadrant + 1) & 2) != 0) ? -swapped_cos : swapped_cos;
}

// sin and cos of one x, |x| <= TrigConstants<Real>::kFastTrigLimit.
template <class Real>
inline void fast_sincos(Real x, Real& sin_x, Real& cos_x) {
  LaneVector<Real, 1> sine, cosine;
  fast_sincos_vector<Real, 1>(LaneVector<Real, 1>{x}, sine, cosine);
  sin_x = sine[0];
  cos_x = cosine[0];
}

// sin and cos of every lane; out-of-range or NaN lanes take the library path.
template <class Real, int Lanes>
QMOE_ALWAYS_INLINE void sincos_vector(LaneVector<Real, Lanes> x, LaneVector<Real, Lanes>& sin_x,
                                      LaneVector<Real, Lanes>& cos_x) {
  using Integer = typename LaneTypes<Real, Lanes>::Integer;
  using IntegerVector = typename LaneTypes<Real, Lanes>::IntegerVector;
  const LaneVector<Real, Lanes> magnitude = x < 0 ? -x : x;
  // -1 where fast, 0 elsewhere; NaN compares false. Reduced as integers, which
  // vectorises, where a loop of float comparisons into a bool does not.
  const IntegerVector fast = magnitude <= TrigConstants<Real>::kFastTrigLimit;
  Integer lanes[Lanes];
  std::memcpy(lanes, &fast, sizeof(lanes));
  Integer all_fast = -1;
  for (int lane = 0; lane < Lanes; ++lane) all_fast &= lanes[lane];
  if (all_fast != 0) {
    fast_sincos_vector<Real, Lanes>(x, sin_x, cos_x);
    return;
  }
  Real angles[Lanes], sines[Lanes], cosines[Lanes];
  store_lanes<Real, Lanes>(angles, x);
  for (int lane = 0; lane < Lanes; ++lane) {
    sines[lane] = std::sin(angles[lane]);
    cosines[lane] = std::cos(angles[lane]);
  }
  sin_x = load_lanes<Real, Lanes>(sines);
  cos_x = load_lanes<Real, Lanes>(cosines);
}

// sincos_vector from and to memory; `sin_out` may be `angles`.
template <class Real, int Lanes>
QMOE_ALWAYS_INLINE void sincos_lanes(const Real* angles, Real* sin_out, Real* cos_out) {
  LaneVector<Real, Lanes> sin_x, cos_x;
  sincos_vector<Real, Lanes>(load_lanes<Real, Lanes>(angles), sin_x, cos_x);
  store_lanes<Real, Lanes>(sin_out, sin_x);
  store_lanes<Real, Lanes>(cos_out, cos_x);
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
