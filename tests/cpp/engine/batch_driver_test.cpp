// The batch driver (engine/batch_driver.h) written once for every backend that
// runs chunks on host threads: every chunk is run exactly once, weight partials
// get one row per chunk and are reduced in chunk order in double, and a batch of
// zero samples calls nothing. Pinned with an engine whose every output is known.
#include "qmoe/core/engine/batch_driver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "qmoe/core/engine/shift_targets.h"

namespace qmoe::core {
namespace {

// out[b] = b + 1; backward adds to weight w, per chunk c, (w + 1) times 2**24 for
// even c and 1 for odd c: summed in float, every 1 is lost against 2**24; in
// double they survive to the final rounding.
class CountingEngine final : public CircuitEngine<float> {
 public:
  explicit CountingEngine(int64_t chunk_size) : chunk_size_(chunk_size) {}
  int n_qubits() const override { return 1; }
  int64_t n_weights() const override { return 3; }
  int64_t output_width() const override { return 1; }
  int64_t chunk_size() const override { return chunk_size_; }

  void forward(const BatchView<float>& batch, int64_t chunk_begin, int64_t chunk_end, float* out,
               float* final_state) const override {
    EXPECT_EQ(final_state, nullptr);
    record(chunk_begin, chunk_end);
    for (int64_t b = chunk_begin * chunk_size_;
         b < std::min(batch.batch_size, chunk_end * chunk_size_); ++b) {
      out[b] = static_cast<float>(b + 1);
    }
  }

  void backward(DiffMethod, const BatchView<float>&, const float*, int64_t chunk_begin,
                int64_t chunk_end, const ChunkGradients<float>& gradients,
                const float*) const override {
    record(chunk_begin, chunk_end);
    for (int64_t c = chunk_begin; c < chunk_end; ++c) {
      for (int64_t w = 0; w < n_weights(); ++w) {
        gradients.weight_partials[c * n_weights() + w] += partial(c, w);
      }
    }
  }

  static float partial(int64_t chunk, int64_t weight) {
    return static_cast<float>(weight + 1) * (chunk % 2 == 0 ? 16777216.0f : 1.0f);
  }

  std::vector<int64_t> runs_per_chunk(int64_t n_chunks) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<int64_t> runs(static_cast<size_t>(n_chunks), 0);
    for (int64_t c : chunks_) ++runs[static_cast<size_t>(c)];
    return runs;
  }

 private:
  void record(int64_t begin, int64_t end) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int64_t c = begin; c < end; ++c) chunks_.push_back(c);
  }
  int64_t chunk_size_;
  mutable std::mutex mutex_;
  mutable std::vector<int64_t> chunks_;
};

// Ranges of 3 chunks, each on a thread of its own, started in reverse order.
struct ThreadedParallelFor {
  template <class Body>
  void operator()(int64_t n_chunks, const Body& body) const {
    std::vector<std::thread> threads;
    for (int64_t begin = (n_chunks - 1) / 3 * 3; begin >= 0; begin -= 3) {
      threads.emplace_back(
          [&body, begin, n_chunks] { body(begin, std::min(n_chunks, begin + 3)); });
    }
    for (auto& thread : threads) thread.join();
  }
};

TEST(BatchDriver, ForwardRunsEveryChunkOnce) {
  const CountingEngine engine(4);
  BatchView<float> batch;
  batch.batch_size = 37;  // 10 chunks, the last one partial
  std::vector<float> out(37, 0.0f);
  run_forward(engine, batch, out.data(), nullptr, ThreadedParallelFor{});
  EXPECT_EQ(engine.n_chunks(37), 10);
  EXPECT_EQ(engine.runs_per_chunk(10), std::vector<int64_t>(10, 1));
  for (int64_t b = 0; b < 37; ++b) EXPECT_EQ(out[b], static_cast<float>(b + 1)) << b;
}

TEST(BatchDriver, WeightPartialsAreReducedInChunkOrderInDouble) {
  const CountingEngine engine(2);
  BatchView<float> batch;
  batch.batch_size = 23;                      // 12 chunks
  std::vector<float> grad_weights(3, -7.0f);  // overwritten, not accumulated into
  BatchGradients<float> gradients;
  gradients.weights = grad_weights.data();
  run_backward(engine, DiffMethod::kAdjoint, batch, nullptr, gradients, nullptr,
               ThreadedParallelFor{});
  EXPECT_EQ(engine.runs_per_chunk(12), std::vector<int64_t>(12, 1));
  for (int64_t w = 0; w < 3; ++w) {
    double in_double = 0;
    float in_float = 0;
    for (int64_t c = 0; c < 12; ++c) {
      in_double += CountingEngine::partial(c, w);
      in_float += CountingEngine::partial(c, w);
    }
    ASSERT_NE(static_cast<float>(in_double), in_float) << "the case must tell the two apart";
    EXPECT_EQ(grad_weights[w], static_cast<float>(in_double)) << "weight " << w;
  }
}

TEST(BatchDriver, EmptyBatchCallsNothing) {
  const CountingEngine engine(4);
  BatchView<float> batch;
  std::vector<float> grad_weights(3, 5.0f);
  BatchGradients<float> gradients;
  gradients.weights = grad_weights.data();
  std::atomic<int> calls{0};
  auto counting_for = [&](int64_t, const auto&) { ++calls; };
  run_forward(engine, batch, nullptr, nullptr, counting_for);
  run_backward(engine, DiffMethod::kAdjoint, batch, nullptr, gradients, nullptr, counting_for);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(engine.runs_per_chunk(1), std::vector<int64_t>(1, 0));
}

TEST(ShiftTargets, AreTheParameterisedRotationsInProgramOrder) {
  Program program;
  program.n_qubits = 2;
  program.operations = {
      {Opcode::kH, 0, -1, ParamSource::kNone, -1},
      {Opcode::kRx, 0, -1, ParamSource::kInput, 1},
      {Opcode::kRy, 1, -1, ParamSource::kConstant, 0},  // constants have no gradient
      {Opcode::kIsingZZ, 0, 1, ParamSource::kWeight, 2},
      {Opcode::kDepolarizing, 1, -1, ParamSource::kWeight, 0},  // no shift rule for channels
      {Opcode::kRz, 1, -1, ParamSource::kWeight, 2},
  };
  const std::vector<ShiftTarget> targets = shift_targets(program);
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets[0].operation, 1);
  EXPECT_EQ(targets[0].source, ParamSource::kInput);
  EXPECT_EQ(targets[0].index, 1);
  EXPECT_EQ(targets[1].operation, 3);
  EXPECT_EQ(targets[2].operation, 5);
  EXPECT_EQ(targets[2].index, 2);
}

TEST(EngineKind, ChannelsNeedTheDensityMatrix) {
  Program program;
  program.n_qubits = 1;
  program.operations = {{Opcode::kRx, 0, -1, ParamSource::kInput, 0}};
  EXPECT_EQ(engine_kind_for(program), EngineKind::kStatevector);
  program.operations.push_back({Opcode::kBitFlip, 0, -1, ParamSource::kConstant, 0});
  EXPECT_EQ(engine_kind_for(program), EngineKind::kDensityMatrix);
}

}  // namespace
}  // namespace qmoe::core
