// The statevector kernels' bodies, a lane group per sample (lane_group.h): a group of
// L = 2**k lanes of one warp holds one sample's 2**n amplitudes in registers, 2**(n-k)
// per lane, and interprets the program op by op; one launch runs the whole circuit
// for the whole batch. Written once over LaneGroup: nvcc compiles it into
// statevector_lane_kernels.cu, g++ into the host emulation of tests/cuda/ (same
// source, not a copy).
//
// Which bits are the lane's: the k LOW bits of the basis index (the last k wires).
// Register r of lane l holds amplitude (r << k) | l, so for a fixed register the
// lanes of a group hold consecutive amplitudes: loading an initial state, writing
// the final state, the probabilities or the initial-state gradient is one coalesced
// access per register. (With the lane bits on top, lane l would own a contiguous
// run of 2**(n-k) amplitudes and each such access would touch L cache lines.)
//
// Registers stay registers only if every index into them is known at compile time:
// the number of register qubits R = n - k is a template parameter, every loop over
// the registers is unrolled, and the one runtime quantity a gate brings to the
// register index, the register part of its flip mask, is dispatched by a switch to
// a template instantiation (with_register_flip, as qsim does for its qubits).
//
// Every gate is a pair gate: new_k = alpha_k x_k + beta_k x_{k ^ flip}, with flip
// the bits the gate exchanges (none for a diagonal gate) and alpha, beta read off k.
// The register part of flip pairs two registers of the lane; the lane part is an
// exchange with the partner lane, group.shuffle_xor (__shfl_xor_sync). Sums over the
// state (an expectation, an angle's gradient, a shifted run's contraction) are a
// per-lane partial, then an xor butterfly over the group (group_sum): the same bits
// on every run, in every lane.
//
// Conventions, angles, half angles, shifts and readout folding are the
// thread-per-sample bodies' (statevector_sample.cuh).
#pragma once

#include <cstdint>

#include "qmoe/core/math/gate_math.h"
#include "qmoe/core/math/gate_types.h"
#include "qmoe/core/math/parity.h"
#include "qmoe/core/math/pauli_string.h"
#include "qmoe/core/program/opcodes.h"
#include "qmoe/cuda/kernels/device_program.h"
#include "qmoe/cuda/kernels/kernel_args.h"
#include "qmoe/cuda/kernels/lane_group.h"
#include "qmoe/cuda/kernels/statevector_sample.cuh"

#if defined(__CUDACC__)
#define QMOE_LANE_UNROLL _Pragma("unroll")
#define QMOE_LANE_INLINE __device__ __forceinline__
#else
#define QMOE_LANE_UNROLL
#define QMOE_LANE_INLINE inline
#endif

namespace qmoe::cuda {
namespace lane_statevector {

using core::Complex;
using core::Matrix2;
using core::Opcode;
using core::ParamSource;
using core::Pauli;
using core::PauliString;
using statevector::HalfAngle;

// One lane's share of a state: amplitude (r << lane_bits) | lane in amp[r].
template <class Real, int RegisterQubits>
struct LaneState {
  Complex<Real> amp[1 << RegisterQubits];
};

QMOE_HOST_DEVICE constexpr int bit_count(int mask) {
  return mask == 0 ? 0 : (mask & 1) + bit_count(mask >> 1);
}

// log2 of a lane group's width.
QMOE_HOST_DEVICE inline int lane_bits_of(uint32_t width) {
  int bits = 0;
  while ((uint32_t{1} << bits) < width) ++bits;
  return bits;
}

// ---- pair gates ------------------------------------------------------------------------------

enum class PairKind : int32_t {
  kMatrix,     // a one-qubit matrix on `target`, applied where bit `control` is set (-1: always)
  kRotation,   // exp(-i t/2 P) = c I - i s P for a Pauli string P
  kGenerator,  // the Pauli string P itself (an angle's gradient)
};

// new_k = alpha_k x_k + beta_k x_{k ^ flip}, where alpha_k and beta_k depend on two bits
// of k only (a gate's target and control, or a string's two bits): the four pairs are
// worked out once per gate, and each amplitude selects its own by those bits.
template <class Real>
struct PairGate {
  int32_t flip;      // the basis-index bits the gate exchanges; 0: diagonal
  int32_t high_bit;  // the bits that select the coefficients (-1: none)
  int32_t low_bit;
  Complex<Real> alpha[4];  // by 2 * bit(high_bit) + bit(low_bit)
  Complex<Real> beta[4];
};

QMOE_HOST_DEVICE inline int selector_of(int k, int high_bit, int low_bit) {
  const int high = high_bit >= 0 ? (k >> high_bit) & 1 : 0;
  const int low = low_bit >= 0 ? (k >> low_bit) & 1 : 0;
  return 2 * high + low;
}

template <class Real>
QMOE_HOST_DEVICE inline PairGate<Real> matrix_gate(const Matrix2<Real>& m, int target, int control,
                                                   bool diagonal) {
  PairGate<Real> gate{};
  gate.flip = diagonal ? 0 : 1 << target;
  gate.high_bit = control;
  gate.low_bit = target;
  for (int q = 0; q < 4; ++q) {
    const bool on = control < 0 || (q & 2) != 0;
    const bool one = (q & 1) != 0;
    gate.alpha[q] = !on ? Complex<Real>{1, 0} : one ? m.m11 : m.m00;
    gate.beta[q] = !on ? Complex<Real>{0, 0} : one ? m.m10 : m.m01;
  }
  return gate;
}

// A rotation exp(-i t/2 P) (kRotation) or the string P (kGenerator), with
// (P x)_k = phase_k x_{k ^ flip} (pauli_string.h).
template <class Real>
QMOE_HOST_DEVICE inline PairGate<Real> string_gate(PairKind kind, PauliString pauli, int bit0,
                                                   int bit1, Real cos_half, Real sin_half) {
  const core::PauliAction action = core::pauli_action(pauli, bit0, bit1);
  PairGate<Real> gate{};
  gate.flip = static_cast<int32_t>(action.flip);
  gate.high_bit = bit0;
  gate.low_bit = bit1;
  for (int q = 0; q < 4; ++q) {
    // A basis index whose bit0 and bit1 are those of q.
    const int k = ((q >> 1) << bit0) | (bit1 >= 0 ? (q & 1) << bit1 : 0);
    int phase_re, phase_im;
    core::pauli_phase(action, k, phase_re, phase_im);
    Complex<Real> factor{static_cast<Real>(phase_re), static_cast<Real>(phase_im)};
    Real identity = 0;
    if (kind == PairKind::kRotation) {  // c I - i s phase_k
      factor = Complex<Real>{sin_half * static_cast<Real>(phase_im),
                             -sin_half * static_cast<Real>(phase_re)};
      identity = cos_half;
    }
    if (gate.flip == 0) {
      gate.alpha[q] = Complex<Real>{identity + factor.re, factor.im};
      gate.beta[q] = Complex<Real>{0, 0};
    } else {
      gate.alpha[q] = Complex<Real>{identity, 0};
      gate.beta[q] = factor;
    }
  }
  return gate;
}

template <class Real>
QMOE_HOST_DEVICE inline Complex<Real> select4(const Complex<Real>* values, int q) {
  // Selects, not an indexed load: a runtime index would put the table in local memory.
  return q == 0 ? values[0] : q == 1 ? values[1] : q == 2 ? values[2] : values[3];
}

// alpha_k and beta_k of new_k = alpha_k x_k + beta_k x_{k ^ flip}.
template <class Real>
QMOE_HOST_DEVICE inline void pair_coefficients(const PairGate<Real>& gate, int k,
                                               Complex<Real>& alpha, Complex<Real>& beta) {
  const int q = selector_of(k, gate.high_bit, gate.low_bit);
  alpha = select4(gate.alpha, q);
  beta = select4(gate.beta, q);
}

// ---- the exchanges -----------------------------------------------------------------------------

template <class Real>
QMOE_LANE_INLINE Complex<Real> shuffle_xor(const LaneGroup& group, const Complex<Real>& value,
                                           uint32_t lane_mask) {
  return Complex<Real>{group.shuffle_xor(value.re, lane_mask),
                       group.shuffle_xor(value.im, lane_mask)};
}

// The sum of every lane's `value`, returned to all lanes: an xor butterfly over the
// group (offsets 1, 2, .. width/2). Lanes l and l ^ m add the same two values, and
// a + b == b + a bit for bit, so every lane ends with the same bits, and the order of
// the additions depends on the width only.
template <class Real>
QMOE_LANE_INLINE Real group_sum(const LaneGroup& group, Real value) {
  for (uint32_t offset = 1; offset < group.width; offset <<= 1) {
    value += group.shuffle_xor(value, offset);
  }
  return value;
}

template <int Flip>
struct RegisterFlip {
  static constexpr int value = Flip;
};

// Calls f(RegisterFlip<flip>{}) for the runtime register flip mask `flip` (at most two
// bits: one- and two-qubit gates), so the register indices it derives are constants.
template <int RegisterQubits, int Mask = 0, class F>
QMOE_LANE_INLINE void with_register_flip(int flip, F&& f) {
  if constexpr (Mask < (1 << RegisterQubits)) {
    if constexpr (bit_count(Mask) <= 2) {
      if (flip == Mask) {
        f(RegisterFlip<Mask>{});
        return;
      }
    }
    with_register_flip<RegisterQubits, Mask + 1>(flip, f);
  }
}

// x <- G x over the group, the register part of G's flip fixed at compile time. A
// pair of registers (r, r ^ Flip) is read once and both written from the old values.
template <class Real, int RegisterQubits, int Flip>
QMOE_LANE_INLINE void apply_pair_gate_with(const LaneGroup& group, const PairGate<Real>& gate,
                                           int lane_bits, LaneState<Real, RegisterQubits>& x) {
  const uint32_t lane_flip = static_cast<uint32_t>(gate.flip) & ((1u << lane_bits) - 1);
  QMOE_LANE_UNROLL
  for (int r = 0; r < (1 << RegisterQubits); ++r) {
    const int r1 = r ^ Flip;
    if (r1 < r) continue;  // the pair was done from its lower register
    Complex<Real> alpha, beta;
    const int k = (r << lane_bits) | static_cast<int>(group.lane);
    pair_coefficients(gate, k, alpha, beta);
    if (gate.flip == 0) {  // diagonal (Flip is 0 too)
      x.amp[r] = alpha * x.amp[r];
      continue;
    }
    const Complex<Real> a = x.amp[r], b = x.amp[r1];
    // The partner lane's amplitudes at registers r and r1: x at (r, lane ^ lane_flip), ...
    const Complex<Real> partner_a = lane_flip != 0 ? shuffle_xor(group, a, lane_flip) : a;
    const Complex<Real> partner_b = Flip == 0        ? partner_a
                                    : lane_flip != 0 ? shuffle_xor(group, b, lane_flip)
                                                     : b;
    x.amp[r] = alpha * a + beta * partner_b;
    if (Flip != 0) {
      pair_coefficients(gate, (r1 << lane_bits) | static_cast<int>(group.lane), alpha, beta);
      x.amp[r1] = alpha * b + beta * partner_a;
    }
  }
}

template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void apply_pair_gate(const LaneGroup& group, const PairGate<Real>& gate,
                                      int lane_bits, LaneState<Real, RegisterQubits>& x) {
  with_register_flip<RegisterQubits>(gate.flip >> lane_bits, [&](auto flip) {
    apply_pair_gate_with<Real, RegisterQubits, decltype(flip)::value>(group, gate, lane_bits, x);
  });
}

// One reverse step of the adjoint sweep for one pair gate, in one pass over the
// registers: this lane's share of Im <lambda|P|psi> for the generator P (when
// `want_share`; the generator exchanges the same bits as `inverse`), then psi and lambda
// <- inverse applied to each.
template <class Real, int RegisterQubits, int Flip>
QMOE_LANE_INLINE Real reverse_pair_gate_with(const LaneGroup& group,
                                             const PairGate<Real>& generator, bool want_share,
                                             const PairGate<Real>& inverse, int lane_bits,
                                             LaneState<Real, RegisterQubits>& psi,
                                             LaneState<Real, RegisterQubits>& lambda) {
  Real share = 0;
  if (want_share) {
    const uint32_t lane_flip = static_cast<uint32_t>(generator.flip) & ((1u << lane_bits) - 1);
    QMOE_LANE_UNROLL
    for (int r = 0; r < (1 << RegisterQubits); ++r) {
      Complex<Real> alpha, beta;
      pair_coefficients(generator, (r << lane_bits) | static_cast<int>(group.lane), alpha, beta);
      const Complex<Real> p = psi.amp[r ^ Flip];
      const Complex<Real> partner = lane_flip != 0 ? shuffle_xor(group, p, lane_flip) : p;
      const Complex<Real> v = alpha * psi.amp[r] + beta * partner;  // (P psi)_k
      share += lambda.amp[r].re * v.im - lambda.amp[r].im * v.re;
    }
  }
  apply_pair_gate_with<Real, RegisterQubits, Flip>(group, inverse, lane_bits, psi);
  apply_pair_gate_with<Real, RegisterQubits, Flip>(group, inverse, lane_bits, lambda);
  return share;
}

// ---- operations ------------------------------------------------------------------------------

QMOE_HOST_DEVICE inline bool is_diagonal_fixed_gate(Opcode opcode) {
  return opcode == Opcode::kZ || opcode == Opcode::kS || opcode == Opcode::kT;
}

// How many pair gates an operation is: SWAP is three CNOTs (an exact permutation,
// self-inverse as its product is a palindrome), every other operation one.
QMOE_HOST_DEVICE inline int pair_gate_count(const PackedOp& op) {
  return static_cast<Opcode>(op.opcode) == Opcode::kSwap ? 3 : 1;
}

// Pair gate `j` of an operation (or of its inverse). Built one at a time, so that each
// body applies pair gates from one call site: every site instantiates the register
// dispatch with its unrolled loops, and the fewer there are the smaller the kernel.
template <class Real>
QMOE_HOST_DEVICE inline PairGate<Real> operation_pair_gate(const PackedOp& op, int n_qubits,
                                                           HalfAngle<Real> half, bool inverse,
                                                           int j) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  const int bit0 = n_qubits - 1 - op.wire0;
  const int bit1 = core::is_two_qubit(opcode) ? n_qubits - 1 - op.wire1 : -1;
  if (statevector::is_rotation(opcode)) {
    return string_gate(PairKind::kRotation, statevector::rotation_generator(opcode), bit0, bit1,
                       half.cos_half, inverse ? -half.sin_half : half.sin_half);
  }
  if (opcode == Opcode::kCz) {
    return matrix_gate(core::pauli_matrix<Real>(Pauli::kZ), bit1, bit0, true);
  }
  if (opcode == Opcode::kCnot || opcode == Opcode::kSwap) {
    const bool middle = j == 1;  // SWAP: CNOT(0 -> 1) CNOT(1 -> 0) CNOT(0 -> 1)
    return matrix_gate(core::pauli_matrix<Real>(Pauli::kX), middle ? bit0 : bit1,
                       middle ? bit1 : bit0, false);
  }
  // H X Y Z are self-inverse, S and T are not: the inverse is the adjoint.
  const Matrix2<Real> m = core::fixed_gate_matrix<Real>(opcode);
  return matrix_gate(inverse ? core::adjoint(m) : m, bit0, -1, is_diagonal_fixed_gate(opcode));
}

// One operation (or its inverse) on the group's state.
template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void apply_operation(const LaneGroup& group, const PackedOp& op, int n_qubits,
                                      int lane_bits, HalfAngle<Real> half, bool inverse,
                                      LaneState<Real, RegisterQubits>& x) {
  const int count = pair_gate_count(op);
#if defined(__CUDACC__)
#pragma unroll 1
#endif
  for (int j = 0; j < count; ++j) {
    apply_pair_gate(group, operation_pair_gate(op, n_qubits, half, inverse, j), lane_bits, x);
  }
}

// One reverse step of the adjoint sweep: Im <lambda|P|psi> summed over the group (when
// `want_gradient`, else 0), then the operation un-applied to both states.
template <class Real, int RegisterQubits>
QMOE_LANE_INLINE Real reverse_operation(const LaneGroup& group, const PackedOp& op, int n_qubits,
                                        int lane_bits, HalfAngle<Real> half, bool want_gradient,
                                        LaneState<Real, RegisterQubits>& psi,
                                        LaneState<Real, RegisterQubits>& lambda) {
  const Opcode opcode = static_cast<Opcode>(op.opcode);
  const bool gradient_here = want_gradient && statevector::is_rotation(opcode);
  PairGate<Real> generator{};
  if (gradient_here) {
    generator = string_gate(
        PairKind::kGenerator, statevector::rotation_generator(opcode), n_qubits - 1 - op.wire0,
        core::is_two_qubit(opcode) ? n_qubits - 1 - op.wire1 : -1, Real(0), Real(0));
  }
  Real share = 0;
  const int count = pair_gate_count(op);
#if defined(__CUDACC__)
#pragma unroll 1
#endif
  for (int j = 0; j < count; ++j) {
    const PairGate<Real> inverse = operation_pair_gate(op, n_qubits, half, true, j);
    with_register_flip<RegisterQubits>(inverse.flip >> lane_bits, [&](auto flip) {
      share += reverse_pair_gate_with<Real, RegisterQubits, decltype(flip)::value>(
          group, generator, gradient_here, inverse, lane_bits, psi, lambda);
    });
  }
  return gradient_here ? group_sum(group, share) : Real(0);
}

// ---- per-sample steps over the group -----------------------------------------------------------

// The basis index of register r of `lane`.
QMOE_HOST_DEVICE inline int basis_index(int r, int lane_bits, uint32_t lane) {
  return (r << lane_bits) | static_cast<int>(lane);
}

// The initial state as given (not normalised), or |0..0>.
template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void load_initial_state(const LaneGroup& group, const SampleBatch<Real>& batch,
                                         int64_t sample, int lane_bits, int dim,
                                         LaneState<Real, RegisterQubits>& psi) {
  QMOE_LANE_UNROLL
  for (int r = 0; r < (1 << RegisterQubits); ++r) {
    const int k = basis_index(r, lane_bits, group.lane);
    if (batch.initial_state == nullptr) {
      psi.amp[r] = Complex<Real>{k == 0 ? Real(1) : Real(0), 0};
    } else if (batch.initial_state_is_complex) {
      const Real* row = batch.initial_state + sample * dim * 2;
      psi.amp[r] = Complex<Real>{row[2 * k], row[2 * k + 1]};
    } else {
      psi.amp[r] = Complex<Real>{batch.initial_state[sample * dim + k], 0};
    }
  }
}

template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void load_state(const LaneGroup& group, const Real* row, int lane_bits,
                                 LaneState<Real, RegisterQubits>& psi) {
  QMOE_LANE_UNROLL
  for (int r = 0; r < (1 << RegisterQubits); ++r) {
    const int k = basis_index(r, lane_bits, group.lane);
    psi.amp[r] = Complex<Real>{row[2 * k], row[2 * k + 1]};
  }
}

// psi <- U psi with the sample's angles (and `shift`); `fixed`: the block's table of
// shared half angles (statevector::fill_fixed_half_angles), or null.
template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void run_program(const LaneGroup& group, const DeviceProgram& program,
                                  const SampleBatch<Real>& batch, int64_t sample, int lane_bits,
                                  LaneState<Real, RegisterQubits>& psi,
                                  statevector::AngleOffset shift, const HalfAngle<Real>* fixed) {
  const Real* inputs = statevector::input_row(batch, sample);
  for (int i = 0; i < program.n_ops; ++i) {
    const PackedOp op = program.ops[i];
    HalfAngle<Real> half{1, 0};
    if (statevector::is_rotation(static_cast<Opcode>(op.opcode))) {
      half =
          i == shift.operation
              ? statevector::shifted_half_angle(
                    statevector::operation_angle(program, op, inputs, batch.weights), shift.offset)
              : statevector::rotation_half_angle(program, i, op, inputs, batch.weights, fixed);
    }
    apply_operation(group, op, program.n_qubits, lane_bits, half, false, psi);
  }
}

// sum_k D_kk |psi_k|**2 over the group (D: the readout folded with grad_row).
template <class Real, int RegisterQubits>
QMOE_LANE_INLINE Real contract_readout(const LaneGroup& group, const DeviceReadout& readout,
                                       int lane_bits, const Real* grad_row,
                                       const LaneState<Real, RegisterQubits>& psi) {
  Real share = 0;
  QMOE_LANE_UNROLL
  for (int r = 0; r < (1 << RegisterQubits); ++r) {
    const int k = basis_index(r, lane_bits, group.lane);
    share +=
        statevector::folded_diagonal(readout, grad_row, k) * statevector::probability(psi.amp[r]);
  }
  return group_sum(group, share);
}

template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void forward_sample(const LaneGroup& group, const DeviceProgram& program,
                                     const DeviceReadout& readout,
                                     const StatevectorForwardArgs<Real>& args, int64_t sample,
                                     int lane_bits, const HalfAngle<Real>* fixed) {
  const int dim = 1 << program.n_qubits;
  LaneState<Real, RegisterQubits> psi;
  load_initial_state(group, args.batch, sample, lane_bits, dim, psi);
  run_program(group, program, args.batch, sample, lane_bits, psi, statevector::AngleOffset{},
              fixed);
  if (args.final_state != nullptr) {
    Real* row = args.final_state + sample * dim * 2;
    QMOE_LANE_UNROLL
    for (int r = 0; r < (1 << RegisterQubits); ++r) {
      const int k = basis_index(r, lane_bits, group.lane);
      row[2 * k] = psi.amp[r].re;
      row[2 * k + 1] = psi.amp[r].im;
    }
  }
  Real* out_row = args.out + sample * readout_width(readout, program.n_qubits);
  if (readout.probs) {
    QMOE_LANE_UNROLL
    for (int r = 0; r < (1 << RegisterQubits); ++r) {
      out_row[basis_index(r, lane_bits, group.lane)] = statevector::probability(psi.amp[r]);
    }
    return;
  }
  for (int m = 0; m < readout.n_masks; ++m) {
    const int64_t mask = readout.index_masks[m];
    Real share = 0;
    QMOE_LANE_UNROLL
    for (int r = 0; r < (1 << RegisterQubits); ++r) {
      share += core::parity_sign<Real>(basis_index(r, lane_bits, group.lane), mask) *
               statevector::probability(psi.amp[r]);
    }
    const Real value = group_sum(group, share);
    if (group.lane == 0) out_row[m] = value;
  }
}

// statevector::adjoint_sweep over the group: lane 0 adds each angle's gradient (the
// group's sum, the same bits in every lane) to the sample's rows, which the group
// zeroed first.
template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void adjoint_sweep(const LaneGroup& group, const DeviceProgram& program,
                                    const DeviceReadout& readout,
                                    const StatevectorAdjointArgs<Real>& args, int64_t sample,
                                    int lane_bits, const HalfAngle<Real>* fixed) {
  const SampleBatch<Real>& batch = args.batch;
  const int n = program.n_qubits;
  const int dim = 1 << n;
  LaneState<Real, RegisterQubits> psi, lambda;
  if (args.saved_state != nullptr) {
    load_state(group, args.saved_state + sample * dim * 2, lane_bits, psi);
  } else {
    load_initial_state(group, batch, sample, lane_bits, dim, psi);
    run_program(group, program, batch, sample, lane_bits, psi, statevector::AngleOffset{}, fixed);
  }
  const Real* grad_row = args.grad_out + sample * readout_width(readout, n);
  QMOE_LANE_UNROLL
  for (int r = 0; r < (1 << RegisterQubits); ++r) {
    const Real d =
        statevector::folded_diagonal(readout, grad_row, basis_index(r, lane_bits, group.lane));
    lambda.amp[r] = Complex<Real>{d * psi.amp[r].re, d * psi.amp[r].im};
  }
  Real* weight_row =
      args.weight_partials == nullptr ? nullptr : args.weight_partials + sample * batch.n_weights;
  for (int64_t w = group.lane; weight_row != nullptr && w < batch.n_weights; w += group.width) {
    weight_row[w] = 0;
  }
  Real* input_gradient_row =
      args.grad_inputs == nullptr ? nullptr : args.grad_inputs + sample * batch.n_input_columns;
  const Real* inputs = statevector::input_row(batch, sample);
  group.sync();  // the zeroed row complete before lane 0 adds to it

  for (int i = program.n_ops - 1; i >= 0; --i) {
    const PackedOp op = program.ops[i];
    const Opcode opcode = static_cast<Opcode>(op.opcode);
    const ParamSource source = static_cast<ParamSource>(op.source);
    HalfAngle<Real> half{1, 0};
    bool want_gradient = false;
    if (statevector::is_rotation(opcode)) {
      half = statevector::rotation_half_angle(program, i, op, inputs, batch.weights, fixed);
      want_gradient = (source == ParamSource::kInput && input_gradient_row != nullptr) ||
                      (source == ParamSource::kWeight && weight_row != nullptr);
    }
    const Real gradient =
        reverse_operation(group, op, n, lane_bits, half, want_gradient, psi, lambda);
    if (!want_gradient || group.lane != 0) continue;
    if (source == ParamSource::kInput) {
      input_gradient_row[op.index] += gradient;
    } else {
      weight_row[op.index] += gradient;
    }
  }

  if (args.grad_state == nullptr) return;
  // 2 lambda (complex) or 2 Re(lambda) (real), as statevector::adjoint_sweep.
  QMOE_LANE_UNROLL
  for (int r = 0; r < (1 << RegisterQubits); ++r) {
    const int k = basis_index(r, lane_bits, group.lane);
    if (batch.initial_state_is_complex) {
      args.grad_state[sample * dim * 2 + 2 * k] = 2 * lambda.amp[r].re;
      args.grad_state[sample * dim * 2 + 2 * k + 1] = 2 * lambda.amp[r].im;
    } else {
      args.grad_state[sample * dim + k] = 2 * lambda.amp[r].re;
    }
  }
}

// Whether this group runs `sample` of a program of `n_qubits`: the launcher picks the
// register count and width that hold the program; past the batch (padding) or for any
// other shape the whole group returns alike, so no shuffle is left waiting.
template <int RegisterQubits>
QMOE_HOST_DEVICE inline bool group_runs(const LaneGroup& group, int n_qubits, int64_t sample,
                                        int64_t batch_size) {
  return sample < batch_size && n_qubits == RegisterQubits + lane_bits_of(group.width);
}

}  // namespace lane_statevector

// ---- what each lane group of a launch runs ---------------------------------------------------

// `sample`: the group's index in the launch (global thread index / width). `fixed`:
// the block's table of shared half angles, or null.
template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void statevector_forward_lanes(const LaneGroup& group, int64_t sample,
                                                const DeviceProgram& program,
                                                const DeviceReadout& readout,
                                                const StatevectorForwardArgs<Real>& args,
                                                const statevector::HalfAngle<Real>* fixed) {
  if (!lane_statevector::group_runs<RegisterQubits>(group, program.n_qubits, sample,
                                                    args.batch.batch_size)) {
    return;
  }
  lane_statevector::forward_sample<Real, RegisterQubits>(
      group, program, readout, args, sample, lane_statevector::lane_bits_of(group.width), fixed);
}

template <class Real, int RegisterQubits>
QMOE_LANE_INLINE void statevector_adjoint_lanes(const LaneGroup& group, int64_t sample,
                                                const DeviceProgram& program,
                                                const DeviceReadout& readout,
                                                const StatevectorAdjointArgs<Real>& args,
                                                const statevector::HalfAngle<Real>* fixed) {
  if (!lane_statevector::group_runs<RegisterQubits>(group, program.n_qubits, sample,
                                                    args.batch.batch_size)) {
    return;
  }
  lane_statevector::adjoint_sweep<Real, RegisterQubits>(
      group, program, readout, args, sample, lane_statevector::lane_bits_of(group.width), fixed);
}

}  // namespace qmoe::cuda
