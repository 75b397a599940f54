// The CPU statevector engine (engine/circuit_engine.h): one compiled circuit,
// many samples, chunks of samples run by the instruction set's kernels
// (cpu/isa/kernel_table.h), with samples in SIMD lanes up to kMaxBlockedQubits.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "qmoe/core/cpu/isa/kernel_table.h"
#include "qmoe/core/cpu/statevector/chunk_task.h"
#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/engine/shift_targets.h"
#include "qmoe/core/program/compiled_circuit.h"
#include "qmoe/core/program/product_state_plan.h"
#include "qmoe/core/program/program.h"

namespace qmoe::core {

template <class Real>
class StatevectorSimulator final : public CircuitEngine<Real> {
 public:
  // z_masks are over wires (bit w = wire w); ignored when probs is true.
  StatevectorSimulator(const Program& program, const Real* weights, int64_t n_weights,
                       const double* constants, const int64_t* z_masks, int64_t n_masks, bool probs,
                       const IsaKernels& kernels = active_kernels());

  int n_qubits() const override { return n_qubits_; }
  int64_t n_weights() const override { return n_weights_; }
  int64_t output_width() const override { return readout_width(readout(), n_qubits_); }
  int lanes() const { return kernels_.lanes; }  // of a batch of at least that many samples
  int64_t chunk_size() const override { return chunk_size_; }
  bool keeps_final_states() const override { return true; }

  // Each runs chunks [chunk_begin, chunk_end) of the batch. With `final_state`
  // ([batch, 2**n, 2]) the forward also writes each sample's final state, which
  // the adjoint method then takes instead of running the circuit again (it runs
  // the state simulation even where the product-state path would not).
  void forward(const BatchView<Real>& batch, int64_t chunk_begin, int64_t chunk_end, Real* out,
               Real* final_state = nullptr) const override;

  using Gradients = ChunkGradients<Real>;
  // `saved_state`: final states from forward(), or null; used by the adjoint method.
  void backward(DiffMethod method, const BatchView<Real>& batch, const Real* grad_out,
                int64_t chunk_begin, int64_t chunk_end, const Gradients& gradients,
                const Real* saved_state = nullptr) const override;

 private:
  ReadoutView readout() const;
  ChunkTask<Real> make_task(const BatchView<Real>& batch, int64_t chunk, bool product_path) const;
  bool use_product_state(const BatchView<Real>& batch) const;
  int64_t workspace_length(bool product_path, int lanes) const;
  const KernelSet<Real>& kernels_for(int64_t batch_size) const;
  const CompiledCircuit<Real>& circuit() const;
  void prepare_shifts() const;
  void build_shifts() const;

  int n_qubits_;
  int64_t n_weights_;
  bool probs_;
  std::vector<int64_t> index_masks_;
  Program program_;
  std::vector<Real> weights_;
  std::vector<double> constants_;
  KernelSet<Real> kernels_;
  KernelSet<Real> single_kernels_;
  ExactCircuit exact_;
  // Built on first use: circuits with a product-state plan may never need it.
  mutable std::unique_ptr<CompiledCircuit<Real>> circuit_;
  mutable std::once_flag circuit_built_;
  int64_t chunk_size_;
  // Built on first use by a batch that pays for it; null: not that shape.
  mutable std::unique_ptr<ProductStatePlan<Real>> product_state_;
  mutable ProductStateView<Real> product_state_view_{};
  mutable std::once_flag product_state_built_;

  // Parameter-shift circuits, built once on first use; chunks may run in parallel
  // from the start, so the first use is guarded.
  struct Shifts {
    std::vector<CompiledCircuit<Real>> circuits;
    std::vector<CircuitView<Real>> views;
    std::vector<ShiftTarget> targets;  // shifted circuits 2 t and 2 t + 1 move targets[t]
  };
  mutable std::unique_ptr<Shifts> shifts_;
  mutable std::once_flag shifts_built_;
};

extern template class StatevectorSimulator<float>;
extern template class StatevectorSimulator<double>;

}  // namespace qmoe::core
