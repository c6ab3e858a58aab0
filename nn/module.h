// Module: a layer or model with named parameters, buffers and sub-modules (libtorch style).
//
//   class Mlp : public Module {
//    public:
//     Mlp(int64_t in, int64_t hidden) {
//       fc1 = register_module("fc1", std::make_shared<Linear>(in, hidden));
//       fc2 = register_module("fc2", std::make_shared<Linear>(hidden, in));
//     }
//     Tensor forward(const Tensor& x) { return fc2->forward(gelu(fc1->forward(x))); }
//     std::shared_ptr<Linear> fc1, fc2;
//   };
//
// named_parameters() walks the tree and joins names with dots ("fc1.weight"), exactly as
// PyTorch does, so state dicts and checkpoints move between the two.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/functions.h"

namespace sm {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  NamedTensors named_parameters() const;  // recursive, dotted names, registration order
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  int64_t parameter_count() const;

  // Train / eval mode (Dropout looks at it), recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves every parameter and buffer to `device`, in place: handles held elsewhere (an
  // optimizer's, a layer's own members) see the move.
  void to(Device device);
  // Converts every parameter and buffer to a floating dtype, in place (f64 for gradient checks).
  void to(DType dtype);
  void zero_grad();

  // Parameters and buffers by dotted name.
  StateDict state_dict() const;
  // Copies values in. strict: every key must exist on both sides with the same shape;
  // otherwise keys missing from `state` are left alone and extra keys are ignored. The
  // error names the key and both shapes. Values are converted to each tensor's dtype.
  void load_state_dict(const StateDict& state, bool strict = true);

 protected:
  // Registers a parameter (requires_grad is set) and returns the stored handle.
  Tensor register_parameter(const std::string& name, Tensor value);
  // Registers a tensor that is saved and moved with the module but not trained.
  Tensor register_buffer(const std::string& name, Tensor value);
  template <typename M> std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_new_name(name);
    children_.emplace_back(name, module);
    return module;
  }

 private:
  void check_new_name(const std::string& name) const;
  // Replaces each parameter's and buffer's data by convert(data), under the same TensorImpl.
  void convert_tensors(const std::function<Tensor(const Tensor&)>& convert);
  void collect(const std::string& prefix, bool parameters, NamedTensors& out) const;

  NamedTensors parameters_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace sm
