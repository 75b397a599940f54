// Regression: every instruction set's table points at its own kernels.
//
// isa_kernels.inc defines kernel_set<Real, Lanes>() and density_kernel_set<Real>()
// in qmoe::core, outside the per-set inline namespace, so each isa_<name>.cpp.o
// holds a weak copy under the same mangled name. Where the compiler does not
// inline them (-O0; found while building the sanitizer configuration, whose
// IsaObjects.ExportNothingOutsideTheirNamespace check lists the same kind of
// symbol at -O1), the linker keeps one copy and every table gets that object's
// kernels: all "baseline" at best, AVX-512 code for every set at worst (SIGILL on
// a CPU without it). Only the sets this CPU supports are built into tables here.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "qmoe/core/cpu/isa/kernel_table.h"

namespace qmoe::core {
namespace {

TEST(InstructionSets, EachSetHasItsOwnKernels) {
  const std::vector<const IsaKernels*> kernels = supported_kernels();
  std::set<const void*> float_forward, double_adjoint, density_trace;
  for (const IsaKernels* set : kernels) {
    float_forward.insert(reinterpret_cast<const void*>(set->float_blocked.forward));
    double_adjoint.insert(reinterpret_cast<const void*>(set->double_blocked.adjoint));
    density_trace.insert(reinterpret_cast<const void*>(set->density_double.generator_trace));
  }
  EXPECT_EQ(float_forward.size(), kernels.size()) << "float forward kernels are shared";
  EXPECT_EQ(double_adjoint.size(), kernels.size()) << "double adjoint kernels are shared";
  EXPECT_EQ(density_trace.size(), kernels.size()) << "density-matrix kernels are shared";
}

}  // namespace
}  // namespace qmoe::core
