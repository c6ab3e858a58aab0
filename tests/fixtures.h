// Loading PyTorch reference fixtures (tests/reference/*.json) and comparing tensors.
#pragma once

#include <filesystem>
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

// What a shell command printed (stdout and stderr together) and its exit code.
struct CommandResult {
  int code;
  std::string output;
};
CommandResult run_command(const std::string& command);

// A fresh folder under the system's temp folder, named after `name`, the process and a
// counter (so parallel test programs never share one); removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& name = "sm-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& relative) const { return (path / relative).string(); }
  std::filesystem::path path;
};

}  // namespace sm::test
