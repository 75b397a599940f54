#include "qmoe/ops/circuit_call.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <stdexcept>

#include "qmoe/core/cpu/density/density_matrix_engine.h"
#include "qmoe/core/engine/circuit_engine.h"

namespace qmoe::ops {

CircuitCall describe_call(const char* op_name, const at::Tensor& inputs, const at::Tensor& weights,
                          const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                          c10::ArrayRef<double> constants, int64_t n_qubits,
                          c10::IntArrayRef z_masks, bool probs, const std::string& diff_method) {
  TORCH_CHECK_TYPE(inputs.scalar_type() == at::kFloat || inputs.scalar_type() == at::kDouble,
                   op_name, ": inputs must be float32 or float64, got ", inputs.scalar_type());
  TORCH_CHECK_VALUE(inputs.dim() == 2, op_name,
                    ": inputs must be 2-D [batch, n_input_columns], got shape ", inputs.sizes());
  TORCH_CHECK_TYPE(weights.scalar_type() == inputs.scalar_type(), op_name,
                   ": weights must have the dtype of inputs (", inputs.scalar_type(), "), got ",
                   weights.scalar_type());
  TORCH_CHECK_VALUE(weights.dim() == 1, op_name, ": weights must be 1-D [n_weights], got shape ",
                    weights.sym_sizes());
  TORCH_CHECK_VALUE(weights.device() == inputs.device(), op_name,
                    ": weights must be on the device of inputs (", inputs.device(), "), got ",
                    weights.device());
  try {
    core::parse_diff_method(diff_method);
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
  }

  CircuitCall call;
  call.batch = inputs.sym_size(0);
  call.probs = probs;
  core::ProgramLimits limits;
  limits.n_input_columns = inputs.sym_size(1).guard_int(__FILE__, __LINE__);
  limits.n_weights = weights.sym_size(0).guard_int(__FILE__, __LINE__);
  limits.n_constants = static_cast<int64_t>(constants.size());
  limits.allow_channels = true;
  try {
    call.program =
        core::parse_program(program.data(), static_cast<int64_t>(program.size()), n_qubits, limits);
    if (!probs) {
      core::validate_z_masks(z_masks.data(), static_cast<int64_t>(z_masks.size()),
                             static_cast<int>(n_qubits));
    }
    call.engine = core::engine_kind_for(call.program);
    if (call.engine == core::EngineKind::kDensityMatrix) {
      core::check_density_matrix_fits(static_cast<int>(n_qubits),
                                      static_cast<int64_t>(inputs.element_size()),
                                      at::get_num_threads());
    }
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, op_name, ": ", error.what());
  }
  const int64_t dim = int64_t{1} << n_qubits;
  call.output_width = probs ? dim : static_cast<int64_t>(z_masks.size());

  if (initial_state.has_value()) {
    const at::Tensor& state = *initial_state;
    const auto real_type = inputs.scalar_type();
    const auto complex_type = real_type == at::kFloat ? at::kComplexFloat : at::kComplexDouble;
    TORCH_CHECK_TYPE(state.scalar_type() == real_type || state.scalar_type() == complex_type,
                     op_name, ": initial_state must be ", real_type, " or ", complex_type,
                     " (the precision of inputs), got ", state.scalar_type());
    TORCH_CHECK_VALUE(
        state.dim() == 2 && state.sym_size(0) == call.batch && state.sym_size(1) == dim, op_name,
        ": initial_state must have shape [batch, 2**n_qubits] = [", call.batch, ", ", dim,
        "], got ", state.sym_sizes());
    TORCH_CHECK_VALUE(state.device() == inputs.device(), op_name,
                      ": initial_state must be on the device of inputs (", inputs.device(),
                      "), got ", state.device());
    call.initial_state_is_complex = state.is_complex();
  }
  return call;
}

void check_keep_state(const char* op_name, const CircuitCall& call, bool keep_state) {
  TORCH_CHECK_VALUE(!(keep_state && call.engine == core::EngineKind::kDensityMatrix), op_name,
                    ": keep_state keeps statevectors; a program with noise channels runs on the "
                    "density-matrix engine, which keeps none");
}

void check_grad_out(const char* op_name, const CircuitCall& call, const at::Tensor& inputs,
                    const at::Tensor& grad_out) {
  const int64_t batch_size = call.batch.expect_int();
  TORCH_CHECK_VALUE(grad_out.scalar_type() == inputs.scalar_type() && grad_out.dim() == 2 &&
                        grad_out.size(0) == batch_size && grad_out.size(1) == call.output_width,
                    op_name, ": grad_out must be ", inputs.scalar_type(), " [", batch_size, ", ",
                    call.output_width, "], got ", grad_out.scalar_type(), " ", grad_out.sizes());
}

at::Tensor check_final_state(const char* op_name, const CircuitCall& call,
                             const std::optional<at::Tensor>& final_state,
                             const at::Tensor& inputs) {
  if (!final_state.has_value() || final_state->numel() == 0) return at::Tensor();
  const int64_t batch_size = call.batch.expect_int();
  const int64_t dim = int64_t{1} << call.program.n_qubits;
  TORCH_CHECK_VALUE(final_state->scalar_type() == inputs.scalar_type() && final_state->dim() == 3 &&
                        final_state->size(0) == batch_size && final_state->size(1) == dim &&
                        final_state->size(2) == 2,
                    op_name, ": final_state must be ", inputs.scalar_type(), " [", batch_size, ", ",
                    dim, ", 2] (from qmoe.circuit_forward with keep_state), got ",
                    final_state->scalar_type(), " ", final_state->sizes());
  TORCH_CHECK_VALUE(call.engine == core::EngineKind::kStatevector, op_name,
                    ": final_state holds statevectors; a program with noise channels runs on the "
                    "density-matrix engine, which takes none");
  return final_state->contiguous();
}

}  // namespace qmoe::ops
