// Gate kernels over one block of `Lanes` samples in structure-of-arrays layout
// (for amplitude k: the block's real parts, then its imaginary parts): every
// gate is the same arithmetic on every lane, with no gathers and no per-sample
// branches, so the lane loops compile to straight vector FMAs. Compiled once
// per instruction set (see isa_tag.h).
#pragma once

#include <cmath>
#include <cstdint>

#include "qmoe/core/cpu/statevector/amplitude_parts.h"
#include "qmoe/core/math/fixed_two_qubit.h"
#include "qmoe/core/math/gate_math.h"
#include "qmoe/core/math/isa_tag.h"
#include "qmoe/core/math/pauli_string.h"
#include "qmoe/core/program/compiled_circuit.h"

#if defined(__GNUC__) && !defined(__clang__)
#define QMOE_VECTORIZE _Pragma("GCC ivdep")
#else
#define QMOE_VECTORIZE
#endif

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

template <class Real, int Lanes>
struct Block {
  static Real* amp(Real* state, int64_t k) { return state + k * 2 * Lanes; }
};

// Applies a one-qubit gate whose per-lane entries come from matrix(lane).
template <class Real, int Lanes, class LaneMatrix>
inline void apply_one_qubit(Real* state, int64_t dim, int32_t bit, const LaneMatrix& matrix) {
  const int64_t stride = int64_t{1} << bit;
  auto apply_pair = [&](int64_t k0) {
    Real* __restrict a0 = Block<Real, Lanes>::amp(state, k0);
    Real* __restrict a1 = Block<Real, Lanes>::amp(state, k0 + stride);
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      apply_matrix2(matrix(lane), a0[lane], a0[Lanes + lane], a1[lane], a1[Lanes + lane]);
    }
  };
  if (split_amplitudes<Lanes>(dim)) {
    for_each_index_split(dim / 2, [&](int64_t p) { apply_pair(pair_low_index(p, bit)); });
    return;
  }
  for (int64_t high = 0; high < dim; high += 2 * stride) {
    for (int64_t low = 0; low < stride; ++low) apply_pair(high + low);
  }
}

template <class Real>
struct SharedMatrix {
  Matrix2<Real> matrix;
  Matrix2<Real> operator()(int) const { return matrix; }
};

// exp(-i t/2 P) per lane for a one-qubit Pauli P (sign = +1), or its inverse
// (sign = -1). P is a template argument so the lane loop has no branch.
template <class Real, Pauli P>
struct RotationLanes {
  const Real* cos_half;
  const Real* sin_half;
  Real sign;
  Matrix2<Real> operator()(int lane) const {
    return rotation_matrix<Real>(P, cos_half[lane], sign * sin_half[lane]);
  }
};

// Calls body(RotationLanes<Real, P>{...}) with P fixed at compile time.
template <class Real, class Body>
inline void with_rotation_lanes(Pauli pauli, const Real* cos_half, const Real* sin_half, Real sign,
                                Body&& body) {
  switch (pauli) {
    case Pauli::kX:
      body(RotationLanes<Real, Pauli::kX>{cos_half, sin_half, sign});
      break;
    case Pauli::kY:
      body(RotationLanes<Real, Pauli::kY>{cos_half, sin_half, sign});
      break;
    default:
      body(RotationLanes<Real, Pauli::kZ>{cos_half, sin_half, sign});
      break;
  }
}

// psi <- (c I - i s P) psi with per-lane c, s.
template <class Real, int Lanes>
inline void apply_pauli_rotation(Real* state, int64_t dim, const PauliAction& action,
                                 const Real* cos_half, const Real* sin_half) {
  auto rotate_at = [&](int64_t k) {
    const int64_t partner = k ^ action.flip;
    if (partner < k) return;
    int phase_re, phase_im;
    pauli_phase(action, k, phase_re, phase_im);
    // -i * phase_k, the factor of s in the new amplitude
    const Real q_re = static_cast<Real>(phase_im), q_im = static_cast<Real>(-phase_re);
    Real* __restrict a = Block<Real, Lanes>::amp(state, k);
    if (partner == k) {
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        const Real f_re = cos_half[lane], f_im = sin_half[lane] * q_im;
        const Real x_re = a[lane], x_im = a[Lanes + lane];
        a[lane] = f_re * x_re - f_im * x_im;
        a[Lanes + lane] = f_re * x_im + f_im * x_re;
      }
      return;
    }
    int partner_phase_re, partner_phase_im;
    pauli_phase(action, partner, partner_phase_re, partner_phase_im);
    const Real p_re = static_cast<Real>(partner_phase_im);
    const Real p_im = static_cast<Real>(-partner_phase_re);
    Real* __restrict b = Block<Real, Lanes>::amp(state, partner);
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      const Real c = cos_half[lane], s = sin_half[lane];
      const Real x_re = a[lane], x_im = a[Lanes + lane];
      const Real y_re = b[lane], y_im = b[Lanes + lane];
      a[lane] = c * x_re + s * (q_re * y_re - q_im * y_im);
      a[Lanes + lane] = c * x_im + s * (q_re * y_im + q_im * y_re);
      b[lane] = c * y_re + s * (p_re * x_re - p_im * x_im);
      b[Lanes + lane] = c * y_im + s * (p_re * x_im + p_im * x_re);
    }
  };
  // pairs {k, k ^ flip} are disjoint: any split of k is free of races
  if (split_amplitudes<Lanes>(dim)) {
    for_each_index_split(dim, rotate_at);
    return;
  }
  for (int64_t k = 0; k < dim; ++k) rotate_at(k);
}

// Per lane: Im <lambda| P |psi>.
template <class Real, int Lanes>
inline void pauli_gradient(const Real* psi, const Real* lambda, int64_t dim,
                           const PauliAction& action, Real* result) {
  auto add_range = [&](int64_t begin, int64_t end, Real* sums) {
    for (int64_t k = begin; k < end; ++k) {
      int phase_re, phase_im;
      pauli_phase(action, k, phase_re, phase_im);
      const Real ph_re = static_cast<Real>(phase_re), ph_im = static_cast<Real>(phase_im);
      const Real* __restrict l = Block<Real, Lanes>::amp(const_cast<Real*>(lambda), k);
      const Real* __restrict p = Block<Real, Lanes>::amp(const_cast<Real*>(psi), k ^ action.flip);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        // (phase psi)_k
        const Real v_re = ph_re * p[lane] - ph_im * p[Lanes + lane];
        const Real v_im = ph_re * p[Lanes + lane] + ph_im * p[lane];
        sums[lane] += l[lane] * v_im - l[Lanes + lane] * v_re;
      }
    }
  };
  for (int lane = 0; lane < Lanes; ++lane) result[lane] = 0;
  if (split_amplitudes<Lanes>(dim)) {
    Real partial[kAmplitudeParts][Lanes] = {};
    const int64_t per_part = dim / kAmplitudeParts;
    for_each_part(
        [&](int part) { add_range(part * per_part, (part + 1) * per_part, partial[part]); });
    for (int part = 0; part < kAmplitudeParts; ++part) {
      for (int lane = 0; lane < Lanes; ++lane) result[lane] += partial[part][lane];
    }
    return;
  }
  add_range(0, dim, result);
}

// What the adjoint method needs from one wire, per lane: the four real numbers
// of the pair-summed products conj(lambda_i) psi_j that any Hermitian 2x2
// generator G is linear in, so every gradient of a fused run costs one pass.
//   Im <lambda|G|psi> = g00 im00 + g11 im11 + Re(g01) cross_im + Im(g01) cross_re
template <class Real, int Lanes>
struct WireProducts {
  Real im00[Lanes], im11[Lanes], cross_re[Lanes], cross_im[Lanes];
};

template <class Real, int Lanes>
inline void generator_gradient(const WireProducts<Real, Lanes>& products, const Matrix2<Real>& g,
                               Real* result) {
  QMOE_VECTORIZE
  for (int lane = 0; lane < Lanes; ++lane) {
    result[lane] = g.m00.re * products.im00[lane] + g.m11.re * products.im11[lane] +
                   g.m01.re * products.cross_im[lane] + g.m01.im * products.cross_re[lane];
  }
}

// One reverse step of a one-qubit gate: accumulates the wire products of
// (lambda, psi) after the gate, then applies `inverse` to both, in one pass.
// `inverse` gives per-lane entries through inverse(lane).
template <class Real, int Lanes, class LaneMatrix>
inline void reverse_one_qubit(Real* psi, Real* lambda, int64_t dim, int32_t bit,
                              const LaneMatrix& inverse, WireProducts<Real, Lanes>& products) {
  const int64_t stride = int64_t{1} << bit;
  auto reverse_pair = [&](int64_t k0, WireProducts<Real, Lanes>& sums) {
    const int64_t k1 = k0 + stride;
    Real* __restrict p0 = Block<Real, Lanes>::amp(psi, k0);
    Real* __restrict p1 = Block<Real, Lanes>::amp(psi, k1);
    Real* __restrict l0 = Block<Real, Lanes>::amp(lambda, k0);
    Real* __restrict l1 = Block<Real, Lanes>::amp(lambda, k1);
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      const Real p0r = p0[lane], p0i = p0[Lanes + lane], p1r = p1[lane], p1i = p1[Lanes + lane];
      const Real l0r = l0[lane], l0i = l0[Lanes + lane], l1r = l1[lane], l1i = l1[Lanes + lane];
      sums.im00[lane] += l0r * p0i - l0i * p0r;
      sums.im11[lane] += l1r * p1i - l1i * p1r;
      // conj(l0) p1 - conj(conj(l1) p0)
      sums.cross_re[lane] += (l0r * p1r + l0i * p1i) - (l1r * p0r + l1i * p0i);
      sums.cross_im[lane] += (l0r * p1i - l0i * p1r) + (l1r * p0i - l1i * p0r);
      const Matrix2<Real> m = inverse(lane);
      apply_matrix2(m, p0[lane], p0[Lanes + lane], p1[lane], p1[Lanes + lane]);
      apply_matrix2(m, l0[lane], l0[Lanes + lane], l1[lane], l1[Lanes + lane]);
    }
  };
  products = WireProducts<Real, Lanes>{};
  if (split_amplitudes<Lanes>(dim)) {
    WireProducts<Real, Lanes> partial[kAmplitudeParts] = {};
    const int64_t per_part = dim / 2 / kAmplitudeParts;
    for_each_part([&](int part) {
      for (int64_t p = part * per_part; p < (part + 1) * per_part; ++p) {
        reverse_pair(pair_low_index(p, bit), partial[part]);
      }
    });
    for (int part = 0; part < kAmplitudeParts; ++part) {
      for (int lane = 0; lane < Lanes; ++lane) {
        products.im00[lane] += partial[part].im00[lane];
        products.im11[lane] += partial[part].im11[lane];
        products.cross_re[lane] += partial[part].cross_re[lane];
        products.cross_im[lane] += partial[part].cross_im[lane];
      }
    }
    return;
  }
  for (int64_t high = 0; high < dim; high += 2 * stride) {
    for (int64_t low = 0; low < stride; ++low) reverse_pair(high + low, products);
  }
}

// Two shared one-qubit gates on different wires in one pass over the state:
// each group of four amplitudes (both bits 0 and 1) is loaded once, `first`
// applied along its bit and then `second` along its own. Half the memory
// traffic of two passes, for the same arithmetic.
inline int64_t quad_low_index(int64_t p, int32_t low, int32_t high) {
  return pair_low_index(pair_low_index(p, low), high);
}

template <class Real, int Lanes>
inline void apply_two_one_qubit(Real* state, int64_t dim, int32_t first_bit,
                                const Matrix2<Real>& first, int32_t second_bit,
                                const Matrix2<Real>& second) {
  const int32_t low = first_bit < second_bit ? first_bit : second_bit;
  const int32_t high = first_bit < second_bit ? second_bit : first_bit;
  const int64_t first_stride = int64_t{1} << first_bit, second_stride = int64_t{1} << second_bit;
  for (int64_t p = 0; p < dim / 4; ++p) {
    const int64_t k = quad_low_index(p, low, high);
    Real* __restrict a = Block<Real, Lanes>::amp(state, k);
    Real* __restrict b = Block<Real, Lanes>::amp(state, k + first_stride);
    Real* __restrict c = Block<Real, Lanes>::amp(state, k + second_stride);
    Real* __restrict d = Block<Real, Lanes>::amp(state, k + first_stride + second_stride);
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      Real ar = a[lane], ai = a[Lanes + lane], br = b[lane], bi = b[Lanes + lane];
      Real cr = c[lane], ci = c[Lanes + lane], dr = d[lane], di = d[Lanes + lane];
      apply_matrix2(first, ar, ai, br, bi);
      apply_matrix2(first, cr, ci, dr, di);
      apply_matrix2(second, ar, ai, cr, ci);
      apply_matrix2(second, br, bi, dr, di);
      a[lane] = ar, a[Lanes + lane] = ai, b[lane] = br, b[Lanes + lane] = bi;
      c[lane] = cr, c[Lanes + lane] = ci, d[lane] = dr, d[Lanes + lane] = di;
    }
  }
}

// The wire products of one amplitude pair (l0, l1), (p0, p1) added into `sums`.
template <class Real, int Lanes>
inline void add_pair_products(Real l0r, Real l0i, Real l1r, Real l1i, Real p0r, Real p0i, Real p1r,
                              Real p1i, int lane, WireProducts<Real, Lanes>& sums) {
  sums.im00[lane] += l0r * p0i - l0i * p0r;
  sums.im11[lane] += l1r * p1i - l1i * p1r;
  sums.cross_re[lane] += (l0r * p1r + l0i * p1i) - (l1r * p0r + l1i * p0i);
  sums.cross_im[lane] += (l0r * p1i - l0i * p1r) + (l1r * p0i - l1i * p0r);
}

// reverse_one_qubit for two shared gates on different wires, the later one
// first, in one pass: the later gate's products, its inverse, then the earlier
// gate's products and inverse, on each group of four amplitudes of psi and lambda.
template <class Real, int Lanes>
inline void reverse_two_one_qubit(Real* psi, Real* lambda, int64_t dim, int32_t later_bit,
                                  const Matrix2<Real>& later_inverse, int32_t earlier_bit,
                                  const Matrix2<Real>& earlier_inverse,
                                  WireProducts<Real, Lanes>& later,
                                  WireProducts<Real, Lanes>& earlier) {
  later = WireProducts<Real, Lanes>{};
  earlier = WireProducts<Real, Lanes>{};
  const int32_t low = later_bit < earlier_bit ? later_bit : earlier_bit;
  const int32_t high = later_bit < earlier_bit ? earlier_bit : later_bit;
  const int64_t later_stride = int64_t{1} << later_bit;
  const int64_t earlier_stride = int64_t{1} << earlier_bit;
  for (int64_t p = 0; p < dim / 4; ++p) {
    // a = k, b = k + later, c = k + earlier, d = both: later pairs (a,b), (c,d); earlier (a,c),
    // (b,d)
    const int64_t k = quad_low_index(p, low, high);
    Real* __restrict pa = Block<Real, Lanes>::amp(psi, k);
    Real* __restrict pb = Block<Real, Lanes>::amp(psi, k + later_stride);
    Real* __restrict pc = Block<Real, Lanes>::amp(psi, k + earlier_stride);
    Real* __restrict pd = Block<Real, Lanes>::amp(psi, k + later_stride + earlier_stride);
    Real* __restrict la = Block<Real, Lanes>::amp(lambda, k);
    Real* __restrict lb = Block<Real, Lanes>::amp(lambda, k + later_stride);
    Real* __restrict lc = Block<Real, Lanes>::amp(lambda, k + earlier_stride);
    Real* __restrict ld = Block<Real, Lanes>::amp(lambda, k + later_stride + earlier_stride);
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      Real par = pa[lane], pai = pa[Lanes + lane], pbr = pb[lane], pbi = pb[Lanes + lane];
      Real pcr = pc[lane], pci = pc[Lanes + lane], pdr = pd[lane], pdi = pd[Lanes + lane];
      Real lar = la[lane], lai = la[Lanes + lane], lbr = lb[lane], lbi = lb[Lanes + lane];
      Real lcr = lc[lane], lci = lc[Lanes + lane], ldr = ld[lane], ldi = ld[Lanes + lane];
      add_pair_products(lar, lai, lbr, lbi, par, pai, pbr, pbi, lane, later);
      add_pair_products(lcr, lci, ldr, ldi, pcr, pci, pdr, pdi, lane, later);
      apply_matrix2(later_inverse, par, pai, pbr, pbi);
      apply_matrix2(later_inverse, pcr, pci, pdr, pdi);
      apply_matrix2(later_inverse, lar, lai, lbr, lbi);
      apply_matrix2(later_inverse, lcr, lci, ldr, ldi);
      add_pair_products(lar, lai, lcr, lci, par, pai, pcr, pci, lane, earlier);
      add_pair_products(lbr, lbi, ldr, ldi, pbr, pbi, pdr, pdi, lane, earlier);
      apply_matrix2(earlier_inverse, par, pai, pcr, pci);
      apply_matrix2(earlier_inverse, pbr, pbi, pdr, pdi);
      apply_matrix2(earlier_inverse, lar, lai, lcr, lci);
      apply_matrix2(earlier_inverse, lbr, lbi, ldr, ldi);
      pa[lane] = par, pa[Lanes + lane] = pai, pb[lane] = pbr, pb[Lanes + lane] = pbi;
      pc[lane] = pcr, pc[Lanes + lane] = pci, pd[lane] = pdr, pd[Lanes + lane] = pdi;
      la[lane] = lar, la[Lanes + lane] = lai, lb[lane] = lbr, lb[Lanes + lane] = lbi;
      lc[lane] = lcr, lc[Lanes + lane] = lci, ld[lane] = ldr, ld[Lanes + lane] = ldi;
    }
  }
}

// psi <- U psi (or U^dagger psi) for a dense 2**n x 2**n U, row-major complex.
template <class Real, int Lanes, bool kAdjoint>
inline void apply_dense(Real* state, int64_t dim, const Real* matrix, Real* scratch) {
  for (int64_t row = 0; row < dim; ++row) {
    // local sums stay in registers; accumulating into `scratch` would stall on store forwarding
    Real sum_re[Lanes] = {}, sum_im[Lanes] = {};
    for (int64_t column = 0; column < dim; ++column) {
      const Real* entry =
          kAdjoint ? matrix + 2 * (column * dim + row) : matrix + 2 * (row * dim + column);
      const Real u_re = entry[0], u_im = kAdjoint ? -entry[1] : entry[1];
      const Real* __restrict a = Block<Real, Lanes>::amp(state, column);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        sum_re[lane] += u_re * a[lane] - u_im * a[Lanes + lane];
        sum_im[lane] += u_re * a[Lanes + lane] + u_im * a[lane];
      }
    }
    Real* __restrict out = Block<Real, Lanes>::amp(scratch, row);
    for (int lane = 0; lane < Lanes; ++lane) {
      out[lane] = sum_re[lane];
      out[Lanes + lane] = sum_im[lane];
    }
  }
  for (int64_t i = 0; i < 2 * dim * Lanes; ++i) state[i] = scratch[i];
}

// accumulator[j][k] += psi_j conj(lambda_k), per lane.
template <class Real, int Lanes>
inline void accumulate_outer_product(const Real* psi, const Real* lambda, int64_t dim,
                                     Real* accumulator) {
  for (int64_t j = 0; j < dim; ++j) {
    const Real* __restrict p = Block<Real, Lanes>::amp(const_cast<Real*>(psi), j);
    for (int64_t k = 0; k < dim; ++k) {
      const Real* __restrict l = Block<Real, Lanes>::amp(const_cast<Real*>(lambda), k);
      Real* __restrict m = Block<Real, Lanes>::amp(accumulator, j * dim + k);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        m[lane] += p[lane] * l[lane] + p[Lanes + lane] * l[Lanes + lane];
        m[Lanes + lane] += p[Lanes + lane] * l[lane] - p[lane] * l[Lanes + lane];
      }
    }
  }
}

// Per lane: Im tr(G M) = Im <lambda|G|psi> summed over the chunk's blocks.
template <class Real, int Lanes>
inline void dense_generator_gradient(const Real* generator, const Real* accumulator, int64_t dim,
                                     Real* result) {
  for (int lane = 0; lane < Lanes; ++lane) result[lane] = 0;
  for (int64_t j = 0; j < dim; ++j) {
    for (int64_t k = 0; k < dim; ++k) {
      const Real g_re = generator[2 * (k * dim + j)], g_im = generator[2 * (k * dim + j) + 1];
      const Real* __restrict m =
          Block<Real, Lanes>::amp(const_cast<Real*>(accumulator), j * dim + k);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        result[lane] += g_re * m[Lanes + lane] + g_im * m[lane];
      }
    }
  }
}

template <class Real, int Lanes>
inline void swap_amplitudes(Real* state, int64_t k, int64_t partner) {
  Real* __restrict a = Block<Real, Lanes>::amp(state, k);
  Real* __restrict b = Block<Real, Lanes>::amp(state, partner);
  QMOE_VECTORIZE
  for (int i = 0; i < 2 * Lanes; ++i) {
    const Real t = a[i];
    a[i] = b[i];
    b[i] = t;
  }
}

// CNOT, CZ and SWAP (math/fixed_two_qubit.h): permutations and signs of
// amplitudes, no arithmetic.
template <class Real, int Lanes>
inline void apply_fixed_two_qubit(Real* state, int64_t dim, SegmentKind kind, int32_t bit0,
                                  int32_t bit1) {
  const int64_t mask0 = int64_t{1} << bit0, mask1 = int64_t{1} << bit1;
  const int partner = exchanged_with_10(fixed_two_qubit_gate(kind));
  auto apply_at = [&](int64_t k) {
    const bool b0 = k & mask0, b1 = k & mask1;
    if (partner >= 0) {
      // k is the quad's |10>; its base has both bits clear
      if (b0 && !b1) {
        swap_amplitudes<Real, Lanes>(state, k, (k & ~mask0) + quad_offset(partner, mask0, mask1));
      }
    } else if (b0 && b1) {
      Real* a = Block<Real, Lanes>::amp(state, k);
      QMOE_VECTORIZE
      for (int i = 0; i < 2 * Lanes; ++i) a[i] = -a[i];
    }
  };
  // every k touches only itself and one partner that no other k touches
  if (split_amplitudes<Lanes>(dim)) {
    for_each_index_split(dim, apply_at);
    return;
  }
  for (int64_t k = 0; k < dim; ++k) apply_at(k);
}

// dst_k = sign_k src_{source_k}: a merged run of CNOT, CZ and SWAP in one pass.
template <class Real, int Lanes>
inline void apply_permutation(const Real* src, Real* dst, int64_t dim, const int32_t* source,
                              const Real* sign) {
  for (int64_t k = 0; k < dim; ++k) {
    const Real* __restrict from = Block<Real, Lanes>::amp(const_cast<Real*>(src), source[k]);
    Real* __restrict to = Block<Real, Lanes>::amp(dst, k);
    const Real factor = sign[k];
    QMOE_VECTORIZE
    for (int i = 0; i < 2 * Lanes; ++i) to[i] = factor * from[i];
  }
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
