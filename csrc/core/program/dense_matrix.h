// Small dense matrices (2**n x 2**n, n <= 4) built exactly in double from
// lowered segments: what the dense and product-state paths precompute per call.
#pragma once

#include <complex>
#include <cstdint>
#include <utility>
#include <vector>

#include "qmoe/core/program/compiled_circuit.h"

namespace qmoe::core {

using Dense = std::vector<std::complex<double>>;  // row-major dim x dim

Dense identity(int64_t dim);
Dense product(const Dense& a, const Dense& b, int64_t dim);
Dense dagger(const Dense& a, int64_t dim);

// The unitary of a shared-angle segment on the whole state.
Dense segment_unitary(const Segment<double>& segment, int64_t dim);

// (weight index, generator at the end of the segment) of its trainable angles.
std::vector<std::pair<int64_t, Dense>> segment_generators(const ExactCircuit& circuit,
                                                          const Segment<double>& segment,
                                                          int64_t dim);

// Segments [begin, end) of a lowered circuit as one unitary, with the
// generators of their trainable angles transported to the end of the run.
struct SharedRun {
  Dense unitary;
  std::vector<std::pair<int64_t, Dense>> generators;
};
SharedRun multiply_run(const ExactCircuit& circuit, size_t begin, size_t end, int64_t dim);

}  // namespace qmoe::core
