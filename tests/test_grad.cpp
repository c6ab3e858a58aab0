// Gradients of every differentiable op: against PyTorch (tests/reference/ops.json), by
// finite differences (gradcheck, float64), and accumulation over two backward passes.
#include <doctest/doctest.h>

#include "tests/fixtures.h"
#include "tests/op_runner.h"

using namespace sm;
using namespace sm::test;

static std::vector<Tensor> leaf_inputs(const nlohmann::json& c, DType dtype, bool strided) {
  std::vector<Tensor> inputs;
  for (const auto& j : c.at("inputs")) {
    Tensor x = tensor_from_json(j, dtype);
    if (strided) x = non_contiguous_copy(x);
    if (is_floating(x.dtype())) x.requires_grad_();
    inputs.push_back(x);
  }
  return inputs;
}

static bool differentiable(const nlohmann::json& c) { return c.contains("grads"); }

TEST_CASE("every differentiable op case matches PyTorch gradients") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  struct Precision {
    DType dtype;
    double rtol, atol;
  };
  for (const auto& c : fixtures.at("cases")) {
    if (!differentiable(c)) continue;
    for (const Precision& p : {Precision{DType::F64, 1e-9, 1e-10}, Precision{DType::F32, 1e-4, 1e-5}}) {
      for (bool strided : {false, true}) {
        const std::string label = c.at("name").get<std::string>() + " " + dtype_name(p.dtype) +
                                  (strided ? " strided" : " contiguous");
        CAPTURE(label);
        std::vector<Tensor> inputs = leaf_inputs(c, p.dtype, strided);
        Tensor out = run_op(c.at("op"), inputs, c.at("attrs"));
        out.backward(tensor_from_json(c.at("grad_output"), p.dtype));
        for (size_t i = 0; i < inputs.size(); ++i) {
          CAPTURE(i);
          const auto& expected = c.at("grads")[i];
          if (expected.is_null()) continue;
          REQUIRE(inputs[i].grad().defined());
          CHECK(closeness(inputs[i].grad(), tensor_from_json(expected, p.dtype), p.rtol, p.atol) <= 1.0);
        }
      }
    }
  }
}

TEST_CASE("every differentiable op passes gradcheck in float64") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  for (const auto& c : fixtures.at("cases")) {
    if (!differentiable(c) || !c.at("gradcheck").get<bool>()) continue;
    CAPTURE(c.at("name").get<std::string>());
    std::vector<Tensor> inputs = leaf_inputs(c, DType::F64, false);
    GradcheckOptions options;
    if (c.at("attrs").contains("gradcheck_eps")) options.eps = c.at("attrs").at("gradcheck_eps");
    const GradcheckResult r = gradcheck(
        [&](const std::vector<Tensor>& in) { return run_op(c.at("op"), in, c.at("attrs")); }, inputs, options);
    CAPTURE(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("gradients accumulate over a second backward pass") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  for (const auto& c : fixtures.at("cases")) {
    if (!differentiable(c)) continue;
    CAPTURE(c.at("name").get<std::string>());
    std::vector<Tensor> inputs = leaf_inputs(c, DType::F64, false);
    const Tensor grad_output = tensor_from_json(c.at("grad_output"));
    run_op(c.at("op"), inputs, c.at("attrs")).backward(grad_output);
    run_op(c.at("op"), inputs, c.at("attrs")).backward(grad_output);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& expected = c.at("grads")[i];
      if (expected.is_null()) continue;
      CHECK(closeness(inputs[i].grad(), tensor_from_json(expected) * 2.0, 1e-9, 1e-10) <= 1.0);
    }
  }
}
