// The statevector kernels of one instruction set, as plain function pointers.
#pragma once

#include <string>
#include <vector>

#include "qmoe/core/cpu/density/density_layout.h"
#include "qmoe/core/cpu/statevector/chunk_task.h"
#include "qmoe/core/math/channels.h"
#include "qmoe/core/math/gate_types.h"
#include "qmoe/core/program/compiled_circuit.h"

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
// one pass over a block of rho (density_layout.h), or a trace of Lambda against
// it per sample; *_by_lane take one coefficient per sample of the block.
template <class Real>
struct DensityKernelSet {
  using Layout = const DensityLayout&;
  void (*conjugate_one_qubit)(Real* rho, Layout layout, int bit, const Matrix2<Real>& u);
  void (*conjugate_one_qubit_by_lane)(Real* rho, Layout layout, int bit,
                                      const LaneMatrix2<Real>& u);
  void (*apply_superoperator)(Real* rho, Layout layout, int bit, const Superoperator<Real>& s);
  void (*apply_superoperator_by_lane)(Real* rho, Layout layout, int bit,
                                      const LaneSuperoperator<Real>& s);
  void (*apply_fixed_two_qubit)(Real* rho, Layout layout, SegmentKind kind, int bit0, int bit1);
  void (*rotate_string)(Real* rho, Layout layout, PauliString pauli, int bit0, int bit1, Real c,
                        Real s);
  void (*rotate_string_by_lane)(Real* rho, Layout layout, PauliString pauli, int bit0, int bit1,
                                const Real* c, const Real* s);
  void (*generator_trace)(const Real* lambda, const Real* rho, Layout layout, int bit,
                          const Matrix2<Real>& g, double* out);
  void (*string_trace)(const Real* lambda, const Real* rho, Layout layout, PauliString pauli,
                       int bit0, int bit1, double* out);
  void (*superoperator_trace)(const Real* lambda, const Real* rho, Layout layout, int bit,
                              const LaneSuperoperator<Real>& s, double* out);
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
