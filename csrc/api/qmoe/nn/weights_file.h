// The weights format shared with Python: a torch.save / torch::pickle_save file
// holding one dict of parameter and buffer name -> tensor, the module's
// state_dict() (qmoe_torch.libtorch.save_state_dict / load_state_dict write and
// read the same files from Python; torch.save(dict(module.state_dict())) and
// torch.load also do).
#pragma once

#include <torch/nn/module.h>

#include <string>

namespace qmoe::nn {

// Writes every parameter and buffer of `module` (on the CPU, contiguous).
void save_weights(const torch::nn::Module& module, const std::string& path);

// Copies the file's tensors into `module`'s parameters and buffers. A c10::Error
// naming the file and what was expected when it is missing, unreadable (truncated,
// another format), or does not hold exactly the module's names with their shapes.
void load_weights(torch::nn::Module& module, const std::string& path);

// The file's tensors by name, with the same checks of the file itself.
c10::Dict<std::string, torch::Tensor> read_tensor_dict(const std::string& path);

}  // namespace qmoe::nn
