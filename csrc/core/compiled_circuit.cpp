#include "compiled_circuit.h"

#include <cmath>

#include "gate_math.h"

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

template <class Real>
Matrix2<Real> round_matrix(const Matrix2<double>& m) {
  auto round = [](Complex<double> z) {
    return Complex<Real>{static_cast<Real>(z.re), static_cast<Real>(z.im)};
  };
  return {round(m.m00), round(m.m01), round(m.m10), round(m.m11)};
}

template <class Real>
Segment<Real> blank_segment(SegmentKind kind, int n_qubits, int wire0, int wire1) {
  Segment<Real> segment{};
  segment.kind = kind;
  segment.bit0 = n_qubits - 1 - wire0;
  segment.bit1 = wire1 < 0 ? -1 : n_qubits - 1 - wire1;
  segment.unitary = identity_matrix<Real>();
  segment.param_index = -1;
  segment.rotation_slot = -1;
  return segment;
}

}  // namespace

template <class Real>
CompiledCircuit<Real>::CompiledCircuit(const Program& program, const Real* weights,
                                       const double* constants, AngleShift shift)
    : n_qubits_(program.n_qubits), pending_(static_cast<size_t>(program.n_qubits)) {
  const auto& operations = program.operations;
  for (int64_t op_index = 0; op_index < static_cast<int64_t>(operations.size()); ++op_index) {
    const Operation& op = operations[static_cast<size_t>(op_index)];
    const double offset = op_index == shift.operation ? shift.offset : 0.0;
    // Shared angles are evaluated in double whatever Real is, then rounded once.
    double shared_angle = offset;
    if (op.source == ParamSource::kWeight) shared_angle += static_cast<double>(weights[op.index]);
    if (op.source == ParamSource::kConstant) shared_angle += constants[op.index];
    const bool per_sample = op.source == ParamSource::kInput;

    switch (op.opcode) {
      case Opcode::kH:
      case Opcode::kX:
      case Opcode::kY:
      case Opcode::kZ:
      case Opcode::kS:
      case Opcode::kT:
        pending_[op.wire0].push_back(
            {fixed_gate_matrix<double>(static_cast<int>(op.opcode)), -1, Pauli::kZ});
        break;
      case Opcode::kRx:
      case Opcode::kRy:
      case Opcode::kRz: {
        const Pauli axis = rotation_axis(op.opcode);
        if (!per_sample) {
          const int64_t weight_index = op.source == ParamSource::kWeight ? op.index : -1;
          pending_[op.wire0].push_back(
              {rotation_matrix<double>(axis, std::cos(shared_angle / 2), std::sin(shared_angle / 2)),
               weight_index, axis});
          break;
        }
        flush_wire(op.wire0);
        auto segment = blank_segment<Real>(SegmentKind::kPauliRotation, n_qubits_, op.wire0, -1);
        segment.pauli = static_cast<PauliString>(axis);
        segment.source = op.source;
        segment.param_index = op.index;
        segment.angle_offset = static_cast<Real>(offset);
        segment.rotation_slot = n_rotation_slots_++;
        segments_.push_back(segment);
        break;
      }
      case Opcode::kIsingXX:
      case Opcode::kIsingYY:
      case Opcode::kIsingZZ: {
        flush_wire(op.wire0);
        flush_wire(op.wire1);
        auto segment =
            blank_segment<Real>(SegmentKind::kPauliRotation, n_qubits_, op.wire0, op.wire1);
        segment.pauli = ising_string(op.opcode);
        segment.source = op.source;
        segment.param_index = op.index;
        segment.angle_offset = static_cast<Real>(offset);
        segment.shared_cos_half = static_cast<Real>(std::cos(shared_angle / 2));
        segment.shared_sin_half = static_cast<Real>(std::sin(shared_angle / 2));
        segment.rotation_slot = n_rotation_slots_++;
        segments_.push_back(segment);
        break;
      }
      case Opcode::kCnot:
      case Opcode::kCz:
      case Opcode::kSwap: {
        flush_wire(op.wire0);
        flush_wire(op.wire1);
        const SegmentKind kind = op.opcode == Opcode::kCnot ? SegmentKind::kCnot
                                 : op.opcode == Opcode::kCz ? SegmentKind::kCz
                                                            : SegmentKind::kSwap;
        segments_.push_back(blank_segment<Real>(kind, n_qubits_, op.wire0, op.wire1));
        break;
      }
      default:
        // Channels never reach the statevector engine: parse_program rejects them.
        break;
    }
  }
  for (int wire = 0; wire < n_qubits_; ++wire) flush_wire(wire);
}

template <class Real>
void CompiledCircuit<Real>::flush_wire(int wire) {
  auto& run = pending_[static_cast<size_t>(wire)];
  if (run.empty()) return;
  auto segment = blank_segment<Real>(SegmentKind::kSharedSingleQubit, n_qubits_, wire, -1);
  segment.first_term = static_cast<int32_t>(terms_.size());
  // Walk the run backwards: `after` is the product of the gates that follow gate j.
  Matrix2<double> after = identity_matrix<double>();
  for (auto gate = run.rbegin(); gate != run.rend(); ++gate) {
    if (gate->weight_index >= 0) {
      const Matrix2<double> generator =
          multiply(multiply(after, pauli_matrix<double>(gate->generator)), adjoint(after));
      terms_.push_back({gate->weight_index, round_matrix<Real>(generator)});
    }
    after = multiply(after, gate->unitary);
  }
  segment.unitary = round_matrix<Real>(after);
  segment.n_terms = static_cast<int32_t>(terms_.size()) - segment.first_term;
  segments_.push_back(segment);
  run.clear();
}

template class CompiledCircuit<float>;
template class CompiledCircuit<double>;

}  // namespace qmoe::core
