// Basic layers: Linear, LayerNorm, GELU, Dropout, Mlp (RMSNorm is in nn/rms_norm.h). Each is a
// Module with PyTorch's parameter names and layouts, so state dicts load unchanged.
#pragma once

#include "nn/module.h"

namespace sm {

// y = x W^T + b, W (out, in), b (out). Init as PyTorch: W ~ U(±1/sqrt(in)), b ~ U(±1/sqrt(in)).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)
  Tensor weight, bias;                    // (out, in), (out) or undefined
};

// A layer that normalizes each token's channels (the last dim). Transformer blocks hold their
// norms as Norms, so a config can choose LayerNorm or RMSNorm (nn/rms_norm.h).
class Norm : public Module {
 public:
  virtual Tensor forward(const Tensor& x) const = 0;  // (..., C) -> (..., C)
};

// Normalizes the last dim: (x - mean) / sqrt(var + eps) * weight + bias (biased var).
class LayerNorm : public Norm {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5);
  Tensor forward(const Tensor& x) const override;
  Tensor weight, bias;  // (dim)
  double eps;
};

// GELU, exact (erf) by default; approximate = true uses the tanh form.
class GELU : public Module {
 public:
  explicit GELU(bool approximate = false) : approximate(approximate) {}
  Tensor forward(const Tensor& x) const { return approximate ? gelu_tanh(x) : gelu(x); }
  bool approximate;
};

// Zeroes each element with probability p in training mode and scales the rest by
// 1 / (1 - p); the identity in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) const;
  double p;
};

// fc1 -> GELU -> fc2 (timm's Mlp; names fc1, fc2).
class Mlp : public Module {
 public:
  Mlp(int64_t in_features, int64_t hidden_features, int64_t out_features = 0);
  Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)
  std::shared_ptr<Linear> fc1, fc2;
};

}  // namespace sm
