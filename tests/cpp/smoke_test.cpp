#include <gtest/gtest.h>
#include <cmath>
#include "core/statevector.h"
using namespace qmoe::core;
TEST(Smoke, RX) {
  std::vector<int64_t> words = {9, 0, -1, 1, 0};
  ProgramLimits limits; limits.n_input_columns = 1;
  Program p = parse_program(words.data(), words.size(), 1, limits);
  int64_t mask = 1;
  for (auto* k : supported_kernels()) {
  StatevectorSimulator<double> sim(p, nullptr, 0, nullptr, &mask, 1, false, *k);
  std::vector<double> in = {0.3, 1.0, 2.0};
  BatchView<double> b; b.batch_size = 3; b.inputs = in.data(); b.n_input_columns = 1;
  std::vector<double> out(3);
  sim.forward(b, 0, sim.n_chunks(3), out.data());
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(out[i], std::cos(in[i]), 1e-14) << k->name;
  std::vector<double> g(3, 1.0), gi(3, 0.0);
  StatevectorSimulator<double>::Gradients grads; grads.inputs = gi.data();
  sim.backward(DiffMethod::kAdjoint, b, g.data(), 0, sim.n_chunks(3), grads);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(gi[i], -std::sin(in[i]), 1e-14) << k->name;
  std::fill(gi.begin(), gi.end(), 0.0);
  sim.backward(DiffMethod::kParameterShift, b, g.data(), 0, sim.n_chunks(3), grads);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(gi[i], -std::sin(in[i]), 1e-14) << k->name;
  }
}
