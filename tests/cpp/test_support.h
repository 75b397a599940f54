// Helpers shared by the GoogleTest suite of the core: flat programs, seeded
// random problems, whole-batch runs of the simulator, an independent dense
// reference simulator and element-wise comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "qmoe/core/cpu/isa/kernel_table.h"
#include "qmoe/core/cpu/statevector/statevector_engine.h"
#include "qmoe/core/engine/weight_reduction.h"
#include "qmoe/core/program/compiled_circuit.h"
#include "qmoe/core/program/program.h"

namespace qmoe::test_support {

using core::DiffMethod;
using core::IsaKernels;
using core::Opcode;
using core::ParamSource;
using core::Program;
using core::ProgramLimits;
using core::StatevectorSimulator;
using Cplx = std::complex<double>;

constexpr double kPi = 3.14159265358979323846264338327950288;

// ---- flat programs -------------------------------------------------------------------------

// A flat program (5 words per op) and how many inputs columns, weights and
// constants it references (grown automatically by add()).
class FlatProgram {
 public:
  explicit FlatProgram(int n_qubits) : n_qubits_(n_qubits) {}

  FlatProgram& add(Opcode opcode, int64_t wire0, int64_t wire1 = -1,
                   ParamSource source = ParamSource::kNone, int64_t index = -1) {
    words_.insert(words_.end(), {static_cast<int64_t>(opcode), wire0, wire1,
                                 static_cast<int64_t>(source), index});
    if (source == ParamSource::kInput) n_input_columns_ = std::max(n_input_columns_, index + 1);
    if (source == ParamSource::kWeight) n_weights_ = std::max(n_weights_, index + 1);
    if (source == ParamSource::kConstant) n_constants_ = std::max(n_constants_, index + 1);
    return *this;
  }
  // A fixed gate (one- or two-qubit).
  FlatProgram& gate(Opcode opcode, int64_t wire0, int64_t wire1 = -1) {
    return add(opcode, wire0, wire1);
  }
  // A one-qubit rotation.
  FlatProgram& rot(Opcode opcode, int64_t wire0, ParamSource source, int64_t index) {
    return add(opcode, wire0, -1, source, index);
  }

  int n_qubits() const { return n_qubits_; }
  const std::vector<int64_t>& words() const { return words_; }
  int64_t n_ops() const { return static_cast<int64_t>(words_.size()) / core::kOperationWidth; }
  int64_t n_input_columns() const { return n_input_columns_; }
  int64_t n_weights() const { return n_weights_; }
  int64_t n_constants() const { return n_constants_; }

  ProgramLimits limits() const {
    ProgramLimits limits;
    limits.n_input_columns = n_input_columns_;
    limits.n_weights = n_weights_;
    limits.n_constants = n_constants_;
    return limits;
  }
  Program parse() const {
    return core::parse_program(words_.data(), static_cast<int64_t>(words_.size()), n_qubits_,
                               limits());
  }

 private:
  int n_qubits_;
  std::vector<int64_t> words_;
  int64_t n_input_columns_ = 0;
  int64_t n_weights_ = 0;
  int64_t n_constants_ = 0;
};

// ---- deterministic randomness (no implementation-defined distributions) ---------------------

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Uniform integer in [0, n).
  int64_t below(int64_t n) { return static_cast<int64_t>(engine_() % static_cast<uint64_t>(n)); }
  // Uniform double in [0, 1).
  double unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  template <class T>
  void shuffle(std::vector<T>& values) {
    for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[below(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

// ---- problems: a program with every tensor one simulator call needs ------------------------

enum class StateKind { kNone, kReal, kComplex };

struct Problem {
  FlatProgram program{1};
  std::vector<double> weights;
  std::vector<double> constants;
  bool probs = false;
  std::vector<int64_t> z_masks;
  int64_t batch_size = 0;
  int64_t n_input_columns = 0;
  std::vector<double> inputs;  // [batch, n_input_columns]
  StateKind state_kind = StateKind::kNone;
  std::vector<double> initial_state;  // [batch, dim] or [batch, dim, 2]
  std::vector<double> grad_out;       // [batch, width]

  int n_qubits() const { return program.n_qubits(); }
  int64_t dim() const { return int64_t{1} << n_qubits(); }
  int64_t width() const { return probs ? dim() : static_cast<int64_t>(z_masks.size()); }
  int64_t state_row() const { return state_kind == StateKind::kComplex ? 2 * dim() : dim(); }
  // What the program may reference: the sizes of the tensors (as the operators pass them).
  ProgramLimits limits() const {
    ProgramLimits limits;
    limits.n_input_columns = n_input_columns;
    limits.n_weights = static_cast<int64_t>(weights.size());
    limits.n_constants = static_cast<int64_t>(constants.size());
    return limits;
  }
  Program parse() const {
    const auto& words = program.words();
    return core::parse_program(words.data(), static_cast<int64_t>(words.size()), n_qubits(),
                               limits());
  }
};

struct RandomOptions {
  int n_qubits = 2;
  int n_extra_ops = 12;  // on top of one op of every opcode that fits
  int64_t batch_size = 5;
  StateKind state_kind = StateKind::kNone;
  bool probs = false;
  int64_t n_input_columns = 3;
  int64_t n_weights = 3;
  int64_t n_constants = 2;
  double input_scale = 2 * kPi;  // inputs uniform in [-input_scale, input_scale]
  bool input_angles = true;      // false: every angle is shared (weights and constants)
  // A router's layout: first one input-angle rotation on most wires, straight on |0..0>,
  // then a body whose angles are all shared.
  bool encoding_layer = false;
  // After every CNOT, CZ or SWAP, 1 to 3 more of them: runs merged into one permutation.
  bool entangler_runs = false;
};

inline bool is_two_qubit_opcode(int opcode) {
  return (opcode >= 6 && opcode <= 8) || (opcode >= 12 && opcode <= 14);
}
inline bool is_rotation_opcode(int opcode) { return opcode >= 9 && opcode <= 14; }

// A random program over every unitary opcode (each at least once, two-qubit ones
// when n >= 2), with runs of one-qubit ops on one wire (exercising fusion), and
// angles from inputs, weights and constants; plus random tensors for it.
inline Problem random_problem(uint64_t seed, const RandomOptions& options) {
  Rng rng(seed);
  const int n = options.n_qubits;
  Problem problem;
  problem.program = FlatProgram(n);
  FlatProgram& program = problem.program;

  const bool body_inputs = options.input_angles && !options.encoding_layer;
  if (options.encoding_layer) {
    for (int wire = 0; wire < n; ++wire) {
      if (rng.below(4) == 0) continue;  // a wire without a per-sample angle
      program.add(static_cast<Opcode>(9 + rng.below(3)), wire, -1, ParamSource::kInput,
                  rng.below(options.n_input_columns));
    }
  }
  auto emit = [&](int opcode, int64_t wire) {
    int64_t wire1 = -1;
    if (is_two_qubit_opcode(opcode)) {
      wire1 = rng.below(n - 1);
      if (wire1 >= wire) ++wire1;
    }
    ParamSource source = ParamSource::kNone;
    int64_t index = -1;
    if (is_rotation_opcode(opcode)) {
      switch (body_inputs ? rng.below(3) : 1 + rng.below(2)) {
        case 0:
          source = ParamSource::kInput;
          index = rng.below(options.n_input_columns);
          break;
        case 1:
          source = ParamSource::kWeight;
          index = rng.below(options.n_weights);
          break;
        default:
          source = ParamSource::kConstant;
          index = rng.below(options.n_constants);
          break;
      }
    }
    program.add(static_cast<Opcode>(opcode), wire, wire1, source, index);
  };

  std::vector<int> opcodes;
  for (int opcode = 0; opcode <= 14; ++opcode) {
    if (n >= 2 || !is_two_qubit_opcode(opcode)) opcodes.push_back(opcode);
  }
  for (int i = 0; i < options.n_extra_ops; ++i) {
    int opcode;
    do {
      opcode = static_cast<int>(rng.below(15));
    } while (n < 2 && is_two_qubit_opcode(opcode));
    opcodes.push_back(opcode);
  }
  rng.shuffle(opcodes);
  for (int opcode : opcodes) {
    const int64_t wire = rng.below(n);
    emit(opcode, wire);
    if (!is_two_qubit_opcode(opcode) && rng.below(3) == 0) {
      // A run of one-qubit ops on the same wire: fused into one segment.
      const int64_t extra = 1 + rng.below(3);
      for (int64_t j = 0; j < extra; ++j) {
        int one_qubit;
        do {
          one_qubit = static_cast<int>(rng.below(12));
        } while (is_two_qubit_opcode(one_qubit));
        emit(one_qubit, wire);
      }
    }
    if (options.entangler_runs && opcode >= 6 && opcode <= 8) {
      const int64_t extra = 1 + rng.below(3);
      for (int64_t j = 0; j < extra; ++j) emit(6 + static_cast<int>(rng.below(3)), rng.below(n));
    }
  }

  problem.weights.resize(static_cast<size_t>(options.n_weights));
  for (double& w : problem.weights) w = rng.uniform(-kPi, kPi);
  problem.constants.resize(static_cast<size_t>(options.n_constants));
  for (double& c : problem.constants) c = rng.uniform(-kPi, kPi);
  // The program may reference fewer than the tensors hold: that is allowed.
  problem.probs = options.probs;
  if (!options.probs) {
    problem.z_masks.push_back(0);  // identity
    for (int i = 0; i < 3; ++i) problem.z_masks.push_back(1 + rng.below((int64_t{1} << n) - 1));
    problem.z_masks.push_back((int64_t{1} << n) - 1);  // Z on every wire
  }
  problem.batch_size = options.batch_size;
  problem.n_input_columns = options.n_input_columns;
  problem.inputs.resize(static_cast<size_t>(options.batch_size * options.n_input_columns));
  for (double& x : problem.inputs) x = rng.uniform(-options.input_scale, options.input_scale);
  problem.state_kind = options.state_kind;
  if (options.state_kind != StateKind::kNone) {
    problem.initial_state.resize(static_cast<size_t>(options.batch_size * problem.state_row()));
    for (int64_t b = 0; b < options.batch_size; ++b) {
      double norm = 0;
      double* row = problem.initial_state.data() + b * problem.state_row();
      for (int64_t i = 0; i < problem.state_row(); ++i) {
        row[i] = rng.uniform(-1, 1);
        norm += row[i] * row[i];
      }
      for (int64_t i = 0; i < problem.state_row(); ++i) row[i] /= std::sqrt(norm);
    }
  }
  problem.grad_out.resize(static_cast<size_t>(options.batch_size * problem.width()));
  for (double& g : problem.grad_out) g = rng.uniform(-1, 1);
  return problem;
}

// How many segments of a kind the problem's program compiles to (in double): lets a
// test assert that it exercises the path it is meant to (fusion, dense runs).
inline int count_segments(const Problem& problem, core::SegmentKind kind) {
  const core::CompiledCircuit<double> circuit(problem.parse(), problem.weights.data(),
                                              problem.constants.data());
  const auto view = circuit.view();
  int count = 0;
  for (int32_t i = 0; i < view.n_segments; ++i) count += view.segments[i].kind == kind;
  return count;
}

inline int count_prefix_segments(const Problem& problem) {
  const core::CompiledCircuit<double> circuit(problem.parse(), problem.weights.data(),
                                              problem.constants.data());
  return circuit.view().n_prefix_segments;
}

// ---- running the simulator over a whole batch ----------------------------------------------

template <class Real>
std::vector<Real> cast_vector(const std::vector<double>& values) {
  return std::vector<Real>(values.begin(), values.end());
}

template <class Real>
struct Gradients {
  std::vector<Real> inputs;           // [batch, n_input_columns]
  std::vector<Real> weights;          // [n_weights], reduced over chunks
  std::vector<Real> weight_partials;  // [n_chunks, n_weights]
  std::vector<Real> state;            // like the initial state; empty without one
};

// The tensors of a problem in precision Real, and a simulator over them.
template <class Real>
class Harness {
 public:
  Harness(const Problem& problem, const IsaKernels& kernels)
      : problem_(problem),
        program_(problem.parse()),
        weights_(cast_vector<Real>(problem.weights)),
        inputs_(cast_vector<Real>(problem.inputs)),
        initial_state_(cast_vector<Real>(problem.initial_state)),
        grad_out_(cast_vector<Real>(problem.grad_out)),
        simulator_(program_, weights_.data(), static_cast<int64_t>(weights_.size()),
                   problem.constants.data(), problem.z_masks.data(),
                   static_cast<int64_t>(problem.z_masks.size()), problem.probs, kernels) {}

  const StatevectorSimulator<Real>& simulator() const { return simulator_; }
  int64_t n_chunks() const { return simulator_.n_chunks(problem_.batch_size); }

  core::BatchView<Real> view() const {
    core::BatchView<Real> view;
    view.batch_size = problem_.batch_size;
    view.inputs = inputs_.data();
    view.n_input_columns = problem_.n_input_columns;
    if (problem_.state_kind != StateKind::kNone) {
      view.initial_state = initial_state_.data();
      view.initial_state_is_complex = problem_.state_kind == StateKind::kComplex;
    }
    return view;
  }

  std::vector<Real> forward() const {
    std::vector<Real> out(static_cast<size_t>(problem_.batch_size * problem_.width()), Real(-7));
    simulator_.forward(view(), 0, n_chunks(), out.data());
    return out;
  }

  // Every gradient the problem has, from one backward call over all chunks.
  Gradients<Real> backward(DiffMethod method) const {
    Gradients<Real> grads;
    allocate(grads);
    simulator_.backward(method, view(), grad_out_.data(), 0, n_chunks(), pointers(grads));
    reduce(grads);
    return grads;
  }

  void allocate(Gradients<Real>& grads) const {
    grads.inputs.assign(inputs_.size(), Real(0));
    grads.weights.assign(weights_.size(), Real(0));
    grads.weight_partials.assign(static_cast<size_t>(n_chunks()) * weights_.size(), Real(0));
    grads.state.assign(initial_state_.size(), Real(0));
  }
  typename StatevectorSimulator<Real>::Gradients pointers(Gradients<Real>& grads) const {
    typename StatevectorSimulator<Real>::Gradients pointers;
    pointers.inputs = grads.inputs.empty() ? nullptr : grads.inputs.data();
    pointers.weight_partials =
        grads.weight_partials.empty() ? nullptr : grads.weight_partials.data();
    pointers.state = grads.state.empty() ? nullptr : grads.state.data();
    return pointers;
  }
  void reduce(Gradients<Real>& grads) const {
    if (grads.weights.empty()) return;
    core::reduce_weight_partials(grads.weight_partials.data(), n_chunks(), simulator_.n_weights(),
                                 grads.weights.data());
  }
  const std::vector<Real>& grad_out() const { return grad_out_; }

 private:
  Problem problem_;
  Program program_;
  std::vector<Real> weights_;
  std::vector<Real> inputs_;
  std::vector<Real> initial_state_;
  std::vector<Real> grad_out_;
  StatevectorSimulator<Real> simulator_;
};

// A problem for a hand-written program: tensors sized as the program references
// them, all zero (fill in what the test needs), grad_out zero.
inline Problem problem_of(const FlatProgram& program, int64_t batch_size, bool probs,
                          const std::vector<int64_t>& z_masks = {}) {
  Problem problem;
  problem.program = program;
  problem.probs = probs;
  problem.z_masks = z_masks;
  problem.batch_size = batch_size;
  problem.n_input_columns = program.n_input_columns();
  problem.weights.assign(static_cast<size_t>(program.n_weights()), 0.0);
  problem.constants.assign(static_cast<size_t>(program.n_constants()), 0.0);
  problem.inputs.assign(static_cast<size_t>(batch_size * program.n_input_columns()), 0.0);
  problem.grad_out.assign(static_cast<size_t>(batch_size * problem.width()), 0.0);
  return problem;
}

// Runs a program with no parameters on |0..0> for one sample.
inline std::vector<double> run_once(const FlatProgram& program, bool probs,
                                    const std::vector<int64_t>& z_masks,
                                    const IsaKernels& kernels) {
  return Harness<double>(problem_of(program, 1, probs, z_masks), kernels).forward();
}

// sum over samples of <grad_out[b], out[b]>: the loss whose gradient backward() gives.
inline double total_loss(const std::vector<double>& out, const std::vector<double>& grad_out) {
  double loss = 0;
  for (size_t i = 0; i < out.size(); ++i) loss += grad_out[i] * out[i];
  return loss;
}

// The same loss per sample.
inline std::vector<double> sample_losses(const std::vector<double>& out,
                                         const std::vector<double>& grad_out, int64_t batch) {
  std::vector<double> losses(static_cast<size_t>(batch), 0.0);
  const size_t width = out.size() / static_cast<size_t>(batch);
  for (size_t i = 0; i < out.size(); ++i) losses[i / width] += grad_out[i] * out[i];
  return losses;
}

// ---- an independent dense reference simulator ----------------------------------------------

using Matrix = std::vector<Cplx>;  // row-major, square

inline Matrix one_qubit_matrix(int opcode, double angle) {
  const Cplx i(0, 1);
  const double r = 1 / std::sqrt(2.0), c = std::cos(angle / 2), s = std::sin(angle / 2);
  switch (opcode) {
    case 0:
      return {r, r, r, -r};
    case 1:
      return {0, 1, 1, 0};
    case 2:
      return {0, -i, i, 0};
    case 3:
      return {1, 0, 0, -1};
    case 4:
      return {1, 0, 0, i};
    case 5:
      return {1, 0, 0, std::exp(i * (kPi / 4))};
    case 9:
      return {c, -i * s, -i * s, c};
    case 10:
      return {c, -s, s, c};
    case 11:
      return {std::exp(-i * (angle / 2)), 0, 0, std::exp(i * (angle / 2))};
    default:
      ADD_FAILURE() << "not a one-qubit opcode: " << opcode;
      return {};
  }
}

inline Matrix kron(const Matrix& a, const Matrix& b) {
  Matrix out(16);
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) out[r * 4 + c] = a[(r / 2) * 2 + c / 2] * b[(r % 2) * 2 + c % 2];
  }
  return out;
}

// 4x4 matrix on (wire0, wire1), index 2 * bit(wire0) + bit(wire1).
inline Matrix two_qubit_matrix(int opcode, double angle) {
  const Cplx i(0, 1);
  switch (opcode) {
    case 6:
      return {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0};
    case 7:
      return {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, -1};
    case 8:
      return {1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1};
    case 12:
    case 13:
    case 14: {
      const Matrix pauli = one_qubit_matrix(opcode - 11, 0);  // X, Y or Z
      const Matrix pp = kron(pauli, pauli);
      Matrix out(16);
      for (int k = 0; k < 16; ++k) {
        out[k] = (k % 5 == 0 ? std::cos(angle / 2) : 0.0) - i * std::sin(angle / 2) * pp[k];
      }
      return out;
    }
    default:
      ADD_FAILURE() << "not a two-qubit opcode: " << opcode;
      return {};
  }
}

inline Matrix matmul(const Matrix& a, const Matrix& b, int d) {
  Matrix out(static_cast<size_t>(d * d));
  for (int r = 0; r < d; ++r)
    for (int k = 0; k < d; ++k)
      for (int c = 0; c < d; ++c) out[r * d + c] += a[r * d + k] * b[k * d + c];
  return out;
}

inline Matrix dagger(const Matrix& a, int d) {
  Matrix out(static_cast<size_t>(d * d));
  for (int r = 0; r < d; ++r)
    for (int c = 0; c < d; ++c) out[c * d + r] = std::conj(a[r * d + c]);
  return out;
}

// psi after the program, for one sample (inputs row given).
inline std::vector<Cplx> reference_state(const FlatProgram& program, const double* input_row,
                                         const std::vector<double>& weights,
                                         const std::vector<double>& constants,
                                         std::vector<Cplx> psi) {
  const int n = program.n_qubits();
  const int64_t dim = int64_t{1} << n;
  const auto& words = program.words();
  for (size_t at = 0; at < words.size(); at += 5) {
    const int opcode = static_cast<int>(words[at]);
    const int64_t bit0 = n - 1 - words[at + 1];
    double angle = 0;
    switch (static_cast<ParamSource>(words[at + 3])) {
      case ParamSource::kInput:
        angle = input_row[words[at + 4]];
        break;
      case ParamSource::kWeight:
        angle = weights[static_cast<size_t>(words[at + 4])];
        break;
      case ParamSource::kConstant:
        angle = constants[static_cast<size_t>(words[at + 4])];
        break;
      default:
        break;
    }
    if (!is_two_qubit_opcode(opcode)) {
      const Matrix m = one_qubit_matrix(opcode, angle);
      for (int64_t k = 0; k < dim; ++k) {
        if ((k >> bit0) & 1) continue;
        const int64_t k1 = k | (int64_t{1} << bit0);
        const Cplx a0 = psi[k], a1 = psi[k1];
        psi[k] = m[0] * a0 + m[1] * a1;
        psi[k1] = m[2] * a0 + m[3] * a1;
      }
      continue;
    }
    const int64_t bit1 = n - 1 - words[at + 2];
    const Matrix m = two_qubit_matrix(opcode, angle);
    for (int64_t k = 0; k < dim; ++k) {
      if (((k >> bit0) & 1) || ((k >> bit1) & 1)) continue;
      int64_t index[4];
      Cplx a[4];
      for (int j = 0; j < 4; ++j) {
        index[j] = k | (int64_t{j >> 1} << bit0) | (int64_t{j & 1} << bit1);
        a[j] = psi[index[j]];
      }
      for (int r = 0; r < 4; ++r) {
        Cplx value = 0;
        for (int c = 0; c < 4; ++c) value += m[r * 4 + c] * a[c];
        psi[index[r]] = value;
      }
    }
  }
  return psi;
}

inline std::vector<double> reference_readout(const std::vector<Cplx>& psi, int n, bool probs,
                                             const std::vector<int64_t>& z_masks) {
  std::vector<double> out;
  if (probs) {
    for (const Cplx& a : psi) out.push_back(std::norm(a));
    return out;
  }
  for (int64_t mask : z_masks) {
    double value = 0;
    for (size_t k = 0; k < psi.size(); ++k) {
      int sign = 1;
      for (int wire = 0; wire < n; ++wire) {
        if (((mask >> wire) & 1) && ((k >> (n - 1 - wire)) & 1)) sign = -sign;
      }
      value += sign * std::norm(psi[k]);
    }
    out.push_back(value);
  }
  return out;
}

inline std::vector<Cplx> initial_state_of(const Problem& problem, int64_t sample) {
  std::vector<Cplx> psi(static_cast<size_t>(problem.dim()), 0.0);
  if (problem.state_kind == StateKind::kNone) {
    psi[0] = 1;
    return psi;
  }
  const double* row = problem.initial_state.data() + sample * problem.state_row();
  for (int64_t k = 0; k < problem.dim(); ++k) {
    psi[k] = problem.state_kind == StateKind::kComplex ? Cplx(row[2 * k], row[2 * k + 1])
                                                       : Cplx(row[k], 0);
  }
  return psi;
}

// The forward output [batch, width] of a problem, by the reference simulator.
inline std::vector<double> reference_forward(const Problem& problem) {
  std::vector<double> out;
  const int64_t columns = problem.n_input_columns;
  for (int64_t b = 0; b < problem.batch_size; ++b) {
    const double* row = problem.inputs.empty() ? nullptr : problem.inputs.data() + b * columns;
    const auto psi = reference_state(problem.program, row, problem.weights, problem.constants,
                                     initial_state_of(problem, b));
    const auto values = reference_readout(psi, problem.n_qubits(), problem.probs, problem.z_masks);
    out.insert(out.end(), values.begin(), values.end());
  }
  return out;
}

// ---- comparisons ---------------------------------------------------------------------------

// |actual - expected| <= atol + rtol * |expected| element-wise; reports the worst mismatch.
template <class A, class E>
::testing::AssertionResult AllClose(const std::vector<A>& actual, const std::vector<E>& expected,
                                    double atol, double rtol = 0) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << actual.size() << " vs " << expected.size();
  }
  size_t failures = 0, worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = static_cast<double>(actual[i]), e = static_cast<double>(expected[i]);
    const double excess = std::abs(a - e) - (atol + rtol * std::abs(e));
    if (!(excess <= 0)) {  // also catches NaN
      if (failures == 0 || excess > worst_excess || std::isnan(excess)) {
        worst = i;
        worst_excess = excess;
      }
      ++failures;
    }
  }
  if (failures == 0) return ::testing::AssertionSuccess();
  std::ostringstream message;
  message.precision(17);
  message << failures << " of " << actual.size() << " elements differ; worst at [" << worst
          << "]: " << static_cast<double>(actual[worst]) << " vs expected "
          << static_cast<double>(expected[worst]) << " (atol " << atol << ", rtol " << rtol << ")";
  return ::testing::AssertionFailure() << message.str();
}

template <class T>
::testing::AssertionResult BitwiseEqual(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) {
      std::ostringstream message;
      message.precision(17);
      message << "element " << i << " differs: " << a[i] << " vs " << b[i];
      return ::testing::AssertionFailure() << message.str();
    }
  }
  return ::testing::AssertionSuccess();
}

inline std::string describe(const IsaKernels& kernels) {
  return std::string("instruction set ") + kernels.name;
}

}  // namespace qmoe::test_support
