// Rewrites of a lowered circuit that change how it is run, not what it computes:
// the product-state prefix and merged permutations.
#include <numeric>
#include <utility>
#include <vector>

#include "qmoe/core/program/compiled_circuit.h"

namespace qmoe::core {
namespace {

// A gather over the whole state wins over in-place swaps while the state is in
// cache; beyond that the tables (12 bytes per amplitude, per direction) are too.
constexpr int kMaxPermutationQubits = 12;

bool is_one_qubit(const Segment<double>& segment) {
  return (segment.kind == SegmentKind::kSharedSingleQubit ||
          segment.kind == SegmentKind::kPauliRotation) &&
         segment.bit1 < 0;
}

bool is_fixed_two_qubit(const Segment<double>& segment) {
  return segment.kind == SegmentKind::kCnot || segment.kind == SegmentKind::kCz ||
         segment.kind == SegmentKind::kSwap;
}

// One gate as (U psi)_k = sign_k psi_{source_k}.
void gate_permutation(const Segment<double>& segment, int64_t dim, std::vector<int32_t>& source,
                      std::vector<double>& sign) {
  const int64_t mask0 = int64_t{1} << segment.bit0, mask1 = int64_t{1} << segment.bit1;
  for (int64_t k = 0; k < dim; ++k) {
    const bool b0 = (k & mask0) != 0, b1 = (k & mask1) != 0;
    int64_t from = k;
    double factor = 1.0;
    if (segment.kind == SegmentKind::kCnot) {
      if (b0) from = k ^ mask1;
    } else if (segment.kind == SegmentKind::kSwap) {
      if (b0 != b1) from = k ^ mask0 ^ mask1;
    } else if (b0 && b1) {
      factor = -1.0;
    }
    source[static_cast<size_t>(k)] = static_cast<int32_t>(from);
    sign[static_cast<size_t>(k)] = factor;
  }
}

}  // namespace

void split_product_prefix(ExactCircuit& circuit) {
  std::vector<Segment<double>> prefix, body;
  std::vector<bool> entangled(static_cast<size_t>(circuit.n_qubits), false);
  for (const Segment<double>& segment : circuit.segments) {
    if (is_one_qubit(segment) && !entangled[static_cast<size_t>(segment.bit0)]) {
      prefix.push_back(segment);
      continue;
    }
    if (segment.bit0 >= 0) entangled[static_cast<size_t>(segment.bit0)] = true;
    if (segment.bit1 >= 0) entangled[static_cast<size_t>(segment.bit1)] = true;
    body.push_back(segment);
  }
  circuit.n_prefix_segments = static_cast<int32_t>(prefix.size());
  prefix.insert(prefix.end(), body.begin(), body.end());
  circuit.segments = std::move(prefix);
}

// The lowering emits a wire's fused one-qubit run when the next entangling gate
// on that wire arrives, which can land it between two entangling gates on other
// wires (CNOT(0,1), Rot on 2, CNOT(1,2) in a strongly entangling layer). Moving
// such segments ahead of the fixed gates they commute with makes the runs of
// fixed gates contiguous.
void hoist_over_fixed_gates(std::vector<Segment<double>>& segments, size_t begin) {
  for (size_t i = begin; i < segments.size(); ++i) {
    if (!is_one_qubit(segments[i])) continue;
    size_t at = i;
    while (at > begin && is_fixed_two_qubit(segments[at - 1]) &&
           segments[at - 1].bit0 != segments[at].bit0 &&
           segments[at - 1].bit1 != segments[at].bit0) {
      std::swap(segments[at - 1], segments[at]);
      --at;
    }
  }
}

void merge_permutations(ExactCircuit& circuit) {
  if (circuit.n_qubits > kMaxPermutationQubits) return;
  hoist_over_fixed_gates(circuit.segments, static_cast<size_t>(circuit.n_prefix_segments));
  const int64_t dim = int64_t{1} << circuit.n_qubits;
  const auto& segments = circuit.segments;
  std::vector<Segment<double>> merged(segments.begin(),
                                      segments.begin() + circuit.n_prefix_segments);
  std::vector<int32_t> gate_source(static_cast<size_t>(dim));
  std::vector<double> gate_sign(static_cast<size_t>(dim));
  size_t begin = static_cast<size_t>(circuit.n_prefix_segments);
  while (begin < segments.size()) {
    size_t end = begin;
    while (end < segments.size() && is_fixed_two_qubit(segments[end])) ++end;
    if (end - begin < 2) {
      // one CNOT swaps a quarter of the amplitudes in place: cheaper than a full gather
      merged.push_back(segments[begin]);
      ++begin;
      continue;
    }
    // U = U_last ... U_first: (U2 U1 psi)_k = sign2_k sign1_{source2_k} psi_{source1_{source2_k}}
    std::vector<int32_t> source(static_cast<size_t>(dim));
    std::iota(source.begin(), source.end(), 0);
    std::vector<double> sign(static_cast<size_t>(dim), 1.0);
    for (size_t i = begin; i < end; ++i) {
      gate_permutation(segments[i], dim, gate_source, gate_sign);
      std::vector<int32_t> next_source(static_cast<size_t>(dim));
      std::vector<double> next_sign(static_cast<size_t>(dim));
      for (size_t k = 0; k < static_cast<size_t>(dim); ++k) {
        const auto from = static_cast<size_t>(gate_source[k]);
        next_source[k] = source[from];
        next_sign[k] = gate_sign[k] * sign[from];
      }
      source = std::move(next_source);
      sign = std::move(next_sign);
    }
    // U^dagger: (U^dagger phi)_{source_k} = sign_k phi_k
    std::vector<int32_t> inverse_source(static_cast<size_t>(dim));
    std::vector<double> inverse_sign(static_cast<size_t>(dim));
    for (size_t k = 0; k < static_cast<size_t>(dim); ++k) {
      inverse_source[static_cast<size_t>(source[k])] = static_cast<int32_t>(k);
      inverse_sign[static_cast<size_t>(source[k])] = sign[k];
    }
    Segment<double> segment = segments[begin];
    segment.kind = SegmentKind::kPermutation;
    segment.bit0 = segment.bit1 = -1;
    segment.permutation_offset = static_cast<int64_t>(circuit.permutations.size());
    circuit.permutations.insert(circuit.permutations.end(), source.begin(), source.end());
    circuit.permutations.insert(circuit.permutations.end(), inverse_source.begin(),
                                inverse_source.end());
    circuit.permutation_signs.insert(circuit.permutation_signs.end(), sign.begin(), sign.end());
    circuit.permutation_signs.insert(circuit.permutation_signs.end(), inverse_sign.begin(),
                                     inverse_sign.end());
    merged.push_back(segment);
    begin = end;
  }
  circuit.segments = std::move(merged);
}

}  // namespace qmoe::core
