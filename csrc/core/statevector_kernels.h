// Statevector kernels over blocks of `Lanes` samples in structure-of-arrays
// layout: every gate is the same arithmetic on every lane, with no gathers and
// no per-sample branches, so the lane loops compile to straight vector FMAs.
// Compiled once per instruction set (see isa_tag.h); holds no out-of-line
// library code, only raw pointers.
#pragma once

#include <cmath>
#include <cstdint>

#include "chunk_task.h"
#include "gate_math.h"
#include "isa_tag.h"
#include "vector_math.h"

#if defined(__GNUC__) && !defined(__clang__)
#define QMOE_VECTORIZE _Pragma("GCC ivdep")
#else
#define QMOE_VECTORIZE
#endif

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// A Pauli string P as (P psi)_k = phase_k psi_{k ^ flip}; the phase is one of
// 1, -1, i, -i and depends on the bits of k on the string's wires.
struct PauliAction {
  int64_t flip;
  int32_t bit0;
  int32_t bit1;
  PauliString pauli;
};

inline PauliAction pauli_action(PauliString pauli, int32_t bit0, int32_t bit1) {
  const int64_t mask0 = int64_t{1} << bit0;
  const int64_t mask1 = bit1 >= 0 ? int64_t{1} << bit1 : 0;
  switch (pauli) {
    case PauliString::kX:
    case PauliString::kY:
      return {mask0, bit0, bit1, pauli};
    case PauliString::kXX:
    case PauliString::kYY:
      return {mask0 | mask1, bit0, bit1, pauli};
    default:
      return {0, bit0, bit1, pauli};
  }
}

// phase_k of P as (re, im).
inline void pauli_phase(const PauliAction& action, int64_t k, int& re, int& im) {
  const int b0 = static_cast<int>((k >> action.bit0) & 1);
  const int b1 = action.bit1 >= 0 ? static_cast<int>((k >> action.bit1) & 1) : 0;
  re = 1;
  im = 0;
  switch (action.pauli) {
    case PauliString::kX:
    case PauliString::kXX:
      break;
    case PauliString::kY:  // Y|0> = i|1>: (Y psi)_0 = -i psi_1, (Y psi)_1 = i psi_0
      re = 0;
      im = b0 ? 1 : -1;
      break;
    case PauliString::kZ:
      re = b0 ? -1 : 1;
      break;
    case PauliString::kYY:
      re = b0 == b1 ? -1 : 1;
      break;
    case PauliString::kZZ:
      re = b0 == b1 ? 1 : -1;
      break;
  }
}

template <class Real, int Lanes>
struct Block {
  static Real* amp(Real* state, int64_t k) { return state + k * 2 * Lanes; }
};

// Applies a one-qubit gate whose per-lane entries come from matrix(lane).
template <class Real, int Lanes, class LaneMatrix>
inline void apply_one_qubit(Real* state, int64_t dim, int32_t bit, const LaneMatrix& matrix) {
  const int64_t stride = int64_t{1} << bit;
  for (int64_t high = 0; high < dim; high += 2 * stride) {
    for (int64_t low = 0; low < stride; ++low) {
      Real* __restrict a0 = Block<Real, Lanes>::amp(state, high + low);
      Real* __restrict a1 = Block<Real, Lanes>::amp(state, high + low + stride);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        apply_matrix2(matrix(lane), a0[lane], a0[Lanes + lane], a1[lane], a1[Lanes + lane]);
      }
    }
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
inline void with_rotation_lanes(Pauli pauli, const Real* cos_half, const Real* sin_half,
                                Real sign, Body&& body) {
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
  for (int64_t k = 0; k < dim; ++k) {
    const int64_t partner = k ^ action.flip;
    if (partner < k) continue;
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
      continue;
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
  }
}

// Per lane: Im <lambda| P |psi>.
template <class Real, int Lanes>
inline void pauli_gradient(const Real* psi, const Real* lambda, int64_t dim,
                           const PauliAction& action, Real* result) {
  for (int lane = 0; lane < Lanes; ++lane) result[lane] = 0;
  for (int64_t k = 0; k < dim; ++k) {
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
      result[lane] += l[lane] * v_im - l[Lanes + lane] * v_re;
    }
  }
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
  for (int lane = 0; lane < Lanes; ++lane) {
    products.im00[lane] = products.im11[lane] = products.cross_re[lane] =
        products.cross_im[lane] = 0;
  }
  const int64_t stride = int64_t{1} << bit;
  for (int64_t high = 0; high < dim; high += 2 * stride) {
    for (int64_t low = 0; low < stride; ++low) {
      const int64_t k0 = high + low, k1 = k0 + stride;
      Real* __restrict p0 = Block<Real, Lanes>::amp(psi, k0);
      Real* __restrict p1 = Block<Real, Lanes>::amp(psi, k1);
      Real* __restrict l0 = Block<Real, Lanes>::amp(lambda, k0);
      Real* __restrict l1 = Block<Real, Lanes>::amp(lambda, k1);
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) {
        const Real p0r = p0[lane], p0i = p0[Lanes + lane], p1r = p1[lane], p1i = p1[Lanes + lane];
        const Real l0r = l0[lane], l0i = l0[Lanes + lane], l1r = l1[lane], l1i = l1[Lanes + lane];
        products.im00[lane] += l0r * p0i - l0i * p0r;
        products.im11[lane] += l1r * p1i - l1i * p1r;
        // conj(l0) p1 - conj(conj(l1) p0)
        products.cross_re[lane] += (l0r * p1r + l0i * p1i) - (l1r * p0r + l1i * p0i);
        products.cross_im[lane] += (l0r * p1i - l0i * p1r) + (l1r * p0i - l1i * p0r);
        const Matrix2<Real> m = inverse(lane);
        apply_matrix2(m, p0[lane], p0[Lanes + lane], p1[lane], p1[Lanes + lane]);
        apply_matrix2(m, l0[lane], l0[Lanes + lane], l1[lane], l1[Lanes + lane]);
      }
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
      const Real* entry = kAdjoint ? matrix + 2 * (column * dim + row)
                                   : matrix + 2 * (row * dim + column);
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
      const Real* __restrict m = Block<Real, Lanes>::amp(const_cast<Real*>(accumulator),
                                                         j * dim + k);
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

// CNOT, CZ and SWAP: permutations and signs of amplitudes, no arithmetic.
template <class Real, int Lanes>
inline void apply_fixed_two_qubit(Real* state, int64_t dim, SegmentKind kind, int32_t bit0,
                                  int32_t bit1) {
  const int64_t mask0 = int64_t{1} << bit0, mask1 = int64_t{1} << bit1;
  for (int64_t k = 0; k < dim; ++k) {
    const bool b0 = k & mask0, b1 = k & mask1;
    if (kind == SegmentKind::kCnot) {
      if (b0 && !b1) swap_amplitudes<Real, Lanes>(state, k, k | mask1);
    } else if (kind == SegmentKind::kSwap) {
      if (b0 && !b1) swap_amplitudes<Real, Lanes>(state, k, (k & ~mask0) | mask1);
    } else if (b0 && b1) {
      Real* a = Block<Real, Lanes>::amp(state, k);
      QMOE_VECTORIZE
      for (int i = 0; i < 2 * Lanes; ++i) a[i] = -a[i];
    }
  }
}

template <class Real, int Lanes>
inline void load_block(const ChunkTask<Real>& task, int64_t first, int64_t dim, Real* state) {
  const BatchView<Real>& batch = task.batch;
  for (int64_t i = 0; i < 2 * dim * Lanes; ++i) state[i] = 0;
  for (int lane = 0; lane < Lanes; ++lane) {
    const int64_t sample = first + lane;
    if (sample >= task.end) break;  // padding lanes stay zero and contribute nothing
    if (batch.initial_state == nullptr) {
      state[lane] = 1;
    } else if (batch.initial_state_is_complex) {
      const Real* source = batch.initial_state + sample * dim * 2;
      for (int64_t k = 0; k < dim; ++k) {
        state[k * 2 * Lanes + lane] = source[2 * k];
        state[k * 2 * Lanes + Lanes + lane] = source[2 * k + 1];
      }
    } else {
      const Real* source = batch.initial_state + sample * dim;
      for (int64_t k = 0; k < dim; ++k) state[k * 2 * Lanes + lane] = source[k];
    }
  }
}

template <class Real, int Lanes>
inline void rotation_angles(const ChunkTask<Real>& task, const Segment<Real>& segment,
                            int64_t first, Real* cos_half, Real* sin_half) {
  if (segment.source != ParamSource::kInput) {
    for (int lane = 0; lane < Lanes; ++lane) {
      cos_half[lane] = segment.shared_cos_half;
      sin_half[lane] = segment.shared_sin_half;
    }
    return;
  }
  const BatchView<Real>& batch = task.batch;
  Real* half_angle = sin_half;  // reused as scratch before it receives the sines
  for (int lane = 0; lane < Lanes; ++lane) {
    const int64_t sample = first + lane;
    const Real angle =
        sample < task.end
            ? batch.inputs[sample * batch.n_input_columns + segment.param_index] +
                  segment.angle_offset
            : Real(0);
    half_angle[lane] = angle / 2;
  }
  sincos_lanes<Real, Lanes>(half_angle, sin_half, cos_half);
}

// Runs every segment on the block; caches per-lane rotation cos/sin in `rotations`.
template <class Real, int Lanes>
inline void run_circuit(const ChunkTask<Real>& task, const CircuitView<Real>& circuit,
                        int64_t first, Real* state, Real* rotations) {
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  for (int32_t i = 0; i < circuit.n_segments; ++i) {
    const Segment<Real>& segment = circuit.segments[i];
    switch (segment.kind) {
      case SegmentKind::kSharedSingleQubit:
        apply_one_qubit<Real, Lanes>(state, dim, segment.bit0, SharedMatrix<Real>{segment.unitary});
        break;
      case SegmentKind::kPauliRotation: {
        Real* cos_half = rotations + segment.rotation_slot * 2 * Lanes;
        Real* sin_half = cos_half + Lanes;
        rotation_angles<Real, Lanes>(task, segment, first, cos_half, sin_half);
        if (segment.bit1 < 0) {
          with_rotation_lanes<Real>(
              static_cast<Pauli>(segment.pauli), cos_half, sin_half, Real(1),
              [&](const auto& rotation) {
                apply_one_qubit<Real, Lanes>(state, dim, segment.bit0, rotation);
              });
          break;
        }
        apply_pauli_rotation<Real, Lanes>(
            state, dim, pauli_action(segment.pauli, segment.bit0, segment.bit1), cos_half,
            sin_half);
        break;
      }
      case SegmentKind::kDenseUnitary:
        apply_dense<Real, Lanes, false>(state, dim, circuit.dense_matrices + segment.dense_offset,
                                        dense_workspace(task, Lanes) +
                                            circuit.n_accumulator_slots * dim * dim * 2 * Lanes);
        break;
      default:
        apply_fixed_two_qubit<Real, Lanes>(state, dim, segment.kind, segment.bit0, segment.bit1);
        break;
    }
  }
}

// Readout of the block into lane_out[width][Lanes]; probs[dim][Lanes] is scratch.
template <class Real, int Lanes>
inline void read_block(const ReadoutView& readout, const Real* state, int64_t dim, Real* probs,
                       Real* lane_out) {
  Real* target = readout.probs ? lane_out : probs;
  for (int64_t k = 0; k < dim; ++k) {
    const Real* a = state + k * 2 * Lanes;
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      target[k * Lanes + lane] = a[lane] * a[lane] + a[Lanes + lane] * a[Lanes + lane];
    }
  }
  if (readout.probs) return;
  for (int64_t m = 0; m < readout.n_masks; ++m) {
    Real* value = lane_out + m * Lanes;
    for (int lane = 0; lane < Lanes; ++lane) value[lane] = 0;
    for (int64_t k = 0; k < dim; ++k) {
      const bool odd = __builtin_parityll(static_cast<unsigned long long>(k & readout.index_masks[m]));
      const Real* p = probs + k * Lanes;
      QMOE_VECTORIZE
      for (int lane = 0; lane < Lanes; ++lane) value[lane] += odd ? -p[lane] : p[lane];
    }
  }
}

template <class Real, int Lanes>
inline void store_rows(const Real* lane_values, int64_t width, int64_t first, int64_t end,
                       Real* rows) {
  for (int lane = 0; lane < Lanes && first + lane < end; ++lane) {
    Real* row = rows + (first + lane) * width;
    for (int64_t j = 0; j < width; ++j) row[j] = lane_values[j * Lanes + lane];
  }
}

template <class Real, int Lanes>
void forward_chunk(const ChunkTask<Real>& task) {
  const CircuitView<Real>& circuit = task.circuit;
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  const int64_t width = readout_width(task.readout, circuit.n_qubits);
  Real* state = task.workspace;
  Real* rotations = state + 2 * dim * Lanes;
  Real* probs = rotations + 2 * circuit.n_rotation_slots * Lanes;
  Real* lane_out = probs + dim * Lanes;
  for (int64_t first = task.begin; first < task.end; first += Lanes) {
    load_block<Real, Lanes>(task, first, dim, state);
    run_circuit<Real, Lanes>(task, circuit, first, state, rotations);
    read_block<Real, Lanes>(task.readout, state, dim, probs, lane_out);
    store_rows<Real, Lanes>(lane_out, width, first, task.end, task.out);
  }
}

// lambda = D psi with D = sum_j g_j O_j, the readout folded with grad_out.
template <class Real, int Lanes>
inline void fold_readout(const ChunkTask<Real>& task, int64_t first, const Real* psi,
                         int64_t dim, Real* diagonal, Real* lambda) {
  const ReadoutView& readout = task.readout;
  const int64_t width = readout_width(readout, task.circuit.n_qubits);
  Real grad[Lanes];
  if (readout.probs) {
    for (int64_t k = 0; k < dim; ++k) {
      for (int lane = 0; lane < Lanes; ++lane) {
        const int64_t sample = first + lane;
        diagonal[k * Lanes + lane] = sample < task.end ? task.grad_out[sample * width + k] : 0;
      }
    }
  } else {
    for (int64_t i = 0; i < dim * Lanes; ++i) diagonal[i] = 0;
    for (int64_t m = 0; m < readout.n_masks; ++m) {
      for (int lane = 0; lane < Lanes; ++lane) {
        const int64_t sample = first + lane;
        grad[lane] = sample < task.end ? task.grad_out[sample * width + m] : 0;
      }
      for (int64_t k = 0; k < dim; ++k) {
        const bool odd =
            __builtin_parityll(static_cast<unsigned long long>(k & readout.index_masks[m]));
        Real* d = diagonal + k * Lanes;
        QMOE_VECTORIZE
        for (int lane = 0; lane < Lanes; ++lane) d[lane] += odd ? -grad[lane] : grad[lane];
      }
    }
  }
  for (int64_t k = 0; k < dim; ++k) {
    const Real* p = psi + k * 2 * Lanes;
    Real* l = lambda + k * 2 * Lanes;
    const Real* d = diagonal + k * Lanes;
    QMOE_VECTORIZE
    for (int lane = 0; lane < Lanes; ++lane) {
      l[lane] = d[lane] * p[lane];
      l[Lanes + lane] = d[lane] * p[Lanes + lane];
    }
  }
}

template <class Real, int Lanes>
inline void add_to_rows(const Real* lane_values, int64_t first, int64_t end, int64_t row_width,
                        int64_t column, Real* rows) {
  for (int lane = 0; lane < Lanes && first + lane < end; ++lane) {
    rows[(first + lane) * row_width + column] += lane_values[lane];
  }
}

template <class Real, int Lanes>
inline void add_to_lanes(const Real* lane_values, Real* accumulator) {
  QMOE_VECTORIZE
  for (int lane = 0; lane < Lanes; ++lane) accumulator[lane] += lane_values[lane];
}

template <class Real, int Lanes>
inline void sum_weight_lanes(const ChunkTask<Real>& task, const Real* accumulators) {
  if (task.grad_weights == nullptr) return;
  for (int64_t w = 0; w < task.n_weights; ++w) {
    Real total = 0;
    for (int lane = 0; lane < Lanes; ++lane) total += accumulators[w * Lanes + lane];
    task.grad_weights[w] += total;
  }
}

template <class Real, int Lanes>
inline void store_state_gradient(const ChunkTask<Real>& task, int64_t first, int64_t dim,
                                 const Real* lambda) {
  // L = <psi0|A|psi0> with A Hermitian: dL/dRe + i dL/dIm = 2 A psi0 = 2 lambda0.
  for (int lane = 0; lane < Lanes && first + lane < task.end; ++lane) {
    const int64_t sample = first + lane;
    for (int64_t k = 0; k < dim; ++k) {
      const Real* l = lambda + k * 2 * Lanes;
      if (task.batch.initial_state_is_complex) {
        task.grad_state[(sample * dim + k) * 2] = 2 * l[lane];
        task.grad_state[(sample * dim + k) * 2 + 1] = 2 * l[Lanes + lane];
      } else {
        task.grad_state[sample * dim + k] = 2 * l[lane];
      }
    }
  }
}

// One reverse sweep per block gives every gradient (Jones & Gacon's adjoint method).
template <class Real, int Lanes>
void adjoint_chunk(const ChunkTask<Real>& task) {
  const CircuitView<Real>& circuit = task.circuit;
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  Real* psi = task.workspace;
  Real* lambda = psi + 2 * dim * Lanes;
  Real* rotations = lambda + 2 * dim * Lanes;
  Real* diagonal = rotations + 2 * circuit.n_rotation_slots * Lanes;
  Real* gradient = diagonal + dim * Lanes;
  Real* weight_accumulators = gradient + 2 * Lanes;
  for (int64_t i = 0; i < task.n_weights * Lanes; ++i) weight_accumulators[i] = 0;
  const int64_t n_columns = task.batch.n_input_columns;
  WireProducts<Real, Lanes> products;
  Real* dense_accumulators = dense_workspace(task, Lanes);
  const int64_t accumulator_size = dim * dim * 2 * Lanes;
  Real* dense_scratch = dense_accumulators + circuit.n_accumulator_slots * accumulator_size;
  for (int64_t i = 0; i < circuit.n_accumulator_slots * accumulator_size; ++i) {
    dense_accumulators[i] = 0;
  }

  for (int64_t first = task.begin; first < task.end; first += Lanes) {
    load_block<Real, Lanes>(task, first, dim, psi);
    run_circuit<Real, Lanes>(task, circuit, first, psi, rotations);
    fold_readout<Real, Lanes>(task, first, psi, dim, diagonal, lambda);
    for (int32_t i = circuit.n_segments - 1; i >= 0; --i) {
      const Segment<Real>& segment = circuit.segments[i];
      switch (segment.kind) {
        case SegmentKind::kSharedSingleQubit: {
          reverse_one_qubit<Real, Lanes>(psi, lambda, dim, segment.bit0,
                                         SharedMatrix<Real>{adjoint(segment.unitary)}, products);
          for (int32_t t = 0; t < segment.n_terms; ++t) {
            const GradientTerm<Real>& term = circuit.terms[segment.first_term + t];
            generator_gradient<Real, Lanes>(products, term.generator, gradient);
            add_to_lanes<Real, Lanes>(gradient, weight_accumulators + term.weight_index * Lanes);
          }
          break;
        }
        case SegmentKind::kPauliRotation: {
          const Real* cos_half = rotations + segment.rotation_slot * 2 * Lanes;
          if (segment.bit1 < 0) {
            const auto pauli = static_cast<Pauli>(segment.pauli);
            with_rotation_lanes<Real>(pauli, cos_half, cos_half + Lanes, Real(-1),
                                      [&](const auto& inverse) {
                                        reverse_one_qubit<Real, Lanes>(psi, lambda, dim,
                                                                       segment.bit0, inverse,
                                                                       products);
                                      });
            generator_gradient<Real, Lanes>(products, pauli_matrix<Real>(pauli), gradient);
            if (segment.source == ParamSource::kInput && task.grad_inputs != nullptr) {
              add_to_rows<Real, Lanes>(gradient, first, task.end, n_columns,
                                       segment.param_index, task.grad_inputs);
            } else if (segment.source == ParamSource::kWeight) {
              add_to_lanes<Real, Lanes>(gradient,
                                        weight_accumulators + segment.param_index * Lanes);
            }
            break;
          }
          const PauliAction action = pauli_action(segment.pauli, segment.bit0, segment.bit1);
          if (segment.source == ParamSource::kInput && task.grad_inputs != nullptr) {
            pauli_gradient<Real, Lanes>(psi, lambda, dim, action, gradient);
            add_to_rows<Real, Lanes>(gradient, first, task.end, n_columns, segment.param_index,
                                     task.grad_inputs);
          } else if (segment.source == ParamSource::kWeight) {
            pauli_gradient<Real, Lanes>(psi, lambda, dim, action, gradient);
            add_to_lanes<Real, Lanes>(gradient,
                                      weight_accumulators + segment.param_index * Lanes);
          }
          Real* minus_sin = gradient + Lanes;
          for (int lane = 0; lane < Lanes; ++lane) minus_sin[lane] = -cos_half[Lanes + lane];
          apply_pauli_rotation<Real, Lanes>(psi, dim, action, cos_half, minus_sin);
          apply_pauli_rotation<Real, Lanes>(lambda, dim, action, cos_half, minus_sin);
          break;
        }
        case SegmentKind::kDenseUnitary: {
          // gradients come from the accumulated products once the chunk is done
          accumulate_outer_product<Real, Lanes>(
              psi, lambda, dim, dense_accumulators + segment.accumulator_slot * accumulator_size);
          const Real* matrix = circuit.dense_matrices + segment.dense_offset;
          apply_dense<Real, Lanes, true>(psi, dim, matrix, dense_scratch);
          apply_dense<Real, Lanes, true>(lambda, dim, matrix, dense_scratch);
          break;
        }
        default:
          apply_fixed_two_qubit<Real, Lanes>(psi, dim, segment.kind, segment.bit0, segment.bit1);
          apply_fixed_two_qubit<Real, Lanes>(lambda, dim, segment.kind, segment.bit0,
                                             segment.bit1);
          break;
      }
    }
    if (task.grad_state != nullptr) store_state_gradient<Real, Lanes>(task, first, dim, lambda);
  }
  for (int32_t i = 0; i < circuit.n_segments; ++i) {
    const Segment<Real>& segment = circuit.segments[i];
    if (segment.kind != SegmentKind::kDenseUnitary) continue;
    for (int32_t t = 0; t < segment.n_terms; ++t) {
      const DenseGradientTerm& term = circuit.dense_terms[segment.first_term + t];
      dense_generator_gradient<Real, Lanes>(
          circuit.dense_matrices + term.generator_offset,
          dense_accumulators + segment.accumulator_slot * accumulator_size, dim, gradient);
      add_to_lanes<Real, Lanes>(gradient, weight_accumulators + term.weight_index * Lanes);
    }
  }
  sum_weight_lanes<Real, Lanes>(task, weight_accumulators);
}

// Two forward runs per shifted angle; d<O>/dt = (<O>(t + pi/2) - <O>(t - pi/2)) / 2.
template <class Real, int Lanes>
void parameter_shift_chunk(const ChunkTask<Real>& task) {
  const CircuitView<Real>& circuit = task.circuit;
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  const int64_t width = readout_width(task.readout, circuit.n_qubits);
  Real* state = task.workspace;
  Real* rotations = state + 4 * dim * Lanes;
  Real* probs = rotations + 2 * circuit.n_rotation_slots * Lanes;
  Real* plus = probs + dim * Lanes;
  Real* minus = plus + width * Lanes;
  Real* gradient = minus + width * Lanes;
  Real* weight_accumulators = gradient + 2 * Lanes;
  for (int64_t i = 0; i < task.n_weights * Lanes; ++i) weight_accumulators[i] = 0;

  for (int64_t first = task.begin; first < task.end; first += Lanes) {
    for (int64_t t = 0; t < task.n_targets; ++t) {
      const ShiftTarget& target = task.targets[t];
      if (target.source == ParamSource::kInput && task.grad_inputs == nullptr) continue;
      if (target.source == ParamSource::kWeight && task.grad_weights == nullptr) continue;
      for (int side = 0; side < 2; ++side) {
        load_block<Real, Lanes>(task, first, dim, state);
        run_circuit<Real, Lanes>(task, task.shifted[2 * t + side], first, state, rotations);
        read_block<Real, Lanes>(task.readout, state, dim, probs, side == 0 ? plus : minus);
      }
      for (int lane = 0; lane < Lanes; ++lane) {
        const int64_t sample = first + lane;
        Real total = 0;
        if (sample < task.end) {
          for (int64_t j = 0; j < width; ++j) {
            total += task.grad_out[sample * width + j] *
                     (plus[j * Lanes + lane] - minus[j * Lanes + lane]);
          }
        }
        gradient[lane] = total / 2;
      }
      if (target.source == ParamSource::kInput) {
        add_to_rows<Real, Lanes>(gradient, first, task.end, task.batch.n_input_columns,
                                 target.index, task.grad_inputs);
      } else {
        add_to_lanes<Real, Lanes>(gradient, weight_accumulators + target.index * Lanes);
      }
    }
  }
  sum_weight_lanes<Real, Lanes>(task, weight_accumulators);
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
