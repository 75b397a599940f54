// Parallelism inside one sample, for states too large for lanes of samples
// (the one-lane kernels). A pass over the amplitudes splits into a fixed
// number of parts, run on OpenMP threads when no parallel region is active:
// a batch smaller than the thread count runs its few chunks inline, so its
// passes get the threads. Sums over amplitudes are taken per part and added in
// part order, so results never depend on the number of threads.
#pragma once

#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "qmoe/core/math/isa_tag.h"

namespace qmoe::core {
inline namespace QMOE_ISA_TAG {

// From 2**14 amplitudes (256 KB in double) a pass is worth a fork and join.
constexpr int kMinSplitQubits = 14;
constexpr int kAmplitudeParts = 64;

template <int Lanes>
inline bool split_amplitudes(int64_t dim) {
  return Lanes == 1 && dim >= (int64_t{1} << kMinSplitQubits);
}

// body(part) for every part, on the threads when no parallel region is active.
template <class Body>
inline void for_each_part(const Body& body) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
#endif
  for (int part = 0; part < kAmplitudeParts; ++part) body(part);
}

// body(i) for i in [0, count), count a multiple of kAmplitudeParts, split into parts.
template <class Body>
inline void for_each_index_split(int64_t count, const Body& body) {
  const int64_t per_part = count / kAmplitudeParts;
  for_each_part([&](int part) {
    for (int64_t i = part * per_part; i < (part + 1) * per_part; ++i) body(i);
  });
}

// The lower index of the p-th amplitude pair of a one-qubit gate on `bit`.
inline int64_t pair_low_index(int64_t p, int32_t bit) {
  const int64_t low_mask = (int64_t{1} << bit) - 1;
  return ((p & ~low_mask) << 1) | (p & low_mask);
}

}  // namespace QMOE_ISA_TAG
}  // namespace qmoe::core
