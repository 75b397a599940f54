// Loads an AOTInductor package of a quantum-routed MoE layer (export_model.py)
// and routes a batch of tokens: prints each token's chosen experts and their
// combine weights, and writes the outputs for comparison with Python.
//
//   qmoe_serve PACKAGE.pt2 BATCH.pt [--out OUTPUTS.pt] [--eager WEIGHTS.pt]
//
// BATCH.pt holds {"hidden": [tokens, 8]}. With --eager the same layer is also built
// from qmoe::nn modules, loaded from WEIGHTS.pt and run on the batch: the largest
// difference from the package's outputs is printed.
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "qmoe/nn.h"

namespace {

// The layer of export_model.py, as C++ modules.
qmoe::nn::MoE served_layer() {
  auto gate = qmoe::nn::QuantumGate(qmoe::nn::QuantumGateOptions(8, 4).n_qubits(4).layers(2));
  return qmoe::nn::MoE(qmoe::nn::MoEOptions(8, 4, 16).k(2), torch::nn::AnyModule(gate));
}

std::unique_ptr<torch::inductor::AOTIModelPackageLoader> load_package(const std::string& path) {
  TORCH_CHECK(std::ifstream(path).good(), "qmoe_serve: cannot open the package '", path,
              "' (expected a .pt2 file from aoti_compile_and_package)");
  try {
    return std::make_unique<torch::inductor::AOTIModelPackageLoader>(path);
  } catch (const std::exception& error) {
    TORCH_CHECK(false, "qmoe_serve: '", path,
                "' is not a loadable AOTInductor package (truncated, or built by another "
                "torch?): ",
                error.what());
  }
}

int run(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: qmoe_serve PACKAGE.pt2 BATCH.pt [--out OUTPUTS.pt] [--eager WEIGHTS.pt]\n";
    return 2;
  }
  const std::string package_path = argv[1], batch_path = argv[2];
  std::string out_path, weights_path;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--out") {
      out_path = argv[i + 1];
    } else if (flag == "--eager") {
      weights_path = argv[i + 1];
    } else {
      std::cerr << "qmoe_serve: unknown option " << flag << "\n";
      return 2;
    }
  }
  const auto batch = qmoe::nn::read_tensor_dict(batch_path);
  TORCH_CHECK(batch.contains("hidden"), "qmoe_serve: '", batch_path,
              "' has no 'hidden' (expected {\"hidden\": [tokens, d_model]})");
  const torch::Tensor hidden = batch.at("hidden");

  auto loader = load_package(package_path);
  torch::NoGradGuard no_grad;
  const auto outputs = loader->run({hidden});
  TORCH_CHECK(outputs.size() == 3, "qmoe_serve: the package returns ", outputs.size(),
              " tensors, expected 3 (output, weights, indices)");
  const auto& weights = outputs[1];
  const auto& indices = outputs[2];
  for (int64_t token = 0; token < hidden.size(0); ++token) {
    std::printf("token %ld: experts", static_cast<long>(token));
    for (int64_t slot = 0; slot < indices.size(1); ++slot) {
      std::printf(" %ld", static_cast<long>(indices[token][slot].item<int64_t>()));
    }
    std::printf("  weights");
    for (int64_t slot = 0; slot < weights.size(1); ++slot) {
      std::printf(" %.6f", weights[token][slot].item<double>());
    }
    std::printf("\n");
  }
  c10::Dict<std::string, torch::Tensor> results;
  results.insert("output", outputs[0]);
  results.insert("weights", weights);
  results.insert("indices", indices);

  if (!weights_path.empty()) {
    auto layer = served_layer();
    qmoe::nn::load_weights(*layer, weights_path);
    layer->eval();
    const auto eager = layer->forward(hidden);
    const double difference = (eager.output - outputs[0]).abs().max().item<double>();
    std::printf("C++ modules vs package: largest output difference %.3g\n", difference);
    results.insert("eager_output", eager.output);
    results.insert("eager_weights", eager.routing.weights);
    results.insert("eager_indices", eager.routing.indices);
  }
  if (!out_path.empty()) {
    const auto bytes = torch::pickle_save(c10::IValue(results));
    std::ofstream(out_path, std::ios::binary).write(bytes.data(), bytes.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const c10::Error& error) {
    std::cerr << error.what_without_backtrace() << "\n";
    return 1;
  }
}
