// Scratch memory of the CPU product-state kernels (product_state_kernels.h).
#pragma once

#include <cstdint>

#include "qmoe/core/math/isa_tag.h"
#include "qmoe/core/program/product_state_plan.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// Blocks whose input columns the kernels move to lanes together, ahead of use:
// a vector load right after the scalar stores of its own lanes would stall on
// store forwarding, once per block.
constexpr int kStagedBlocks = 8;

// Scratch memory of the product-state kernels, in units of Real.
template <class Real>
int64_t product_state_workspace_size(const ProductStateView<Real>& plan, int64_t n_weights,
                                     int lanes) {
  const int64_t accumulators = plan.n_outputs * plan.n_features * lanes;
  const int64_t staged = (plan.n_qubits + plan.n_outputs) * kStagedBlocks * lanes;
  const int64_t outputs = plan.n_outputs * lanes;  // forward: the block's readout
  return accumulators + n_weights * lanes + staged + outputs + lanes;
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
