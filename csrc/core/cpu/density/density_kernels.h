// Kernels on a block of density matrices rho (density_layout.h: one sample's
// 2**n x 2**n complex rho, row-major, or a block of samples in the low index
// bits), stored as two planes: real parts rho[0, N) then imaginary parts
// rho[N, 2N), so the inner loops run over contiguous reals and vectorise. Wire
// bit b is index bit b + n + lane_bits on the row side and b + lane_bits on the
// column side. A gate U acts as rho -> U rho U^dagger: U on the row bits,
// conj(U) on the column bits. Kernels named *_by_lane take one coefficient per
// sample of the block; the others one for all. Traces write one value per
// sample, accumulated in double whatever Real is, each in an order that does
// not depend on the other samples of its block.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "qmoe/core/cpu/density/density_layout.h"
#include "qmoe/core/math/channels.h"
#include "qmoe/core/math/fixed_two_qubit.h"
#include "qmoe/core/math/gate_math.h"
#include "qmoe/core/math/pauli_string.h"
#include "qmoe/core/program/compiled_circuit.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {
namespace density {

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

// for_each_pair with the samples of a block innermost: body(i, j, lane).
template <class Body>
inline void for_each_pair_by_lane(const DensityLayout& layout, int64_t stride, Body&& body) {
  const int64_t count = layout.count(), lanes = layout.lanes();
  for (int64_t base = 0; base < count; base += 2 * stride) {
    for (int64_t group = base; group < base + stride; group += lanes) {
#pragma omp simd
      for (int64_t lane = 0; lane < lanes; ++lane) body(group + lane, group + lane + stride, lane);
    }
  }
}

// for_each_quad with the samples of a block innermost: body(i00, lane).
template <class Body>
inline void for_each_quad_by_lane(const DensityLayout& layout, int64_t low, int64_t high,
                                  Body&& body) {
  const int64_t count = layout.count(), lanes = layout.lanes();
  for (int64_t outer = 0; outer < count; outer += 2 * high) {
    for (int64_t middle = outer; middle < outer + high; middle += 2 * low) {
      for (int64_t group = middle; group < middle + low; group += lanes) {
#pragma omp simd
        for (int64_t lane = 0; lane < lanes; ++lane) body(group + lane, lane);
      }
    }
  }
}

// (a, b) at entries i, j -> M (a, b), M's entries given as real and imaginary parts.
template <class Real>
inline void pair_matrix_step(Real* re, Real* im, int64_t i, int64_t j, Real m00r, Real m00i,
                             Real m01r, Real m01i, Real m10r, Real m10i, Real m11r, Real m11i) {
  const Matrix2<Real> m{{m00r, m00i}, {m01r, m01i}, {m10r, m10i}, {m11r, m11i}};
  apply_matrix2(m, re[i], im[i], re[j], im[j]);
}

// v -> M v on every pair of entries that differ in the bit of `stride`.
template <class Real>
inline void apply_pair_matrix(Real* rho, const DensityLayout& layout, int64_t stride,
                              const Matrix2<Real>& m) {
  Real* re = rho;
  Real* im = rho + layout.count();
  for_each_pair(layout.count(), stride, [&](int64_t i, int64_t j) {
    pair_matrix_step(re, im, i, j, m.m00.re, m.m00.im, m.m01.re, m.m01.im, m.m10.re, m.m10.im,
                     m.m11.re, m.m11.im);
  });
}

// apply_pair_matrix with one matrix per lane; `conjugate` applies conj(M).
template <class Real>
inline void apply_pair_matrix_by_lane(Real* rho, const DensityLayout& layout, int64_t stride,
                                      const LaneMatrix2<Real>& m, bool conjugate) {
  Real* re = rho;
  Real* im = rho + layout.count();
  const Real sign = conjugate ? Real(-1) : Real(1);
  for_each_pair_by_lane(layout, stride, [&](int64_t i, int64_t j, int64_t l) {
    pair_matrix_step(re, im, i, j, m.m00_re[l], sign * m.m00_im[l], m.m01_re[l], sign * m.m01_im[l],
                     m.m10_re[l], sign * m.m10_im[l], m.m11_re[l], sign * m.m11_im[l]);
  });
}

// rho -> U rho U^dagger for a one-qubit U on wire bit `bit`.
template <class Real>
inline void conjugate_one_qubit(Real* rho, const DensityLayout& layout, int bit,
                                const Matrix2<Real>& u) {
  apply_pair_matrix(rho, layout, layout.row_stride(bit), u);
  const Matrix2<Real> column{conj(u.m00), conj(u.m01), conj(u.m10), conj(u.m11)};
  apply_pair_matrix(rho, layout, layout.column_stride(bit), column);
}

// conjugate_one_qubit with one U per lane.
template <class Real>
inline void conjugate_one_qubit_by_lane(Real* rho, const DensityLayout& layout, int bit,
                                        const LaneMatrix2<Real>& u) {
  apply_pair_matrix_by_lane(rho, layout, layout.row_stride(bit), u, false);
  apply_pair_matrix_by_lane(rho, layout, layout.column_stride(bit), u, true);
}

// The quad k, k + column, k + row, k + row + column of one plane -> S applied to
// it; s(a, b) reads S's entry (a, b).
template <class Real, class Entry>
inline void superoperator_step(Real* plane, int64_t k, int64_t column, int64_t row, Entry&& s) {
  const Real v[4] = {plane[k], plane[k + column], plane[k + row], plane[k + row + column]};
  Real out[4];
  for (int a = 0; a < 4; ++a) {
    out[a] = s(a, 0) * v[0] + s(a, 1) * v[1] + s(a, 2) * v[2] + s(a, 3) * v[3];
  }
  plane[k] = out[0];
  plane[k + column] = out[1];
  plane[k + row] = out[2];
  plane[k + row + column] = out[3];
}

// rho -> S(rho) for a channel's superoperator on wire bit `bit` (S is real).
template <class Real>
inline void apply_superoperator(Real* rho, const DensityLayout& layout, int bit,
                                const Superoperator<Real>& s) {
  const int64_t count = layout.count();
  const int64_t column = layout.column_stride(bit), row = layout.row_stride(bit);
  for (Real* plane : {rho, rho + count}) {
    for_each_quad(count, column, row, [&](int64_t k) {
      superoperator_step(plane, k, column, row, [&](int a, int b) { return s.m[a][b]; });
    });
  }
}

// apply_superoperator with one S per lane.
template <class Real>
inline void apply_superoperator_by_lane(Real* rho, const DensityLayout& layout, int bit,
                                        const LaneSuperoperator<Real>& s) {
  const int64_t count = layout.count();
  const int64_t column = layout.column_stride(bit), row = layout.row_stride(bit);
  for (Real* plane : {rho, rho + count}) {
    for_each_quad_by_lane(layout, column, row, [&](int64_t k, int64_t l) {
      superoperator_step(plane, k, column, row, [&](int a, int b) { return s.m[a][b][l]; });
    });
  }
}

// A fixed CNOT / CZ / SWAP (math/fixed_two_qubit.h) on the index bits of
// strides m0 (control) and m1.
template <class Real>
inline void permute_side(Real* rho, int64_t count, SegmentKind kind, int64_t m0, int64_t m1) {
  const int64_t low = m0 < m1 ? m0 : m1, high = m0 < m1 ? m1 : m0;
  const int partner = exchanged_with_10(fixed_two_qubit_gate(kind));
  for (Real* plane : {rho, rho + count}) {
    for_each_quad(count, low, high, [&](int64_t k) {
      if (partner < 0) {
        const int64_t i11 = k + quad_offset(3, m0, m1);
        plane[i11] = -plane[i11];
        return;
      }
      const int64_t a = k + quad_offset(2, m0, m1), b = k + quad_offset(partner, m0, m1);
      const Real t = plane[a];
      plane[a] = plane[b];
      plane[b] = t;
    });
  }
}

// rho -> G rho G^dagger for G a fixed two-qubit gate (real, its own inverse).
template <class Real>
inline void apply_fixed_two_qubit(Real* rho, const DensityLayout& layout, SegmentKind kind,
                                  int bit0, int bit1) {
  const int64_t count = layout.count();
  permute_side(rho, count, kind, layout.row_stride(bit0), layout.row_stride(bit1));
  permute_side(rho, count, kind, layout.column_stride(bit0), layout.column_stride(bit1));
}

// The quad's four indices for strides m0, m1 (in either order) at base k.
inline void quad_indices(int64_t k, int64_t m0, int64_t m1, int64_t (&index)[4]) {
  index[0] = k;
  index[1] = k + m1;
  index[2] = k + m0;
  index[3] = k + m0 + m1;
}

// The quad of base k -> (c I - i t P) on it; t_even, t_odd: t times P's signs.
template <class Real>
inline void string_rotation_step(Real* re, Real* im, const StringAction& a, int64_t k, int64_t m0,
                                 int64_t m1, Real c, Real t_even, Real t_odd) {
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
}

// v -> (c I - i t P) v on one side of rho (the index bits of strides m0, m1).
template <class Real>
inline void rotate_string_side(Real* rho, int64_t count, const StringAction& a, int64_t m0,
                               int64_t m1, Real c, Real t) {
  const int64_t low = m0 < m1 ? m0 : m1, high = m0 < m1 ? m1 : m0;
  const Real t_even = t * static_cast<Real>(a.even_sign), t_odd = t * static_cast<Real>(a.odd_sign);
  for_each_quad(count, low, high, [&](int64_t k) {
    string_rotation_step(rho, rho + count, a, k, m0, m1, c, t_even, t_odd);
  });
}

// v -> (c_l I - i t_sign t_l P) v on one side of rho, one (c, t) per lane.
template <class Real>
inline void rotate_string_side_by_lane(Real* rho, const DensityLayout& layout,
                                       const StringAction& a, int64_t m0, int64_t m1, const Real* c,
                                       const Real* t, Real t_sign) {
  const int64_t low = m0 < m1 ? m0 : m1, high = m0 < m1 ? m1 : m0;
  const Real even = t_sign * static_cast<Real>(a.even_sign);
  const Real odd = t_sign * static_cast<Real>(a.odd_sign);
  for_each_quad_by_lane(layout, low, high, [&](int64_t k, int64_t l) {
    string_rotation_step(rho, rho + layout.count(), a, k, m0, m1, c[l], even * t[l], odd * t[l]);
  });
}

// rho -> U rho U^dagger for U = exp(-i theta/2 P), P = XX, YY or ZZ; s = sin(theta/2).
template <class Real>
inline void rotate_string(Real* rho, const DensityLayout& layout, PauliString pauli, int bit0,
                          int bit1, Real c, Real s) {
  const int64_t count = layout.count();
  const StringAction a = string_action(pauli);
  rotate_string_side(rho, count, a, layout.row_stride(bit0), layout.row_stride(bit1), c, s);
  // rho U^dagger: conj(U) = c I + i s P on the column index, P being real
  rotate_string_side(rho, count, a, layout.column_stride(bit0), layout.column_stride(bit1), c, -s);
}

// rotate_string with one (cos, sin) of the half angle per lane.
template <class Real>
inline void rotate_string_by_lane(Real* rho, const DensityLayout& layout, PauliString pauli,
                                  int bit0, int bit1, const Real* c, const Real* s) {
  const StringAction a = string_action(pauli);
  rotate_string_side_by_lane(rho, layout, a, layout.row_stride(bit0), layout.row_stride(bit1), c, s,
                             Real(1));
  rotate_string_side_by_lane(rho, layout, a, layout.column_stride(bit0), layout.column_stride(bit1),
                             c, s, Real(-1));
}

// out[l] = sum over the pairs of `stride` of term(i, j) for lane l, in double.
// One sample (no lanes): partial sums in Real over each contiguous run, so the
// loop vectorises; a block: one double per lane, the lanes vectorised.
template <class Real, class Term>
inline void pair_sums(const DensityLayout& layout, int64_t stride, Term&& term, double* out) {
  if (layout.lane_bits == 0) {
    const int64_t count = layout.count();
    double sum = 0;
    for (int64_t base = 0; base < count; base += 2 * stride) {
      Real run = 0;
#pragma omp simd reduction(+ : run)
      for (int64_t i = base; i < base + stride; ++i) run += term(i, i + stride);
      sum += static_cast<double>(run);
    }
    out[0] = sum;
    return;
  }
  double sums[kMaxDensityLanes] = {};
  for_each_pair_by_lane(layout, stride, [&](int64_t i, int64_t j, int64_t l) {
    sums[l] += static_cast<double>(term(i, j));
  });
  for (int64_t l = 0; l < layout.lanes(); ++l) out[l] = sums[l];
}

// out[l] = sum over the quads of strides low < high of term(i00) for lane l, in double.
template <class Term>
inline void quad_sums(const DensityLayout& layout, int64_t low, int64_t high, Term&& term,
                      double* out) {
  double sums[kMaxDensityLanes] = {};
  for_each_quad_by_lane(layout, low, high, [&](int64_t k, int64_t l) { sums[l] += term(k); });
  for (int64_t l = 0; l < layout.lanes(); ++l) out[l] = sums[l];
}

// Per lane, Im sum_i conj(lambda_i) (G rho)_i, G acting on the row side of wire
// bit `bit`: the adjoint method's dL/dtheta = Im tr(Lambda G rho) for a gate
// exp(-i theta/2 G) whose output is rho.
template <class Real>
inline void generator_trace(const Real* lambda, const Real* rho, const DensityLayout& layout,
                            int bit, const Matrix2<Real>& g, double* out) {
  const int64_t count = layout.count();
  const Real *lr = lambda, *li = lambda + count, *pr = rho, *pi = rho + count;
  pair_sums<Real>(
      layout, layout.row_stride(bit),
      [&](int64_t i, int64_t j) {
        return imag_generator_product(g, lr[i], li[i], lr[j], li[j], pr[i], pi[i], pr[j], pi[j]);
      },
      out);
}

// Per lane, Im sum_i conj(lambda_i) (P rho)_i for a two-qubit string P on the row side.
template <class Real>
inline void string_trace(const Real* lambda, const Real* rho, const DensityLayout& layout,
                         PauliString pauli, int bit0, int bit1, double* out) {
  const int64_t count = layout.count();
  const Real *lr = lambda, *li = lambda + count, *pr = rho, *pi = rho + count;
  const StringAction a = string_action(pauli);
  const int64_t m0 = layout.row_stride(bit0), m1 = layout.row_stride(bit1);
  quad_sums(
      layout, m0 < m1 ? m0 : m1, m0 < m1 ? m1 : m0,
      [&](int64_t k) {
        int64_t index[4];
        quad_indices(k, m0, m1, index);
        double sum = 0;
        for (int q = 0; q < 4; ++q) {
          const int64_t i = index[q], p = index[a.flips ? q ^ 3 : q];
          const double sign = (q == 0 || q == 3) ? a.even_sign : a.odd_sign;
          sum += sign * static_cast<double>(lr[i] * pi[p] - li[i] * pr[p]);
        }
        return sum;
      },
      out);
}

// Per lane, Re sum_i conj(lambda_i) (S_l rho)_i for lane l's superoperator S_l on
// wire bit `bit`.
template <class Real>
inline void superoperator_trace(const Real* lambda, const Real* rho, const DensityLayout& layout,
                                int bit, const LaneSuperoperator<Real>& s, double* out) {
  const int64_t count = layout.count();
  const int64_t column = layout.column_stride(bit), row = layout.row_stride(bit);
  double sums[kMaxDensityLanes] = {};
  for (int64_t plane = 0; plane < 2; ++plane) {
    const Real* l = lambda + plane * count;
    const Real* v = rho + plane * count;
    for_each_quad_by_lane(layout, column, row, [&](int64_t k, int64_t lane) {
      const int64_t index[4] = {k, k + column, k + row, k + row + column};
      for (int a = 0; a < 4; ++a) {
        Real result = 0;
        for (int b = 0; b < 4; ++b) result += s.m[a][b][lane] * v[index[b]];
        sums[lane] += static_cast<double>(l[index[a]] * result);
      }
    });
  }
  for (int64_t lane = 0; lane < layout.lanes(); ++lane) out[lane] = sums[lane];
}

}  // namespace density
}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
