#include "qmoe/ops/cpu/isa_controls.h"

#include <c10/util/Exception.h>

#include <stdexcept>

#include "qmoe/core/cpu/isa/kernel_table.h"

namespace qmoe::ops {

std::string active_isa() { return core::active_kernels().name; }

void set_isa(c10::string_view name) {
  try {
    core::select_kernels(std::string(name));
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, "qmoe.set_isa: ", error.what());
  }
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> names;
  for (const core::IsaKernels* kernels : core::supported_kernels()) names.push_back(kernels->name);
  return names;
}

}  // namespace qmoe::ops
