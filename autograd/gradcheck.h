// gradcheck: compares the gradients autograd computes with central finite differences.
//
//   Tensor x = randn({3, 4}, {.dtype = DType::F64, .requires_grad = true});
//   GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {x});
//   if (!r.ok) std::cout << r.message;
//
// The output y is reduced to L = sum(y * w) with a fixed random w, so one backward pass
// gives dL/dx; each input element is then nudged by ±eps to estimate the same numbers.
// Use float64 inputs: in float32 the differences drown in rounding.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sm {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 0;  // for the projection weights w
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  std::string message;  // the first mismatch, naming the input and the element
};

using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// `inputs` are float64 CPU contiguous tensors; those with requires_grad are checked.
GradcheckResult gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace sm
