#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/functions.h"
#include "tensor/random.h"

namespace sm {

GradcheckResult gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions options) {
  for (const Tensor& x : inputs) {
    if (!x.requires_grad()) continue;
    check(x.dtype() == DType::F64 && x.device() == Device::CPU && x.is_contiguous() && x.is_leaf(), "gradcheck",
          "inputs that require grad must be contiguous float64 CPU leaves, got ", dtype_name(x.dtype()), " ",
          fmt(x.shape()));
  }
  Generator gen(options.seed);
  Tensor y = f(inputs);
  const Tensor w = randn(y.shape(), {.dtype = DType::F64}, &gen);
  auto projected = [&](const Tensor& out) { return sum(mul(to_dtype(out, DType::F64), w)); };

  // Analytic: one backward pass of L = sum(y * w).
  std::vector<Tensor> saved_grads;
  for (const Tensor& x : inputs) {
    saved_grads.push_back(x.requires_grad() ? x.grad() : Tensor());
    if (x.requires_grad()) x.zero_grad();
  }
  projected(y).backward();

  GradcheckResult result;
  NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    const std::vector<double> analytic =
        x.grad().defined() ? x.grad().to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* values = x.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      const double original = values[j];
      values[j] = original + options.eps;
      const double plus = projected(f(inputs)).item();
      values[j] = original - options.eps;
      const double minus = projected(f(inputs)).item();
      values[j] = original;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double error = std::abs(analytic[j] - numeric);
      result.max_abs_error = std::max(result.max_abs_error, error);
      if (result.ok && !(error <= options.atol + options.rtol * std::abs(numeric))) {
        std::ostringstream message;
        message << "input " << i << " " << shape_str(x.shape()) << " element " << j << ": analytic " << analytic[j]
                << " vs numeric " << numeric;
        result.ok = false;
        result.message = message.str();
      }
    }
    x.set_grad(saved_grads[i]);
  }
  return result;
}

}  // namespace sm
