// What every gate shares: the check of `hidden` and the dtype of the logits.
#pragma once

#include <torch/types.h>

#include <string>

namespace qmoe::nn {

// c10::ValueError "<gate>: hidden must have d_model=<d> as its last dimension, got
// shape (<sizes>)", the message of Python's gates.
void check_hidden(const torch::Tensor& hidden, int64_t d_model, const std::string& gate);

// Python's sizes as a tuple: "(3, 5)", "(5,)", "()".
std::string python_shape(c10::IntArrayRef sizes);

// The dtype nn.Linear would return for `hidden`: hidden's, except under autocast on
// hidden's device, where a float32 / float16 / bfloat16 input gives autocast's dtype.
torch::Dtype gate_output_dtype(const torch::Tensor& hidden);

// hidden's leading dimensions, then `last`.
std::vector<int64_t> with_last_dimension(const torch::Tensor& hidden, int64_t last);

}  // namespace qmoe::nn
