// Mixed precision (PyTorch's autocast to bfloat16): inside an AutocastGuard, matrix products
// (matmul, and the attention kernels) multiply bfloat16 copies of their float32 operands,
// accumulate in float32 and return float32. Everything else stays float32: layer norm,
// softmax, the loss, the optimizer and the parameters themselves (the "master weights"). A
// product's backward multiplies in bfloat16 too (the guard's setting is kept with the product),
// so the backward pass may run outside the guard, as in PyTorch.
//
// bfloat16 keeps float32's range (no loss scaling needed) with 8 significant bits; on GPUs
// with tensor cores its products run several times faster and its operands take half the
// memory. A backend without bfloat16 products (the CPU) multiplies float32 operands rounded to
// bfloat16, which gives the same numbers.
#pragma once

#include "tensor/tensor.h"

namespace sm {

class AutocastGuard {
 public:
  explicit AutocastGuard(bool enabled = true);  // the setting inside the guard's scope
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool previous_;
};

bool autocast_enabled();  // on this thread

// The operands of a matrix product as it multiplies them, with the checks they need.
struct ProductOperands {
  std::vector<Tensor> operands;  // bfloat16 under autocast (float32 rounded to bfloat16 where the
                                 // backend has no bfloat16 products); the inputs otherwise
  DType out_dtype;               // float32 under autocast; the inputs' dtype otherwise
  bool autocast;                 // whether the product (and its backward) is mixed precision
};
// Throws "[op] ..." when the inputs are on different devices, not floating, or of different
// dtypes (under autocast float32 and bfloat16 mix: a backward multiplies saved bfloat16 copies).
ProductOperands product_operands(const char* op, const std::vector<Tensor>& inputs);

}  // namespace sm
