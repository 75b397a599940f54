// Kernels on one sample's density matrix rho (2**n x 2**n complex, row-major),
// stored as two planes: real parts rho[0, N) then imaginary parts rho[N, 2N),
// N = 4**n, so the inner loops run over contiguous reals and vectorise. Entry
// (r, c) sits at index (r << n) | c: wire bit b is bit b + n of an index on the
// row side and bit b on the column side. A gate U acts as rho -> U rho U^dagger:
// U on the row bits, conj(U) on the column bits. Traces are accumulated in
// double whatever Real is.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "channels.h"
#include "compiled_circuit.h"
#include "gate_math.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {
namespace density {

inline int64_t entries(int n) { return int64_t{1} << (2 * n); }

// Calls body(i, j) for every index pair that differs in the bit of `stride`
// (i has it clear), in runs of `stride` consecutive i.
template <class Body>
inline void for_each_pair(int64_t n_entries, int64_t stride, Body&& body) {
  for (int64_t base = 0; base < n_entries; base += 2 * stride) {
    // the iterations of a run touch disjoint entries
#pragma omp simd
    for (int64_t k = base; k < base + stride; ++k) body(k, k + stride);
  }
}

// Calls body(i00) for every index with both bits of strides low < high clear;
// the block's indices are i00, +low, +high, +low+high.
template <class Body>
inline void for_each_quad(int64_t n_entries, int64_t low, int64_t high, Body&& body) {
  for (int64_t outer = 0; outer < n_entries; outer += 2 * high) {
    for (int64_t middle = outer; middle < outer + high; middle += 2 * low) {
#pragma omp simd
      for (int64_t k = middle; k < middle + low; ++k) body(k);
    }
  }
}

// v -> M v on every pair of entries that differ in the bit of `stride`.
template <class Real>
inline void apply_pair_matrix(Real* rho, int n, int64_t stride, const Matrix2<Real>& m) {
  const int64_t count = entries(n);
  Real* re = rho;
  Real* im = rho + count;
  for_each_pair(count, stride, [&](int64_t i, int64_t j) {
    const Real ar = re[i], ai = im[i], br = re[j], bi = im[j];
    re[i] = m.m00.re * ar - m.m00.im * ai + m.m01.re * br - m.m01.im * bi;
    im[i] = m.m00.re * ai + m.m00.im * ar + m.m01.re * bi + m.m01.im * br;
    re[j] = m.m10.re * ar - m.m10.im * ai + m.m11.re * br - m.m11.im * bi;
    im[j] = m.m10.re * ai + m.m10.im * ar + m.m11.re * bi + m.m11.im * br;
  });
}

// rho -> U rho U^dagger for a one-qubit U on wire bit `bit`.
template <class Real>
inline void conjugate_one_qubit(Real* rho, int n, int bit, const Matrix2<Real>& u) {
  apply_pair_matrix(rho, n, int64_t{1} << (bit + n), u);
  const Matrix2<Real> column{conj(u.m00), conj(u.m01), conj(u.m10), conj(u.m11)};
  apply_pair_matrix(rho, n, int64_t{1} << bit, column);
}

// rho -> S(rho) for a channel's superoperator on wire bit `bit` (S is real).
template <class Real>
inline void apply_superoperator(Real* rho, int n, int bit, const Superoperator<Real>& s) {
  const int64_t count = entries(n);
  const int64_t column = int64_t{1} << bit, row = int64_t{1} << (bit + n);
  for (Real* plane : {rho, rho + count}) {
    for_each_quad(count, column, row, [&](int64_t k) {
      const Real v0 = plane[k], v1 = plane[k + column], v2 = plane[k + row],
                 v3 = plane[k + row + column];
      plane[k] = s.m[0][0] * v0 + s.m[0][1] * v1 + s.m[0][2] * v2 + s.m[0][3] * v3;
      plane[k + column] = s.m[1][0] * v0 + s.m[1][1] * v1 + s.m[1][2] * v2 + s.m[1][3] * v3;
      plane[k + row] = s.m[2][0] * v0 + s.m[2][1] * v1 + s.m[2][2] * v2 + s.m[2][3] * v3;
      plane[k + row + column] =
          s.m[3][0] * v0 + s.m[3][1] * v1 + s.m[3][2] * v2 + s.m[3][3] * v3;
    });
  }
}

// A fixed CNOT / CZ / SWAP on the index bits of strides m0 (control) and m1.
template <class Real>
inline void permute_side(Real* rho, int64_t count, SegmentKind kind, int64_t m0, int64_t m1) {
  const int64_t low = m0 < m1 ? m0 : m1, high = m0 < m1 ? m1 : m0;
  for (Real* plane : {rho, rho + count}) {
    for_each_quad(count, low, high, [&](int64_t k) {
      if (kind == SegmentKind::kCz) {
        plane[k + m0 + m1] = -plane[k + m0 + m1];
        return;
      }
      const int64_t a = k + m0, b = kind == SegmentKind::kCnot ? k + m0 + m1 : k + m1;
      const Real t = plane[a];
      plane[a] = plane[b];
      plane[b] = t;
    });
  }
}

// rho -> G rho G^dagger for G a fixed two-qubit gate (real, its own inverse).
template <class Real>
inline void apply_fixed_two_qubit(Real* rho, int n, SegmentKind kind, int bit0, int bit1) {
  const int64_t count = entries(n);
  permute_side(rho, count, kind, int64_t{1} << (bit0 + n), int64_t{1} << (bit1 + n));
  permute_side(rho, count, kind, int64_t{1} << bit0, int64_t{1} << bit1);
}

// Two-qubit Pauli strings XX, YY, ZZ act within each quad of their two bits
// (positions q = 0..3 by bit pattern): (P v)_q = sign_q v_partner(q), all real.
// The sign depends only on the parity of q, so the order of the bits does not matter.
struct StringAction {
  bool flips;          // XX, YY: partner(q) = q ^ 3; ZZ: partner(q) = q
  double even_sign;    // sign of q = 0, 3
  double odd_sign;     // sign of q = 1, 2
};

inline StringAction string_action(PauliString pauli) {
  if (pauli == PauliString::kXX) return {true, 1.0, 1.0};
  if (pauli == PauliString::kYY) return {true, -1.0, 1.0};  // Y|0> = i|1>, Y|1> = -i|0>
  return {false, 1.0, -1.0};
}

// The quad's four indices for strides m0, m1 (in either order) at base k.
inline void quad_indices(int64_t k, int64_t m0, int64_t m1, int64_t (&index)[4]) {
  index[0] = k;
  index[1] = k + m1;
  index[2] = k + m0;
  index[3] = k + m0 + m1;
}

// v -> (c I - i t P) v on one side of rho (the index bits of strides m0, m1).
template <class Real>
inline void rotate_string_side(Real* rho, int64_t count, const StringAction& a, int64_t m0,
                               int64_t m1, Real c, Real t) {
  Real* re = rho;
  Real* im = rho + count;
  const int64_t low = m0 < m1 ? m0 : m1, high = m0 < m1 ? m1 : m0;
  const Real t_even = t * static_cast<Real>(a.even_sign), t_odd = t * static_cast<Real>(a.odd_sign);
  for_each_quad(count, low, high, [&](int64_t k) {
    int64_t index[4];
    quad_indices(k, m0, m1, index);
    Real vr[4], vi[4];
    for (int q = 0; q < 4; ++q) vr[q] = re[index[q]], vi[q] = im[index[q]];
    for (int q = 0; q < 4; ++q) {
      const int partner = a.flips ? q ^ 3 : q;
      const Real ts = (q == 0 || q == 3) ? t_even : t_odd;
      re[index[q]] = c * vr[q] + ts * vi[partner];
      im[index[q]] = c * vi[q] - ts * vr[partner];
    }
  });
}

// rho -> U rho U^dagger for U = exp(-i theta/2 P), P = XX, YY or ZZ; s = sin(theta/2).
template <class Real>
inline void rotate_string(Real* rho, int n, PauliString pauli, int bit0, int bit1, Real c,
                          Real s) {
  const int64_t count = entries(n);
  const StringAction a = string_action(pauli);
  rotate_string_side(rho, count, a, int64_t{1} << (bit0 + n), int64_t{1} << (bit1 + n), c, s);
  // rho U^dagger: conj(U) = c I + i s P on the column index, P being real
  rotate_string_side(rho, count, a, int64_t{1} << bit0, int64_t{1} << bit1, c, -s);
}

// Im sum_i conj(lambda_i) (G rho)_i, G acting on the row side of wire bit `bit`:
// the adjoint method's dL/dtheta = Im tr(Lambda G rho) for a gate exp(-i theta/2 G)
// whose output is rho.
template <class Real>
inline double generator_trace(const Real* lambda, const Real* rho, int n, int bit,
                              const Matrix2<Real>& g) {
  const int64_t count = entries(n);
  const Real *lr = lambda, *li = lambda + count, *pr = rho, *pi = rho + count;
  const int64_t stride = int64_t{1} << (bit + n);
  double sum = 0;
  for (int64_t base = 0; base < count; base += 2 * stride) {
    // partial sums in Real over one contiguous run, so the loop vectorises
    Real run = 0;
#pragma omp simd reduction(+ : run)
    for (int64_t i = base; i < base + stride; ++i) {
      const int64_t j = i + stride;
      const Real gir = g.m00.re * pr[i] - g.m00.im * pi[i] + g.m01.re * pr[j] - g.m01.im * pi[j];
      const Real gii = g.m00.re * pi[i] + g.m00.im * pr[i] + g.m01.re * pi[j] + g.m01.im * pr[j];
      const Real gjr = g.m10.re * pr[i] - g.m10.im * pi[i] + g.m11.re * pr[j] - g.m11.im * pi[j];
      const Real gji = g.m10.re * pi[i] + g.m10.im * pr[i] + g.m11.re * pi[j] + g.m11.im * pr[j];
      run += lr[i] * gii - li[i] * gir + lr[j] * gji - li[j] * gjr;
    }
    sum += static_cast<double>(run);
  }
  return sum;
}

// Im sum_i conj(lambda_i) (P rho)_i for a two-qubit string P on the row side.
template <class Real>
inline double string_trace(const Real* lambda, const Real* rho, int n, PauliString pauli, int bit0,
                           int bit1) {
  const int64_t count = entries(n);
  const Real *lr = lambda, *li = lambda + count, *pr = rho, *pi = rho + count;
  const StringAction a = string_action(pauli);
  const int64_t m0 = int64_t{1} << (bit0 + n), m1 = int64_t{1} << (bit1 + n);
  double sum = 0;
  for_each_quad(count, m0 < m1 ? m0 : m1, m0 < m1 ? m1 : m0, [&](int64_t k) {
    int64_t index[4];
    quad_indices(k, m0, m1, index);
    for (int q = 0; q < 4; ++q) {
      const int64_t i = index[q], p = index[a.flips ? q ^ 3 : q];
      const double sign = (q == 0 || q == 3) ? a.even_sign : a.odd_sign;
      sum += sign * static_cast<double>(lr[i] * pi[p] - li[i] * pr[p]);
    }
  });
  return sum;
}

// Re sum_i conj(lambda_i) (S rho)_i for a superoperator S on wire bit `bit`.
template <class Real>
inline double superoperator_trace(const Real* lambda, const Real* rho, int n, int bit,
                                  const Superoperator<Real>& s) {
  const int64_t count = entries(n);
  const int64_t column = int64_t{1} << bit, row = int64_t{1} << (bit + n);
  double sum = 0;
  for (int64_t plane = 0; plane < 2; ++plane) {
    const Real* l = lambda + plane * count;
    const Real* v = rho + plane * count;
    for_each_quad(count, column, row, [&](int64_t k) {
      const int64_t index[4] = {k, k + column, k + row, k + row + column};
      for (int a = 0; a < 4; ++a) {
        Real out = 0;
        for (int b = 0; b < 4; ++b) out += s.m[a][b] * v[index[b]];
        sum += static_cast<double>(l[index[a]] * out);
      }
    });
  }
  return sum;
}

}  // namespace density
}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
