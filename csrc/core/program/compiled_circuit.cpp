#include "qmoe/core/program/compiled_circuit.h"

#include <cmath>

#include "qmoe/core/math/gate_math.h"

namespace qmoe::core {
namespace {

Pauli rotation_axis(Opcode opcode) {
  switch (opcode) {
    case Opcode::kRx:
      return Pauli::kX;
    case Opcode::kRy:
      return Pauli::kY;
    default:
      return Pauli::kZ;
  }
}

PauliString ising_string(Opcode opcode) {
  switch (opcode) {
    case Opcode::kIsingXX:
      return PauliString::kXX;
    case Opcode::kIsingYY:
      return PauliString::kYY;
    default:
      return PauliString::kZZ;
  }
}

Segment<double> blank_segment(SegmentKind kind, int n_qubits, int wire0, int wire1) {
  Segment<double> segment{};
  segment.kind = kind;
  segment.bit0 = n_qubits - 1 - wire0;
  segment.bit1 = wire1 < 0 ? -1 : n_qubits - 1 - wire1;
  segment.unitary = identity_matrix<double>();
  segment.param_index = -1;
  segment.rotation_slot = -1;
  segment.dense_offset = -1;
  segment.accumulator_slot = -1;
  segment.permutation_offset = -1;
  return segment;
}

// Gates waiting on one wire to be fused into a single 2x2 unitary.
struct PendingGate {
  Matrix2<double> unitary;
  int64_t weight_index;  // -1: nothing to differentiate
  Pauli generator;
};

class Lowering {
 public:
  explicit Lowering(int n_qubits) : pending_(static_cast<size_t>(n_qubits)) {
    circuit_.n_qubits = n_qubits;
  }

  void push(int wire, PendingGate gate) { pending_[static_cast<size_t>(wire)].push_back(gate); }

  void emit(const Segment<double>& segment) { circuit_.segments.push_back(segment); }

  int32_t new_rotation_slot() { return circuit_.n_rotation_slots++; }

  // Fuses the wire's pending run into one segment. Walking the run backwards,
  // `after` is the product of the gates that follow gate j, which transports
  // gate j's generator to the end of the run.
  void flush_wire(int wire) {
    auto& run = pending_[static_cast<size_t>(wire)];
    if (run.empty()) return;
    auto segment = blank_segment(SegmentKind::kSharedSingleQubit, circuit_.n_qubits, wire, -1);
    segment.first_term = static_cast<int32_t>(circuit_.terms.size());
    Matrix2<double> after = identity_matrix<double>();
    for (auto gate = run.rbegin(); gate != run.rend(); ++gate) {
      if (gate->weight_index >= 0) {
        const Matrix2<double> generator =
            multiply(multiply(after, pauli_matrix<double>(gate->generator)), adjoint(after));
        circuit_.terms.push_back({gate->weight_index, generator});
      }
      after = multiply(after, gate->unitary);
    }
    segment.unitary = after;
    segment.n_terms = static_cast<int32_t>(circuit_.terms.size()) - segment.first_term;
    circuit_.segments.push_back(segment);
    run.clear();
  }

  ExactCircuit finish() {
    for (int wire = 0; wire < circuit_.n_qubits; ++wire) flush_wire(wire);
    return std::move(circuit_);
  }

 private:
  ExactCircuit circuit_;
  std::vector<std::vector<PendingGate>> pending_;
};

}  // namespace

ExactCircuit lower_program(const Program& program, const double* weights, const double* constants,
                           AngleShift shift) {
  const int n_qubits = program.n_qubits;
  Lowering lowering(n_qubits);
  const auto& operations = program.operations;
  for (int64_t op_index = 0; op_index < static_cast<int64_t>(operations.size()); ++op_index) {
    const Operation& op = operations[static_cast<size_t>(op_index)];
    const double offset = op_index == shift.operation ? shift.offset : 0.0;
    double shared_angle = offset;
    if (op.source == ParamSource::kWeight) shared_angle += weights[op.index];
    if (op.source == ParamSource::kConstant) shared_angle += constants[op.index];

    switch (op.opcode) {
      case Opcode::kH:
      case Opcode::kX:
      case Opcode::kY:
      case Opcode::kZ:
      case Opcode::kS:
      case Opcode::kT:
        lowering.push(op.wire0, {fixed_gate_matrix<double>(op.opcode), -1, Pauli::kZ});
        break;
      case Opcode::kRx:
      case Opcode::kRy:
      case Opcode::kRz: {
        const Pauli axis = rotation_axis(op.opcode);
        if (op.source != ParamSource::kInput) {
          const int64_t weight_index = op.source == ParamSource::kWeight ? op.index : -1;
          lowering.push(op.wire0, {rotation_matrix<double>(axis, std::cos(shared_angle / 2),
                                                           std::sin(shared_angle / 2)),
                                   weight_index, axis});
          break;
        }
        lowering.flush_wire(op.wire0);
        auto segment = blank_segment(SegmentKind::kPauliRotation, n_qubits, op.wire0, -1);
        segment.pauli = static_cast<PauliString>(axis);
        segment.source = op.source;
        segment.param_index = op.index;
        segment.angle_offset = offset;
        segment.rotation_slot = lowering.new_rotation_slot();
        lowering.emit(segment);
        break;
      }
      case Opcode::kIsingXX:
      case Opcode::kIsingYY:
      case Opcode::kIsingZZ: {
        lowering.flush_wire(op.wire0);
        lowering.flush_wire(op.wire1);
        auto segment = blank_segment(SegmentKind::kPauliRotation, n_qubits, op.wire0, op.wire1);
        segment.pauli = ising_string(op.opcode);
        segment.source = op.source;
        segment.param_index = op.index;
        segment.angle_offset = offset;
        segment.shared_cos_half = std::cos(shared_angle / 2);
        segment.shared_sin_half = std::sin(shared_angle / 2);
        segment.rotation_slot = lowering.new_rotation_slot();
        lowering.emit(segment);
        break;
      }
      case Opcode::kCnot:
      case Opcode::kCz:
      case Opcode::kSwap: {
        lowering.flush_wire(op.wire0);
        lowering.flush_wire(op.wire1);
        const SegmentKind kind = op.opcode == Opcode::kCnot ? SegmentKind::kCnot
                                 : op.opcode == Opcode::kCz ? SegmentKind::kCz
                                                            : SegmentKind::kSwap;
        lowering.emit(blank_segment(kind, n_qubits, op.wire0, op.wire1));
        break;
      }
      case Opcode::kDepolarizing:
      case Opcode::kAmplitudeDamping:
      case Opcode::kPhaseDamping:
      case Opcode::kBitFlip: {
        // Only the density-matrix engine gets programs with channels: parse_program
        // rejects them for the statevector engine.
        lowering.flush_wire(op.wire0);
        auto segment = blank_segment(SegmentKind::kChannel, n_qubits, op.wire0, -1);
        segment.channel = op.opcode;
        segment.source = op.source;
        segment.param_index = op.index;
        segment.channel_probability = shared_angle;
        lowering.emit(segment);
        break;
      }
    }
  }
  return lowering.finish();
}

template <class Real>
ExactCircuit lower_program_weights(const Program& program, const Real* weights,
                                   const double* constants, AngleShift shift) {
  int64_t n_weights = 0;
  for (const Operation& op : program.operations) {
    if (op.source == ParamSource::kWeight && op.index + 1 > n_weights) n_weights = op.index + 1;
  }
  const std::vector<double> exact_weights(weights, weights + n_weights);
  return lower_program(program, exact_weights.data(), constants, shift);
}

template ExactCircuit lower_program_weights(const Program&, const float*, const double*,
                                            AngleShift);
template ExactCircuit lower_program_weights(const Program&, const double*, const double*,
                                            AngleShift);

template <class Real>
Matrix2<Real> round_matrix(const Matrix2<double>& m) {
  auto round = [](Complex<double> z) {
    return Complex<Real>{static_cast<Real>(z.re), static_cast<Real>(z.im)};
  };
  return {round(m.m00), round(m.m01), round(m.m10), round(m.m11)};
}

template <class Real>
Segment<Real> round_segment(const Segment<double>& source) {
  Segment<Real> segment{};
  segment.kind = source.kind;
  segment.bit0 = source.bit0;
  segment.bit1 = source.bit1;
  segment.unitary = round_matrix<Real>(source.unitary);
  segment.first_term = source.first_term;
  segment.n_terms = source.n_terms;
  segment.pauli = source.pauli;
  segment.source = source.source;
  segment.param_index = source.param_index;
  segment.angle_offset = static_cast<Real>(source.angle_offset);
  segment.shared_cos_half = static_cast<Real>(source.shared_cos_half);
  segment.shared_sin_half = static_cast<Real>(source.shared_sin_half);
  segment.rotation_slot = source.rotation_slot;
  segment.dense_offset = source.dense_offset;
  segment.accumulator_slot = source.accumulator_slot;
  segment.permutation_offset = source.permutation_offset;
  segment.channel = source.channel;
  segment.channel_probability = static_cast<Real>(source.channel_probability);
  return segment;
}

template Matrix2<float> round_matrix(const Matrix2<double>&);
template Matrix2<double> round_matrix(const Matrix2<double>&);
template Segment<float> round_segment(const Segment<double>&);
template Segment<double> round_segment(const Segment<double>&);

template <class Real>
CompiledCircuit<Real>::CompiledCircuit(const Program& program, const Real* weights,
                                       const double* constants, AngleShift shift)
    : CompiledCircuit(lower_program_weights(program, weights, constants, shift)) {}

template <class Real>
CompiledCircuit<Real>::CompiledCircuit(ExactCircuit exact) : n_qubits_(exact.n_qubits) {
  split_product_prefix(exact);
  fuse_dense_runs(exact);
  merge_permutations(exact);
  for (const Segment<double>& source : exact.segments) {
    segments_.push_back(round_segment<Real>(source));
  }
  for (const GradientTerm<double>& term : exact.terms) {
    terms_.push_back({term.weight_index, round_matrix<Real>(term.generator)});
  }
  n_rotation_slots_ = exact.n_rotation_slots;
  dense_matrices_.assign(exact.dense_matrices.begin(), exact.dense_matrices.end());
  dense_terms_ = exact.dense_terms;
  n_accumulator_slots_ = exact.n_accumulator_slots;
  n_prefix_segments_ = exact.n_prefix_segments;
  permutations_ = exact.permutations;
  permutation_signs_.assign(exact.permutation_signs.begin(), exact.permutation_signs.end());
}

template class CompiledCircuit<float>;
template class CompiledCircuit<double>;

}  // namespace qmoe::core
