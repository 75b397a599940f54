#include "qmoe/nn/gate_support.h"

#include <ATen/autocast_mode.h>

#include <sstream>

namespace qmoe::nn {

std::string python_shape(c10::IntArrayRef sizes) {
  std::ostringstream text;
  text << "(";
  for (size_t i = 0; i < sizes.size(); ++i) text << (i ? ", " : "") << sizes[i];
  text << (sizes.size() == 1 ? ",)" : ")");
  return text.str();
}

void check_hidden(const torch::Tensor& hidden, int64_t d_model, const std::string& gate) {
  TORCH_CHECK_VALUE(hidden.dim() >= 1 && hidden.size(-1) == d_model, gate,
                    ": hidden must have d_model=", d_model, " as its last dimension, got shape ",
                    python_shape(hidden.sizes()));
}

torch::Dtype gate_output_dtype(const torch::Tensor& hidden) {
  const auto device_type = hidden.device().type();
  if (hidden.is_floating_point() && hidden.scalar_type() != torch::kFloat64 &&
      at::autocast::is_autocast_enabled(device_type)) {
    return at::autocast::get_autocast_dtype(device_type);
  }
  return hidden.scalar_type();
}

std::vector<int64_t> with_last_dimension(const torch::Tensor& hidden, int64_t last) {
  std::vector<int64_t> sizes(hidden.sizes().begin(), hidden.sizes().end() - 1);
  sizes.push_back(last);
  return sizes;
}

}  // namespace qmoe::nn
