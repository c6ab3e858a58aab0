#include "autograd/autocast.h"

#include "tensor/backend.h"

namespace sm {

namespace {
thread_local bool g_autocast = false;
}

AutocastGuard::AutocastGuard(bool enabled) : previous_(g_autocast) { g_autocast = enabled; }
AutocastGuard::~AutocastGuard() { g_autocast = previous_; }
bool autocast_enabled() { return g_autocast; }

// x as a bfloat16 tensor (a contiguous copy unless it already is one), or, for a backend
// without bfloat16 products, as float32 holding the same rounded values.
static Tensor bfloat16_operand(const Tensor& x) {
  Backend& backend = backend_for(x.device());
  Tensor rounded = x;
  if (x.dtype() != DType::BF16) {
    rounded = empty(x.shape(), {.dtype = DType::BF16, .device = x.device()});
    backend.copy(x, rounded);
  }
  if (backend.multiplies_bfloat16()) return rounded;
  Tensor widened = empty(x.shape(), {.dtype = DType::F32, .device = x.device()});
  backend.copy(rounded, widened);
  return widened;
}

ProductOperands product_operands(const char* op, const std::vector<Tensor>& inputs) {
  const Tensor& first = inputs.front();
  const bool mixed = g_autocast && (first.dtype() == DType::F32 || first.dtype() == DType::BF16);
  for (const Tensor& x : inputs) {
    check(x.device() == first.device(), op, "tensors are on different devices: ", device_name(first.device()), " ",
          fmt(first.shape()), " and ", device_name(x.device()), " ", fmt(x.shape()));
    check(is_floating(x.dtype()), op, "expects floating tensors, got ", dtype_name(x.dtype()), " of shape ",
          fmt(x.shape()));
    const bool fits = mixed ? x.dtype() == DType::F32 || x.dtype() == DType::BF16 : x.dtype() == first.dtype();
    check(fits, op, "dtypes differ: ", dtype_name(first.dtype()), " ", fmt(first.shape()), " and ",
          dtype_name(x.dtype()), " ", fmt(x.shape()));
  }
  if (!mixed) return {inputs, first.dtype(), false};
  ProductOperands result{{}, DType::F32, true};
  for (const Tensor& x : inputs) result.operands.push_back(bfloat16_operand(x.detach()));
  return result;
}

}  // namespace sm
