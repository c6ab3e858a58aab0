#include "nn/optim/optimizer.h"

#include <cmath>
#include <numbers>
#include <set>

#include "tensor/backend.h"

namespace sm {

std::vector<ParamGroup> decay_groups(const Module& module, double weight_decay) {
  ParamGroup decay{{}, weight_decay}, no_decay{{}, 0.0};
  for (const auto& [name, p] : module.named_parameters()) {
    const bool skip = p.dim() <= 1 || name.find("token") != std::string::npos;
    (skip ? no_decay : decay).params.emplace_back(name, p);
  }
  return {decay, no_decay};
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr) : groups_(std::move(groups)), lr_(lr) {
  std::set<std::string> names;  // state is kept by name, so names must be unique
  for (const ParamGroup& group : groups_)
    for (const auto& [name, p] : group.params) {
      check(p.requires_grad(), "optimizer", "parameter '", name, "' does not require grad");
      check(names.insert(name).second, "optimizer", "two parameters are named '", name, "'");
    }
}

void Optimizer::zero_grad() {
  for (const ParamGroup& group : groups_)
    for (const auto& [name, p] : group.params) p.zero_grad();
}

Tensor& Optimizer::buffer(const std::string& kind, const std::string& name, const Tensor& like) {
  Tensor& b = buffers_[kind + "." + name];
  if (!b.defined()) b = zeros_like(like);
  return b;
}

StateDict Optimizer::state_dict() const {
  StateDict state = buffers_;
  state["step"] = scalar_tensor(static_cast<double>(steps_), {.dtype = DType::I64});
  return state;
}

void Optimizer::load_state_dict(const StateDict& state) {
  auto step = state.find("step");
  check(step != state.end(), "optimizer", "state has no 'step' entry");
  steps_ = static_cast<int64_t>(step->second.item());
  buffers_.clear();
  for (const ParamGroup& group : groups_)
    for (const auto& [name, p] : group.params)
      for (const auto& [key, value] : state) {
        const size_t dot = key.find('.');
        if (dot == std::string::npos || key.substr(dot + 1) != name) continue;
        check(value.shape() == p.shape(), "optimizer", "state '", key, "' has shape ", fmt(value.shape()),
              " but the parameter has ", fmt(p.shape()));
        buffers_[key] = to_dtype(value.to(p.device()), p.dtype()).clone();
      }
}

AdamW::AdamW(std::vector<ParamGroup> groups, Options options) : Optimizer(std::move(groups), options.lr), options(options) {}

// One fused kernel call per group (tensor/adamw_update.h has the formula), rather than the
// dozen tensor ops per parameter the update reads as.
void AdamW::step() {
  NoGradGuard no_grad;
  ++steps_;
  for (const ParamGroup& group : groups_) {
    std::vector<Tensor> params, grads, exp_avgs, exp_avg_sqs;
    for (const auto& [name, p] : group.params) {
      const Tensor g = p.grad();
      if (!g.defined()) continue;
      check(p.is_contiguous(), "AdamW", "parameter '", name, "' of shape ", fmt(p.shape()),
            " is a strided view; parameters must own contiguous storage");
      check(p.device() == group.params.front().second.device(), "AdamW", "parameter '", name, "' is on ",
            device_name(p.device()), ", others on ", device_name(group.params.front().second.device()));
      params.push_back(p);
      grads.push_back(contiguous(g));
      exp_avgs.push_back(buffer("exp_avg", name, p));
      exp_avg_sqs.push_back(buffer("exp_avg_sq", name, p));
    }
    if (params.empty()) continue;
    backend_for(params.front().device())
        .adamw(params, grads, exp_avgs, exp_avg_sqs,
               {.lr = lr_, .beta1 = options.beta1, .beta2 = options.beta2, .eps = options.eps,
                .weight_decay = group.weight_decay, .step = steps_});
  }
}

SGD::SGD(std::vector<ParamGroup> groups, double lr, double momentum) : Optimizer(std::move(groups), lr), momentum(momentum) {}

void SGD::step() {
  NoGradGuard no_grad;
  ++steps_;
  for (const ParamGroup& group : groups_)
    for (const auto& [name, p] : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (group.weight_decay != 0) g = g + p * group.weight_decay;
      if (momentum != 0) {
        const bool first = !buffers_.count("momentum_buffer." + name);
        Tensor& buf = buffer("momentum_buffer", name, p);
        copy_(buf, first ? g : buf * momentum + g);
        g = buf;
      }
      copy_(p, p - g * lr_);
    }
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  double total = 0;
  for (const Tensor& p : params)
    if (p.grad().defined()) total += sum(p.grad() * p.grad()).item();
  total = std::sqrt(total);
  const double scale = max_norm / (total + 1e-6);
  if (scale < 1)
    for (const Tensor& p : params)
      if (p.grad().defined()) copy_(p.grad(), p.grad() * scale);
  return total;
}

double warmup_cosine_lr(int64_t step, int64_t warmup_steps, int64_t total_steps, double base_lr, double min_lr) {
  if (step < warmup_steps) return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
  if (total_steps <= warmup_steps) return base_lr;
  const double progress = static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
  return min_lr + (base_lr - min_lr) * 0.5 * (1 + std::cos(std::numbers::pi * std::min(progress, 1.0)));
}

}  // namespace sm
