#include "nn/module.h"

namespace sm {

void Module::check_new_name(const std::string& name) const {
  check(!name.empty() && name.find('.') == std::string::npos, "register", "invalid name '", name, "'");
  auto taken = [&](const auto& list) {
    for (const auto& [existing, value] : list)
      if (existing == name) return true;
    return false;
  };
  check(!taken(parameters_) && !taken(buffers_) && !taken(children_), "register", "name '", name,
        "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  if (!value.requires_grad()) value.requires_grad_();
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  buffers_.emplace_back(name, value);
  return value;
}

void Module::collect(const std::string& prefix, bool parameters, NamedTensors& out) const {
  for (const auto& [name, tensor] : parameters ? parameters_ : buffers_) out.emplace_back(prefix + name, tensor);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", parameters, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (const auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, tensor] : named_parameters()) n += tensor.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->train(on);
}

void Module::convert_tensors(const std::function<Tensor(const Tensor&)>& convert) {
  for (auto* list : {&parameters_, &buffers_})
    for (auto& [name, tensor] : *list) {
      Tensor converted = convert(tensor.detach());
      // Swap the data under the same TensorImpl so every handle (layer members, an
      // optimizer's lists) follows.
      TensorImpl& impl = tensor.impl();
      impl.storage = converted.storage();
      impl.strides = converted.strides();
      impl.offset = converted.offset();
      impl.dtype = converted.dtype();
      impl.grad = nullptr;
    }
  for (const auto& [name, child] : children_) child->convert_tensors(convert);
}

void Module::to(Device device) {
  convert_tensors([device](const Tensor& t) { return t.to(device); });
}

void Module::to(DType dtype) {
  check(is_floating(dtype), "Module::to", "parameters must stay floating, got ", dtype_name(dtype));
  convert_tensors([dtype](const Tensor& t) { return t.to(dtype); });
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.zero_grad();
}

StateDict Module::state_dict() const {
  StateDict state;
  for (const auto& [name, tensor] : named_parameters()) state[name] = tensor;
  for (const auto& [name, tensor] : named_buffers()) state[name] = tensor;
  return state;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict own = state_dict();
  if (strict) {
    for (const auto& [name, tensor] : own)
      check(state.count(name), "load_state_dict", "missing key '", name, "' ", fmt(tensor.shape()));
    for (const auto& [name, tensor] : state)
      check(own.count(name), "load_state_dict", "unexpected key '", name, "' ", fmt(tensor.shape()));
  }
  NoGradGuard no_grad;
  for (auto& [name, target] : own) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    const Tensor& source = it->second;
    check(source.shape() == target.shape(), "load_state_dict", "key '", name, "' has shape ", fmt(source.shape()),
          " in the state dict but ", fmt(target.shape()), " in the model");
    copy_(target, to_dtype(source.to(target.device()), target.dtype()));
  }
}

}  // namespace sm
