// The paper's Two Moons model trained in C++: MoE(2, 2, k=2) (softmax over both
// experts) routed by QuantumGate(2, 2, layers=3, projection=False) (RX embedding of
// the two scaled features, three strongly entangling layers, <Z> per wire, a
// Linear(2, 2) readout), two nn::Linear(2, 2) experts giving the class logits.
// Adam on the cross-entropy in shuffled minibatches, as qmoe_torch.experiments does.
//
//   qmoe_train_two_moons DATA.pt WEIGHTS_OUT.pt [--init WEIGHTS.pt] [--epochs 30]
//                        [--lr 0.05] [--batch 32] [--seed 0]
//
// DATA.pt (write_data.py): {"x_train", "y_train", "x_test", "y_test"}. --init starts
// from given weights (e.g. Python's initial ones) instead of a fresh initialisation.
// Prints the training loss per epoch and the test accuracy; writes the trained
// weights in the format qmoe_torch.libtorch.load_state_dict reads.
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "qmoe/nn.h"

namespace {

qmoe::nn::MoE two_moons_model() {
  auto gate = qmoe::nn::QuantumGate(
      qmoe::nn::QuantumGateOptions(2, 2).layers(3).embedding("X").projection(false));
  std::vector<torch::nn::AnyModule> experts;
  for (int e = 0; e < 2; ++e) experts.emplace_back(torch::nn::Linear(2, 2));
  return qmoe::nn::MoE(qmoe::nn::MoEOptions(2, 2, 0).k(2).d_out(2).softmax("before"),
                       torch::nn::AnyModule(gate), std::move(experts));
}

torch::Tensor entry(const c10::Dict<std::string, torch::Tensor>& data, const std::string& path,
                    const std::string& name) {
  TORCH_CHECK(data.contains(name), "qmoe_train_two_moons: the data file '", path, "' has no '",
              name, "' (expected x_train, y_train, x_test, y_test)");
  return data.at(name);
}

double accuracy(qmoe::nn::MoE& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto logits = model->forward(x).output;
  return logits.argmax(-1).eq(y).to(torch::kFloat64).mean().item<double>();
}

int run(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: qmoe_train_two_moons DATA.pt WEIGHTS_OUT.pt [--init WEIGHTS.pt] "
                 "[--epochs N] [--lr LR] [--batch B] [--seed S]\n";
    return 2;
  }
  const std::string data_path = argv[1], out_path = argv[2];
  std::string init_path;
  int64_t epochs = 30, batch_size = 32, seed = 0;
  double lr = 0.05;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--init") {
      init_path = value;
    } else if (flag == "--epochs") {
      epochs = std::stoll(value);
    } else if (flag == "--lr") {
      lr = std::stod(value);
    } else if (flag == "--batch") {
      batch_size = std::stoll(value);
    } else if (flag == "--seed") {
      seed = std::stoll(value);
    } else {
      std::cerr << "qmoe_train_two_moons: unknown option " << flag << "\n";
      return 2;
    }
  }
  TORCH_CHECK_VALUE(epochs >= 1 && batch_size >= 1 && lr > 0,
                    "qmoe_train_two_moons: expected epochs >= 1, batch >= 1 and lr > 0");
  const auto data = qmoe::nn::read_tensor_dict(data_path);
  const auto x_train = entry(data, data_path, "x_train"),
             y_train = entry(data, data_path, "y_train");
  const auto x_test = entry(data, data_path, "x_test"), y_test = entry(data, data_path, "y_test");

  // one thread: tiny batches (as the Python runs), and the same numbers every run
  torch::set_num_threads(1);
  torch::manual_seed(seed);
  auto model = two_moons_model();
  if (!init_path.empty()) qmoe::nn::load_weights(*model, init_path);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(lr));
  // the minibatch order of qmoe_torch.experiments.training.train: randperm per epoch
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t n = x_train.size(0);
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    model->train();
    const auto order = torch::randperm(n, generator, torch::kInt64);
    double total = 0;
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const auto batch = order.slice(0, begin, std::min(n, begin + batch_size));
      const auto out = model->forward(x_train.index_select(0, batch));
      const auto loss =
          torch::nn::functional::cross_entropy(out.output, y_train.index_select(0, batch));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      total += loss.item<double>() * batch.size(0);
    }
    std::printf("epoch %ld loss %.6f\n", static_cast<long>(epoch + 1), total / n);
  }
  std::printf("train accuracy %.6f\n", accuracy(model, x_train, y_train));
  std::printf("test accuracy %.6f\n", accuracy(model, x_test, y_test));
  qmoe::nn::save_weights(*model, out_path);
  std::printf("weights written to %s\n", out_path.c_str());
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
