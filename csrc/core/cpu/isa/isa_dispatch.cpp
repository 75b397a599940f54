#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "qmoe/core/cpu/isa/kernel_table.h"

namespace qmoe::core {
namespace {

bool cpu_supports(const std::string& name) {
#if defined(__x86_64__)
  if (name == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (name == "avx512") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
  }
#endif
  return name == "baseline";
}

const IsaKernels* kernels_named(const std::string& name) {
  if (name == "baseline") return &baseline_kernels();
#if defined(__x86_64__)
  if (name == "avx2") return &avx2_kernels();
  if (name == "avx512") return &avx512_kernels();
#endif
  return nullptr;
}

const IsaKernels& choose_kernels(const std::string& name) {
  if (!name.empty()) {
    const IsaKernels* kernels = kernels_named(name);
    if (kernels == nullptr) {
      throw std::invalid_argument("instruction set \"" + name +
                                  "\" is unknown (expected baseline, avx2 or avx512)");
    }
    if (!cpu_supports(name)) {
      throw std::invalid_argument("instruction set \"" + name + "\" is not supported by this CPU");
    }
    return *kernels;
  }
  const std::vector<const IsaKernels*> supported = supported_kernels();
  return *supported.back();
}

std::atomic<const IsaKernels*> active{nullptr};

}  // namespace

std::vector<const IsaKernels*> supported_kernels() {
  std::vector<const IsaKernels*> result;
  for (const char* name : {"baseline", "avx2", "avx512"}) {
    if (cpu_supports(name) && kernels_named(name) != nullptr) result.push_back(kernels_named(name));
  }
  return result;
}

const IsaKernels& active_kernels() {
  const IsaKernels* kernels = active.load(std::memory_order_acquire);
  if (kernels != nullptr) return *kernels;
  const char* forced = std::getenv("QMOE_ISA");
  const IsaKernels& chosen = choose_kernels(forced == nullptr ? "" : forced);
  active.store(&chosen, std::memory_order_release);
  return chosen;
}

void select_kernels(const std::string& name) {
  active.store(&choose_kernels(name), std::memory_order_release);
}

}  // namespace qmoe::core
