// The product-state prefix (see CircuitView): from |0...0>, the one-qubit gates
// that act before any entangling gate leave one 2-vector per wire, and the
// state is their tensor product, built in one pass instead of one pass per
// gate. The adjoint sweep contracts the adjoint state onto each wire and
// differentiates the prefix gates on those 2-vectors.
#pragma once

#include <cstdint>

#include "gate_kernels.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// A wire's 2-vector is a block of two amplitudes, stored per basis-index bit.
template <class Real, int Lanes>
inline Real* wire_block(Real* wire_blocks, int32_t bit) {
  return wire_blocks + 4 * bit * Lanes;
}

// Every wire at |0>.
template <class Real, int Lanes>
inline void reset_wire_states(Real* wire_states, int n_qubits) {
  for (int64_t i = 0; i < 4 * n_qubits * Lanes; ++i) wire_states[i] = 0;
  for (int32_t bit = 0; bit < n_qubits; ++bit) {
    Real* phi = wire_block<Real, Lanes>(wire_states, bit);
    for (int lane = 0; lane < Lanes; ++lane) phi[lane] = 1;
  }
}

// psi_k = prod_b phi_b[bit b of k], doubling the state one bit at a time.
template <class Real, int Lanes>
inline void expand_product_state(Real* wire_states, int n_qubits, Real* state) {
  const Real* first = wire_block<Real, Lanes>(wire_states, 0);
  for (int i = 0; i < 4 * Lanes; ++i) state[i] = first[i];
  for (int32_t bit = 1; bit < n_qubits; ++bit) {
    const Real* phi = wire_block<Real, Lanes>(wire_states, bit);
    const int64_t half = int64_t{1} << bit;
    // amplitude k < half becomes k (times phi[0]) and k + half (times phi[1]): no k
    // touches another's amplitudes, in any order
    auto double_at = [&](int64_t k) {
      Real* __restrict low = Block<Real, Lanes>::amp(state, k);
      Real* __restrict high = Block<Real, Lanes>::amp(state, k + half);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        const Real x_re = low[lane], x_im = low[Lanes + lane];
        const Real p0_re = phi[lane], p0_im = phi[Lanes + lane];
        const Real p1_re = phi[2 * Lanes + lane], p1_im = phi[3 * Lanes + lane];
        high[lane] = x_re * p1_re - x_im * p1_im;
        high[Lanes + lane] = x_re * p1_im + x_im * p1_re;
        low[lane] = x_re * p0_re - x_im * p0_im;
        low[Lanes + lane] = x_re * p0_im + x_im * p0_re;
      }
    };
    if (split_amplitudes<Lanes>(2 * half)) {
      for_each_index_split(half, double_at);
    } else {
      for (int64_t k = 0; k < half; ++k) double_at(k);
    }
  }
}

// environment[x] = sum over k with bit `bit` of k equal to x of
//   lambda_k prod_{v != bit} conj(phi_v[bit v of k]),
// so that <lambda| G_bit |psi> = <environment| G |phi_bit> for any one-qubit G.
// Contracts the other bits from the highest down; `scratch` holds 2**(n-1) amplitudes.
template <class Real, int Lanes>
inline void contract_onto_wire(const Real* lambda, Real* wire_states, int n_qubits, int32_t bit,
                               Real* scratch, Real* environment) {
  const Real* source = lambda;
  int64_t size = int64_t{1} << n_qubits;
  for (int32_t other = n_qubits - 1; other >= 0; --other) {
    if (other == bit) continue;
    const Real* phi = wire_block<Real, Lanes>(wire_states, other);
    // bits below `other` are all still there, so it sits at position `other`
    const int64_t half = int64_t{1} << other;
    auto contract_at = [&](int64_t out_index) {
      const int64_t high = out_index & ~(half - 1), low = out_index & (half - 1);
      const Real* in0 = Block<Real, Lanes>::amp(const_cast<Real*>(source), 2 * high + low);
      const Real* in1 = in0 + 2 * Lanes * half;
      Real* out = Block<Real, Lanes>::amp(scratch, out_index);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        const Real p0_re = phi[lane], p0_im = phi[Lanes + lane];
        const Real p1_re = phi[2 * Lanes + lane], p1_im = phi[3 * Lanes + lane];
        const Real a_re = in0[lane], a_im = in0[Lanes + lane];
        const Real b_re = in1[lane], b_im = in1[Lanes + lane];
        out[lane] = p0_re * a_re + p0_im * a_im + p1_re * b_re + p1_im * b_im;
        out[Lanes + lane] = p0_re * a_im - p0_im * a_re + p1_re * b_im - p1_im * b_re;
      }
    };
    // Only the first contraction, out of lambda, may run split: later ones work in
    // place, where an output can overwrite an input another part has yet to read.
    if (source == lambda && split_amplitudes<Lanes>(size)) {
      for_each_index_split(size / 2, contract_at);
    } else {
      // in place is safe in order: output index never exceeds an input still to be read
      for (int64_t out_index = 0; out_index < size / 2; ++out_index) contract_at(out_index);
    }
    source = scratch;
    size /= 2;
  }
  for (int i = 0; i < 4 * Lanes; ++i) environment[i] = source[i];
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
