// Loading PyTorch reference fixtures (tests/reference/*.json) and comparing tensors.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/autograd.h"

namespace sm::test {

// The source tree, so tests find tests/reference/ from any build directory.
std::string source_path(const std::string& relative);

nlohmann::json load_json(const std::string& relative_path);

// {"shape": [...], "dtype": "float64" | "float32" | "int64", "data": [...]} -> Tensor.
// Floating data is converted to `float_dtype`; "nan"/"inf"/"-inf" strings are understood.
Tensor tensor_from_json(const nlohmann::json& j, DType float_dtype = DType::F64);

// Largest |a - b| / (atol + rtol |b|) over all elements; <= 1 means "close". NaNs must
// match NaNs and infinities must match exactly.
double closeness(const Tensor& actual, const Tensor& expected, double rtol, double atol);

// The same values in a strided, offset layout (every other element of a larger buffer),
// so kernels are exercised on non-contiguous inputs.
Tensor non_contiguous_copy(const Tensor& x);

}  // namespace sm::test
