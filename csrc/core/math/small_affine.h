// y = x W^T + b for a few rows: a quantum gate's projection (d_model -> n_qubits) and
// adapter (n_qubits -> n_experts) at decoding sizes, where a BLAS call costs more in
// setup than its arithmetic. Sums in double (float32 inputs: the float32 dot product
// rounded once, to all practical purposes; a float32 BLAS kernel rounds every partial
// sum instead, and the two agree to a few float32 ulps), in a fixed order.
#pragma once

#include <cstdint>

#include "qmoe/core/math/host_device.h"
#include "qmoe/core/math/isa_tag.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// x: [rows, in], weight: [out, in], bias: [out] or null, y: [rows, out]; all dense.
template <class Real>
QMOE_HOST_DEVICE inline void small_affine(const Real* x, int64_t rows, int64_t in,
                                          const Real* weight, const Real* bias, int64_t out,
                                          Real* y) {
  for (int64_t row = 0; row < rows; ++row) {
    const Real* x_row = x + row * in;
    for (int64_t o = 0; o < out; ++o) {
      const Real* w_row = weight + o * in;
      // eight independent partial sums, added in a fixed tree: one sum's chain of
      // dependent additions would leave the adder waiting its latency every step
      constexpr int kChains = 8;
      double partial[kChains] = {};
      int64_t i = 0;
      for (; i + kChains <= in; i += kChains) {
        for (int c = 0; c < kChains; ++c) {
          partial[c] += static_cast<double>(x_row[i + c]) * static_cast<double>(w_row[i + c]);
        }
      }
      double sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                   ((partial[4] + partial[5]) + (partial[6] + partial[7]));
      for (; i < in; ++i) sum += static_cast<double>(x_row[i]) * static_cast<double>(w_row[i]);
      if (bias) sum += static_cast<double>(bias[o]);
      y[row * out + o] = static_cast<Real>(sum);
    }
  }
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
