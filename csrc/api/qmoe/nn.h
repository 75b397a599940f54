// qmoe's C++ modules: the routers and the MoE layer of qmoe_torch as
// torch::nn::Modules, with Python's options and parameter names, so a state
// dict moves between the two (qmoe/nn/weights_file.h). Link qmoe::nn.
#pragma once

#include "qmoe/nn/circuit_program.h"
#include "qmoe/nn/experts.h"
#include "qmoe/nn/linear_gate.h"
#include "qmoe/nn/mlp_gate.h"
#include "qmoe/nn/moe.h"
#include "qmoe/nn/quantum_gate.h"
#include "qmoe/nn/top_k_router.h"
#include "qmoe/nn/weights_file.h"
#include "qmoe/ops.h"
