// GoogleTests of qmoe's C++ modules (qmoe/nn.h) built against the installed
// package: shapes, gradients against central finite differences, equality with
// the operators and, with QMOE_NN_FIXTURES set (test_cpp_package.py writes it),
// with Python's programs, outputs and error messages for the same weights.
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>

#include "qmoe/nn.h"

namespace {

using qmoe::nn::LinearGate;
using qmoe::nn::LinearGateOptions;
using qmoe::nn::MLPGate;
using qmoe::nn::MLPGateOptions;
using qmoe::nn::MoE;
using qmoe::nn::MoEOptions;
using qmoe::nn::QuantumGate;
using qmoe::nn::QuantumGateOptions;
using qmoe::nn::TopKRouter;
using qmoe::nn::TopKRouterOptions;
using torch::nn::AnyModule;

// The modules the fixtures name, with the options test_cpp_package.py gives Python's.
AnyModule fixture_module(const std::string& name) {
  if (name == "quantum_expval")
    return AnyModule(QuantumGate(QuantumGateOptions(6, 4).n_qubits(3).layers(2)));
  if (name == "quantum_probs") {
    return AnyModule(QuantumGate(
        QuantumGateOptions(5, 4).readout("probs").entangler("basic").layers(2).embedding("Y")));
  }
  if (name == "quantum_parity") {
    return AnyModule(QuantumGate(
        QuantumGateOptions(4, 5).readout("parity").n_qubits(3).reuploads(2).layers(1).embedding(
            "Z")));
  }
  if (name == "quantum_paper") {
    return AnyModule(QuantumGate(QuantumGateOptions(2, 2).projection(false).layers(3)));
  }
  if (name == "linear") return AnyModule(LinearGate(LinearGateOptions(6, 4).bias(true)));
  if (name == "mlp") return AnyModule(MLPGate(MLPGateOptions(6, 4).hidden(5).activation("gelu")));
  ADD_FAILURE() << "no module named " << name;
  return {};
}

MoE fixture_moe(const std::string& name) {
  if (name == "moe_swiglu") {
    auto gate = QuantumGate(QuantumGateOptions(6, 4).n_qubits(3).layers(1));
    return MoE(MoEOptions(6, 4, 8).k(2), AnyModule(gate));
  }
  // the default LinearGate, MLP experts, half the slots an expert could take
  return MoE(MoEOptions(6, 4, 8).k(2).expert("mlp").capacity_factor(0.5));
}

TopKRouter fixture_router() {
  return TopKRouter(AnyModule(MLPGate(MLPGateOptions(6, 4).hidden(5))),
                    TopKRouterOptions(2).softmax("after"));
}

// The fixtures Python wrote, or nullptr (the test skips) without QMOE_NN_FIXTURES.
const char* fixture_dir() { return std::getenv("QMOE_NN_FIXTURES"); }

c10::Dict<c10::IValue, c10::IValue> fixtures() {
  const std::string path = std::string(fixture_dir()) + "/fixtures.pt";
  std::ifstream file(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes).toGenericDict();
}

torch::Tensor tensor_at(const c10::Dict<c10::IValue, c10::IValue>& dict, const std::string& key) {
  return dict.at(key).toTensor();
}

std::string weights_path(const std::string& name) {
  return std::string(fixture_dir()) + "/" + name + ".pt";
}

std::string error_message(const std::function<void()>& run) {
  try {
    run();
  } catch (const c10::Error& error) {
    return error.what_without_backtrace();
  }
  return "(no error)";
}

// d(sum(f(x) * cotangent))/dx by autograd against central differences, float64.
void expect_gradient_matches_finite_differences(const std::function<torch::Tensor()>& f,
                                                torch::Tensor parameter) {
  const auto cotangent = torch::randn_like(f());
  parameter.mutable_grad() = torch::Tensor();
  (f() * cotangent).sum().backward();
  const auto analytic = parameter.grad().clone();
  const double step = 1e-6;
  torch::NoGradGuard no_grad;
  auto flat = parameter.view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double saved = flat[i].item<double>();
    flat[i] = saved + step;
    const double plus = (f() * cotangent).sum().item<double>();
    flat[i] = saved - step;
    const double minus = (f() * cotangent).sum().item<double>();
    flat[i] = saved;
    EXPECT_NEAR(analytic.view(-1)[i].item<double>(), (plus - minus) / (2 * step), 1e-6)
        << "component " << i;
  }
}

TEST(QuantumGate, ShapesAndParameterNamesOfEveryReadout) {
  auto expval = QuantumGate(QuantumGateOptions(6, 4).n_qubits(3).layers(2));
  EXPECT_EQ(expval->forward(torch::randn({2, 3, 6})).sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(expval->circuit_weights.numel(), 2 * 3 * 3);
  std::vector<std::string> names;
  for (const auto& item : expval->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"circuit_weights", "projection.weight",
                                             "projection.bias", "adapter.weight", "adapter.bias"}));
  auto probs = QuantumGate(QuantumGateOptions(5, 3).readout("probs"));
  EXPECT_EQ(probs->n_qubits(), 2);
  EXPECT_EQ(probs->forward(torch::randn({7, 5})).sizes(), (std::vector<int64_t>{7, 3}));
  auto parity = QuantumGate(QuantumGateOptions(4, 5).readout("parity"));
  EXPECT_EQ(parity->n_qubits(), 3);  // ceil(log2(5 + 1))
  EXPECT_EQ(parity->circuit().z_masks, (std::vector<int64_t>{1, 2, 4, 3, 5}));
  EXPECT_EQ(parity->forward(torch::randn({5, 4})).sizes(), (std::vector<int64_t>{5, 5}));
  EXPECT_EQ(parity->scale.dim(), 0);
}

TEST(QuantumGate, EqualsTheOperatorOnItsProgram) {
  auto gate = QuantumGate(QuantumGateOptions(3, 2).projection(false).layers(2).entangler("basic"));
  const auto hidden = torch::rand({9, 3});
  const auto& circuit = gate->circuit();
  const auto values = qmoe::expval(hidden, gate->circuit_weights, std::nullopt, circuit.program,
                                   circuit.constants, circuit.n_qubits, circuit.z_masks);
  EXPECT_TRUE(torch::allclose(gate->forward(hidden), gate->adapter(values), 0, 0));
}

TEST(QuantumGate, GradientsMatchFiniteDifferences) {
  for (const std::string readout : {"expval", "probs", "parity"}) {
    SCOPED_TRACE(readout);
    auto gate = QuantumGate(
        QuantumGateOptions(3, 3).n_qubits(2).layers(1).readout(readout).dtype(torch::kFloat64));
    const auto hidden = torch::randn({4, 3}, torch::kFloat64);
    const auto f = [&] { return gate->forward(hidden); };
    expect_gradient_matches_finite_differences(f, gate->circuit_weights);
    expect_gradient_matches_finite_differences(f, gate->projection->weight);
  }
}

TEST(QuantumGate, ParameterShiftGradientsMatchFiniteDifferences) {
  auto gate = QuantumGate(QuantumGateOptions(2, 2)
                              .projection(false)
                              .layers(2)
                              .diff_method("parameter_shift")
                              .dtype(torch::kFloat64));
  const auto hidden = torch::rand({3, 2}, torch::kFloat64);
  expect_gradient_matches_finite_differences([&] { return gate->forward(hidden); },
                                             gate->circuit_weights);
}

TEST(QuantumGate, BadOptionsAndInputsAreValueErrors) {
  EXPECT_THROW(QuantumGate(QuantumGateOptions(4, 2).readout("amplitudes")), c10::ValueError);
  EXPECT_THROW(QuantumGate(QuantumGateOptions(3, 2).projection(false).n_qubits(2)),
               c10::ValueError);
  EXPECT_THROW(QuantumGate(QuantumGateOptions(4, 5).readout("probs").n_qubits(2)), c10::ValueError);
  auto gate = QuantumGate(QuantumGateOptions(4, 3));
  EXPECT_EQ(error_message([&] {
              gate->forward(torch::randn({2, 5}));
            }),
            "QuantumGate: hidden must have d_model=4 as its last dimension, got shape (2, 5)");
}

TEST(Gates, LinearAndMLPShapesAndBudget) {
  auto linear = LinearGate(LinearGateOptions(6, 4));
  EXPECT_EQ(linear->forward(torch::randn({3, 6})).sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_FALSE(linear->linear->bias.defined());
  // the paper's MLP routers for 2 features and 2 experts: 322 parameters -> hidden 64
  auto mlp = MLPGate(MLPGateOptions(2, 2).parameter_budget(322).activation("relu"));
  EXPECT_EQ(mlp->hidden_size(), 64);
  EXPECT_EQ(mlp->forward(torch::randn({2, 2, 2})).sizes(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_THROW(MLPGate(MLPGateOptions(2, 2)), c10::ValueError);
}

TEST(TopKRouter, WeightsIndicesAndLosses) {
  auto router = TopKRouter(AnyModule(LinearGate(LinearGateOptions(5, 4))), TopKRouterOptions(2));
  const auto out = router->forward(torch::randn({2, 6, 5}));
  EXPECT_EQ(out.weights.sizes(), (std::vector<int64_t>{12, 2}));
  EXPECT_TRUE(torch::allclose(out.weights.sum(-1), torch::ones({12})));
  EXPECT_TRUE(out.indices.select(1, 0).ne(out.indices.select(1, 1)).all().item<bool>());
  EXPECT_NEAR(out.load.sum().item<double>(), 1.0, 1e-6);
  EXPECT_GT(out.aux_loss.item<double>(), 0.0);
  EXPECT_THROW(TopKRouter(AnyModule(LinearGate(LinearGateOptions(5, 4))), TopKRouterOptions(5)),
               c10::ValueError);
}

TEST(MoE, OutputShapeAndCapacityDrops) {
  auto moe = MoE(MoEOptions(6, 4, 8).k(2).d_out(3));
  const auto out = moe->forward(torch::randn({2, 5, 6}));
  EXPECT_EQ(out.output.sizes(), (std::vector<int64_t>{2, 5, 3}));
  EXPECT_EQ(out.dropped.item<int64_t>(), 0);
  auto capped = MoE(MoEOptions(6, 4, 8).k(2).capacity_factor(0.25));
  const auto dropped = capped->forward(torch::randn({16, 6}));
  // capacity ceil(0.25 * 16 * 2 / 4) = 2 per expert: at most 8 of the 32 slots kept
  EXPECT_GE(dropped.dropped.item<int64_t>(), 24);
}

TEST(MoE, GradientsMatchFiniteDifferences) {
  // soft routing (k = n_experts): no expert choice can flip under a small step
  auto gate = QuantumGate(QuantumGateOptions(3, 2).n_qubits(2).layers(1).dtype(torch::kFloat64));
  auto moe = MoE(MoEOptions(3, 2, 4).k(2), AnyModule(gate));
  moe->to(torch::kFloat64);
  const auto hidden = torch::randn({5, 3}, torch::kFloat64);
  const auto f = [&] { return moe->forward(hidden).output; };
  expect_gradient_matches_finite_differences(f, gate->circuit_weights);
  auto expert = moe->experts[1]->as<qmoe::nn::SwiGLUExpert>();
  expect_gradient_matches_finite_differences(f, expert->up_proj->weight);
}

TEST(Weights, RoundTripAndClearErrors) {
  const std::string path = ::testing::TempDir() + "qmoe_nn_weights.pt";
  auto saved = MoE(MoEOptions(4, 2, 3).k(1));
  qmoe::nn::save_weights(*saved, path);
  auto loaded = MoE(MoEOptions(4, 2, 3).k(1));
  qmoe::nn::load_weights(*loaded, path);
  const auto hidden = torch::randn({3, 4});
  EXPECT_TRUE(torch::equal(saved->forward(hidden).output, loaded->forward(hidden).output));

  const auto missing = ::testing::TempDir() + "qmoe_no_such_file.pt";
  EXPECT_NE(error_message([&] { qmoe::nn::load_weights(*loaded, missing); }).find(missing),
            std::string::npos);
  // truncated: half of a valid file
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto truncated = ::testing::TempDir() + "qmoe_truncated.pt";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const auto truncated_error = error_message([&] { qmoe::nn::load_weights(*loaded, truncated); });
  EXPECT_NE(truncated_error.find(truncated), std::string::npos) << truncated_error;
  EXPECT_NE(truncated_error.find("cannot be read"), std::string::npos) << truncated_error;
  // another model's file: a shape that does not fit
  auto wider = MoE(MoEOptions(5, 2, 3).k(1));
  const auto mismatch = error_message([&] { qmoe::nn::load_weights(*wider, path); });
  EXPECT_NE(mismatch.find("has shape [2, 4], expected [2, 5]"), std::string::npos) << mismatch;
}

// ---- against Python (fixtures from test_cpp_package.py) ----------------------------

class AgainstPython : public ::testing::Test {
 protected:
  void SetUp() override {
    if (fixture_dir() == nullptr) GTEST_SKIP() << "QMOE_NN_FIXTURES is not set";
    fixtures_ = fixtures();
  }
  const c10::Dict<c10::IValue, c10::IValue>& data() const { return *fixtures_; }

 private:
  // a Dict of IValues has no empty constructor
  std::optional<c10::Dict<c10::IValue, c10::IValue>> fixtures_;
};

TEST_F(AgainstPython, GatePrograms) {
  for (const std::string name :
       {"quantum_expval", "quantum_probs", "quantum_parity", "quantum_paper"}) {
    SCOPED_TRACE(name);
    auto gate = fixture_module(name).get<QuantumGate>();
    const auto& circuit = gate->circuit();
    const auto program = tensor_at(data(), name + ".program");
    ASSERT_EQ(program.numel(), static_cast<int64_t>(circuit.program.size()));
    EXPECT_TRUE(torch::equal(program, torch::tensor(circuit.program)));
    const auto masks = tensor_at(data(), name + ".z_masks");
    EXPECT_TRUE(torch::equal(masks, torch::tensor(circuit.z_masks, torch::kInt64)));
  }
}

TEST_F(AgainstPython, GateOutputsOnPythonWeights) {
  for (const std::string name :
       {"quantum_expval", "quantum_probs", "quantum_parity", "quantum_paper", "linear", "mlp"}) {
    SCOPED_TRACE(name);
    auto gate = fixture_module(name);
    qmoe::nn::load_weights(*gate.ptr(), weights_path(name));
    const auto logits = gate.forward(tensor_at(data(), name + ".hidden"));
    const auto expected = tensor_at(data(), name + ".logits");
    EXPECT_EQ(logits.sizes(), expected.sizes());
    EXPECT_LE((logits - expected).abs().max().item<double>(), 1e-6);
  }
}

TEST_F(AgainstPython, RouterAndMoEOutputsOnPythonWeights) {
  auto router = fixture_router();
  qmoe::nn::load_weights(*router, weights_path("router_after"));
  const auto routing = router->forward(tensor_at(data(), "router_after.hidden"));
  EXPECT_TRUE(torch::equal(routing.indices, tensor_at(data(), "router_after.indices")));
  EXPECT_LE(
      (routing.weights - tensor_at(data(), "router_after.weights")).abs().max().item<double>(),
      1e-6);
  EXPECT_NEAR(routing.aux_loss.item<double>(),
              tensor_at(data(), "router_after.aux_loss").item<double>(), 1e-6);
  EXPECT_NEAR(routing.z_loss.item<double>(),
              tensor_at(data(), "router_after.z_loss").item<double>(), 1e-5);
  for (const std::string name : {"moe_swiglu", "moe_mlp_capacity"}) {
    SCOPED_TRACE(name);
    auto moe = fixture_moe(name);
    qmoe::nn::load_weights(*moe, weights_path(name));
    const auto out = moe->forward(tensor_at(data(), name + ".hidden"));
    EXPECT_LE((out.output - tensor_at(data(), name + ".output")).abs().max().item<double>(), 1e-6);
    EXPECT_TRUE(torch::equal(out.routing.indices, tensor_at(data(), name + ".indices")));
    EXPECT_EQ(out.dropped.item<int64_t>(), tensor_at(data(), name + ".dropped").item<int64_t>());
  }
}

TEST_F(AgainstPython, SaveInCppLoadInPython) {
  // test_cpp_package.py loads this file into the Python module and compares outputs
  auto gate = fixture_module("quantum_expval");
  qmoe::nn::save_weights(*gate.ptr(), std::string(fixture_dir()) + "/cpp_quantum_expval.pt");
  c10::Dict<std::string, torch::Tensor> logits;
  logits.insert("logits", gate.forward(tensor_at(data(), "quantum_expval.hidden")));
  const auto bytes = torch::pickle_save(c10::IValue(logits));
  std::ofstream(std::string(fixture_dir()) + "/cpp_quantum_expval_logits.pt", std::ios::binary)
      .write(bytes.data(), bytes.size());
}

TEST_F(AgainstPython, SameErrorMessagesAsPython) {
  auto gate = fixture_module("quantum_expval").get<QuantumGate>();
  EXPECT_EQ(error_message([&] {
              gate->forward(torch::randn({2, 5}));
            }),
            data().at("message.bad_hidden").toStringRef());
  // an operator call with a weights vector of the wrong length
  const auto& circuit = gate->circuit();
  EXPECT_EQ(error_message([&] {
              qmoe::expval(torch::rand({2, 3}), torch::rand({4}), std::nullopt, circuit.program,
                           circuit.constants, circuit.n_qubits, circuit.z_masks);
            }),
            data().at("message.bad_weights").toStringRef());
  EXPECT_EQ(error_message([&] { QuantumGate(QuantumGateOptions(4, 2).entangler("ring")); }),
            data().at("message.bad_entangler").toStringRef());
}

}  // namespace
