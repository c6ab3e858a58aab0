// Forward values of every op against PyTorch (tests/reference/ops.json), in float64 and
// float32, with contiguous and with strided (non-contiguous, offset) inputs.
#include <doctest/doctest.h>

#include "tests/fixtures.h"
#include "tests/op_runner.h"

using namespace sm;
using namespace sm::test;

struct Precision {
  DType dtype;
  double rtol, atol;
};
static const Precision kF64{DType::F64, 1e-9, 1e-10};
static const Precision kF32{DType::F32, 1e-4, 1e-5};

static std::vector<Tensor> case_inputs(const nlohmann::json& c, DType dtype, bool strided) {
  std::vector<Tensor> inputs;
  for (const auto& j : c.at("inputs")) {
    Tensor x = tensor_from_json(j, dtype);
    inputs.push_back(strided ? non_contiguous_copy(x) : x);
  }
  return inputs;
}

TEST_CASE("every op case matches PyTorch forward") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  for (const auto& c : fixtures.at("cases")) {
    for (const Precision& p : {kF64, kF32}) {
      for (bool strided : {false, true}) {
        const std::string label = c.at("name").get<std::string>() + " " + dtype_name(p.dtype) +
                                  (strided ? " strided" : " contiguous");
        CAPTURE(label);
        Tensor out = run_op(c.at("op"), case_inputs(c, p.dtype, strided), c.at("attrs"));
        Tensor expected = tensor_from_json(c.at("output"), p.dtype);
        CHECK(out.shape() == expected.shape());
        CHECK(out.dtype() == expected.dtype());
        CHECK(closeness(out, expected, p.rtol, p.atol) <= 1.0);
      }
    }
  }
}
