// The second stage of the deterministic weight-gradient reduction: each chunk
// wrote its own partial sum, and they are added here in chunk order, in double
// whatever Real is, so the result depends neither on the thread count nor on
// how the chunks were scheduled.
#pragma once

#include <cstdint>

namespace qmoe::core {

// grad_weights[w] = sum over chunks c, in order, of partials[c * n_weights + w].
template <class Real>
void reduce_weight_partials(const Real* partials, int64_t n_chunks, int64_t n_weights,
                            Real* grad_weights) {
  for (int64_t w = 0; w < n_weights; ++w) {
    double sum = 0;
    for (int64_t chunk = 0; chunk < n_chunks; ++chunk) sum += partials[chunk * n_weights + w];
    grad_weights[w] = static_cast<Real>(sum);
  }
}

}  // namespace qmoe::core
