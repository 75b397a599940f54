// One SIMD register's worth of samples (or several, or one) as a GCC/Clang
// vector type: arithmetic on it is lane-wise, and the compiler splits it into
// the registers of whatever instruction set the file is compiled for, so the
// kernels written with it are vector code on every path, not by the grace of
// the auto-vectoriser.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "qmoe/core/math/isa_tag.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

template <class Real, int Lanes>
struct LaneTypes {
  typedef Real Vector __attribute__((vector_size(Lanes * sizeof(Real))));
  typedef std::conditional_t<sizeof(Real) == 4, int32_t, int64_t> Integer;
  typedef Integer IntegerVector __attribute__((vector_size(Lanes * sizeof(Real))));
};

template <class Real, int Lanes>
using LaneVector = typename LaneTypes<Real, Lanes>::Vector;

template <class Real, int Lanes>
inline LaneVector<Real, Lanes> load_lanes(const Real* source) {
  LaneVector<Real, Lanes> value;
  std::memcpy(&value, source, sizeof(value));
  return value;
}

template <class Real, int Lanes>
inline void store_lanes(Real* target, LaneVector<Real, Lanes> value) {
  std::memcpy(target, &value, sizeof(value));
}

template <class Real, int Lanes>
inline LaneVector<Real, Lanes> broadcast_lanes(Real value) {
  return LaneVector<Real, Lanes>{} + value;
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
