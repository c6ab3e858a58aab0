#include "nn/rms_norm.h"

namespace sm {

Tensor rms_norm_composite(const Tensor& x, const Tensor& weight, double eps) {
  Tensor mean_square = mean(x * x, {-1}, /*keepdim=*/true);  // (..., 1)
  Tensor y = x * rsqrt(mean_square + eps);                   // (..., C): broadcast over the channels
  return weight.defined() ? y * weight : y;                  // weight (C) broadcasts over the tokens
}

RMSNorm::RMSNorm(int64_t dim, double eps, bool fused) : eps(eps), fused(fused) {
  check(dim > 0, "RMSNorm", "dim must be positive, got ", dim);
  weight = register_parameter("weight", ones({dim}));
}

Tensor RMSNorm::forward(const Tensor& x) const {
  if (fused) return rms_norm(x, {weight.size(0)}, weight, eps);
  return rms_norm_composite(x, weight, eps);
}

}  // namespace sm
