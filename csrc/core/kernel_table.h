// The statevector kernels of one instruction set, as plain function pointers.
#pragma once

#include <string>
#include <vector>

#include "chunk_task.h"

namespace qmoe::core {

template <class Real>
struct KernelSet {
  int lanes;
  void (*forward)(const ChunkTask<Real>&);
  void (*adjoint)(const ChunkTask<Real>&);
  void (*parameter_shift)(const ChunkTask<Real>&);
  void (*product_state_forward)(const ChunkTask<Real>&);
  void (*product_state_adjoint)(const ChunkTask<Real>&);
};

struct IsaKernels {
  const char* name;
  // "blocked": samples in SIMD lanes, for states that fit in cache;
  // "single": one sample at a time, for large states.
  KernelSet<float> float_blocked, float_single;
  KernelSet<double> double_blocked, double_single;
};

// Defined in isa_<name>.cpp, each compiled with its own target flags.
const IsaKernels& baseline_kernels();
#if defined(__x86_64__)
const IsaKernels& avx2_kernels();
const IsaKernels& avx512_kernels();
#endif

// The kernels in use: at first the widest instruction set this CPU runs,
// unless the environment variable QMOE_ISA (baseline | avx2 | avx512) names one.
const IsaKernels& active_kernels();

// Switches every later call to the named instruction set ("" = the widest);
// throws std::invalid_argument for a name that is unknown or that the CPU lacks.
void select_kernels(const std::string& name);

// The instruction sets this CPU can run, narrowest first.
std::vector<const IsaKernels*> supported_kernels();

}  // namespace qmoe::core
