#include "qmoe/core/cpu/density/density_matrix_engine.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "qmoe/core/engine/shift_targets.h"
#include "qmoe/core/math/gate_math.h"
#include "qmoe/core/math/parity.h"
#include "qmoe/core/program/readout.h"

namespace qmoe::core {
namespace {

// About this many density-matrix entries per chunk: small states share a chunk.
constexpr int64_t kChunkEntries = 4096;

std::string gibibytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return text;
}

double physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<double>(pages) * static_cast<double>(page_size);
}

std::string operation_label(int64_t op_index, Opcode opcode) {
  return "program: operation " + std::to_string(op_index) + " (" + opcode_name(opcode) + ")";
}

bool valid_probability(double p) { return p >= 0.0 && p <= 1.0; }

}  // namespace

void check_density_matrix_fits(int n_qubits, int64_t real_size, int64_t workers) {
  const double per_copy = std::ldexp(2.0 * static_cast<double>(real_size), 2 * n_qubits);
  const double needed = per_copy * 2 * static_cast<double>(std::max<int64_t>(workers, 1));
  const double available = physical_memory_bytes() / 2;
  if (available > 0 && needed <= available) return;
  throw std::invalid_argument("a density matrix of n_qubits=" + std::to_string(n_qubits) +
                              " holds 4**" + std::to_string(n_qubits) + " complex entries (" +
                              gibibytes(per_copy) + "); the engine keeps two per worker thread, " +
                              gibibytes(needed) + " for " + std::to_string(workers) +
                              " thread(s), more than half of this machine's memory (" +
                              gibibytes(available * 2) +
                              "). Use fewer qubits, fewer threads, or no noise channels "
                              "(the statevector engine needs 2**n_qubits amplitudes)");
}

template <class Real>
DensityMatrixSimulator<Real>::DensityMatrixSimulator(const Program& program, const Real* weights,
                                                     int64_t n_weights, const double* constants,
                                                     const int64_t* z_masks, int64_t n_masks,
                                                     bool probs, int64_t checkpoint_budget_bytes,
                                                     const IsaKernels& kernels)
    : n_qubits_(program.n_qubits),
      layout_{program.n_qubits,
              program.n_qubits <= kBlockMaxQubits ? (sizeof(Real) == 4 ? 4 : 3) : 0},
      n_weights_(n_weights),
      probs_(probs),
      kernels_(kernels.density<Real>()),
      program_(program),
      weights_(weights, weights + n_weights) {
  int64_t n_constants = 0;
  for (const Operation& op : program.operations) {
    if (op.source == ParamSource::kConstant) n_constants = std::max(n_constants, op.index + 1);
  }
  constants_.assign(constants, constants + n_constants);
  if (!probs) index_masks_ = index_masks_from_wires(z_masks, n_masks, n_qubits_);
  for (size_t i = 0; i < program.operations.size(); ++i) {
    const Operation& op = program.operations[i];
    if (!is_channel(op.opcode) || op.source == ParamSource::kInput) continue;
    const bool from_weight = op.source == ParamSource::kWeight;
    const double p = from_weight ? weights_[static_cast<size_t>(op.index)]
                                 : constants_[static_cast<size_t>(op.index)];
    if (!valid_probability(p)) {
      throw std::invalid_argument(operation_label(static_cast<int64_t>(i), op.opcode) +
                                  ": probability " + std::to_string(p) + " (" +
                                  (from_weight ? "weights[" : "constants[") +
                                  std::to_string(op.index) + "]) is outside [0, 1]");
    }
  }
  circuit_ = lower({});
  for (size_t i = 0; i < circuit_.segments.size(); ++i) {
    if (circuit_.segments[i].kind == SegmentKind::kChannel) channel_segments_.push_back(i);
  }
  // whole blocks per chunk
  chunk_size_ = std::clamp<int64_t>(kChunkEntries >> std::min(2 * n_qubits_, 62), 1, 1024);
  chunk_size_ = (chunk_size_ + lanes() - 1) / lanes() * lanes();
  const int64_t copy_bytes = block_length() * static_cast<int64_t>(sizeof(Real));
  const int64_t slots = checkpoint_budget_bytes / copy_bytes;
  const int64_t n_channels = static_cast<int64_t>(channel_segments_.size());
  checkpoint_stride_ = slots == 0 ? 0 : std::max<int64_t>(1, (n_channels + slots - 1) / slots);
}

template <class Real>
typename DensityMatrixSimulator<Real>::Circuit DensityMatrixSimulator<Real>::lower(
    AngleShift shift) const {
  const ExactCircuit exact = lower_program(program_, weights_.data(), constants_.data(), shift);
  Circuit circuit;
  for (const Segment<double>& segment : exact.segments) {
    circuit.segments.push_back(round_segment<Real>(segment));
  }
  for (const GradientTerm<double>& term : exact.terms) {
    circuit.terms.push_back({term.weight_index, round_matrix<Real>(term.generator)});
  }
  return circuit;
}

template <class Real>
void DensityMatrixSimulator<Real>::check_batch(const BatchView<Real>& batch) const {
  for (size_t i = 0; i < program_.operations.size(); ++i) {
    const Operation& op = program_.operations[i];
    if (!is_channel(op.opcode) || op.source != ParamSource::kInput) continue;
    for (int64_t sample = 0; sample < batch.batch_size; ++sample) {
      const double p = batch.inputs[sample * batch.n_input_columns + op.index];
      if (!valid_probability(p)) {
        throw std::invalid_argument(operation_label(static_cast<int64_t>(i), op.opcode) +
                                    ": probability " + std::to_string(p) + " (inputs[" +
                                    std::to_string(sample) + ", " + std::to_string(op.index) +
                                    "]) is outside [0, 1]");
      }
    }
  }
}

template <class Real>
Real DensityMatrixSimulator<Real>::channel_probability(const Segment<Real>& segment,
                                                       const BatchView<Real>& batch,
                                                       int64_t sample) const {
  if (segment.source == ParamSource::kInput) {
    return batch.inputs[sample * batch.n_input_columns + segment.param_index];
  }
  return segment.channel_probability;
}

template <class Real>
void DensityMatrixSimulator<Real>::prepare(const BatchView<Real>& batch, const Block& block,
                                           Real* rho) const {
  const int n = n_qubits_;
  const int64_t count = layout_.count();
  std::fill(rho, rho + 2 * count, Real(0));
  if (batch.initial_state == nullptr) {
    for (int64_t lane = 0; lane < lanes(); ++lane) rho[lane] = 1;
    return;
  }
  const int64_t dim = int64_t{1} << n;
  const bool complex = batch.initial_state_is_complex;
  for (int64_t lane = 0; lane < lanes(); ++lane) {
    const Real* psi = batch.initial_state + sample_of(block, lane) * dim * (complex ? 2 : 1);
    for (int64_t r = 0; r < dim; ++r) {
      const Real rr = complex ? psi[2 * r] : psi[r], ri = complex ? psi[2 * r + 1] : Real(0);
      for (int64_t c = 0; c < dim; ++c) {
        const Real cr = complex ? psi[2 * c] : psi[c], ci = complex ? psi[2 * c + 1] : Real(0);
        const int64_t i = layout_.index(r, c) + lane;
        rho[i] = rr * cr + ri * ci;  // psi_r conj(psi_c)
        rho[count + i] = ri * cr - rr * ci;
      }
    }
  }
}

template <class Real>
void DensityMatrixSimulator<Real>::apply(const Circuit& circuit, size_t index,
                                         const BatchView<Real>& batch, const Block& block,
                                         Real* rho, bool inverse) const {
  const Segment<Real>& segment = circuit.segments[index];
  const bool per_sample = segment.source == ParamSource::kInput;
  switch (segment.kind) {
    case SegmentKind::kSharedSingleQubit:
      kernels_.conjugate_one_qubit(rho, layout_, segment.bit0,
                                   inverse ? adjoint(segment.unitary) : segment.unitary);
      break;
    case SegmentKind::kPauliRotation: {
      Real c[kMaxDensityLanes], s[kMaxDensityLanes];
      const int64_t distinct = per_sample ? lanes() : 1;
      for (int64_t lane = 0; lane < distinct; ++lane) {
        c[lane] = segment.shared_cos_half;
        s[lane] = segment.shared_sin_half;
        if (per_sample) {
          const Real angle =
              batch.inputs[sample_of(block, lane) * batch.n_input_columns + segment.param_index] +
              segment.angle_offset;
          c[lane] = std::cos(angle / 2);
          s[lane] = std::sin(angle / 2);
        }
        if (inverse) s[lane] = -s[lane];
      }
      const auto pauli = static_cast<Pauli>(segment.pauli);
      if (distinct == 1) {
        if (segment.bit1 < 0) {
          kernels_.conjugate_one_qubit(rho, layout_, segment.bit0,
                                       rotation_matrix<Real>(pauli, c[0], s[0]));
        } else {
          kernels_.rotate_string(rho, layout_, segment.pauli, segment.bit0, segment.bit1, c[0],
                                 s[0]);
        }
      } else if (segment.bit1 < 0) {
        LaneMatrix2<Real> u;
        for (int64_t lane = 0; lane < distinct; ++lane) {
          const Matrix2<Real> m = rotation_matrix<Real>(pauli, c[lane], s[lane]);
          u.m00_re[lane] = m.m00.re, u.m00_im[lane] = m.m00.im;
          u.m01_re[lane] = m.m01.re, u.m01_im[lane] = m.m01.im;
          u.m10_re[lane] = m.m10.re, u.m10_im[lane] = m.m10.im;
          u.m11_re[lane] = m.m11.re, u.m11_im[lane] = m.m11.im;
        }
        kernels_.conjugate_one_qubit_by_lane(rho, layout_, segment.bit0, u);
      } else {
        kernels_.rotate_string_by_lane(rho, layout_, segment.pauli, segment.bit0, segment.bit1, c,
                                       s);
      }
      break;
    }
    case SegmentKind::kChannel: {
      if (!per_sample || lanes() == 1) {
        const auto s = channel_superoperator<Real>(
            segment.channel, channel_probability(segment, batch, block.first));
        kernels_.apply_superoperator(rho, layout_, segment.bit0, inverse ? transpose(s) : s);
        break;
      }
      LaneSuperoperator<Real> lane_s;
      for (int64_t lane = 0; lane < lanes(); ++lane) {
        const auto s = channel_superoperator<Real>(
            segment.channel, channel_probability(segment, batch, sample_of(block, lane)));
        for (int a = 0; a < 4; ++a) {
          for (int b = 0; b < 4; ++b) lane_s.m[a][b][lane] = inverse ? s.m[b][a] : s.m[a][b];
        }
      }
      kernels_.apply_superoperator_by_lane(rho, layout_, segment.bit0, lane_s);
      break;
    }
    default:  // CNOT, CZ, SWAP: each its own inverse
      kernels_.apply_fixed_two_qubit(rho, layout_, segment.kind, segment.bit0, segment.bit1);
      break;
  }
}

template <class Real>
void DensityMatrixSimulator<Real>::run(const Circuit& circuit, size_t begin, size_t end,
                                       const BatchView<Real>& batch, const Block& block,
                                       Real* rho) const {
  for (size_t i = begin; i < end; ++i) apply(circuit, i, batch, block, rho, false);
}

template <class Real>
void DensityMatrixSimulator<Real>::read_out(const Real* rho, const Block& block,
                                            Real* out_rows) const {
  const int64_t dim = int64_t{1} << n_qubits_;
  const int64_t width = output_width();
  for (int64_t lane = 0; lane < block.used; ++lane) {
    Real* out = out_rows + lane * width;
    if (probs_) {
      for (int64_t k = 0; k < dim; ++k) out[k] = rho[layout_.index(k, k) + lane];
      continue;
    }
    for (int64_t m = 0; m < n_masks(); ++m) {
      double sum = 0;
      for (int64_t k = 0; k < dim; ++k) {
        const double p = rho[layout_.index(k, k) + lane];
        sum += parity_sign<double>(k, index_masks_[m]) * p;
      }
      out[m] = static_cast<Real>(sum);
    }
  }
}

template <class Real>
void DensityMatrixSimulator<Real>::seed_lambda(const Real* grad_rows, const Block& block,
                                               Real* lambda) const {
  const int64_t dim = int64_t{1} << n_qubits_;
  const int64_t width = output_width();
  std::fill(lambda, lambda + block_length(), Real(0));
  // lanes past `used` keep Lambda = 0: every trace of theirs is 0
  for (int64_t lane = 0; lane < block.used; ++lane) {
    const Real* grad_row = grad_rows + lane * width;
    for (int64_t k = 0; k < dim; ++k) {
      Real value = 0;
      if (probs_) {
        value = grad_row[k];
      } else {
        for (int64_t m = 0; m < n_masks(); ++m) {
          value += parity_sign<Real>(k, index_masks_[m]) * grad_row[m];
        }
      }
      lambda[layout_.index(k, k) + lane] = value;
    }
  }
}

template <class Real>
void DensityMatrixSimulator<Real>::forward(const BatchView<Real>& batch, int64_t chunk_begin,
                                           int64_t chunk_end, Real* out, Real* final_state) const {
  if (final_state != nullptr) {
    throw std::invalid_argument("the density-matrix engine keeps no final statevectors");
  }
  std::vector<Real> rho(static_cast<size_t>(block_length()));
  const int64_t width = output_width();
  const int64_t first = chunk_begin * chunk_size_;
  const int64_t last = std::min(batch.batch_size, chunk_end * chunk_size_);
  for (int64_t begin = first; begin < last; begin += lanes()) {
    const Block block{begin, std::min(lanes(), last - begin)};
    prepare(batch, block, rho.data());
    run(circuit_, 0, circuit_.segments.size(), batch, block, rho.data());
    read_out(rho.data(), block, out + begin * width);
  }
}

template <class Real>
void DensityMatrixSimulator<Real>::adjoint_block(const BatchView<Real>& batch, const Block& block,
                                                 const Real* grad_rows, bool want_angles,
                                                 Real* workspace, const Gradients& gradients,
                                                 Real* weight_partial) const {
  const int n = n_qubits_;
  const int64_t length = block_length();
  Real* rho = workspace;
  Real* lambda = workspace + length;
  Real* checkpoints = workspace + 2 * length;
  const auto& segments = circuit_.segments;
  const int64_t stride = checkpoint_stride_;

  // Without gradients of angles or probabilities only Lambda travels back.
  if (want_angles) {
    prepare(batch, block, rho);
    int64_t ordinal = 0;
    for (size_t i = 0; i < segments.size(); ++i) {
      if (segments[i].kind == SegmentKind::kChannel) {
        if (stride > 0 && ordinal % stride == 0) {
          std::memcpy(checkpoints + (ordinal / stride) * length, rho, length * sizeof(Real));
        }
        ++ordinal;
      }
      apply(circuit_, i, batch, block, rho, false);
    }
  }
  seed_lambda(grad_rows, block, lambda);

  double values[kMaxDensityLanes];
  auto add_gradients = [&](ParamSource source, int64_t index) {
    for (int64_t lane = 0; lane < block.used; ++lane) {
      const int64_t sample = block.first + lane;
      if (source == ParamSource::kInput && gradients.inputs != nullptr) {
        gradients.inputs[sample * batch.n_input_columns + index] += static_cast<Real>(values[lane]);
      } else if (source == ParamSource::kWeight && weight_partial != nullptr) {
        weight_partial[index] += static_cast<Real>(values[lane]);
      }
    }
  };

  int64_t ordinal = static_cast<int64_t>(channel_segments_.size());
  for (size_t i = segments.size(); i-- > 0;) {
    const Segment<Real>& segment = segments[i];
    if (segment.kind == SegmentKind::kChannel) {
      --ordinal;
      if (want_angles) {
        // rho before this channel: from the nearest checkpoint at or before it
        size_t replay_from = 0;
        if (stride > 0) {
          const int64_t slot = ordinal / stride;
          std::memcpy(rho, checkpoints + slot * length, length * sizeof(Real));
          replay_from = channel_segments_[static_cast<size_t>(slot * stride)];
        } else {
          prepare(batch, block, rho);
        }
        run(circuit_, replay_from, i, batch, block, rho);
        if (segment.source != ParamSource::kConstant) {
          LaneSuperoperator<Real> derivative;
          for (int64_t lane = 0; lane < lanes(); ++lane) {
            const Real p = channel_probability(segment, batch, sample_of(block, lane));
            const auto d = channel_superoperator_derivative<Real>(segment.channel, p);
            for (int a = 0; a < 4; ++a) {
              for (int b = 0; b < 4; ++b) derivative.m[a][b][lane] = d.m[a][b];
            }
          }
          kernels_.superoperator_trace(lambda, rho, layout_, segment.bit0, derivative, values);
          add_gradients(segment.source, segment.param_index);
        }
      }
      apply(circuit_, i, batch, block, lambda, true);  // Lambda -> adjoint channel
      continue;
    }
    if (want_angles) {
      if (segment.kind == SegmentKind::kSharedSingleQubit) {
        for (int32_t t = segment.first_term; t < segment.first_term + segment.n_terms; ++t) {
          const GradientTerm<Real>& term = circuit_.terms[static_cast<size_t>(t)];
          kernels_.generator_trace(lambda, rho, layout_, segment.bit0, term.generator, values);
          add_gradients(ParamSource::kWeight, term.weight_index);
        }
      } else if (segment.kind == SegmentKind::kPauliRotation) {
        if (segment.bit1 < 0) {
          kernels_.generator_trace(lambda, rho, layout_, segment.bit0,
                                   pauli_matrix<Real>(static_cast<Pauli>(segment.pauli)), values);
        } else {
          kernels_.string_trace(lambda, rho, layout_, segment.pauli, segment.bit0, segment.bit1,
                                values);
        }
        add_gradients(segment.source, segment.param_index);
      }
      apply(circuit_, i, batch, block, rho, true);
    }
    apply(circuit_, i, batch, block, lambda, true);
  }

  if (gradients.state == nullptr) return;
  // d/dpsi of tr(Lambda_0 psi psi^dagger) in PyTorch's convention: 2 Lambda_0 psi
  const int64_t dim = int64_t{1} << n;
  const int64_t count = layout_.count();
  const bool complex = batch.initial_state_is_complex;
  for (int64_t lane = 0; lane < block.used; ++lane) {
    const int64_t sample = block.first + lane;
    const Real* psi = batch.initial_state + sample * dim * (complex ? 2 : 1);
    Real* grad = gradients.state + sample * dim * (complex ? 2 : 1);
    for (int64_t r = 0; r < dim; ++r) {
      double re = 0, im = 0;
      for (int64_t c = 0; c < dim; ++c) {
        const int64_t i = layout_.index(r, c) + lane;
        const double lr = lambda[i], li = lambda[count + i];
        const double pr = complex ? psi[2 * c] : psi[c], pi = complex ? psi[2 * c + 1] : 0.0;
        re += lr * pr - li * pi;
        im += lr * pi + li * pr;
      }
      if (complex) {
        grad[2 * r] = static_cast<Real>(2 * re);
        grad[2 * r + 1] = static_cast<Real>(2 * im);
      } else {
        grad[r] = static_cast<Real>(2 * re);
      }
    }
  }
}

template <class Real>
const std::vector<typename DensityMatrixSimulator<Real>::ShiftedCircuits>&
DensityMatrixSimulator<Real>::shifted_circuits() const {
  std::call_once(shifted_circuits_built_, [this] {
    for (const ShiftTarget& target : shift_targets(program_)) {
      shifted_circuits_.push_back({target.source, target.index,
                                   lower({target.operation, kShiftAngle}),
                                   lower({target.operation, -kShiftAngle})});
    }
  });
  return shifted_circuits_;
}

template <class Real>
void DensityMatrixSimulator<Real>::shift_block(const BatchView<Real>& batch, const Block& block,
                                               const Real* grad_rows, const Gradients& gradients,
                                               Real* weight_partial, Real* rho,
                                               Real* readout) const {
  const int64_t width = output_width();
  // sums[lane] = grad_row . readout of the circuit, per sample of the block
  auto contraction = [&](const Circuit& circuit, double* sums) {
    prepare(batch, block, rho);
    run(circuit, 0, circuit.segments.size(), batch, block, rho);
    read_out(rho, block, readout);
    for (int64_t lane = 0; lane < block.used; ++lane) {
      double sum = 0;
      for (int64_t m = 0; m < width; ++m) {
        sum += static_cast<double>(grad_rows[lane * width + m]) * readout[lane * width + m];
      }
      sums[lane] = sum;
    }
  };
  double plus[kMaxDensityLanes], minus[kMaxDensityLanes];
  for (const ShiftedCircuits& target : shifted_circuits()) {
    const bool to_inputs = target.source == ParamSource::kInput && gradients.inputs != nullptr;
    const bool to_weights = target.source == ParamSource::kWeight && weight_partial != nullptr;
    if (!to_inputs && !to_weights) continue;
    contraction(target.plus, plus);
    contraction(target.minus, minus);
    for (int64_t lane = 0; lane < block.used; ++lane) {
      Real* destination =
          to_inputs ? gradients.inputs + (block.first + lane) * batch.n_input_columns + target.index
                    : weight_partial + target.index;
      *destination += static_cast<Real>((plus[lane] - minus[lane]) / 2);
    }
  }
}

template <class Real>
void DensityMatrixSimulator<Real>::check_gradients(DiffMethod method, bool inputs,
                                                   bool weights) const {
  if (method != DiffMethod::kParameterShift) return;
  for (size_t i = 0; i < program_.operations.size(); ++i) {
    const Operation& op = program_.operations[i];
    if (!is_channel(op.opcode)) continue;
    if ((op.source == ParamSource::kInput && inputs) ||
        (op.source == ParamSource::kWeight && weights)) {
      throw std::invalid_argument(
          operation_label(static_cast<int64_t>(i), op.opcode) +
          ": parameter_shift cannot differentiate a channel probability (the shift rule "
          "holds for rotation angles only); use diff_method='adjoint' or a constant");
    }
  }
}

template <class Real>
void DensityMatrixSimulator<Real>::backward(DiffMethod method, const BatchView<Real>& batch,
                                            const Real* grad_out, int64_t chunk_begin,
                                            int64_t chunk_end, const Gradients& gradients,
                                            const Real* saved_state) const {
  if (saved_state != nullptr) {
    throw std::invalid_argument("the density-matrix engine takes no saved final statevectors");
  }
  const bool want_angles = gradients.inputs != nullptr || gradients.weight_partials != nullptr;
  const int64_t length = block_length();
  int64_t copies = 2;
  if (method == DiffMethod::kAdjoint && want_angles && checkpoint_stride_ > 0) {
    const auto n_channels = static_cast<int64_t>(channel_segments_.size());
    copies += (n_channels + checkpoint_stride_ - 1) / checkpoint_stride_;
  }
  std::vector<Real> workspace(static_cast<size_t>(copies * length));
  const int64_t width = output_width();
  std::vector<Real> readout(static_cast<size_t>(width * lanes()));
  for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
    Real* weight_partial = gradients.weight_partials != nullptr
                               ? gradients.weight_partials + chunk * n_weights_
                               : nullptr;
    const int64_t first = chunk * chunk_size_;
    const int64_t last = std::min(batch.batch_size, first + chunk_size_);
    for (int64_t begin = first; begin < last; begin += lanes()) {
      const Block block{begin, std::min(lanes(), last - begin)};
      const Real* grad_rows = grad_out + begin * width;
      if (method == DiffMethod::kAdjoint) {
        adjoint_block(batch, block, grad_rows, want_angles, workspace.data(), gradients,
                      weight_partial);
        continue;
      }
      if (want_angles) {
        shift_block(batch, block, grad_rows, gradients, weight_partial, workspace.data(),
                    readout.data());
      }
      if (gradients.state != nullptr) {
        adjoint_block(batch, block, grad_rows, false, workspace.data(), gradients, nullptr);
      }
    }
  }
}

template class DensityMatrixSimulator<float>;
template class DensityMatrixSimulator<double>;

}  // namespace qmoe::core
