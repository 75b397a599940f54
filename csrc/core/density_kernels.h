// Kernels on one sample's density matrix rho (2**n x 2**n complex, row-major,
// complex interleaved): entry (r, c) sits at index (r << n) | c, so wire bit b
// is bit b + n of an index on the row side and bit b on the column side. A
// gate U acts as rho -> U rho U^dagger: U on the row bits, conj(U) on the
// column bits. Traces are accumulated in double whatever Real is.
#pragma once

#include <cstdint>
#include <utility>

#include "channels.h"
#include "compiled_circuit.h"
#include "gate_math.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {
namespace density {

// The p-th index whose bits `low` < `high` are both zero.
inline int64_t spread_two(int64_t p, int low, int high) {
  const int64_t low_mask = (int64_t{1} << low) - 1;
  p = ((p & ~low_mask) << 1) | (p & low_mask);
  const int64_t high_mask = (int64_t{1} << high) - 1;
  return ((p & ~high_mask) << 1) | (p & high_mask);
}

template <class Real>
inline Complex<Real> load(const Real* rho, int64_t i) {
  return {rho[2 * i], rho[2 * i + 1]};
}

template <class Real>
inline void store(Real* rho, int64_t i, Complex<Real> z) {
  rho[2 * i] = z.re;
  rho[2 * i + 1] = z.im;
}

// The four entries of one wire's 2x2 block: (row bit, column bit) = 00, 01, 10, 11.
struct Quad {
  int64_t index[4];
};

inline Quad quad(int64_t p, int n, int bit) {
  const int64_t row = int64_t{1} << (bit + n), column = int64_t{1} << bit;
  const int64_t base = spread_two(p, bit, bit + n);
  return {{base, base | column, base | row, base | row | column}};
}

// rho -> U rho U^dagger for a one-qubit U on wire bit `bit`, one pass.
template <class Real>
inline void conjugate_one_qubit(Real* rho, int n, int bit, const Matrix2<Real>& u) {
  const Complex<Real> v00 = conj(u.m00), v01 = conj(u.m01), v10 = conj(u.m10),
                      v11 = conj(u.m11);
  const int64_t quads = int64_t{1} << (2 * n - 2);
  for (int64_t p = 0; p < quads; ++p) {
    const Quad q = quad(p, n, bit);
    const Complex<Real> b00 = load(rho, q.index[0]), b01 = load(rho, q.index[1]),
                        b10 = load(rho, q.index[2]), b11 = load(rho, q.index[3]);
    const Complex<Real> a00 = u.m00 * b00 + u.m01 * b10, a01 = u.m00 * b01 + u.m01 * b11;
    const Complex<Real> a10 = u.m10 * b00 + u.m11 * b10, a11 = u.m10 * b01 + u.m11 * b11;
    store(rho, q.index[0], a00 * v00 + a01 * v01);
    store(rho, q.index[1], a00 * v10 + a01 * v11);
    store(rho, q.index[2], a10 * v00 + a11 * v01);
    store(rho, q.index[3], a10 * v10 + a11 * v11);
  }
}

// rho -> S(rho) for a channel's superoperator on wire bit `bit`.
template <class Real>
inline void apply_superoperator(Real* rho, int n, int bit, const Superoperator<Real>& s) {
  const int64_t quads = int64_t{1} << (2 * n - 2);
  for (int64_t p = 0; p < quads; ++p) {
    const Quad q = quad(p, n, bit);
    Real re[4], im[4];
    for (int a = 0; a < 4; ++a) re[a] = rho[2 * q.index[a]], im[a] = rho[2 * q.index[a] + 1];
    for (int a = 0; a < 4; ++a) {
      Real out_re = 0, out_im = 0;
      for (int b = 0; b < 4; ++b) out_re += s.m[a][b] * re[b], out_im += s.m[a][b] * im[b];
      rho[2 * q.index[a]] = out_re;
      rho[2 * q.index[a] + 1] = out_im;
    }
  }
}

// A fixed CNOT / CZ / SWAP on the index bits with masks m0 (control) and m1.
template <class Real>
inline void permute_side(Real* rho, int64_t entries, SegmentKind kind, int64_t m0, int64_t m1) {
  for (int64_t i = 0; i < entries; ++i) {
    if ((i & m0) == 0) continue;
    if (kind == SegmentKind::kCz) {
      if (i & m1) rho[2 * i] = -rho[2 * i], rho[2 * i + 1] = -rho[2 * i + 1];
      continue;
    }
    if (i & m1) continue;
    const int64_t j = kind == SegmentKind::kCnot ? i | m1 : (i ^ m0) | m1;
    std::swap(rho[2 * i], rho[2 * j]);
    std::swap(rho[2 * i + 1], rho[2 * j + 1]);
  }
}

// rho -> G rho G^dagger for G a fixed two-qubit gate (its own inverse).
template <class Real>
inline void apply_fixed_two_qubit(Real* rho, int n, SegmentKind kind, int bit0, int bit1) {
  const int64_t entries = int64_t{1} << (2 * n);
  permute_side(rho, entries, kind, int64_t{1} << (bit0 + n), int64_t{1} << (bit1 + n));
  permute_side(rho, entries, kind, int64_t{1} << bit0, int64_t{1} << bit1);
}

// A two-qubit Pauli string XX, YY or ZZ on two index bits: (P v)_i = sign(i) v_(i ^ flip).
// All three are real.
struct StringAction {
  int64_t flip;
  int64_t m0, m1;
  int sign_kind;  // 0: +1, 1: YY = -z0 z1, 2: ZZ = z0 z1, with z = 1 - 2 bit
};

inline StringAction string_action(PauliString pauli, int64_t m0, int64_t m1) {
  if (pauli == PauliString::kXX) return {m0 | m1, m0, m1, 0};
  if (pauli == PauliString::kYY) return {m0 | m1, m0, m1, 1};
  return {0, m0, m1, 2};
}

template <class Real>
inline Real string_sign(const StringAction& a, int64_t i) {
  if (a.sign_kind == 0) return 1;
  const bool odd = ((i & a.m0) != 0) != ((i & a.m1) != 0);
  const Real zz = odd ? Real(-1) : Real(1);
  return a.sign_kind == 2 ? zz : -zz;
}

// v -> (c I - i t P) v on one side of rho.
template <class Real>
inline void rotate_string_side(Real* rho, int64_t entries, const StringAction& a, Real c, Real t) {
  const int64_t high = a.flip == 0 ? 0 : (a.m0 > a.m1 ? a.m0 : a.m1);
  for (int64_t i = 0; i < entries; ++i) {
    if (a.flip == 0) {
      const Real ts = t * string_sign<Real>(a, i);
      const Real re = rho[2 * i], im = rho[2 * i + 1];
      rho[2 * i] = c * re + ts * im;
      rho[2 * i + 1] = c * im - ts * re;
      continue;
    }
    if (i & high) continue;
    const int64_t j = i ^ a.flip;
    const Real ti = t * string_sign<Real>(a, i), tj = t * string_sign<Real>(a, j);
    const Real ir = rho[2 * i], ii = rho[2 * i + 1], jr = rho[2 * j], ji = rho[2 * j + 1];
    rho[2 * i] = c * ir + ti * ji;
    rho[2 * i + 1] = c * ii - ti * jr;
    rho[2 * j] = c * jr + tj * ii;
    rho[2 * j + 1] = c * ji - tj * ir;
  }
}

// rho -> U rho U^dagger for U = exp(-i theta/2 P), P = XX, YY or ZZ; s = sin(theta/2).
template <class Real>
inline void rotate_string(Real* rho, int n, PauliString pauli, int bit0, int bit1, Real c,
                          Real s) {
  const int64_t entries = int64_t{1} << (2 * n);
  rotate_string_side(rho, entries,
                     string_action(pauli, int64_t{1} << (bit0 + n), int64_t{1} << (bit1 + n)), c,
                     s);
  // rho U^dagger: conj(U) = c I + i s P on the column index, P being real
  rotate_string_side(rho, entries, string_action(pauli, int64_t{1} << bit0, int64_t{1} << bit1),
                     c, -s);
}

// Im sum_i conj(lambda_i) (G rho)_i, G acting on the row side of wire bit `bit`:
// the adjoint method's dL/dtheta = Im tr(Lambda G rho) for a gate exp(-i theta/2 G)
// whose output is rho.
template <class Real>
inline double generator_trace(const Real* lambda, const Real* rho, int n, int bit,
                              const Matrix2<Real>& g) {
  const int64_t row = int64_t{1} << (bit + n);
  const int64_t pairs = int64_t{1} << (2 * n - 1);
  const int64_t low_mask = row - 1;
  double sum = 0;
  for (int64_t p = 0; p < pairs; ++p) {
    const int64_t i = ((p & ~low_mask) << 1) | (p & low_mask), j = i | row;
    const Complex<Real> ri = load(rho, i), rj = load(rho, j);
    const Complex<Real> gi = g.m00 * ri + g.m01 * rj, gj = g.m10 * ri + g.m11 * rj;
    sum += static_cast<double>(lambda[2 * i]) * gi.im - static_cast<double>(lambda[2 * i + 1]) * gi.re;
    sum += static_cast<double>(lambda[2 * j]) * gj.im - static_cast<double>(lambda[2 * j + 1]) * gj.re;
  }
  return sum;
}

// Im sum_i conj(lambda_i) (P rho)_i for a two-qubit string P on the row side.
template <class Real>
inline double string_trace(const Real* lambda, const Real* rho, int n, PauliString pauli, int bit0,
                           int bit1) {
  const StringAction a =
      string_action(pauli, int64_t{1} << (bit0 + n), int64_t{1} << (bit1 + n));
  const int64_t entries = int64_t{1} << (2 * n);
  double sum = 0;
  for (int64_t i = 0; i < entries; ++i) {
    const int64_t j = i ^ a.flip;
    const double sign = string_sign<Real>(a, i);
    sum += sign * (static_cast<double>(lambda[2 * i]) * rho[2 * j + 1] -
                   static_cast<double>(lambda[2 * i + 1]) * rho[2 * j]);
  }
  return sum;
}

// Re sum_i conj(lambda_i) (S rho)_i for a superoperator S on wire bit `bit`.
template <class Real>
inline double superoperator_trace(const Real* lambda, const Real* rho, int n, int bit,
                                  const Superoperator<Real>& s) {
  const int64_t quads = int64_t{1} << (2 * n - 2);
  double sum = 0;
  for (int64_t p = 0; p < quads; ++p) {
    const Quad q = quad(p, n, bit);
    for (int a = 0; a < 4; ++a) {
      double re = 0, im = 0;
      for (int b = 0; b < 4; ++b) {
        re += s.m[a][b] * rho[2 * q.index[b]];
        im += s.m[a][b] * rho[2 * q.index[b] + 1];
      }
      sum += lambda[2 * q.index[a]] * re + lambda[2 * q.index[a] + 1] * im;
    }
  }
  return sum;
}

}  // namespace density
}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
