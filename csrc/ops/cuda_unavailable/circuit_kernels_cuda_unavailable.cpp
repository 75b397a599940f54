// The CUDA entries of a build without CUDA kernels (no nvcc at build time, or a
// torch without CUDA): every circuit operator is registered for the CUDA key with a
// kernel that refuses, so a CUDA tensor gets an error saying what is missing and how
// to get it, instead of the dispatcher's list of the backends that exist.
// Linked in exactly when cuda/ops/circuit_kernels_cuda.cpp is not (CMakeLists.txt).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace qmoe::ops {
namespace {

void refuse_cuda(const c10::OperatorHandle& op, torch::jit::Stack* /*stack*/) {
  TORCH_CHECK_NOT_IMPLEMENTED(
      false, op.schema().name(),
      ": this qmoe build has no CUDA kernels (it was built without nvcc or against a "
      "torch without CUDA); move the tensors to the CPU, or rebuild qmoe with nvcc on "
      "the PATH against a CUDA build of torch (pip install --no-build-isolation -e .)");
}

}  // namespace

TORCH_LIBRARY_IMPL(qmoe, CUDA, m) {
  for (const char* name : {"expval", "probs", "circuit_forward", "circuit_backward"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&refuse_cuda>());
  }
}

}  // namespace qmoe::ops
