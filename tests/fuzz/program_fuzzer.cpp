// libFuzzer target for the core: bytes -> a flat program with its tensors, parsed
// and validated as the operators do (std::invalid_argument is the expected way to
// refuse), and every program that parses run through one CPU engine, forward and
// backward. Built by `make fuzz` (clang, -fsanitize=fuzzer,address,undefined via
// cmake/sanitizers.cmake, QMOE_BUILD_FUZZER=ON), which runs it for FUZZ_SECONDS on
// the seed corpus tests/fuzz/corpus/ (written by tests/fuzz/make_corpus.py).
//
// A crash, a sanitizer report or a failed check below aborts with the input saved
// as build/fuzz/artifacts/crash-<sha1>; rerun it alone with
// `build/fuzz/qmoe_program_fuzzer build/fuzz/artifacts/crash-<sha1>`, and once fixed
// keep it in tests/fuzz/corpus/ (and a GoogleTest under tests/cpp/) as a regression.
//
// Input layout (bytes past the end read as 0):
//   h0   n_qubits = h0 % 8 (0 and 7 are refused: the limit here is 6 qubits)
//   h1   flags: 1 probs readout (else expval over z masks) | 2 float (else double)
//        | 4 initial state | 8 complex initial state | 16 statevector: forward keeps
//        the final states and the adjoint takes them | 32 also parameter shift
//        | 64 channels not allowed | 128 no input gradient (weights and state only)
//   h2   batch = 1 + h2 % 20 (both sides of every ISA's lane count); h2 >= 250 on a
//        statevector program of at most 3 qubits: 8192 + 37 * (h2 - 250) samples
//        (several chunks; the product-state path of 3 qubits), without parameter shift
//   h3   n_input_columns = h3 % 4, n_weights = (h3 >> 2) % 4, ISA = h3 >> 4
//        (modulo the instruction sets this CPU supports)
//   h4   n_ops = h4 % 32; h4 >> 5 == 7 adds 3 stray words (a bad length)
//   h5   n_masks = h5 % 6, n_constants = (h5 >> 3) % 4, density-matrix checkpoint
//        budget = (h5 >> 5) % 4: none / one block / three blocks / the default
//   then n_masks mask words, 5 * n_ops (+3) program words: a word is one signed
//   byte, or 0x80 and 8 raw little-endian bytes (any int64);
//   then constants (double), weights, inputs [batch, columns], the initial state
//   [batch, 2**n (x2 complex)] and grad_out [batch, width] (Real; of a batch over 20
//   only 20 rows are read, repeated down the batch): a value is one
//   signed byte / 32 (so -4..3.97; 0..32 is a probability 0..1), or 0x80 and
//   sizeof raw bytes (any value: NaN, inf, huge).
//
// Checks, beyond "no crash, no sanitizer report": when every value is finite and
// modest (|v| <= 1e3), outputs and gradients are finite (the gradient of a damping
// channel's probability at p = 1 is infinite by definition and exempt); without an
// initial state every readout lies in [-1, 1] (probs in [0, 1]); in double the
// parameter-shift gradients of inputs and weights agree with the adjoint ones.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "qmoe/core/cpu/density/density_matrix_engine.h"
#include "qmoe/core/cpu/isa/kernel_table.h"
#include "qmoe/core/cpu/statevector/statevector_engine.h"
#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/engine/weight_reduction.h"
#include "qmoe/core/program/program.h"

namespace {

using namespace qmoe::core;

constexpr int kMaxQubits = 6;
constexpr double kTame = 1e3;
constexpr int64_t kStoredRows = 20;

[[noreturn]] void fail(const char* what, double value, size_t at) {
  std::fprintf(stderr, "program_fuzzer: %s (value %.17g at %zu)\n", what, value, at);
  std::abort();
}

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }

  template <class T>
  T raw() {
    uint8_t bytes[sizeof(T)] = {};
    for (uint8_t& b : bytes) b = byte();
    T value;
    std::memcpy(&value, bytes, sizeof(T));
    return value;
  }

  int64_t word() {
    const uint8_t b = byte();
    return b == 0x80 ? raw<int64_t>() : static_cast<int64_t>(static_cast<int8_t>(b));
  }

  // Clears tame() for a value that is not finite and modest.
  template <class T>
  T value() {
    const uint8_t b = byte();
    const T v = b == 0x80 ? raw<T>() : static_cast<T>(static_cast<int8_t>(b)) / T(32);
    if (!(std::abs(v) <= T(kTame))) tame_ = false;
    return v;
  }
  template <class T>
  std::vector<T> values(int64_t n) {
    std::vector<T> out(static_cast<size_t>(n));
    for (T& v : out) v = value<T>();
    return out;
  }

  // [batch, width]: at most kStoredRows rows read, repeated down a larger batch.
  template <class T>
  std::vector<T> rows(int64_t batch, int64_t width) {
    const int64_t stored = std::min<int64_t>(batch, kStoredRows);
    std::vector<T> out = values<T>(stored * width);
    out.resize(static_cast<size_t>(batch * width));
    for (size_t i = static_cast<size_t>(stored * width); i < out.size(); ++i) {
      out[i] = out[i - static_cast<size_t>(stored * width)];
    }
    return out;
  }

  bool tame() const { return tame_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
  bool tame_ = true;
};

template <class Real>
void check_finite(const std::vector<Real>& values, const char* what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) fail(what, static_cast<double>(values[i]), i);
  }
}

struct Header {
  int64_t n_qubits;
  bool probs, use_float, has_state, complex_state, keep_state, shift, allow_channels, want_inputs;
  uint8_t batch_code;
  int64_t batch, n_columns, n_weights, n_constants, n_masks;
  unsigned isa, budget;
  int64_t n_words;
};

template <class Real>
void run(Header h, const Program& program, const std::vector<int64_t>& masks, Reader& in) {
  const EngineKind kind = engine_kind_for(program);
  if (h.batch_code >= 250 && kind == EngineKind::kStatevector && program.n_qubits <= 3) {
    h.batch = 8192 + 37 * (h.batch_code - 250);
    h.shift = false;
  }
  const std::vector<double> constants = in.values<double>(h.n_constants);
  const std::vector<Real> weights = in.values<Real>(h.n_weights);
  const int64_t dim = int64_t{1} << program.n_qubits;
  const int64_t state_row = h.complex_state ? 2 * dim : dim;
  const int64_t width = h.probs ? dim : h.n_masks;
  const std::vector<Real> inputs = in.rows<Real>(h.batch, h.n_columns);
  const std::vector<Real> state = in.rows<Real>(h.batch, h.has_state ? state_row : 0);
  const std::vector<Real> grad_out = in.rows<Real>(h.batch, width);

  const std::vector<const IsaKernels*> isas = supported_kernels();
  const IsaKernels& kernels = *isas[h.isa % isas.size()];

  std::unique_ptr<const CircuitEngine<Real>> engine;
  try {
    if (kind == EngineKind::kDensityMatrix) {
      const int64_t block = int64_t{2} * (int64_t{1} << (2 * program.n_qubits)) *
                            static_cast<int64_t>(sizeof(Real)) * 8;  // generous: 8 lanes
      const int64_t budgets[4] = {0, block, 3 * block,
                                  DensityMatrixSimulator<Real>::kCheckpointBudgetBytes};
      engine = std::make_unique<const DensityMatrixSimulator<Real>>(
          program, weights.data(), h.n_weights, constants.data(), masks.data(), h.n_masks, h.probs,
          budgets[h.budget % 4], kernels);
    } else {
      engine = std::make_unique<const StatevectorSimulator<Real>>(
          program, weights.data(), h.n_weights, constants.data(), masks.data(), h.n_masks, h.probs,
          kernels);
    }
  } catch (const std::invalid_argument&) {
    return;  // a shared channel probability outside [0, 1]
  }
  if (engine->output_width() != width) fail("output_width", engine->output_width(), 0);

  BatchView<Real> batch;
  batch.batch_size = h.batch;
  batch.inputs = inputs.data();
  batch.n_input_columns = h.n_columns;
  if (h.has_state) {
    batch.initial_state = state.data();
    batch.initial_state_is_complex = h.complex_state;
  }
  try {
    engine->check_batch(batch);
  } catch (const std::invalid_argument&) {
    return;  // a per-sample channel probability outside [0, 1]
  }

  const int64_t n_chunks = engine->n_chunks(h.batch);
  const bool keep = h.keep_state && engine->keeps_final_states();
  std::vector<Real> out(static_cast<size_t>(h.batch * width), Real(-7));
  std::vector<Real> final_state(keep ? static_cast<size_t>(h.batch * dim * 2) : 0);
  for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
    engine->forward(batch, chunk, chunk + 1, out.data(), keep ? final_state.data() : nullptr);
  }
  const bool tame = in.tame();
  if (tame) {
    check_finite(out, "forward output not finite");
    if (keep) check_finite(final_state, "final state not finite");
    if (!h.has_state) {
      const double slack = sizeof(Real) == 4 ? 1e-4 : 1e-10;
      const double low = h.probs ? -slack : -1 - slack;
      for (size_t i = 0; i < out.size(); ++i) {
        if (!(out[i] >= low && out[i] <= 1 + slack)) fail("readout outside [-1, 1]", out[i], i);
      }
    }
  }

  // A damping channel's probability at 1 has an infinite derivative.
  bool finite_gradients = tame;
  for (const Operation& op : program.operations) {
    if (op.opcode != Opcode::kAmplitudeDamping && op.opcode != Opcode::kPhaseDamping) continue;
    if (op.source == ParamSource::kWeight && weights[static_cast<size_t>(op.index)] >= 1) {
      finite_gradients = false;
    }
    for (int64_t b = 0; op.source == ParamSource::kInput && b < h.batch; ++b) {
      if (inputs[static_cast<size_t>(b * h.n_columns + op.index)] >= 1) finite_gradients = false;
    }
  }

  struct Grads {
    std::vector<Real> inputs, weights, state;
  };
  auto backward = [&](DiffMethod method, bool with_saved) {
    Grads g;
    g.inputs.assign(h.want_inputs ? inputs.size() : 0, Real(0));
    g.state.assign(state.size(), Real(0));
    std::vector<Real> partials(static_cast<size_t>(n_chunks * h.n_weights), Real(0));
    ChunkGradients<Real> pointers;
    pointers.inputs = g.inputs.empty() ? nullptr : g.inputs.data();
    pointers.weight_partials = partials.empty() ? nullptr : partials.data();
    pointers.state = g.state.empty() ? nullptr : g.state.data();
    for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
      engine->backward(method, batch, grad_out.data(), chunk, chunk + 1, pointers,
                       with_saved ? final_state.data() : nullptr);
    }
    g.weights.assign(static_cast<size_t>(h.n_weights), Real(0));
    if (h.n_weights > 0) {
      reduce_weight_partials(partials.data(), n_chunks, h.n_weights, g.weights.data());
    }
    return g;
  };

  try {
    engine->check_gradients(DiffMethod::kAdjoint, h.want_inputs, true);
  } catch (const std::invalid_argument&) {
    fail("check_gradients refused the adjoint method", 0, 0);
  }
  const Grads adjoint = backward(DiffMethod::kAdjoint, keep);
  if (finite_gradients) {
    check_finite(adjoint.inputs, "adjoint input gradient not finite");
    check_finite(adjoint.weights, "adjoint weight gradient not finite");
    check_finite(adjoint.state, "adjoint state gradient not finite");
  }
  if (!h.shift) return;
  try {
    engine->check_gradients(DiffMethod::kParameterShift, h.want_inputs, true);
  } catch (const std::invalid_argument&) {
    return;  // parameter shift cannot differentiate a channel probability
  }
  const Grads shift = backward(DiffMethod::kParameterShift, false);
  if (!finite_gradients) return;
  check_finite(shift.inputs, "parameter-shift input gradient not finite");
  check_finite(shift.weights, "parameter-shift weight gradient not finite");
  check_finite(shift.state, "parameter-shift state gradient not finite");
  if (sizeof(Real) != sizeof(double) || h.has_state) return;
  // Every rotation generator has eigenvalues +-1: the shift rule is exact.
  auto agree = [](const std::vector<Real>& a, const std::vector<Real>& b, const char* what) {
    for (size_t i = 0; i < a.size(); ++i) {
      const double scale = 1 + std::abs(static_cast<double>(a[i]));
      if (!(std::abs(static_cast<double>(a[i] - b[i])) <= 1e-8 * scale * 64)) {
        fail(what, static_cast<double>(a[i] - b[i]), i);
      }
    }
  };
  agree(adjoint.inputs, shift.inputs, "parameter shift and adjoint disagree (inputs)");
  agree(adjoint.weights, shift.weights, "parameter shift and adjoint disagree (weights)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  Header h{};
  h.n_qubits = in.byte() % 8;
  const uint8_t flags = in.byte();
  h.probs = flags & 1;
  h.use_float = flags & 2;
  h.has_state = flags & 4;
  h.complex_state = flags & 8;
  h.keep_state = flags & 16;
  h.shift = flags & 32;
  h.allow_channels = !(flags & 64);
  h.want_inputs = !(flags & 128);
  h.batch_code = in.byte();
  h.batch = 1 + h.batch_code % 20;
  const uint8_t h3 = in.byte();
  h.n_columns = h3 % 4;
  h.n_weights = (h3 >> 2) % 4;
  h.isa = h3 >> 4;
  const uint8_t h4 = in.byte();
  h.n_words = 5 * (h4 % 32) + ((h4 >> 5) == 7 ? 3 : 0);
  const uint8_t h5 = in.byte();
  h.n_masks = h5 % 6;
  h.n_constants = (h5 >> 3) % 4;
  h.budget = (h5 >> 5) % 4;

  std::vector<int64_t> masks(static_cast<size_t>(h.n_masks));
  for (int64_t& m : masks) m = in.word();
  std::vector<int64_t> words(static_cast<size_t>(h.n_words));
  for (int64_t& w : words) w = in.word();

  ProgramLimits limits;
  limits.n_input_columns = h.n_columns;
  limits.n_weights = h.n_weights;
  limits.n_constants = h.n_constants;
  limits.max_qubits = kMaxQubits;
  limits.allow_channels = h.allow_channels;
  Program program;
  try {
    program = parse_program(words.data(), h.n_words, h.n_qubits, limits);
    if (!h.probs) validate_z_masks(masks.data(), h.n_masks, program.n_qubits);
  } catch (const std::invalid_argument&) {
    return 0;  // refused, as it should be
  }
  if (program.n_qubits < 1 || program.n_qubits > kMaxQubits ||
      static_cast<int64_t>(program.operations.size()) * kOperationWidth != h.n_words) {
    fail("parse_program accepted a program outside its limits", program.n_qubits, 0);
  }
  if (h.use_float) {
    run<float>(h, program, masks, in);
  } else {
    run<double>(h, program, masks, in);
  }
  return 0;
}
