#include "tests/fixtures.h"

#include <unistd.h>

#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

namespace sm::test {

std::string source_path(const std::string& relative) { return std::string(SM_SOURCE_DIR) + "/" + relative; }

nlohmann::json load_json(const std::string& relative_path) {
  const std::string path = source_path(relative_path);
  std::ifstream in(path);
  check(in.good(), "fixture", "cannot open ", path);
  return nlohmann::json::parse(in);
}

static double decode(const nlohmann::json& v) {
  if (!v.is_string()) return v.get<double>();
  const std::string s = v.get<std::string>();
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  return s == "inf" ? INFINITY : -INFINITY;
}

Tensor tensor_from_json(const nlohmann::json& j, DType float_dtype) {
  const Shape shape = j.at("shape").get<Shape>();
  if (j.at("dtype") == "int64") return from_vector(j.at("data").get<std::vector<int64_t>>(), shape, {.dtype = DType::I64});
  std::vector<double> values;
  for (const auto& v : j.at("data")) values.push_back(decode(v));
  return from_vector(values, shape, {.dtype = float_dtype});
}

double closeness(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.shape() != expected.shape()) return INFINITY;
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(e[i]) || std::isinf(e[i])) {
      const bool same = std::isnan(e[i]) ? std::isnan(a[i]) : a[i] == e[i];
      if (!same) return INFINITY;
      continue;
    }
    worst = std::max(worst, std::abs(a[i] - e[i]) / (atol + rtol * std::abs(e[i])));
    if (std::isnan(a[i])) return INFINITY;
  }
  return worst;
}

Tensor non_contiguous_copy(const Tensor& x) {
  Tensor buffer = zeros({2 * x.numel() + 1}, {.dtype = x.dtype()});
  Shape strides = contiguous_strides(x.shape());
  for (int64_t& s : strides) s *= 2;
  Tensor strided = make_view(buffer, x.shape(), strides, 1);
  backend_for(Device::CPU).copy(x, strided);
  return strided;
}

TempDir::TempDir(const std::string& name) {
  static int counter = 0;
  path = std::filesystem::temp_directory_path() /
         (name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() { std::filesystem::remove_all(path); }

CommandResult run_command(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  check(pipe != nullptr, "run_command", "cannot run ", command);
  std::string output;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace sm::test
