// The schemas of the qmoe operators: the one place they are written. Each
// backend registers its kernels for them in its own folder (cpu/, meta/,
// autograd/; cuda/ops/ for CUDA).
#include <torch/library.h>

#include "qmoe/ops/cpu/isa_controls.h"

namespace qmoe::ops {

TORCH_LIBRARY(qmoe, m) {
  m.def(
      "expval(Tensor inputs, Tensor weights, Tensor? initial_state, int[] program, "
      "float[] constants, int n_qubits, int[] z_masks, str diff_method=\"adjoint\") -> Tensor");
  m.def(
      "probs(Tensor inputs, Tensor weights, Tensor? initial_state, int[] program, "
      "float[] constants, int n_qubits, str diff_method=\"adjoint\") -> Tensor");
  // The pair autograd uses: the forward may keep each sample's final state
  // ([batch, 2**n, 2]), which the adjoint backward then takes instead of running
  // the circuit again.
  m.def(
      "circuit_forward(Tensor inputs, Tensor weights, Tensor? initial_state, int[] program, "
      "float[] constants, int n_qubits, int[] z_masks, bool probs, str diff_method, "
      "bool keep_state) -> (Tensor, Tensor)");
  m.def(
      "circuit_backward(Tensor grad_out, Tensor inputs, Tensor weights, Tensor? initial_state, "
      "int[] program, float[] constants, int n_qubits, int[] z_masks, bool probs, "
      "str diff_method, bool[3] output_mask, Tensor? final_state=None) -> (Tensor, Tensor, "
      "Tensor)");
  // Top-k routing over a gate's logits [tokens, n_experts]: (probs over every expert,
  // the k combine weights, the k experts). softmax_before: the top k of the
  // probabilities, renormalised if asked (Mixtral, Switch); else softmax over the top
  // k logits (GShard). Made of ATen calls (composite/top_k_routing.cpp).
  m.def(
      "top_k_routing(Tensor logits, int k, bool softmax_before=True, bool renormalize=True) -> "
      "(Tensor probs, Tensor weights, Tensor indices)");
  // The CPU backend's instruction-set controls (cpu/isa_controls.h).
  m.def("active_isa() -> str", &active_isa);
  m.def("set_isa(str name) -> ()", &set_isa);
  m.def("supported_isas() -> str[]", &supported_isas);
}

}  // namespace qmoe::ops
