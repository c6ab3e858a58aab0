#include "nn/layers.h"

#include <cmath>

#include "nn/init.h"
#include "tensor/random.h"

namespace sm {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias) {
  check(in_features > 0 && out_features > 0, "Linear", "sizes must be positive, got ", in_features, " -> ",
        out_features);
  weight = register_parameter("weight", empty({out_features, in_features}));
  init::kaiming_uniform_linear_(weight);
  if (with_bias) {
    bias = register_parameter("bias", empty({out_features}));
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) const {
  check(x.dim() >= 1 && x.size(-1) == weight.size(1), "Linear", "input ", fmt(x.shape()), " does not end in ",
        weight.size(1), " features (weight ", fmt(weight.shape()), ")");
  return linear(x, weight, bias);  // (..., out)
}

LayerNorm::LayerNorm(int64_t dim, double eps) : eps(eps) {
  weight = register_parameter("weight", ones({dim}));
  bias = register_parameter("bias", zeros({dim}));
}

Tensor LayerNorm::forward(const Tensor& x) const { return layer_norm(x, {weight.size(0)}, weight, bias, eps); }

Dropout::Dropout(double p) : p(p) { check(p >= 0 && p < 1, "Dropout", "p must be in [0, 1), got ", p); }

Tensor Dropout::forward(const Tensor& x) const {
  if (!is_training() || p == 0) return x;
  Tensor keep = ge(rand(x.shape(), {.dtype = x.dtype(), .device = x.device()}), full_like(x, p));
  return x * keep * (1.0 / (1.0 - p));
}

Mlp::Mlp(int64_t in_features, int64_t hidden_features, int64_t out_features) {
  fc1 = register_module("fc1", std::make_shared<Linear>(in_features, hidden_features));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden_features, out_features ? out_features : in_features));
}

Tensor Mlp::forward(const Tensor& x) const { return fc2->forward(gelu(fc1->forward(x))); }

}  // namespace sm
