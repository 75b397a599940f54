#include "simulator_cache.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace qmoe::core {
namespace {

// Enough for the gates of a model's layers and a few evaluation variants.
constexpr size_t kCapacity = 16;

template <class T>
void append_bytes(std::string& key, const T* values, int64_t count) {
  key.append(reinterpret_cast<const char*>(&count), sizeof(count));
  key.append(reinterpret_cast<const char*>(values), sizeof(T) * static_cast<size_t>(count));
}

struct Entry {
  std::string key;
  std::shared_ptr<const void> simulator;
};

// Most recently used first.
struct Cache {
  std::mutex mutex;
  std::vector<Entry> entries;
};

Cache& cache() {
  static Cache instance;
  return instance;
}

template <class Real>
std::string make_key(const Program& program, const Real* weights, int64_t n_weights,
                     const double* constants, int64_t n_constants, const int64_t* z_masks,
                     int64_t n_masks, bool probs) {
  std::string key;
  key.push_back(std::is_same_v<Real, float> ? 'f' : 'd');
  key.push_back(probs ? 'p' : 'e');
  key.append(active_kernels().name);
  key.push_back('\0');
  const int64_t n_qubits = program.n_qubits;
  append_bytes(key, &n_qubits, 1);
  std::vector<int64_t> words;
  words.reserve(program.operations.size() * kOperationWidth);
  for (const Operation& op : program.operations) {
    words.insert(words.end(), {static_cast<int64_t>(op.opcode), op.wire0, op.wire1,
                               static_cast<int64_t>(op.source), op.index});
  }
  append_bytes(key, words.data(), static_cast<int64_t>(words.size()));
  append_bytes(key, weights, n_weights);
  append_bytes(key, constants, n_constants);
  append_bytes(key, z_masks, probs ? 0 : n_masks);
  return key;
}

}  // namespace

template <class Real>
std::shared_ptr<const StatevectorSimulator<Real>> shared_simulator(
    const Program& program, const Real* weights, int64_t n_weights, const double* constants,
    int64_t n_constants, const int64_t* z_masks, int64_t n_masks, bool probs) {
  std::string key =
      make_key(program, weights, n_weights, constants, n_constants, z_masks, n_masks, probs);
  Cache& shared = cache();
  {
    std::lock_guard<std::mutex> lock(shared.mutex);
    auto& entries = shared.entries;
    const auto hit = std::find_if(entries.begin(), entries.end(),
                                  [&](const Entry& entry) { return entry.key == key; });
    if (hit != entries.end()) {
      std::rotate(entries.begin(), hit, hit + 1);
      return std::static_pointer_cast<const StatevectorSimulator<Real>>(entries.front().simulator);
    }
  }
  // Built outside the lock: a concurrent miss on the same key builds twice, harmlessly.
  auto simulator = std::make_shared<const StatevectorSimulator<Real>>(
      program, weights, n_weights, constants, z_masks, n_masks, probs);
  std::lock_guard<std::mutex> lock(shared.mutex);
  auto& entries = shared.entries;
  entries.insert(entries.begin(), Entry{std::move(key), simulator});
  if (entries.size() > kCapacity) entries.pop_back();
  return simulator;
}

void clear_simulator_cache() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  cache().entries.clear();
}

template std::shared_ptr<const StatevectorSimulator<float>> shared_simulator(
    const Program&, const float*, int64_t, const double*, int64_t, const int64_t*, int64_t, bool);
template std::shared_ptr<const StatevectorSimulator<double>> shared_simulator(
    const Program&, const double*, int64_t, const double*, int64_t, const int64_t*, int64_t, bool);

}  // namespace qmoe::core
