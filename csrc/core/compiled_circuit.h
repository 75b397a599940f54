// A program lowered for one call: shared-angle gates evaluated once, runs of
// one-qubit gates on a wire fused into one 2x2 unitary, and for each trainable
// angle inside a fused run its generator transported to the end of the run, so
// the adjoint sweep gets every gradient without splitting the fused gate.
#pragma once

#include <cstdint>
#include <vector>

#include "gate_types.h"
#include "program.h"

namespace qmoe::core {

enum class SegmentKind : int32_t {
  kSharedSingleQubit = 0,  // fused 2x2 unitary with shared angles
  kPauliRotation = 1,      // exp(-i t/2 P), t per sample or shared
  kCnot = 2,
  kCz = 3,
  kSwap = 4,
  kDenseUnitary = 5,  // a run of shared-angle segments as one 2**n x 2**n unitary (small n)
};

// Generators of rotations. Each squares to the identity.
enum class PauliString : int32_t { kX = 0, kY = 1, kZ = 2, kXX = 3, kYY = 4, kZZ = 5 };

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
};

// A trainable angle inside a dense run: its generator transported to the end
// of the run, 2**n x 2**n Hermitian, at dense_matrices + generator_offset.
struct DenseGradientTerm {
  int64_t weight_index;
  int64_t generator_offset;
};

// Plain view handed to the instruction-set specific kernels.
template <class Real>
struct CircuitView {
  int n_qubits;
  const Segment<Real>* segments;
  int32_t n_segments;
  const GradientTerm<Real>* terms;
  int32_t n_rotation_slots;
  const Real* dense_matrices;
  const DenseGradientTerm* dense_terms;
  int32_t n_accumulator_slots;  // each holds 2**n x 2**n complex per lane
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
void fuse_dense_runs(ExactCircuit& circuit);

template <class Real>
class CompiledCircuit {
 public:
  CompiledCircuit(const Program& program, const Real* weights, const double* constants,
                  AngleShift shift = {});
  // From a lowering already at hand: fuses dense runs, then rounds to Real.
  explicit CompiledCircuit(ExactCircuit exact);

  CircuitView<Real> view() const {
    return {n_qubits_,          segments_.data(),       static_cast<int32_t>(segments_.size()),
            terms_.data(),      n_rotation_slots_,      dense_matrices_.data(),
            dense_terms_.data(), n_accumulator_slots_};
  }

 private:
  int n_qubits_;
  std::vector<Segment<Real>> segments_;
  std::vector<GradientTerm<Real>> terms_;
  int32_t n_rotation_slots_ = 0;
  std::vector<Real> dense_matrices_;
  std::vector<DenseGradientTerm> dense_terms_;
  int32_t n_accumulator_slots_ = 0;
};

extern template class CompiledCircuit<float>;
extern template class CompiledCircuit<double>;

}  // namespace qmoe::core
