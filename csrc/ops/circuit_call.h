// Validation shared by the CPU and Meta kernels of the circuit operators:
// every check that does not need tensor data, with errors that name the
// argument and what was expected.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/SymInt.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Optional.h>

#include <string>

#include "qmoe/core/engine/circuit_engine.h"
#include "qmoe/core/program/program.h"

namespace qmoe::ops {

struct CircuitCall {
  core::Program program;
  c10::SymInt batch;  // symbolic while torch.compile traces with dynamic shapes
  int64_t output_width = 0;
  bool probs = false;
  bool initial_state_is_complex = false;
  // The engine that simulates it: the density matrix when the program holds channels.
  core::EngineKind engine = core::EngineKind::kStatevector;
};

// Checks ranks, shapes, dtypes and devices of the tensors, parses the program
// and the readout, and checks a density matrix fits in memory; throws c10::Error
// (ValueError/TypeError in Python).
CircuitCall describe_call(const char* op_name, const at::Tensor& inputs, const at::Tensor& weights,
                          const std::optional<at::Tensor>& initial_state, c10::IntArrayRef program,
                          c10::ArrayRef<double> constants, int64_t n_qubits,
                          c10::IntArrayRef z_masks, bool probs, const std::string& diff_method);

// keep_state keeps statevectors: refused for an engine that has none.
void check_keep_state(const char* op_name, const CircuitCall& call, bool keep_state);

// grad_out of circuit_backward: the dtype of inputs, [batch, output_width].
void check_grad_out(const char* op_name, const CircuitCall& call, const at::Tensor& inputs,
                    const at::Tensor& grad_out);

// A forward's kept final states, checked and contiguous; undefined when not
// given (or empty).
at::Tensor check_final_state(const char* op_name, const CircuitCall& call,
                             const std::optional<at::Tensor>& final_state,
                             const at::Tensor& inputs);

}  // namespace qmoe::ops
