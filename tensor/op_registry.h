// The op registry: the list in tensor/ops.def, as data that tests and docs can walk.
#pragma once

#include <string>
#include <vector>

namespace sm {

struct OpInfo {
  std::string name;
  bool differentiable;
};

const std::vector<OpInfo>& all_ops();
const OpInfo* find_op(const std::string& name);  // nullptr when unknown

}  // namespace sm
