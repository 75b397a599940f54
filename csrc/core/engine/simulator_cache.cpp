#include "qmoe/core/engine/simulator_cache.h"

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
  std::shared_ptr<const void> engine;
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
std::string make_key(const std::string& backend, const EngineArguments<Real>& arguments) {
  const Program& program = *arguments.program;
  std::string key;
  key.push_back(std::is_same_v<Real, float> ? 'f' : 'd');
  key.push_back(arguments.probs ? 'p' : 'e');
  key.append(backend);
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
  append_bytes(key, arguments.weights, arguments.n_weights);
  append_bytes(key, arguments.constants, arguments.n_constants);
  append_bytes(key, arguments.z_masks, arguments.probs ? 0 : arguments.n_masks);
  return key;
}

}  // namespace

template <class Real>
std::shared_ptr<const CircuitEngine<Real>> shared_engine(const std::string& backend,
                                                         const EngineArguments<Real>& arguments,
                                                         const EngineBuilder<Real>& build) {
  std::string key = make_key(backend, arguments);
  Cache& shared = cache();
  {
    std::lock_guard<std::mutex> lock(shared.mutex);
    auto& entries = shared.entries;
    const auto hit = std::find_if(entries.begin(), entries.end(),
                                  [&](const Entry& entry) { return entry.key == key; });
    if (hit != entries.end()) {
      std::rotate(entries.begin(), hit, hit + 1);
      return std::static_pointer_cast<const CircuitEngine<Real>>(entries.front().engine);
    }
  }
  // Built outside the lock: a concurrent miss on the same key builds twice, harmlessly.
  std::shared_ptr<const CircuitEngine<Real>> engine = build();
  std::lock_guard<std::mutex> lock(shared.mutex);
  auto& entries = shared.entries;
  entries.insert(entries.begin(), Entry{std::move(key), engine});
  if (entries.size() > kCapacity) entries.pop_back();
  return engine;
}

void clear_simulator_cache() {
  std::lock_guard<std::mutex> lock(cache().mutex);
  cache().entries.clear();
}

template std::shared_ptr<const CircuitEngine<float>> shared_engine(const std::string&,
                                                                   const EngineArguments<float>&,
                                                                   const EngineBuilder<float>&);
template std::shared_ptr<const CircuitEngine<double>> shared_engine(const std::string&,
                                                                    const EngineArguments<double>&,
                                                                    const EngineBuilder<double>&);

}  // namespace qmoe::core
