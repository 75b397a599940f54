// Bitwise determinism of the gradients: each chunk writes its own partial sum
// of the weight gradient, and reduce_weight_partials adds them in chunk order (in double),
// so how the chunks are grouped into calls, and in which order the calls run
// (as threads would run them), must not change a single bit.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "test_support.h"

namespace qmoe::test_support {
namespace {

// Chunk ranges [begin, end), run one after another in the order given.
using Schedule = std::vector<std::pair<int64_t, int64_t>>;

std::vector<std::pair<const char*, Schedule>> schedules(int64_t n_chunks) {
  Schedule all = {{0, n_chunks}}, forward, reverse, groups, interleaved;
  for (int64_t c = 0; c < n_chunks; ++c) forward.push_back({c, c + 1});
  reverse.assign(forward.rbegin(), forward.rend());
  for (int64_t c = 0; c < n_chunks; c += 3) groups.push_back({c, std::min(n_chunks, c + 3)});
  std::reverse(groups.begin(), groups.end());
  for (int64_t c = 1; c < n_chunks; c += 2) interleaved.push_back({c, c + 1});  // odd first
  for (int64_t c = 0; c < n_chunks; c += 2) interleaved.push_back({c, c + 1});
  return {{"all at once", all},
          {"one chunk per call", forward},
          {"one chunk per call, reversed", reverse},
          {"groups of 3, reversed", groups},
          {"odd chunks first", interleaved}};
}

template <class Real>
Gradients<Real> run_schedule(const Harness<Real>& harness, DiffMethod method,
                             const Schedule& schedule) {
  Gradients<Real> grads;
  harness.allocate(grads);
  const auto pointers = harness.pointers(grads);
  for (const auto& [begin, end] : schedule) {
    harness.simulator().backward(method, harness.view(), harness.grad_out().data(), begin, end,
                                 pointers);
  }
  harness.reduce(grads);
  return grads;
}

template <class Real>
void CheckSchedulesAgree(const Problem& problem, int64_t min_chunks,
                         std::vector<DiffMethod> methods = {DiffMethod::kAdjoint,
                                                            DiffMethod::kParameterShift}) {
  for (const IsaKernels* kernels : core::supported_kernels()) {
    Harness<Real> harness(problem, *kernels);
    ASSERT_GE(harness.n_chunks(), min_chunks) << describe(*kernels);
    for (DiffMethod method : methods) {
      SCOPED_TRACE(describe(*kernels) +
                   (method == DiffMethod::kAdjoint ? ", adjoint" : ", parameter shift"));
      const auto baseline = run_schedule(harness, method, {{0, harness.n_chunks()}});
      // Not vacuous: every chunk has a partial of its own.
      const int64_t n_weights = static_cast<int64_t>(problem.weights.size());
      for (int64_t chunk = 0; chunk < harness.n_chunks(); ++chunk) {
        Real largest = 0;
        for (int64_t w = 0; w < n_weights; ++w) {
          largest = std::max(largest, std::abs(baseline.weight_partials[chunk * n_weights + w]));
        }
        EXPECT_GT(largest, Real(0)) << "chunk " << chunk << " has no weight partial";
      }
      // The reduction is the sum in chunk order, in double for either Real (both
      // engines share engine/weight_reduction.h), rounded once.
      std::vector<Real> in_order(static_cast<size_t>(n_weights), Real(0));
      for (int64_t w = 0; w < n_weights; ++w) {
        double sum = 0;
        for (int64_t chunk = 0; chunk < harness.n_chunks(); ++chunk) {
          sum += baseline.weight_partials[chunk * n_weights + w];
        }
        in_order[w] = static_cast<Real>(sum);
      }
      EXPECT_TRUE(BitwiseEqual(baseline.weights, in_order)) << "reduction order";

      for (const auto& [name, schedule] : schedules(harness.n_chunks())) {
        const auto grads = run_schedule(harness, method, schedule);
        EXPECT_TRUE(BitwiseEqual(grads.weight_partials, baseline.weight_partials))
            << name << ": weight partials";
        EXPECT_TRUE(BitwiseEqual(grads.weights, baseline.weights)) << name << ": weights";
        EXPECT_TRUE(BitwiseEqual(grads.inputs, baseline.inputs)) << name << ": inputs";
        EXPECT_TRUE(BitwiseEqual(grads.state, baseline.state)) << name << ": state";
      }
    }
  }
}

Problem many_chunk_problem(int n_qubits, int64_t batch_size, StateKind state,
                           bool input_angles = true, bool encoding_layer = false) {
  RandomOptions options;
  options.input_angles = input_angles;
  options.encoding_layer = encoding_layer;
  options.n_qubits = n_qubits;
  options.n_extra_ops = input_angles ? 6 : 20;
  options.batch_size = batch_size;
  options.state_kind = state;
  options.n_weights = 4;
  return random_problem(31337 + n_qubits, options);
}

TEST(Determinism, BlockedKernelsDouble) {
  // 10 qubits: 32 samples a chunk in double; 261 samples span 9 chunks, the last partial.
  CheckSchedulesAgree<double>(many_chunk_problem(10, 261, StateKind::kNone), 8);
}

TEST(Determinism, BlockedKernelsFloat) {
  // 64 samples a chunk in float.
  CheckSchedulesAgree<float>(many_chunk_problem(10, 261, StateKind::kComplex), 4);
}

TEST(Determinism, SingleSampleKernels) {
  // 17 qubits: one sample at a time, one sample a chunk, passes split across threads.
  CheckSchedulesAgree<double>(many_chunk_problem(17, 5, StateKind::kReal), 4);
  CheckSchedulesAgree<float>(many_chunk_problem(17, 4, StateKind::kNone), 4);
}

TEST(Determinism, DenseRuns) {
  // 3 qubits, every angle shared: dense unitaries, whose weight gradients come from
  // outer products accumulated over a chunk. 4096 samples a chunk in double.
  const Problem problem = many_chunk_problem(3, 3 * 4096 + 100, StateKind::kNone, false);
  ASSERT_GT(count_segments(problem, core::SegmentKind::kDenseUnitary), 0);
  CheckSchedulesAgree<double>(problem, 4, {DiffMethod::kAdjoint});
  CheckSchedulesAgree<float>(problem, 2, {DiffMethod::kAdjoint});
}

TEST(Determinism, RouterLayout) {
  // An encoding layer then shared angles, no initial state: 4 qubits, 2048 samples a chunk
  // in double. (Parameter shift runs the shifted circuits as any other: covered above.)
  const Problem problem = many_chunk_problem(4, 4 * 2048 + 100, StateKind::kNone, true, true);
  CheckSchedulesAgree<double>(problem, 4, {DiffMethod::kAdjoint});
  CheckSchedulesAgree<float>(problem, 2, {DiffMethod::kAdjoint});
}

TEST(Determinism, ForwardDoesNotDependOnTheSchedule) {
  const Problem problem = many_chunk_problem(10, 300, StateKind::kReal);
  for (const IsaKernels* kernels : core::supported_kernels()) {
    SCOPED_TRACE(describe(*kernels));
    Harness<double> harness(problem, *kernels);
    const auto all = harness.forward();
    for (const auto& [name, schedule] : schedules(harness.n_chunks())) {
      std::vector<double> out(all.size(), 0.0);
      for (const auto& [begin, end] : schedule) {
        harness.simulator().forward(harness.view(), begin, end, out.data());
      }
      EXPECT_TRUE(BitwiseEqual(out, all)) << name;
    }
  }
}

TEST(Determinism, SplitLargeStatesAnyThreadCount) {
  // 14 qubits, batch 1: the passes over the amplitudes run in parts on the OpenMP
  // threads; sums per part are added in part order, whatever the thread count.
  RandomOptions options;
  options.n_qubits = 14;
  options.n_extra_ops = 4;
  options.batch_size = 1;
  options.entangler_runs = true;
  const Problem problem = random_problem(8200, options);
  const IsaKernels& kernels = *core::supported_kernels().back();
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Harness<double> harness(problem, kernels);
  const auto forward_one = harness.forward();
  const auto grads_one = harness.backward(DiffMethod::kAdjoint);
  omp_set_num_threads(3);
  const auto forward_three = harness.forward();
  const auto grads_three = harness.backward(DiffMethod::kAdjoint);
  omp_set_num_threads(threads);
  EXPECT_TRUE(BitwiseEqual(forward_one, forward_three));
  EXPECT_TRUE(BitwiseEqual(grads_one.inputs, grads_three.inputs));
  EXPECT_TRUE(BitwiseEqual(grads_one.weights, grads_three.weights));
}

}  // namespace
}  // namespace qmoe::test_support
