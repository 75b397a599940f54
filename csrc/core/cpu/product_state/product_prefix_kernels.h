// The product-state prefix (see CircuitView): from |0...0>, the one-qubit gates
// that act before any entangling gate leave one 2-vector per wire, and the
// state is their tensor product, built in one pass instead of one pass per
// gate. The adjoint sweep contracts the adjoint state onto each wire and
// differentiates the prefix gates on those 2-vectors.
#pragma once

#include <cstdint>

#include "qmoe/core/cpu/simd/lane_vector.h"
#include "qmoe/core/cpu/statevector/gate_kernels.h"

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

// out[i] = prod over the wires with bits [low, low + bits) of conj(phi_w[bit of i]),
// 2**bits amplitudes.
template <class Real, int Lanes>
inline void conjugate_product(Real* wire_states, int32_t low, int32_t bits, Real* out) {
  const Real* first = wire_block<Real, Lanes>(wire_states, low);
  for (int i = 0; i < 4 * Lanes; ++i) out[i] = (i / Lanes) % 2 == 1 ? -first[i] : first[i];
  for (int32_t bit = 1; bit < bits; ++bit) {
    const Real* phi = wire_block<Real, Lanes>(wire_states, low + bit);
    const int64_t half = int64_t{1} << bit;
    for (int64_t k = 0; k < half; ++k) {
      Real* __restrict lower = Block<Real, Lanes>::amp(out, k);
      Real* __restrict upper = Block<Real, Lanes>::amp(out, k + half);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        const Real x_re = lower[lane], x_im = lower[Lanes + lane];
        const Real p0_re = phi[lane], p0_im = -phi[Lanes + lane];
        const Real p1_re = phi[2 * Lanes + lane], p1_im = -phi[3 * Lanes + lane];
        upper[lane] = x_re * p1_re - x_im * p1_im;
        upper[Lanes + lane] = x_re * p1_im + x_im * p1_re;
        lower[lane] = x_re * p0_re - x_im * p0_im;
        lower[Lanes + lane] = x_re * p0_im + x_im * p0_re;
      }
    }
  }
}

// out[i] = sum_j weights[j] tensor[index(i, j)], one output at a time (each a
// plain sum in j order, so any split over i is deterministic).
template <class Real, int Lanes, class Index>
inline void weighted_sums(const Real* tensor, const Real* weights, int64_t n_out, int64_t n_sum,
                          const Index& index, Real* out) {
  auto sum_at = [&](int64_t i) {
    LaneVector<Real, Lanes> re = {}, im = {};
    for (int64_t j = 0; j < n_sum; ++j) {
      const Real* t = Block<Real, Lanes>::amp(const_cast<Real*>(tensor), index(i, j));
      const Real* w = Block<Real, Lanes>::amp(const_cast<Real*>(weights), j);
      const auto t_re = load_lanes<Real, Lanes>(t), t_im = load_lanes<Real, Lanes>(t + Lanes);
      const auto w_re = load_lanes<Real, Lanes>(w), w_im = load_lanes<Real, Lanes>(w + Lanes);
      re += w_re * t_re - w_im * t_im;
      im += w_re * t_im + w_im * t_re;
    }
    Real* o = Block<Real, Lanes>::amp(out, i);
    store_lanes<Real, Lanes>(o, re);
    store_lanes<Real, Lanes>(o + Lanes, im);
  };
  if (split_amplitudes<Lanes>(n_out * n_sum) && n_out % kAmplitudeParts == 0) {
    for_each_index_split(n_out, sum_at);
  } else {
    for (int64_t i = 0; i < n_out; ++i) sum_at(i);
  }
}

// environment_b[x] = sum over k with bit b of k equal to x of
//   tensor_k prod_{v != b} conj(phi_v[bit v of k]),
// for every wire b with bits [low, high) of the tensor, so that
// <lambda| G_b |psi> = <environment_b| G |phi_b> for any one-qubit G. Splits the
// wires in two halves and contracts each away from the tensor with the other
// half's product state, then recurses: about 2 passes over the tensor in all,
// where contracting wire by wire would take one per wire. `scratch` holds
// 8 * 2**ceil((high - low) / 2) amplitudes.
template <class Real, int Lanes>
inline void contract_onto_wires(const Real* tensor, Real* wire_states, int32_t low, int32_t high,
                                Real* scratch, Real* environments) {
  const int32_t bits = high - low;
  if (bits == 1) {
    Real* environment = wire_block<Real, Lanes>(environments, low);
    for (int i = 0; i < 4 * Lanes; ++i) environment[i] = tensor[i];
    return;
  }
  const int32_t low_bits = bits / 2, high_bits = bits - low_bits;
  const int64_t n_low = int64_t{1} << low_bits, n_high = int64_t{1} << high_bits;
  const int64_t amplitude = 2 * Lanes;
  Real* low_product = scratch;
  Real* high_product = low_product + n_low * amplitude;
  Real* low_part = high_product + n_high * amplitude;
  Real* high_part = low_part + n_low * amplitude;
  Real* rest = high_part + n_high * amplitude;
  conjugate_product<Real, Lanes>(wire_states, low, low_bits, low_product);
  conjugate_product<Real, Lanes>(wire_states, low + low_bits, high_bits, high_product);
  // tensor index = (h << low_bits) | l
  weighted_sums<Real, Lanes>(
      tensor, high_product, n_low, n_high,
      [&](int64_t l, int64_t h) { return (h << low_bits) | l; }, low_part);
  weighted_sums<Real, Lanes>(
      tensor, low_product, n_high, n_low, [&](int64_t h, int64_t l) { return (h << low_bits) | l; },
      high_part);
  contract_onto_wires<Real, Lanes>(low_part, wire_states, low, low + low_bits, rest, environments);
  contract_onto_wires<Real, Lanes>(high_part, wire_states, low + low_bits, high, rest,
                                   environments);
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
