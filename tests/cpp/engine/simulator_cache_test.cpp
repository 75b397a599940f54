// shared_engine and clear_simulator_cache (simulator_cache.h): the process-wide
// cache of recently built engines. Pinned: the same backend and arguments, bit for
// bit (from other buffers holding the same values), give the same engine object
// and build once; a change of any one bit of a weight or a constant, of a mask, of
// probs, of the program, of the backend name or of Real builds anew (masks are
// ignored under probs); the cache holds the 16 most recently used engines (the
// value of kCapacity in simulator_cache.cpp) and evicts the least recently used; a
// build that throws caches nothing; concurrent calls from several threads give
// each caller the engine of its own arguments, and real CPU engines taken from the
// cache concurrently give the reference simulator's results.
#include "qmoe/core/engine/simulator_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "qmoe/core/cpu/cpu_engines.h"
#include "test_support.h"

namespace qmoe::test_support {
namespace {

using core::CircuitEngine;
using core::EngineArguments;

// The cache's capacity, as simulator_cache.cpp defines it.
constexpr int kCapacity = 16;

// An engine that only says which build made it.
template <class Real>
class TaggedEngine final : public CircuitEngine<Real> {
 public:
  explicit TaggedEngine(int tag) : tag_(tag) {}
  int tag() const { return tag_; }
  int n_qubits() const override { return 1; }
  int64_t n_weights() const override { return 0; }
  int64_t output_width() const override { return 1; }
  int64_t chunk_size() const override { return 1; }
  void forward(const core::BatchView<Real>&, int64_t, int64_t, Real*, Real*) const override {}
  void backward(DiffMethod, const core::BatchView<Real>&, const Real*, int64_t, int64_t,
                const core::ChunkGradients<Real>&, const Real*) const override {}

 private:
  int tag_;
};

// Everything one call passes, in buffers of its own.
template <class Real>
struct Call {
  std::string backend = "test/backend";
  core::Program program;
  std::vector<Real> weights;
  std::vector<double> constants;
  std::vector<int64_t> masks;
  bool probs = false;

  EngineArguments<Real> arguments() const {
    EngineArguments<Real> arguments;
    arguments.program = &program;
    arguments.weights = weights.data();
    arguments.n_weights = static_cast<int64_t>(weights.size());
    arguments.constants = constants.data();
    arguments.n_constants = static_cast<int64_t>(constants.size());
    arguments.z_masks = masks.data();
    arguments.n_masks = static_cast<int64_t>(masks.size());
    arguments.probs = probs;
    return arguments;
  }
};

core::Program base_program() {
  const std::vector<int64_t> words = {9,  0, -1, 2, 0,   // RX(0) <- weights[0]
                                      14, 0, 2,  2, 2,   // IsingZZ(0, 2) <- weights[2]
                                      6,  1, 2,  0, -1,  // CNOT(1, 2)
                                      10, 1, -1, 3, 1,   // RY(1) <- constants[1]
                                      11, 2, -1, 1, 0};  // RZ(2) <- inputs[:, 0]
  core::ProgramLimits limits;
  limits.n_input_columns = 1;
  limits.n_weights = 3;
  limits.n_constants = 2;
  return core::parse_program(words.data(), static_cast<int64_t>(words.size()), 3, limits);
}

template <class Real>
Call<Real> base_call() {
  Call<Real> call;
  call.program = base_program();
  call.weights = {Real(0.5), Real(-1.25), Real(3.0)};
  call.constants = {0.125, -2.5};
  call.masks = {1, 3, 6};
  return call;
}

// The cache's engine for `call`, counting builds; a build makes a TaggedEngine(tag).
template <class Real>
std::shared_ptr<const TaggedEngine<Real>> get(const Call<Real>& call, int tag,
                                              std::atomic<int>& builds) {
  const auto engine = core::shared_engine<Real>(
      call.backend, call.arguments(), [&]() -> std::shared_ptr<const CircuitEngine<Real>> {
        builds.fetch_add(1);
        return std::make_shared<const TaggedEngine<Real>>(tag);
      });
  return std::dynamic_pointer_cast<const TaggedEngine<Real>>(engine);
}

template <class T>
void flip_bit(T& value, int bit) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits ^= uint64_t{1} << bit;
  std::memcpy(&value, &bits, sizeof(T));
}

class SimulatorCache : public ::testing::Test {
 protected:
  void SetUp() override { core::clear_simulator_cache(); }
  void TearDown() override { core::clear_simulator_cache(); }
};

TEST_F(SimulatorCache, SameArgumentsGiveTheSameEngine) {
  std::atomic<int> builds{0};
  const Call<double> call = base_call<double>();
  const auto first = get(call, 1, builds);
  const Call<double> copy = base_call<double>();  // other buffers, the same bits
  ASSERT_NE(copy.weights.data(), call.weights.data());
  const auto second = get(copy, 2, builds);
  const auto third = get(call, 3, builds);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(first.get(), third.get());
  EXPECT_EQ(first->tag(), 1);
  EXPECT_EQ(builds.load(), 1);
}

TEST_F(SimulatorCache, ClearEmptiesTheCache) {
  std::atomic<int> builds{0};
  const Call<double> call = base_call<double>();
  const auto first = get(call, 1, builds);
  core::clear_simulator_cache();
  const auto second = get(call, 2, builds);
  EXPECT_EQ(builds.load(), 2);
  EXPECT_EQ(second->tag(), 2);
  EXPECT_EQ(first->tag(), 1);  // a caller's engine outlives its entry
}

// Each variant differs from the base call in one thing; every one must miss.
std::vector<std::pair<std::string, std::function<void(Call<double>&)>>> variants() {
  std::vector<std::pair<std::string, std::function<void(Call<double>&)>>> out;
  for (int i = 0; i < 3; ++i) {
    for (int bit : {0, 1, 30, 51, 52, 62, 63}) {
      out.emplace_back("weight " + std::to_string(i) + " bit " + std::to_string(bit),
                       [=](Call<double>& call) { flip_bit(call.weights[i], bit); });
    }
  }
  for (int i = 0; i < 2; ++i) {
    for (int bit : {0, 33, 63}) {
      out.emplace_back("constant " + std::to_string(i) + " bit " + std::to_string(bit),
                       [=](Call<double>& call) { flip_bit(call.constants[i], bit); });
    }
  }
  out.emplace_back("mask value", [](Call<double>& call) { call.masks[1] = 5; });
  out.emplace_back("mask order",
                   [](Call<double>& call) { std::swap(call.masks[0], call.masks[2]); });
  out.emplace_back("one mask fewer", [](Call<double>& call) { call.masks.pop_back(); });
  out.emplace_back("one weight more", [](Call<double>& call) { call.weights.push_back(0.0); });
  out.emplace_back("one constant fewer", [](Call<double>& call) { call.constants.pop_back(); });
  out.emplace_back("probs", [](Call<double>& call) { call.probs = true; });
  out.emplace_back("backend", [](Call<double>& call) { call.backend = "test/other"; });
  out.emplace_back("backend suffix", [](Call<double>& call) { call.backend += "x"; });
  out.emplace_back("opcode",
                   [](Call<double>& call) { call.program.operations[2].opcode = Opcode::kCz; });
  out.emplace_back("wire", [](Call<double>& call) { call.program.operations[0].wire0 = 1; });
  out.emplace_back("parameter index",
                   [](Call<double>& call) { call.program.operations[1].index = 1; });
  out.emplace_back("parameter source", [](Call<double>& call) {
    call.program.operations[3].source = ParamSource::kWeight;
  });
  out.emplace_back("one operation fewer",
                   [](Call<double>& call) { call.program.operations.pop_back(); });
  out.emplace_back("n_qubits", [](Call<double>& call) { call.program.n_qubits = 4; });
  return out;
}

TEST_F(SimulatorCache, EveryArgumentIsPartOfTheKey) {
  for (const auto& [name, change] : variants()) {
    SCOPED_TRACE(name);
    core::clear_simulator_cache();
    std::atomic<int> builds{0};
    const Call<double> base = base_call<double>();
    Call<double> variant = base_call<double>();
    change(variant);
    const auto a = get(base, 1, builds);
    const auto b = get(variant, 2, builds);
    EXPECT_EQ(builds.load(), 2);
    EXPECT_NE(a.get(), b.get());
    EXPECT_EQ(b->tag(), 2);
    // Both stay cached.
    EXPECT_EQ(get(base, 3, builds).get(), a.get());
    EXPECT_EQ(get(variant, 4, builds).get(), b.get());
    EXPECT_EQ(builds.load(), 2);
  }
}

TEST_F(SimulatorCache, RealIsPartOfTheKey) {
  std::atomic<int> double_builds{0}, float_builds{0};
  const auto d = get(base_call<double>(), 1, double_builds);
  const auto f = get(base_call<float>(), 2, float_builds);  // same values, same backend
  EXPECT_EQ(double_builds.load(), 1);
  EXPECT_EQ(float_builds.load(), 1);
  EXPECT_EQ(f->tag(), 2);
  EXPECT_EQ(get(base_call<double>(), 3, double_builds).get(), d.get());
  EXPECT_EQ(get(base_call<float>(), 4, float_builds).get(), f.get());
  EXPECT_EQ(double_builds.load() + float_builds.load(), 2);

  // Without weights the two keys hold the same bytes but for Real itself.
  Call<double> no_weights_double = base_call<double>();
  Call<float> no_weights_float = base_call<float>();
  no_weights_double.weights.clear();
  no_weights_float.weights.clear();
  const auto dd = get(no_weights_double, 5, double_builds);
  const auto ff = get(no_weights_float, 6, float_builds);
  ASSERT_NE(ff, nullptr) << "a float call got a double engine";
  EXPECT_EQ(ff->tag(), 6);
  EXPECT_EQ(dd->tag(), 5);
}

TEST_F(SimulatorCache, MasksAreIgnoredUnderProbs) {
  std::atomic<int> builds{0};
  Call<double> call = base_call<double>();
  call.probs = true;
  const auto first = get(call, 1, builds);
  call.masks = {7};
  EXPECT_EQ(get(call, 2, builds).get(), first.get());
  call.masks.clear();
  EXPECT_EQ(get(call, 3, builds).get(), first.get());
  EXPECT_EQ(builds.load(), 1);
}

// Distinct calls: weight 0 is k.
Call<double> numbered_call(int k) {
  Call<double> call = base_call<double>();
  call.weights[0] = k;
  return call;
}

TEST_F(SimulatorCache, HoldsTheMostRecentlyUsedUpToItsCapacity) {
  std::atomic<int> builds{0};
  for (int k = 0; k < kCapacity; ++k) get(numbered_call(k), k, builds);
  ASSERT_EQ(builds.load(), kCapacity);
  for (int k = 0; k < kCapacity; ++k) {
    EXPECT_EQ(get(numbered_call(k), -1, builds)->tag(), k) << "evicted within capacity";
  }
  EXPECT_EQ(builds.load(), kCapacity);

  // One more evicts the least recently used (0); the others stay.
  get(numbered_call(kCapacity), kCapacity, builds);
  EXPECT_EQ(builds.load(), kCapacity + 1);
  for (int k = 1; k <= kCapacity; ++k) {
    EXPECT_EQ(get(numbered_call(k), -1, builds)->tag(), k) << k;
  }
  EXPECT_EQ(builds.load(), kCapacity + 1);
  EXPECT_EQ(get(numbered_call(0), 100, builds)->tag(), 100) << "0 was not evicted";
  EXPECT_EQ(builds.load(), kCapacity + 2);
}

TEST_F(SimulatorCache, UseKeepsAnEngineCached) {
  std::atomic<int> builds{0};
  for (int k = 0; k < kCapacity; ++k) get(numbered_call(k), k, builds);
  get(numbered_call(0), -1, builds);  // 0 becomes the most recently used; 1 the least
  get(numbered_call(kCapacity), kCapacity, builds);
  EXPECT_EQ(get(numbered_call(0), -1, builds)->tag(), 0);
  EXPECT_EQ(builds.load(), kCapacity + 1);
  EXPECT_EQ(get(numbered_call(1), 101, builds)->tag(), 101) << "1 was not evicted";
}

TEST_F(SimulatorCache, ThrowingBuildCachesNothing) {
  const Call<double> call = base_call<double>();
  int attempts = 0;
  auto throwing = [&]() -> std::shared_ptr<const CircuitEngine<double>> {
    ++attempts;
    throw std::invalid_argument("refused");
  };
  EXPECT_THROW(core::shared_engine<double>(call.backend, call.arguments(), throwing),
               std::invalid_argument);
  EXPECT_THROW(core::shared_engine<double>(call.backend, call.arguments(), throwing),
               std::invalid_argument);
  EXPECT_EQ(attempts, 2);
  std::atomic<int> builds{0};
  const auto engine = get(call, 7, builds);
  EXPECT_EQ(builds.load(), 1);
  EXPECT_EQ(engine->tag(), 7);
  EXPECT_EQ(get(call, 8, builds).get(), engine.get());
  EXPECT_EQ(builds.load(), 1);
}

// Runs body(thread) on `threads` threads released at once.
template <class Body>
void run_threads(int threads, Body body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      body(t);
    });
  }
  for (std::thread& thread : pool) thread.join();
}

TEST_F(SimulatorCache, ConcurrentCallsGetTheirOwnEngines) {
  // More distinct calls than the capacity: hits, misses and evictions interleave.
  constexpr int kKeys = kCapacity + 8, kThreads = 8, kCalls = 20000;
  std::vector<Call<double>> calls;
  for (int k = 0; k < kKeys; ++k) calls.push_back(numbered_call(k));
  std::atomic<int> builds{0}, wrong{0};
  run_threads(kThreads, [&](int t) {
    Rng rng(static_cast<uint64_t>(t));
    for (int i = 0; i < kCalls; ++i) {
      const int k = static_cast<int>(rng.below(kKeys));
      const auto engine = get(calls[static_cast<size_t>(k)], k, builds);
      if (engine == nullptr || engine->tag() != k) wrong.fetch_add(1);
    }
  });
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(builds.load(), kKeys);
  EXPECT_LE(builds.load(), kThreads * kCalls);
  // Afterwards the cache still answers: within capacity, a second call hits.
  core::clear_simulator_cache();
  builds = 0;
  run_threads(kThreads, [&](int) {
    for (int k = 0; k < 4; ++k) get(calls[static_cast<size_t>(k)], k, builds);
  });
  const int after_race = builds.load();
  EXPECT_GE(after_race, 4);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(get(calls[static_cast<size_t>(k)], -1, builds)->tag(), k);
  EXPECT_EQ(builds.load(), after_race);
}

TEST_F(SimulatorCache, ConcurrentCpuEnginesGiveTheReferenceResults) {
  std::vector<Problem> problems;
  for (uint64_t seed = 0; seed < 3; ++seed) {
    RandomOptions options;
    options.n_qubits = 2 + static_cast<int>(seed);
    options.batch_size = 13;
    problems.push_back(random_problem(9000 + seed, options));
  }
  std::vector<core::Program> programs;
  std::vector<std::vector<double>> expected;
  for (const Problem& problem : problems) {
    programs.push_back(problem.parse());
    expected.push_back(reference_forward(problem));
  }
  std::atomic<int> wrong{0};
  run_threads(6, [&](int t) {
    for (int i = 0; i < 30; ++i) {
      const size_t p = static_cast<size_t>(t + i) % problems.size();
      const Problem& problem = problems[p];
      EngineArguments<double> arguments;
      arguments.program = &programs[p];
      arguments.weights = problem.weights.data();
      arguments.n_weights = static_cast<int64_t>(problem.weights.size());
      arguments.constants = problem.constants.data();
      arguments.n_constants = static_cast<int64_t>(problem.constants.size());
      arguments.z_masks = problem.z_masks.data();
      arguments.n_masks = static_cast<int64_t>(problem.z_masks.size());
      arguments.probs = problem.probs;
      const auto engine = core::cpu_engine<double>(core::EngineKind::kStatevector, arguments);
      core::BatchView<double> batch;
      batch.batch_size = problem.batch_size;
      batch.inputs = problem.inputs.data();
      batch.n_input_columns = problem.n_input_columns;
      std::vector<double> out(expected[p].size(), -7.0);
      engine->forward(batch, 0, engine->n_chunks(batch.batch_size), out.data());
      if (!AllClose(out, expected[p], 1e-12)) wrong.fetch_add(1);
    }
  });
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace qmoe::test_support
