#include "qmoe/core/cpu/statevector/statevector_engine.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "qmoe/core/cpu/product_state/product_state_workspace.h"
#include "qmoe/core/program/readout.h"

namespace qmoe::core {
namespace {

// States up to this size run with samples in SIMD lanes: past the caches too,
// 16-wide arithmetic beats one sample at a time by 6-9x (measured at 11-16
// qubits), for 2 x 8 MB per thread at 16 qubits in float32. Larger states run
// one sample at a time, each pass split across threads (amplitude_parts.h).
constexpr int kMaxBlockedQubits = 16;

template <class Real>
KernelSet<Real> pick_kernel_set(const IsaKernels& kernels, bool blocked) {
  if constexpr (std::is_same_v<Real, float>) {
    return blocked ? kernels.float_blocked : kernels.float_single;
  } else {
    return blocked ? kernels.double_blocked : kernels.double_single;
  }
}

// About 2**12 amplitude-samples per chunk: enough work to be worth a thread,
// small enough that large batches split over many threads.
int64_t chunk_size_for(int n_qubits, int lanes) {
  const int64_t blocks = std::max<int64_t>(1, (int64_t{1} << 12) >> n_qubits);
  return blocks * lanes;
}

}  // namespace

template <class Real>
StatevectorSimulator<Real>::StatevectorSimulator(const Program& program, const Real* weights,
                                                 int64_t n_weights, const double* constants,
                                                 const int64_t* z_masks, int64_t n_masks,
                                                 bool probs, const IsaKernels& kernels)
    : n_qubits_(program.n_qubits),
      n_weights_(n_weights),
      probs_(probs),
      program_(program),
      weights_(weights, weights + n_weights),
      kernels_(pick_kernel_set<Real>(kernels, program.n_qubits <= kMaxBlockedQubits)),
      single_kernels_(pick_kernel_set<Real>(kernels, false)),
      exact_(lower_program_weights(program, weights, constants)),
      chunk_size_(chunk_size_for(program.n_qubits, kernels_.lanes)) {
  int64_t n_constants = 0;
  for (const Operation& op : program.operations) {
    if (op.source == ParamSource::kConstant) n_constants = std::max(n_constants, op.index + 1);
  }
  constants_.assign(constants, constants + n_constants);
  if (!probs) index_masks_ = index_masks_from_wires(z_masks, n_masks, n_qubits_);
}

template <class Real>
const KernelSet<Real>& StatevectorSimulator<Real>::kernels_for(int64_t batch_size) const {
  // A batch smaller than a block would fill most lanes with padding.
  return batch_size < kernels_.lanes ? single_kernels_ : kernels_;
}

template <class Real>
bool StatevectorSimulator<Real>::use_product_state(const BatchView<Real>& batch) const {
  if (batch.initial_state != nullptr) return false;
  // The plan's per-call cost grows as 3**n weights x outputs x 4**n: at 3 qubits
  // it pays for itself only over large batches (measured crossover ~8k samples).
  if (n_qubits_ == 3 && batch.batch_size < 8192) return false;
  std::call_once(product_state_built_, [this] {
    product_state_ = plan_product_state<Real>(exact_, readout());
    if (product_state_) product_state_view_ = product_state_->view();
  });
  return product_state_ != nullptr;
}

template <class Real>
const CompiledCircuit<Real>& StatevectorSimulator<Real>::circuit() const {
  std::call_once(circuit_built_,
                 [this] { circuit_ = std::make_unique<CompiledCircuit<Real>>(exact_); });
  return *circuit_;
}

template <class Real>
int64_t StatevectorSimulator<Real>::workspace_length(bool product_path, int lanes) const {
  if (product_path) return product_state_workspace_size(product_state_view_, n_weights_, lanes);
  return workspace_layout(circuit().view(), readout(), n_weights_, lanes).total;
}

template <class Real>
ReadoutView StatevectorSimulator<Real>::readout() const {
  return {probs_, index_masks_.data(), static_cast<int64_t>(index_masks_.size())};
}

template <class Real>
ChunkTask<Real> StatevectorSimulator<Real>::make_task(const BatchView<Real>& batch, int64_t chunk,
                                                      bool product_path) const {
  ChunkTask<Real> task;
  if (!product_path) task.circuit = circuit().view();
  task.batch = batch;
  task.readout = readout();
  task.begin = chunk * chunk_size_;
  task.end = std::min(batch.batch_size, task.begin + chunk_size_);
  task.n_weights = n_weights_;
  task.product_state = &product_state_view_;
  return task;
}

template <class Real>
void StatevectorSimulator<Real>::forward(const BatchView<Real>& batch, int64_t chunk_begin,
                                         int64_t chunk_end, Real* out, Real* final_state) const {
  const bool product_path = final_state == nullptr && use_product_state(batch);
  const KernelSet<Real>& kernels = kernels_for(batch.batch_size);
  std::vector<Real> workspace(static_cast<size_t>(workspace_length(product_path, kernels.lanes)));
  const auto kernel = product_path ? kernels.product_state_forward : kernels.forward;
  for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
    ChunkTask<Real> task = make_task(batch, chunk, product_path);
    task.workspace = workspace.data();
    task.out = out;
    task.final_state = final_state;
    kernel(task);
  }
}

template <class Real>
void StatevectorSimulator<Real>::prepare_shifts() const {
  std::call_once(shifts_built_, [this] { build_shifts(); });
}

template <class Real>
void StatevectorSimulator<Real>::build_shifts() const {
  auto shifts = std::make_unique<Shifts>();
  shifts->targets = shift_targets(program_);
  for (const ShiftTarget& target : shifts->targets) {
    for (double offset : {kShiftAngle, -kShiftAngle}) {
      shifts->circuits.emplace_back(program_, weights_.data(), constants_.data(),
                                    AngleShift{target.operation, offset});
    }
  }
  for (const auto& circuit : shifts->circuits) shifts->views.push_back(circuit.view());
  shifts_ = std::move(shifts);
}

template <class Real>
void StatevectorSimulator<Real>::backward(DiffMethod method, const BatchView<Real>& batch,
                                          const Real* grad_out, int64_t chunk_begin,
                                          int64_t chunk_end, const Gradients& gradients,
                                          const Real* saved_state) const {
  const bool shift = method == DiffMethod::kParameterShift;
  if (shift) prepare_shifts();
  // Parameter shift runs the statevector kernels on shifted circuits.
  const bool product_path = !shift && saved_state == nullptr && use_product_state(batch);
  const KernelSet<Real>& kernels = kernels_for(batch.batch_size);
  std::vector<Real> workspace(static_cast<size_t>(workspace_length(product_path, kernels.lanes)));
  const auto adjoint = product_path ? kernels.product_state_adjoint : kernels.adjoint;
  for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
    ChunkTask<Real> task = make_task(batch, chunk, product_path);
    task.workspace = workspace.data();
    task.grad_out = grad_out;
    task.grad_inputs = gradients.inputs;
    task.grad_weights = gradients.weight_partials == nullptr
                            ? nullptr
                            : gradients.weight_partials + chunk * n_weights_;
    if (!shift) {
      task.grad_state = gradients.state;
      task.saved_state = saved_state;
      adjoint(task);
      continue;
    }
    task.shifted = shifts_->views.data();
    task.targets = shifts_->targets.data();
    task.n_targets = static_cast<int64_t>(shifts_->targets.size());
    kernels.parameter_shift(task);
    if (gradients.state != nullptr) {
      // Amplitudes have no shift rule: their gradient comes from one reverse sweep.
      ChunkTask<Real> state_task = make_task(batch, chunk, false);
      state_task.workspace = workspace.data();
      state_task.grad_out = grad_out;
      state_task.grad_state = gradients.state;
      kernels.adjoint(state_task);
    }
  }
}

template class StatevectorSimulator<float>;
template class StatevectorSimulator<double>;

}  // namespace qmoe::core
