// The __global__ wrappers of the block-per-sample statevector bodies
// (statevector_block_sample.cuh), one per direction and precision, and their
// launchers (statevector_block_kernels.h). A wrapper only takes this_block()
// (block_group.h); everything else is the body the host emulation tests.
#include <stdexcept>
#include <string>

#include "qmoe/cuda/kernels/block_group.h"
#include "qmoe/cuda/kernels/statevector_block_kernels.h"
#include "qmoe/cuda/kernels/statevector_block_sample.cuh"

namespace qmoe::cuda {
namespace {

// __grid_constant__: the program and the layout are read in place from the parameter
// bank (as in statevector_kernels.cu), never copied per thread.
template <class Real>
__global__ void __launch_bounds__(kMaxBlockThreads)
    statevector_block_forward_kernel(const __grid_constant__ BlockLayout layout,
                                     unsigned char* workspace,
                                     const __grid_constant__ DeviceProgram program,
                                     const __grid_constant__ DeviceReadout readout,
                                     const __grid_constant__ StatevectorForwardArgs<Real> args) {
  statevector_forward_block<Real>(this_block(), layout, workspace, program, readout, args);
}

template <class Real>
__global__ void __launch_bounds__(kMaxBlockThreads)
    statevector_block_adjoint_kernel(const __grid_constant__ BlockLayout layout,
                                     unsigned char* workspace,
                                     const __grid_constant__ DeviceProgram program,
                                     const __grid_constant__ DeviceReadout readout,
                                     const __grid_constant__ StatevectorAdjointArgs<Real> args) {
  statevector_adjoint_block<Real>(this_block(), layout, workspace, program, readout, args);
}

template <class Real>
__global__ void __launch_bounds__(kMaxBlockThreads) statevector_block_parameter_shift_kernel(
    const __grid_constant__ BlockLayout layout, unsigned char* workspace,
    const __grid_constant__ DeviceProgram program, const __grid_constant__ DeviceReadout readout,
    const __grid_constant__ StatevectorAdjointArgs<Real> args) {
  statevector_parameter_shift_block<Real>(this_block(), layout, workspace, program, readout, args);
}

// The checks every launcher makes before it enqueues: the layout is this program's,
// its blocks fit a launch, and the workspace is there when the layout uses one.
void check_launch_layout(const BlockLayout& layout, const unsigned char* workspace,
                         const DeviceProgram& program, int n_states) {
  const std::string where = "CUDA block-per-sample statevector kernels: ";
  if (layout.n_qubits != program.n_qubits) {
    throw std::invalid_argument(where + "the layout is for n_qubits " +
                                std::to_string(layout.n_qubits) + ", the program has " +
                                std::to_string(program.n_qubits));
  }
  if (layout.n_states < n_states) {
    throw std::invalid_argument(where + "the layout holds " + std::to_string(layout.n_states) +
                                " state(s) per sample, this direction needs " +
                                std::to_string(n_states));
  }
  if (layout.grid_dim < 1 || layout.grid_dim > INT32_MAX || layout.block_dim > kMaxBlockThreads) {
    throw std::invalid_argument(where + "grid of " + std::to_string(layout.grid_dim) +
                                " blocks of " + std::to_string(layout.block_dim) +
                                " threads is no launch");
  }
  if (layout.slot_bytes > 0 && workspace == nullptr) {
    throw std::invalid_argument(where + "the layout needs " +
                                std::to_string(block_workspace_bytes(layout)) +
                                " bytes of workspace, none given");
  }
}

// Lets the kernel take more than the default 48 KB of dynamic shared memory.
template <class Kernel>
cudaError_t allow_shared_memory(Kernel kernel, const BlockLayout& layout) {
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(layout.shared_bytes));
}

template <class Kernel, class Args>
cudaError_t launch_block_kernel(Kernel kernel, const BlockLayout& layout, unsigned char* workspace,
                                const DeviceProgram& program, const DeviceReadout& readout,
                                const Args& args, cudaStream_t stream) {
  if (args.batch.batch_size == 0) return cudaSuccess;  // a grid of 0 blocks is a launch error
  const cudaError_t status = allow_shared_memory(kernel, layout);
  if (status != cudaSuccess) return status;
  kernel<<<static_cast<unsigned int>(layout.grid_dim), static_cast<unsigned int>(layout.block_dim),
           static_cast<size_t>(layout.shared_bytes), stream>>>(layout, workspace, program, readout,
                                                               args);
  return cudaGetLastError();
}

}  // namespace

template <class Real>
cudaError_t plan_statevector_block_launch(int n_qubits, bool backward, int64_t batch_size,
                                          BlockLayout* layout) {
  int device = 0, shared_optin = 0, multiprocessors = 0;
  cudaError_t status = cudaGetDevice(&device);
  if (status == cudaSuccess) {
    status = cudaDeviceGetAttribute(&shared_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  }
  if (status == cudaSuccess) {
    status = cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device);
  }
  if (status != cudaSuccess) return status;
  const int n_states = backward ? kBackwardStates : kForwardStates;
  // The shared-memory size first (it decides how many states stay there), then the
  // occupancy of the kernel with that much shared memory.
  BlockDeviceLimits limits{shared_optin, multiprocessors};
  BlockLayout planned = make_block_layout(n_qubits, sizeof(Real), n_states, batch_size, limits);
  int per_multiprocessor = 0;
  if (backward) {
    status = allow_shared_memory(statevector_block_adjoint_kernel<Real>, planned);
    if (status == cudaSuccess) {
      status = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &per_multiprocessor, statevector_block_adjoint_kernel<Real>, planned.block_dim,
          static_cast<size_t>(planned.shared_bytes));
    }
  } else {
    status = allow_shared_memory(statevector_block_forward_kernel<Real>, planned);
    if (status == cudaSuccess) {
      status = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &per_multiprocessor, statevector_block_forward_kernel<Real>, planned.block_dim,
          static_cast<size_t>(planned.shared_bytes));
    }
  }
  if (status != cudaSuccess) return status;
  limits.max_resident_blocks =
      int64_t{multiprocessors} * (per_multiprocessor > 0 ? per_multiprocessor : 1);
  *layout = make_block_layout(n_qubits, sizeof(Real), n_states, batch_size, limits);
  return cudaSuccess;
}

template <class Real>
cudaError_t launch_statevector_block_forward(const BlockLayout& layout, unsigned char* workspace,
                                             const DeviceProgram& program,
                                             const DeviceReadout& readout,
                                             const StatevectorForwardArgs<Real>& args,
                                             cudaStream_t stream) {
  check_launch_layout(layout, workspace, program, kForwardStates);
  return launch_block_kernel(statevector_block_forward_kernel<Real>, layout, workspace, program,
                             readout, args, stream);
}

template <class Real>
cudaError_t launch_statevector_block_adjoint(const BlockLayout& layout, unsigned char* workspace,
                                             const DeviceProgram& program,
                                             const DeviceReadout& readout,
                                             const StatevectorAdjointArgs<Real>& args,
                                             cudaStream_t stream) {
  check_launch_layout(layout, workspace, program, kBackwardStates);
  return launch_block_kernel(statevector_block_adjoint_kernel<Real>, layout, workspace, program,
                             readout, args, stream);
}

template <class Real>
cudaError_t launch_statevector_block_parameter_shift(
    const BlockLayout& layout, unsigned char* workspace, const DeviceProgram& program,
    const DeviceReadout& readout, const StatevectorAdjointArgs<Real>& args, cudaStream_t stream) {
  check_launch_layout(layout, workspace, program, kBackwardStates);
  return launch_block_kernel(statevector_block_parameter_shift_kernel<Real>, layout, workspace,
                             program, readout, args, stream);
}

#define QMOE_INSTANTIATE_BLOCK_LAUNCHERS(Real)                                                \
  template cudaError_t plan_statevector_block_launch<Real>(int, bool, int64_t, BlockLayout*); \
  template cudaError_t launch_statevector_block_forward<Real>(                                \
      const BlockLayout&, unsigned char*, const DeviceProgram&, const DeviceReadout&,         \
      const StatevectorForwardArgs<Real>&, cudaStream_t);                                     \
  template cudaError_t launch_statevector_block_adjoint<Real>(                                \
      const BlockLayout&, unsigned char*, const DeviceProgram&, const DeviceReadout&,         \
      const StatevectorAdjointArgs<Real>&, cudaStream_t);                                     \
  template cudaError_t launch_statevector_block_parameter_shift<Real>(                        \
      const BlockLayout&, unsigned char*, const DeviceProgram&, const DeviceReadout&,         \
      const StatevectorAdjointArgs<Real>&, cudaStream_t);
QMOE_INSTANTIATE_BLOCK_LAUNCHERS(float)
QMOE_INSTANTIATE_BLOCK_LAUNCHERS(double)
#undef QMOE_INSTANTIATE_BLOCK_LAUNCHERS

}  // namespace qmoe::cuda
