// The statevector kernels of one instruction set, as plain function pointers.
#pragma once

#include <string>
#include <vector>

#include "channels.h"
#include "chunk_task.h"
#include "compiled_circuit.h"
#include "gate_types.h"

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

// The density-matrix kernels of one instruction set (density_kernels.h): each is
// one pass over one sample's rho, or a trace of Lambda against it.
template <class Real>
struct DensityKernelSet {
  void (*conjugate_one_qubit)(Real* rho, int n, int bit, const Matrix2<Real>& u);
  void (*apply_superoperator)(Real* rho, int n, int bit, const Superoperator<Real>& s);
  void (*apply_fixed_two_qubit)(Real* rho, int n, SegmentKind kind, int bit0, int bit1);
  void (*rotate_string)(Real* rho, int n, PauliString pauli, int bit0, int bit1, Real c, Real s);
  double (*generator_trace)(const Real* lambda, const Real* rho, int n, int bit,
                            const Matrix2<Real>& g);
  double (*string_trace)(const Real* lambda, const Real* rho, int n, PauliString pauli, int bit0,
                         int bit1);
  double (*superoperator_trace)(const Real* lambda, const Real* rho, int n, int bit,
                                const Superoperator<Real>& s);
};

struct IsaKernels {
  const char* name;
  // "blocked": samples in SIMD lanes, for states that fit in cache;
  // "single": one sample at a time, for large states.
  KernelSet<float> float_blocked, float_single;
  KernelSet<double> double_blocked, double_single;
  DensityKernelSet<float> density_float;
  DensityKernelSet<double> density_double;

  template <class Real>
  const DensityKernelSet<Real>& density() const {
    if constexpr (sizeof(Real) == sizeof(float)) {
      return density_float;
    } else {
      return density_double;
    }
  }
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
