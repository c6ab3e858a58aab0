// Replays the op cases of tests/reference/ops.json with the library: one entry per op name,
// mirroring the PyTorch lambdas of tests/reference/make_op_fixtures.py.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "autograd/autograd.h"

namespace sm::test {

// Runs `op` on `inputs` with the case's attributes. Throws for an unknown op.
Tensor run_op(const std::string& op, const std::vector<Tensor>& inputs, const nlohmann::json& attrs);

// The op names run_op knows.
std::set<std::string> runnable_ops();

}  // namespace sm::test
