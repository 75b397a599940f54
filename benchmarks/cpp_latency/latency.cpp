// Latency of one forward of the served MoE layer (examples/cpp_inference) per
// token count: the AOTInductor package and the qmoe::nn modules (eager), on the
// same weights and tokens. Prints one line per measurement:
//   <aoti|eager> <tokens> <median seconds> <repeats>
//
//   qmoe_cpp_latency PACKAGE.pt2 WEIGHTS.pt MIN_SECONDS TOKENS...
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "qmoe/nn.h"

namespace {

// Repeats `run` (after 3 warm-up calls) until `min_seconds` have passed and at
// least 10 times; the median of the single-call times.
std::pair<double, size_t> median_seconds(const std::function<void()>& run, double min_seconds) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 3; ++i) run();
  std::vector<double> times;
  const auto start = clock::now();
  while (times.size() < 10 ||
         std::chrono::duration<double>(clock::now() - start).count() < min_seconds) {
    const auto begin = clock::now();
    run();
    times.push_back(std::chrono::duration<double>(clock::now() - begin).count());
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return {times[times.size() / 2], times.size()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: qmoe_cpp_latency PACKAGE.pt2 WEIGHTS.pt MIN_SECONDS TOKENS...\n";
    return 2;
  }
  try {
    torch::inductor::AOTIModelPackageLoader package(argv[1]);
    auto gate = qmoe::nn::QuantumGate(qmoe::nn::QuantumGateOptions(8, 4).n_qubits(4).layers(2));
    auto layer = qmoe::nn::MoE(qmoe::nn::MoEOptions(8, 4, 16).k(2), torch::nn::AnyModule(gate));
    qmoe::nn::load_weights(*layer, argv[2]);
    layer->eval();
    const double min_seconds = std::stod(argv[3]);
    torch::NoGradGuard no_grad;
    for (int i = 4; i < argc; ++i) {
      const int64_t tokens = std::stoll(argv[i]);
      const auto hidden = torch::randn({tokens, 8});
      const auto [aoti, aoti_repeats] = median_seconds([&] { package.run({hidden}); }, min_seconds);
      std::printf("aoti %ld %.9f %zu\n", static_cast<long>(tokens), aoti, aoti_repeats);
      const auto [eager, eager_repeats] =
          median_seconds([&] { layer->forward(hidden); }, min_seconds);
      std::printf("eager %ld %.9f %zu\n", static_cast<long>(tokens), eager, eager_repeats);
      std::fflush(stdout);
    }
  } catch (const c10::Error& error) {
    std::cerr << error.what_without_backtrace() << "\n";
    return 1;
  }
  return 0;
}
