#include "qmoe/core/cpu/cpu_engines.h"

#include <string>

#include "qmoe/core/cpu/density/density_matrix_engine.h"
#include "qmoe/core/cpu/isa/kernel_table.h"
#include "qmoe/core/cpu/statevector/statevector_engine.h"

namespace qmoe::core {

template <class Real>
std::shared_ptr<const CircuitEngine<Real>> cpu_engine(EngineKind kind,
                                                      const EngineArguments<Real>& arguments) {
  const IsaKernels& kernels = active_kernels();
  // The instruction set is part of the key: set_isa must not find another's engine.
  const std::string backend = std::string("cpu/") + engine_kind_name(kind) + "/" + kernels.name;
  return shared_engine<Real>(
      backend, arguments, [&]() -> std::shared_ptr<const CircuitEngine<Real>> {
        const Program& program = *arguments.program;
        if (kind == EngineKind::kDensityMatrix) {
          return std::make_shared<const DensityMatrixSimulator<Real>>(
              program, arguments.weights, arguments.n_weights, arguments.constants,
              arguments.z_masks, arguments.n_masks, arguments.probs,
              DensityMatrixSimulator<Real>::kCheckpointBudgetBytes, kernels);
        }
        return std::make_shared<const StatevectorSimulator<Real>>(
            program, arguments.weights, arguments.n_weights, arguments.constants, arguments.z_masks,
            arguments.n_masks, arguments.probs, kernels);
      });
}

template std::shared_ptr<const CircuitEngine<float>> cpu_engine(EngineKind,
                                                                const EngineArguments<float>&);
template std::shared_ptr<const CircuitEngine<double>> cpu_engine(EngineKind,
                                                                 const EngineArguments<double>&);

}  // namespace qmoe::core
