#include "qmoe/core/program/readout.h"

#include "qmoe/core/program/program.h"

namespace qmoe::core {
std::vector<int64_t> index_masks_from_wires(const int64_t* z_masks, int64_t n_masks, int n_qubits) {
  validate_z_masks(z_masks, n_masks, n_qubits);
  std::vector<int64_t> index_masks;
  for (int64_t m = 0; m < n_masks; ++m) {
    int64_t index_mask = 0;
    for (int wire = 0; wire < n_qubits; ++wire) {
      if ((z_masks[m] >> wire) & 1) index_mask |= int64_t{1} << (n_qubits - 1 - wire);
    }
    index_masks.push_back(index_mask);
  }
  return index_masks;
}

}  // namespace qmoe::core
