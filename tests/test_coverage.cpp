// The registry (tensor/ops.def) is the list of ops; this test fails when an op lacks a
// forward fixture, a gradient fixture or a gradcheck case, or a runner.
#include <doctest/doctest.h>

#include <set>

#include "tests/fixtures.h"
#include "tests/op_runner.h"

using namespace sm;
using namespace sm::test;

TEST_CASE("every registered op has forward, gradient and gradcheck tests") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  std::set<std::string> forward, gradient, gradchecked;
  for (const auto& c : fixtures.at("cases")) {
    const std::string op = c.at("op");
    forward.insert(op);
    if (c.contains("grads")) gradient.insert(op);
    if (c.contains("grads") && c.at("gradcheck").get<bool>()) gradchecked.insert(op);
    CHECK_MESSAGE(find_op(op) != nullptr, "fixture case for unregistered op ", op);
  }
  const std::set<std::string> runnable = runnable_ops();
  for (const OpInfo& op : all_ops()) {
    CAPTURE(op.name);
    CHECK_MESSAGE(runnable.count(op.name), "no runner in tests/op_runner.cpp");
    CHECK_MESSAGE(forward.count(op.name), "no forward fixture in tests/reference/ops.json");
    if (op.differentiable) {
      CHECK_MESSAGE(gradient.count(op.name), "no gradient fixture");
      CHECK_MESSAGE(gradchecked.count(op.name), "no gradcheck case");
    } else {
      CHECK_MESSAGE(!gradient.count(op.name), "gradient fixture for an op registered as not differentiable");
    }
  }
}
