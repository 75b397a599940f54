// The interface every engine implements (statevector and density matrix, on the
// CPU today): one lowered program, many samples, split into chunks of a fixed
// size. The chunk size depends only on the circuit, never on the thread count,
// and each chunk writes its own partial sum of the weight gradient, so reducing
// the partials in chunk order (batch_driver.h) gives bitwise the same result on
// 1 or N threads. Callers run chunks in parallel; every method is const and
// thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "qmoe/core/program/program.h"

namespace qmoe::core {

// Which engine simulates a program: a noise channel needs the density matrix.
enum class EngineKind { kStatevector, kDensityMatrix };

EngineKind engine_kind_for(const Program& program);
const char* engine_kind_name(EngineKind kind);

enum class DiffMethod { kAdjoint, kParameterShift };

// Throws std::invalid_argument naming the accepted methods.
DiffMethod parse_diff_method(const std::string& name);

// The per-sample tensors of one call.
template <class Real>
struct BatchView {
  int64_t batch_size = 0;
  const Real* inputs = nullptr;  // [batch, n_input_columns], row-major
  int64_t n_input_columns = 0;
  const Real* initial_state = nullptr;  // [batch, 2**n] real, or complex interleaved; null: |0..0>
  bool initial_state_is_complex = false;
};

// Where a backward over some chunks writes.
template <class Real>
struct ChunkGradients {
  Real* inputs = nullptr;           // [batch, n_input_columns], zeroed by the caller, or null
  Real* weight_partials = nullptr;  // [n_chunks, n_weights], zeroed by the caller, or null
  Real* state = nullptr;            // like the initial state, or null
};

template <class Real>
class CircuitEngine {
 public:
  virtual ~CircuitEngine() = default;

  virtual int n_qubits() const = 0;
  virtual int64_t n_weights() const = 0;
  virtual int64_t output_width() const = 0;
  virtual int64_t chunk_size() const = 0;
  int64_t n_chunks(int64_t batch_size) const {
    return (batch_size + chunk_size() - 1) / chunk_size();
  }

  // Whether forward() can write each sample's final statevector for backward() to take.
  virtual bool keeps_final_states() const { return false; }

  // Checks that need the batch's data (std::invalid_argument naming what is wrong).
  virtual void check_batch(const BatchView<Real>& /*batch*/) const {}
  // Checks that `method` can give the gradients asked for (std::invalid_argument).
  virtual void check_gradients(DiffMethod /*method*/, bool /*inputs*/, bool /*weights*/) const {}

  // Chunks [chunk_begin, chunk_end): out [batch, output_width]; with `final_state`
  // ([batch, 2**n, 2], only where keeps_final_states()) each sample's final state.
  virtual void forward(const BatchView<Real>& batch, int64_t chunk_begin, int64_t chunk_end,
                       Real* out, Real* final_state = nullptr) const = 0;

  // One vector-Jacobian product for chunks [chunk_begin, chunk_end). `saved_state`:
  // final states from forward(), or null.
  virtual void backward(DiffMethod method, const BatchView<Real>& batch, const Real* grad_out,
                        int64_t chunk_begin, int64_t chunk_end,
                        const ChunkGradients<Real>& gradients,
                        const Real* saved_state = nullptr) const = 0;
};

}  // namespace qmoe::core
