// Gate math written once for the CPU engine and the CUDA kernels: 2x2 complex
// matrices, rotations exp(-i t/2 P) and the fixed gates. Header-only.
#pragma once

#include <cmath>

#include "qmoe/core/math/gate_types.h"
#include "qmoe/core/math/isa_tag.h"
#include "qmoe/core/program/opcodes.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

template <class Real>
QMOE_HOST_DEVICE inline Complex<Real> operator*(Complex<Real> a, Complex<Real> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}

template <class Real>
QMOE_HOST_DEVICE inline Complex<Real> operator+(Complex<Real> a, Complex<Real> b) {
  return {a.re + b.re, a.im + b.im};
}

template <class Real>
QMOE_HOST_DEVICE inline Complex<Real> conj(Complex<Real> a) {
  return {a.re, -a.im};
}

template <class Real>
QMOE_HOST_DEVICE inline Matrix2<Real> identity_matrix() {
  return {{1, 0}, {0, 0}, {0, 0}, {1, 0}};
}

template <class Real>
QMOE_HOST_DEVICE inline Matrix2<Real> multiply(const Matrix2<Real>& a, const Matrix2<Real>& b) {
  return {a.m00 * b.m00 + a.m01 * b.m10, a.m00 * b.m01 + a.m01 * b.m11,
          a.m10 * b.m00 + a.m11 * b.m10, a.m10 * b.m01 + a.m11 * b.m11};
}

template <class Real>
QMOE_HOST_DEVICE inline Matrix2<Real> adjoint(const Matrix2<Real>& a) {
  return {conj(a.m00), conj(a.m10), conj(a.m01), conj(a.m11)};
}

template <class Real>
QMOE_HOST_DEVICE inline Matrix2<Real> pauli_matrix(Pauli pauli) {
  switch (pauli) {
    case Pauli::kX:
      return {{0, 0}, {1, 0}, {1, 0}, {0, 0}};
    case Pauli::kY:
      return {{0, 0}, {0, -1}, {0, 1}, {0, 0}};
    default:
      return {{1, 0}, {0, 0}, {0, 0}, {-1, 0}};
  }
}

// exp(-i t/2 P) = cos(t/2) I - i sin(t/2) P for a Pauli P, given cos and sin of t/2.
template <class Real>
QMOE_HOST_DEVICE inline Matrix2<Real> rotation_matrix(Pauli pauli, Real cos_half, Real sin_half) {
  switch (pauli) {
    case Pauli::kX:
      return {{cos_half, 0}, {0, -sin_half}, {0, -sin_half}, {cos_half, 0}};
    case Pauli::kY:
      return {{cos_half, 0}, {-sin_half, 0}, {sin_half, 0}, {cos_half, 0}};
    default:
      return {{cos_half, -sin_half}, {0, 0}, {0, 0}, {cos_half, sin_half}};
  }
}

// The fixed one-qubit gates H, X, Y, Z, S, T; the identity for any other opcode.
template <class Real>
QMOE_HOST_DEVICE inline Matrix2<Real> fixed_gate_matrix(Opcode opcode) {
  const Real half_sqrt2 = static_cast<Real>(0.70710678118654752440084436210484903928);
  switch (opcode) {
    case Opcode::kH:
      return {{half_sqrt2, 0}, {half_sqrt2, 0}, {half_sqrt2, 0}, {-half_sqrt2, 0}};
    case Opcode::kX:
      return pauli_matrix<Real>(Pauli::kX);
    case Opcode::kY:
      return pauli_matrix<Real>(Pauli::kY);
    case Opcode::kZ:
      return pauli_matrix<Real>(Pauli::kZ);
    case Opcode::kS:
      return {{1, 0}, {0, 0}, {0, 0}, {0, 1}};
    case Opcode::kT:
      return {{1, 0}, {0, 0}, {0, 0}, {half_sqrt2, half_sqrt2}};
    default:
      return identity_matrix<Real>();
  }
}

// Applies m to the amplitude pair (a0, a1) = (<..0..|psi>, <..1..|psi>).
template <class Real>
QMOE_HOST_DEVICE inline void apply_matrix2(const Matrix2<Real>& m, Real& a0_re, Real& a0_im,
                                           Real& a1_re, Real& a1_im) {
  const Real x0r = a0_re, x0i = a0_im, x1r = a1_re, x1i = a1_im;
  a0_re = m.m00.re * x0r - m.m00.im * x0i + m.m01.re * x1r - m.m01.im * x1i;
  a0_im = m.m00.re * x0i + m.m00.im * x0r + m.m01.re * x1i + m.m01.im * x1r;
  a1_re = m.m10.re * x0r - m.m10.im * x0i + m.m11.re * x1r - m.m11.im * x1i;
  a1_im = m.m10.re * x0i + m.m10.im * x0r + m.m11.re * x1i + m.m11.im * x1r;
}

// Im(<l|G|p>) restricted to one amplitude pair, for a Hermitian G: the adjoint
// method's gradient of a rotation whose generator is G (transported to here).
template <class Real>
QMOE_HOST_DEVICE inline Real imag_generator_product(const Matrix2<Real>& g, Real l0r, Real l0i,
                                                    Real l1r, Real l1i, Real p0r, Real p0i,
                                                    Real p1r, Real p1i) {
  Real g0r = g.m00.re * p0r - g.m00.im * p0i + g.m01.re * p1r - g.m01.im * p1i;
  Real g0i = g.m00.re * p0i + g.m00.im * p0r + g.m01.re * p1i + g.m01.im * p1r;
  Real g1r = g.m10.re * p0r - g.m10.im * p0i + g.m11.re * p1r - g.m11.im * p1i;
  Real g1i = g.m10.re * p0i + g.m10.im * p0r + g.m11.re * p1i + g.m11.im * p1r;
  return l0r * g0i - l0i * g0r + l1r * g1i - l1i * g1r;
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
