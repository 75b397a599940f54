// The density-matrix engine: programs with noise channels, on 2**n x 2**n
// density matrices; up to kBlockMaxQubits qubits a block of samples (a cache
// line of Real) runs at once, each sample in a lane of every pass
// (density_layout.h), above it one sample at a time. It runs the statevector engine's
// lowering (one-qubit runs fused per wire, generators transported for the
// adjoint) with channels as segments of their own, and gives the same
// diagonal readouts. Gradients:
//   - adjoint: one reverse sweep over rho and Lambda (the observable carried
//     back through the adjoint channels). Unitaries are undone exactly; a
//     channel cannot be, so the sweep restores rho before each channel from a
//     checkpoint kept by the forward, or replays from an earlier one when the
//     checkpoints would not fit the budget. Differentiates rotation angles,
//     channel probabilities and the initial state.
//   - parameter shift: two shifted runs per rotation (exact: the channels do
//     not depend on the angles); channel probabilities cannot be shifted.
// Chunks of samples and weight partials per chunk work as in the statevector
// engine, so results do not depend on the thread count; a sample's results do
// not depend on the other samples of its block.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "qmoe/core/cpu/density/density_layout.h"
#include "qmoe/core/cpu/isa/kernel_table.h"
#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/program/compiled_circuit.h"
#include "qmoe/core/program/program.h"

namespace qmoe::core {

// Memory one worker of the engine holds for a density matrix of n qubits in
// `copies` copies; throws std::invalid_argument when `workers` of them would not
// fit in half of this machine's memory, naming the qubit count and the bytes.
void check_density_matrix_fits(int n_qubits, int64_t real_size, int64_t workers);

template <class Real>
class DensityMatrixSimulator final : public CircuitEngine<Real> {
 public:
  // Checkpoints of rho one worker may keep for the adjoint sweep; beyond it the
  // sweep keeps fewer and replays from them (none: from the initial state).
  static constexpr int64_t kCheckpointBudgetBytes = int64_t{256} << 20;
  // Blocks of samples up to this many qubits (a block's rho: 4**n lines of 64 bytes).
  static constexpr int kBlockMaxQubits = 6;

  // z_masks are over wires (bit w = wire w); ignored when probs is true. Throws
  // std::invalid_argument for a shared channel probability outside [0, 1].
  DensityMatrixSimulator(const Program& program, const Real* weights, int64_t n_weights,
                         const double* constants, const int64_t* z_masks, int64_t n_masks,
                         bool probs, int64_t checkpoint_budget_bytes = kCheckpointBudgetBytes,
                         const IsaKernels& kernels = active_kernels());

  int n_qubits() const override { return n_qubits_; }
  int64_t n_weights() const override { return n_weights_; }
  int64_t output_width() const override { return probs_ ? int64_t{1} << n_qubits_ : n_masks(); }
  int64_t chunk_size() const override { return chunk_size_; }

  // Throws std::invalid_argument naming the operation and sample whose channel
  // probability (read from inputs) is outside [0, 1].
  void check_batch(const BatchView<Real>& batch) const override;

  // Keeps no final states: `final_state` must be null.
  void forward(const BatchView<Real>& batch, int64_t chunk_begin, int64_t chunk_end, Real* out,
               Real* final_state = nullptr) const override;

  using Gradients = ChunkGradients<Real>;
  // Throws std::invalid_argument when parameter shift is asked for the gradient
  // of a channel probability (read from inputs or weights).
  void check_gradients(DiffMethod method, bool inputs, bool weights) const override;

  // Expects check_gradients to have passed; `saved_state` must be null.
  void backward(DiffMethod method, const BatchView<Real>& batch, const Real* grad_out,
                int64_t chunk_begin, int64_t chunk_end, const Gradients& gradients,
                const Real* saved_state = nullptr) const override;

 private:
  struct Circuit {
    std::vector<Segment<Real>> segments;
    std::vector<GradientTerm<Real>> terms;
  };
  // A rotation the parameter-shift rule moves (engine/shift_targets.h), with its
  // two shifted circuits.
  struct ShiftedCircuits {
    ParamSource source;
    int64_t index;
    Circuit plus, minus;
  };

  // The samples first .. first + used - 1 of a batch, one per lane of a block
  // (density_layout.h); the lanes from `used` on repeat the last sample and their
  // results are dropped.
  struct Block {
    int64_t first;
    int64_t used;
  };

  int64_t n_masks() const { return static_cast<int64_t>(index_masks_.size()); }
  // Reals of one block's rho (both planes).
  int64_t block_length() const { return 2 * layout_.count(); }
  int64_t lanes() const { return layout_.lanes(); }
  int64_t sample_of(const Block& block, int64_t lane) const {
    return block.first + std::min(lane, block.used - 1);
  }
  Circuit lower(AngleShift shift) const;
  void prepare(const BatchView<Real>& batch, const Block& block, Real* rho) const;
  void apply(const Circuit& circuit, size_t segment, const BatchView<Real>& batch,
             const Block& block, Real* rho, bool inverse) const;
  void run(const Circuit& circuit, size_t begin, size_t end, const BatchView<Real>& batch,
           const Block& block, Real* rho) const;
  // Rows of the block's samples, output_width() apart.
  void read_out(const Real* rho, const Block& block, Real* out_rows) const;
  void seed_lambda(const Real* grad_rows, const Block& block, Real* lambda) const;
  void adjoint_block(const BatchView<Real>& batch, const Block& block, const Real* grad_rows,
                     bool want_angles, Real* workspace, const Gradients& gradients,
                     Real* weight_partial) const;
  void shift_block(const BatchView<Real>& batch, const Block& block, const Real* grad_rows,
                   const Gradients& gradients, Real* weight_partial, Real* rho,
                   Real* readout) const;
  Real channel_probability(const Segment<Real>& segment, const BatchView<Real>& batch,
                           int64_t sample) const;
  const std::vector<ShiftedCircuits>& shifted_circuits() const;

  int n_qubits_;
  DensityLayout layout_;
  int64_t n_weights_;
  bool probs_;
  const DensityKernelSet<Real>& kernels_;
  std::vector<int64_t> index_masks_;
  Program program_;
  std::vector<double> weights_;
  std::vector<double> constants_;
  Circuit circuit_;
  std::vector<size_t> channel_segments_;  // positions of the channels in circuit_
  int64_t chunk_size_;
  int64_t checkpoint_stride_;  // every stride-th channel keeps the state before it
  mutable std::vector<ShiftedCircuits> shifted_circuits_;
  mutable std::once_flag shifted_circuits_built_;
};

extern template class DensityMatrixSimulator<float>;
extern template class DensityMatrixSimulator<double>;

}  // namespace qmoe::core
