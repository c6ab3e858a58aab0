// One element of the AdamW update (torch.optim.AdamW), written once for both backends' fused
// kernels (tensor/cpu/cpu_optim.cpp, tensor/cuda/cuda_optim.cu):
//   m <- beta1 m + (1 - beta1) g
//   v <- beta2 v + (1 - beta2) g^2
//   p <- p (1 - lr wd) - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// In T, with the constants rounded to T first, as the same update written with tensor ops
// computes it, except that the compiler may fuse a multiply and an add into one FMA (one
// rounding instead of two): results agree with the tensor-op version to about one unit in the
// last place (tests/test_nn.cpp).
#pragma once

#include <cmath>

#include "tensor/dtype.h"

namespace sm {

// The step's constants, computed once in double and rounded to T.
template <typename T> struct AdamWConstants {
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  T decay;       // 1 - lr * weight_decay
  bool decays;   // weight_decay != 0
  T bias2_sqrt;  // sqrt(1 - beta2^t)
  T eps;
  T step_size;  // lr / (1 - beta1^t)

  AdamWConstants(double lr, double b1, double b2, double epsilon, double weight_decay, int64_t step)
      : beta1(static_cast<T>(b1)),
        one_minus_beta1(static_cast<T>(1 - b1)),
        beta2(static_cast<T>(b2)),
        one_minus_beta2(static_cast<T>(1 - b2)),
        decay(static_cast<T>(1 - lr * weight_decay)),
        decays(weight_decay != 0),
        bias2_sqrt(static_cast<T>(std::sqrt(1 - std::pow(b2, static_cast<double>(step))))),
        eps(static_cast<T>(epsilon)),
        step_size(static_cast<T>(lr / (1 - std::pow(b1, static_cast<double>(step))))) {}
};

template <typename T> SM_HOST_DEVICE inline T square_root(T x) {
#ifdef __CUDA_ARCH__
  return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}

template <typename T> SM_HOST_DEVICE inline void adamw_update(T& p, T g, T& m, T& v, const AdamWConstants<T>& c) {
  m = m * c.beta1 + g * c.one_minus_beta1;
  v = v * c.beta2 + g * g * c.one_minus_beta2;
  const T decayed = c.decays ? p * c.decay : p;
  const T denom = square_root(v) / c.bias2_sqrt + c.eps;
  p = decayed - m / denom * c.step_size;
}

}  // namespace sm
