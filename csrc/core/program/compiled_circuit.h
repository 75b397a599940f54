// A program lowered for one call: shared-angle gates evaluated once, runs of
// one-qubit gates on a wire fused into one 2x2 unitary, and for each trainable
// angle inside a fused run its generator transported to the end of the run, so
// the adjoint sweep gets every gradient without splitting the fused gate.
#pragma once

#include <cstdint>
#include <vector>

#include "qmoe/core/math/gate_types.h"
#include "qmoe/core/math/pauli_string.h"
#include "qmoe/core/program/program.h"

namespace qmoe::core {

enum class SegmentKind : int32_t {
  kSharedSingleQubit = 0,  // fused 2x2 unitary with shared angles
  kPauliRotation = 1,      // exp(-i t/2 P), t per sample or shared
  kCnot = 2,
  kCz = 3,
  kSwap = 4,
  kDenseUnitary = 5,  // a run of shared-angle segments as one 2**n x 2**n unitary (small n)
  kPermutation = 6,   // a run of CNOT, CZ and SWAP as one signed permutation of amplitudes
  kChannel = 7,       // a noise channel on one wire (density-matrix engine only)
};

// The opcode of a fixed two-qubit segment (kCnot, kCz, kSwap), as math/fixed_two_qubit.h takes it.
QMOE_INLINE_ALWAYS constexpr Opcode fixed_two_qubit_gate(SegmentKind kind) {
  return kind == SegmentKind::kCnot ? Opcode::kCnot
         : kind == SegmentKind::kCz ? Opcode::kCz
                                    : Opcode::kSwap;
}

template <class Real>
struct GradientTerm {
  int64_t weight_index;
  Matrix2<Real> generator;  // Hermitian; V G V^dagger with V the rest of the fused run
};

template <class Real>
struct Segment {
  SegmentKind kind;
  int32_t bit0;  // basis-index bit of wire0 (n - 1 - wire0); the control of a CNOT
  int32_t bit1;  // basis-index bit of wire1; -1 for one-qubit segments
  // kSharedSingleQubit
  Matrix2<Real> unitary;
  int32_t first_term;
  int32_t n_terms;
  // kPauliRotation
  PauliString pauli;
  ParamSource source;
  int64_t param_index;
  Real angle_offset;  // added to per-sample angles (parameter shift)
  Real shared_cos_half;
  Real shared_sin_half;
  int32_t rotation_slot;  // per-lane cos/sin cached here between forward and backward
  // kDenseUnitary: matrix at dense_matrices + dense_offset (row-major, complex interleaved),
  // gradient terms dense_terms[first_term ..), products accumulated in accumulator_slot
  int64_t dense_offset;
  int32_t accumulator_slot;
  // kPermutation: (U psi)_k = sign_k psi_{source_k}, tables at permutations + permutation_offset
  // (source, dim entries, then the inverse's) and permutation_signs + permutation_offset
  int64_t permutation_offset;
  // kChannel: which channel; its probability comes from `source` / `param_index`,
  // shared ones (weight, constant) evaluated into channel_probability
  Opcode channel;
  Real channel_probability;
};

// A trainable angle inside a dense run: its generator transported to the end
// of the run, 2**n x 2**n Hermitian, at dense_matrices + generator_offset.
struct DenseGradientTerm {
  int64_t weight_index;
  int64_t generator_offset;
};

// Plain view handed to the instruction-set specific kernels.
//
// The first n_prefix_segments segments are one-qubit gates that act before any
// entangling gate on their wire. From |0...0> they leave a product state, which
// the kernels build directly from one 2-vector per wire instead of running them
// over the whole state; with an initial state they run as any other segment.
template <class Real>
struct CircuitView {
  int n_qubits;
  const Segment<Real>* segments;
  int32_t n_segments;
  int32_t n_prefix_segments;
  const GradientTerm<Real>* terms;
  int32_t n_rotation_slots;
  const Real* dense_matrices;
  const DenseGradientTerm* dense_terms;
  int32_t n_accumulator_slots;  // each holds 2**n x 2**n complex per lane
  const int32_t* permutations;
  const Real* permutation_signs;
};

// A parameter-shift evaluation moves one operation's angle by `offset`.
struct AngleShift {
  int64_t operation = -1;
  double offset = 0.0;
};

// The lowering in double precision, before rounding to the kernels' Real.
// Shared angles are evaluated in double whatever Real is, then rounded once.
struct ExactCircuit {
  int n_qubits = 0;
  std::vector<Segment<double>> segments;
  std::vector<GradientTerm<double>> terms;
  int32_t n_rotation_slots = 0;
  std::vector<double> dense_matrices;
  std::vector<DenseGradientTerm> dense_terms;
  int32_t n_accumulator_slots = 0;
  int32_t n_prefix_segments = 0;
  std::vector<int32_t> permutations;
  std::vector<double> permutation_signs;
};

// Lowers a program: shared angles evaluated, one-qubit runs fused per wire.
ExactCircuit lower_program(const Program& program, const double* weights, const double* constants,
                           AngleShift shift = {});

// lower_program for weights of any precision.
template <class Real>
ExactCircuit lower_program_weights(const Program& program, const Real* weights,
                                   const double* constants, AngleShift shift = {});

// For small states, replaces runs of shared-angle segments by dense unitaries
// where that costs fewer operations per sample (dense_fusion.cpp).
// Only segments from n_prefix_segments on are considered.
void fuse_dense_runs(ExactCircuit& circuit);

// Moves every one-qubit segment that acts before any entangling gate on its
// wire to the front, in order, and counts them in n_prefix_segments
// (segment_passes.cpp). Reordering is exact: the moved gates commute with
// everything they pass.
void split_product_prefix(ExactCircuit& circuit);

// Replaces runs of two or more CNOT, CZ and SWAP segments after the prefix by
// one kPermutation segment each (segment_passes.cpp).
void merge_permutations(ExactCircuit& circuit);

// A segment or matrix of the exact lowering rounded to the kernels' Real.
template <class Real>
Matrix2<Real> round_matrix(const Matrix2<double>& m);
template <class Real>
Segment<Real> round_segment(const Segment<double>& source);

template <class Real>
class CompiledCircuit {
 public:
  CompiledCircuit(const Program& program, const Real* weights, const double* constants,
                  AngleShift shift = {});
  // From a lowering already at hand: fuses dense runs, then rounds to Real.
  explicit CompiledCircuit(ExactCircuit exact);

  CircuitView<Real> view() const {
    return {n_qubits_,
            segments_.data(),
            static_cast<int32_t>(segments_.size()),
            n_prefix_segments_,
            terms_.data(),
            n_rotation_slots_,
            dense_matrices_.data(),
            dense_terms_.data(),
            n_accumulator_slots_,
            permutations_.data(),
            permutation_signs_.data()};
  }

 private:
  int n_qubits_;
  std::vector<Segment<Real>> segments_;
  std::vector<GradientTerm<Real>> terms_;
  int32_t n_rotation_slots_ = 0;
  std::vector<Real> dense_matrices_;
  std::vector<DenseGradientTerm> dense_terms_;
  int32_t n_accumulator_slots_ = 0;
  int32_t n_prefix_segments_ = 0;
  std::vector<int32_t> permutations_;
  std::vector<Real> permutation_signs_;
};

extern template class CompiledCircuit<float>;
extern template class CompiledCircuit<double>;

}  // namespace qmoe::core
