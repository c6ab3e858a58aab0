// Optimizers (AdamW, SGD), gradient clipping and the warmup + cosine learning-rate schedule.
//
// Parameters come in named groups, each with its own weight decay, so that biases, norm
// weights and tokens can be left undecayed (MAE's recipe). Updates run under no-grad and
// write into the parameters in place. state_dict() holds everything needed to resume a run
// bit for bit: the step count and every moment buffer, by parameter name.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"

namespace sm {

struct ParamGroup {
  NamedTensors params;
  double weight_decay = 0;
};

// Two groups from a module: decay for weight matrices; none for 1-D parameters (biases,
// norm weights) and for any parameter whose name contains "token" (cls_token, mask_token).
std::vector<ParamGroup> decay_groups(const Module& module, double weight_decay);

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups, double lr);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  int64_t step_count() const { return steps_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // "step" plus each buffer as "<buffer>.<param name>", e.g. "exp_avg.blocks.0.attn.qkv.weight".
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  // The buffer `kind` of a parameter, created as zeros on first use.
  Tensor& buffer(const std::string& kind, const std::string& name, const Tensor& like);
  std::vector<ParamGroup> groups_;
  double lr_;
  int64_t steps_ = 0;
  StateDict buffers_;
};

// AdamW (Loshchilov & Hutter), as torch.optim.AdamW: p <- p (1 - lr wd), then the Adam step
// with bias-corrected moments.
class AdamW : public Optimizer {
 public:
  struct Options {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  };
  AdamW(std::vector<ParamGroup> groups, Options options);
  void step() override;
  Options options;
};

// SGD with momentum (PyTorch's form: buf <- momentum buf + g; p <- p - lr buf), L2 weight decay.
class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, double lr, double momentum = 0);
  void step() override;
  double momentum;
};

// Scales all gradients so that their global L2 norm is at most max_norm; returns the norm
// before clipping (like torch.nn.utils.clip_grad_norm_).
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// MAE's schedule, per step: linear warmup from 0 to base_lr over warmup_steps, then a
// half-cycle cosine from base_lr to min_lr at total_steps.
double warmup_cosine_lr(int64_t step, int64_t warmup_steps, int64_t total_steps, double base_lr, double min_lr);

}  // namespace sm
