// RMSNorm (Zhang & Sennrich, 2019): each token's channels divided by their root mean square,
//   y = x / sqrt(mean(x^2) + eps) * weight        x, y (..., C), weight (C)
// LayerNorm without the mean subtraction and the bias: one statistic per token instead of
// two, one parameter vector instead of two. LLaMA-style transformers use it; here it is an
// option of any ViT (ViTConfig::norm) and of the SiamMAE decoder (--decoder-norm rmsnorm).
//
// This file and rms_norm.cpp are the first worked example of docs/adding-a-layer.md: a layer
// built from existing ops, whose backward autograd derives by itself. The second example is
// the same layer as one fused op with its own kernels (rms_norm in autograd/functions.h); the
// module runs that one unless told otherwise, and tests/test_rms_norm.cpp checks that both
// give PyTorch's values.
#pragma once

#include "nn/layers.h"

namespace sm {

// RMSNorm over the last dim, written with existing ops: (..., C) -> (..., C). weight (C) or
// undefined.
Tensor rms_norm_composite(const Tensor& x, const Tensor& weight, double eps);

class RMSNorm : public Norm {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6, bool fused = true);
  Tensor forward(const Tensor& x) const override;  // (..., C) -> (..., C)
  Tensor weight;  // (C), starts at ones: the layer starts as a plain normalization
  double eps;
  bool fused;  // true: the fused op rms_norm; false: rms_norm_composite
};

}  // namespace sm
