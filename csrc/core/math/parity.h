// The sign of a Pauli-Z product on a basis state: -1 when an odd number of the
// mask's bits are set in the index. Every diagonal readout is built from it.
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"
#include "qmoe/core/math/isa_tag.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

QMOE_HOST_DEVICE inline bool odd_parity(int64_t index, int64_t mask) {
  const auto bits = static_cast<unsigned long long>(index & mask);
#if defined(__CUDA_ARCH__)
  return (__popcll(bits) & 1) != 0;
#else
  return __builtin_parityll(bits) != 0;
#endif
}

// (-1)**popcount(index & mask).
template <class Real>
QMOE_HOST_DEVICE inline Real parity_sign(int64_t index, int64_t mask) {
  return odd_parity(index, mask) ? Real(-1) : Real(1);
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
