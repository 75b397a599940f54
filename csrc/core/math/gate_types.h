// Plain data types of the gate math, shared by every instruction-set build
// (no code here, so nothing for the linker to merge across builds).
#pragma once

#include "qmoe/core/math/host_device.h"

namespace qmoe::core {

template <class Real>
struct Complex {
  Real re;
  Real im;
};

// Row-major 2x2 complex matrix acting on (|0>, |1>) of one wire.
template <class Real>
struct Matrix2 {
  Complex<Real> m00, m01, m10, m11;
};

// Single-qubit Pauli operators: the generators of RX, RY, RZ.
enum class Pauli : int { kX = 0, kY = 1, kZ = 2 };

}  // namespace qmoe::core
