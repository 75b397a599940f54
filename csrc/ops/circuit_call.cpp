#include "circuit_call.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <stdexcept>

#include "core/density_matrix.h"
#include "core/statevector.h"

namespace qmoe::ops {

CircuitCall describe_call(const char* op_name, const at::Tensor& inputs, const at::Tensor& weights,
                          const std::optional<at::Tensor>& initial_state,
                          c10::IntArrayRef program, c10::ArrayRef<double> constants,
                          int64_t n_qubits, c10::IntArrayRef z_masks, bool probs,
                          const std::string& diff_method) {
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
    call.program = core::parse_program(program.data(), static_cast<int64_t>(program.size()),
                                       n_qubits, limits);
    if (!probs) {
      core::validate_z_masks(z_masks.data(), static_cast<int64_t>(z_masks.size()),
                             static_cast<int>(n_qubits));
    }
    for (const core::Operation& op : call.program.operations) {
      call.density_matrix = call.density_matrix || core::is_channel(op.opcode);
    }
    if (call.density_matrix) {
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
    TORCH_CHECK_VALUE(state.dim() == 2 && state.sym_size(0) == call.batch &&
                          state.sym_size(1) == dim,
                      op_name, ": initial_state must have shape [batch, 2**n_qubits] = [",
                      call.batch, ", ", dim, "], got ", state.sym_sizes());
    TORCH_CHECK_VALUE(state.device() == inputs.device(), op_name,
                      ": initial_state must be on the device of inputs (", inputs.device(),
                      "), got ", state.device());
    call.initial_state_is_complex = state.is_complex();
  }
  return call;
}

}  // namespace qmoe::ops
