// Dense fusion for small states: a run of shared-angle segments becomes one
// 2**n x 2**n unitary, applied per sample as one matrix-vector product. The
// run's trainable angles keep their generators, transported to the end of
// the run, so the adjoint sweep needs only the summed outer product psi lambda^dagger
// of the run (see adjoint_chunk) to give all of their gradients at once.
#include <algorithm>
#include <vector>

#include "qmoe/core/program/compiled_circuit.h"
#include "qmoe/core/program/dense_matrix.h"

namespace qmoe::core {
namespace {

// Beyond 3 qubits the per-call transport of every generator (weights x 2**3n)
// outweighs what the dense product saves per sample at moderate batch sizes.
constexpr int kMaxDenseQubits = 3;

bool is_shared(const Segment<double>& segment) {
  return segment.kind != SegmentKind::kPauliRotation || segment.source != ParamSource::kInput;
}

// Complex multiplies per sample of applying the segment gate by gate.
int64_t gate_cost(const Segment<double>& segment, int64_t dim) {
  switch (segment.kind) {
    case SegmentKind::kSharedSingleQubit:
    case SegmentKind::kPauliRotation:
      return 2 * dim;
    default:
      return dim / 2;
  }
}

int64_t append_matrix(std::vector<double>& pool, const Dense& matrix) {
  const auto offset = static_cast<int64_t>(pool.size());
  for (const auto& entry : matrix) {
    pool.push_back(entry.real());
    pool.push_back(entry.imag());
  }
  return offset;
}

}  // namespace

void fuse_dense_runs(ExactCircuit& circuit) {
  if (circuit.n_qubits > kMaxDenseQubits) return;
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  const auto& segments = circuit.segments;
  const auto prefix_end = static_cast<size_t>(circuit.n_prefix_segments);
  std::vector<Segment<double>> fused(segments.begin(), segments.begin() + prefix_end);
  size_t begin = prefix_end;
  while (begin < segments.size()) {
    size_t end = begin;
    int64_t cost = 0;
    while (end < segments.size() && is_shared(segments[end]))
      cost += gate_cost(segments[end++], dim);
    if (end - begin < 2 || cost <= dim * dim) {
      // not worth it: keep the run (or the per-sample segment) as it is
      for (size_t i = begin; i < std::max(end, begin + 1); ++i) fused.push_back(segments[i]);
      begin = std::max(end, begin + 1);
      continue;
    }
    SharedRun run = multiply_run(circuit, begin, end, dim);
    std::vector<DenseGradientTerm> terms;
    for (const auto& [weight_index, generator] : run.generators) {
      terms.push_back({weight_index, append_matrix(circuit.dense_matrices, generator)});
    }
    const Dense& after = run.unitary;
    Segment<double> segment = segments[begin];
    segment.kind = SegmentKind::kDenseUnitary;
    segment.bit0 = segment.bit1 = -1;
    segment.dense_offset = append_matrix(circuit.dense_matrices, after);
    segment.first_term = static_cast<int32_t>(circuit.dense_terms.size());
    segment.n_terms = static_cast<int32_t>(terms.size());
    segment.accumulator_slot = circuit.n_accumulator_slots++;
    circuit.dense_terms.insert(circuit.dense_terms.end(), terms.begin(), terms.end());
    fused.push_back(segment);
    begin = end;
  }
  circuit.segments = std::move(fused);
}

}  // namespace qmoe::core
