#include "qmoe/nn/weights_file.h"

#include <torch/serialize.h>
#include <torch/types.h>

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace qmoe::nn {
namespace {

constexpr const char* kExpected =
    "a torch.save / torch::pickle_save file of a dict of name -> tensor (a state dict)";

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  TORCH_CHECK(file.good(), "qmoe: cannot open the weights file '", path, "' (expected ", kExpected,
              ")");
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  TORCH_CHECK(!bytes.empty(), "qmoe: the weights file '", path, "' is empty (expected ", kExpected,
              ")");
  return bytes;
}

std::string sizes_text(c10::IntArrayRef sizes) {
  std::ostringstream text;
  text << sizes;
  return text.str();
}

}  // namespace

c10::Dict<std::string, torch::Tensor> read_tensor_dict(const std::string& path) {
  const auto bytes = read_bytes(path);
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "qmoe: the weights file '", path,
                "' cannot be read (truncated, or not a torch.save file?); expected ", kExpected,
                ". Reading it said: ", error.what_without_backtrace());
  }
  TORCH_CHECK(value.isGenericDict(), "qmoe: the weights file '", path, "' holds a ",
              value.tagKind(), ", expected ", kExpected);
  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& entry : value.toGenericDict()) {
    TORCH_CHECK(entry.key().isString() && entry.value().isTensor(), "qmoe: the weights file '",
                path, "' has an entry of ", entry.key().tagKind(), " -> ", entry.value().tagKind(),
                ", expected ", kExpected);
    tensors.insert(entry.key().toStringRef(), entry.value().toTensor());
  }
  return tensors;
}

void save_weights(const torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& item : module.named_parameters()) {
    tensors.insert(item.key(), item.value().detach().to(torch::kCPU).contiguous());
  }
  for (const auto& item : module.named_buffers()) {
    tensors.insert(item.key(), item.value().detach().to(torch::kCPU).contiguous());
  }
  const auto bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream file(path, std::ios::binary);
  TORCH_CHECK(file.good(), "qmoe: cannot write the weights file '", path, "'");
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  TORCH_CHECK(file.good(), "qmoe: writing the weights file '", path, "' failed");
}

void load_weights(torch::nn::Module& module, const std::string& path) {
  const auto tensors = read_tensor_dict(path);
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  const auto copy_into = [&](const std::string& name, torch::Tensor& target) {
    expected.insert(name);
    const auto found = tensors.find(name);
    TORCH_CHECK(found != tensors.end(), "qmoe: the weights file '", path, "' has no '", name,
                "' (expected ", sizes_text(target.sizes()), " for ", module.name(), ")");
    const auto& source = found->value();
    TORCH_CHECK(source.sizes() == target.sizes(), "qmoe: the weights file '", path, "': '", name,
                "' has shape ", sizes_text(source.sizes()), ", expected ",
                sizes_text(target.sizes()));
    target.copy_(source);
  };
  for (auto& item : module.named_parameters()) copy_into(item.key(), item.value());
  for (auto& item : module.named_buffers()) copy_into(item.key(), item.value());
  for (const auto& entry : tensors) {
    TORCH_CHECK(expected.count(entry.key()), "qmoe: the weights file '", path, "' has '",
                entry.key(), "', which ", module.name(),
                " does not have (a file of another model or options?)");
  }
}

}  // namespace qmoe::nn
