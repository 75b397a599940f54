// The operators run a simulator's chunks in parallel (at::parallel_for over
// chunk ranges, one const simulator shared by every thread). These tests do the
// same with std::thread, from the very first call on a fresh simulator, and
// expect the results of a sequential run. Data races show up here as wrong
// values or crashes, and reliably under -fsanitize=address or thread.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "test_support.h"

namespace qmoe::test_support {
namespace {

constexpr int kThreads = 4;

// Runs body(begin, end) on kThreads threads over a split of [0, n_chunks), all
// released at once.
template <class Body>
void run_in_parallel(int64_t n_chunks, Body body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    const int64_t begin = n_chunks * t / kThreads, end = n_chunks * (t + 1) / kThreads;
    threads.emplace_back([&, begin, end] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      body(begin, end);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

Problem parallel_problem() {
  RandomOptions options;
  options.n_qubits = 3;
  options.n_extra_ops = 10;
  options.batch_size = 0;  // set below: one chunk per thread at least
  options.state_kind = StateKind::kComplex;
  Problem probe = random_problem(2024, options);
  const core::Program program = probe.parse();
  StatevectorSimulator<double> sim(program, probe.weights.data(),
                                   static_cast<int64_t>(probe.weights.size()),
                                   probe.constants.data(), probe.z_masks.data(),
                                   static_cast<int64_t>(probe.z_masks.size()), false);
  options.batch_size = 2 * kThreads * sim.chunk_size() - 3;
  return random_problem(2024, options);
}

void CheckParallelBackward(DiffMethod method) {
  const Problem problem = parallel_problem();
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    const auto expected = Harness<double>(problem, *kernels).backward(method);
    for (int round = 0; round < 4; ++round) {
      Harness<double> harness(problem, *kernels);  // fresh: nothing built lazily yet
      ASSERT_GE(harness.n_chunks(), kThreads);
      Gradients<double> grads;
      harness.allocate(grads);
      const auto pointers = harness.pointers(grads);
      run_in_parallel(harness.n_chunks(), [&](int64_t begin, int64_t end) {
        harness.simulator().backward(method, harness.view(), harness.grad_out().data(), begin, end,
                                     pointers);
      });
      harness.reduce(grads);
      ASSERT_TRUE(BitwiseEqual(grads.weight_partials, expected.weight_partials)) << round;
      ASSERT_TRUE(BitwiseEqual(grads.inputs, expected.inputs)) << round;
      ASSERT_TRUE(BitwiseEqual(grads.state, expected.state)) << round;
    }
  }
}

TEST(Concurrency, ParallelForward) {
  const Problem problem = parallel_problem();
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    Harness<double> harness(problem, *kernels);
    const auto expected = harness.forward();
    std::vector<double> out(expected.size(), 0.0);
    run_in_parallel(harness.n_chunks(), [&](int64_t begin, int64_t end) {
      harness.simulator().forward(harness.view(), begin, end, out.data());
    });
    EXPECT_TRUE(BitwiseEqual(out, expected));
  }
}

TEST(Concurrency, ParallelAdjoint) { CheckParallelBackward(DiffMethod::kAdjoint); }

TEST(Concurrency, ParallelParameterShiftOnFirstUse) {
  // The parameter-shift circuits are built on first use: concurrent first calls must
  // not race on building them. Run in a child process, so that a crash fails this
  // test only, not the whole binary.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        CheckParallelBackward(DiffMethod::kParameterShift);
        std::exit(::testing::Test::HasFailure() ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace qmoe::test_support
