// Every op on the CUDA backend against the CPU backend (the reference): forward values and
// gradients of every case in tests/reference/ops.json, in float32. Exits with meson's
// "skipped" code 77 and a clear message when the build or the machine has no GPU.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "tests/fixtures.h"
#include "tests/op_runner.h"

using namespace sm;
using namespace sm::test;

static std::vector<Tensor> inputs_on(const nlohmann::json& c, Device device) {
  std::vector<Tensor> inputs;
  for (const auto& j : c.at("inputs")) {
    Tensor x = tensor_from_json(j, DType::F32).to(device);
    if (is_floating(x.dtype()) && c.contains("grads")) x.requires_grad_();
    inputs.push_back(x);
  }
  return inputs;
}

TEST_CASE("every op on CUDA matches the CPU backend") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  for (const auto& c : fixtures.at("cases")) {
    CAPTURE(c.at("name").get<std::string>());
    std::vector<Tensor> cpu_in = inputs_on(c, Device::CPU), gpu_in = inputs_on(c, Device::CUDA);
    Tensor cpu_out = run_op(c.at("op"), cpu_in, c.at("attrs"));
    Tensor gpu_out = run_op(c.at("op"), gpu_in, c.at("attrs"));
    CHECK(gpu_out.device() == Device::CUDA);
    CHECK(closeness(gpu_out.to(Device::CPU), cpu_out, 1e-4, 1e-5) <= 1.0);
    if (!c.contains("grads")) continue;
    const Tensor grad_output = tensor_from_json(c.at("grad_output"), DType::F32);
    cpu_out.backward(grad_output);
    gpu_out.backward(grad_output.to(Device::CUDA));
    for (size_t i = 0; i < cpu_in.size(); ++i) {
      if (!cpu_in[i].requires_grad()) continue;
      CHECK(closeness(gpu_in[i].grad().to(Device::CPU), cpu_in[i].grad(), 1e-4, 1e-5) <= 1.0);
    }
  }
}

int main(int argc, char** argv) {
  if (!cuda_available()) {
    std::cout << "skipped: no CUDA device (or this build has no CUDA backend); the CUDA tests need a GPU\n";
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
