#include "tensor/op_registry.h"

namespace sm {

const std::vector<OpInfo>& all_ops() {
  static const std::vector<OpInfo> ops = {
#define OP(name, differentiable) {#name, differentiable},
#include "tensor/ops.def"
#undef OP
  };
  return ops;
}

const OpInfo* find_op(const std::string& name) {
  for (const OpInfo& op : all_ops())
    if (op.name == name) return &op;
  return nullptr;
}

}  // namespace sm
