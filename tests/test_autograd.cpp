// The backward engine: accumulation, shared inputs, no-grad mode, detach, deep graphs,
// freeing graphs, the DOT dump, and errors.
#include <doctest/doctest.h>

#include "autograd/autograd.h"

using namespace sm;

static Tensor leaf(std::vector<double> values) {
  Tensor t = from_vector(values, {static_cast<int64_t>(values.size())}, {.dtype = DType::F64});
  return t.requires_grad_();
}

TEST_CASE("a tensor used twice gets the sum of both gradients") {
  Tensor x = leaf({1, 2, 3});
  Tensor y = sum(x * x + x);  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 5, 7});
}

TEST_CASE("leaf gradients accumulate until zero_grad") {
  Tensor x = leaf({1, 2});
  sum(x * 3.0).backward();
  sum(x * 3.0).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6, 6});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a leaf's first gradient never aliases another tensor, adopted or copied") {
  // w's gradient from the product is a fresh tensor (adopted as w.grad, not copied).
  Tensor w = leaf({1, 2}), x = from_vector(std::vector<double>{3, 4}, {2}, {.dtype = DType::F64});
  sum(w * x).backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{3, 4});
  // a + b hands the same gradient tensor to both: each .grad must still be its own memory,
  // so that scaling one in place (as an optimizer does) leaves the other alone.
  Tensor a = leaf({1, 2}), b = leaf({5, 6});
  Tensor y = a + b;
  y.backward(from_vector(std::vector<double>{1, 1}, {2}, {.dtype = DType::F64}));
  CHECK(a.grad().raw_data() != b.grad().raw_data());
  copy_(a.grad(), a.grad() * 2.0);
  CHECK(b.grad().to_vector<double>() == std::vector<double>{1, 1});
  // A gradient that is a view (expand of the seed) is copied, never adopted.
  Tensor c = leaf({7, 8});
  sum(c).backward();
  CHECK(c.grad().is_contiguous());
  CHECK(c.grad().to_vector<double>() == std::vector<double>{1, 1});
}

TEST_CASE("no-grad mode and detach record nothing") {
  Tensor x = leaf({1, 2});
  {
    NoGradGuard guard;
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK((x * 2.0).requires_grad());
  Tensor d = (x * 2.0).detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.to_vector<double>() == std::vector<double>{2, 4});
  // A branch through detach() contributes no gradient.
  sum(x * x.detach()).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 2});
}

TEST_CASE("a 100,000-op chain runs backward and is freed without recursion") {
  Tensor x = leaf({1.0});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  std::weak_ptr<Node> root = y.grad_fn();
  sum(y).backward();
  CHECK(x.grad().item() == 1.0);
  y = Tensor();
  CHECK(root.expired());
}

TEST_CASE("a graph is freed with its output: backward rules hold no cycle") {
  Tensor x = leaf({0.5, 1.5});
  Tensor y = exp(x);  // the rule keeps a detached alias of y's data, not y
  std::weak_ptr<Node> node = y.grad_fn();
  std::weak_ptr<TensorImpl> impl = y.impl_ptr();
  y = Tensor();
  CHECK(impl.expired());
  CHECK(node.expired());
}

TEST_CASE("backward needs a scalar or an explicit gradient of the right shape") {
  Tensor x = leaf({1, 2});
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH(y.backward(), "[backward] without a gradient argument the tensor must have one element, got shape (2)");
  CHECK_THROWS_WITH(y.backward(ones({3}, {.dtype = DType::F64})), doctest::Contains("[backward] the given gradient"));
  y.backward(from_vector(std::vector<double>{1, 10}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 20});
  CHECK_THROWS_WITH(ones({2}).backward(), doctest::Contains("does not require grad"));
  CHECK_THROWS_WITH(y.requires_grad_(), "[requires_grad] can only be set on leaf tensors; use detach() first");
  CHECK_THROWS_WITH(zeros({2}, {.dtype = DType::I64}).requires_grad_(), doctest::Contains("only floating tensors"));
}

TEST_CASE("only the inputs that require grad receive one") {
  Tensor a = leaf({1, 2});
  Tensor b = from_vector(std::vector<double>{3, 4}, {2}, {.dtype = DType::F64});
  sum(a * b).backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{3, 4});
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("a selective rule is told which inputs need a gradient") {
  Tensor w = leaf({1, 2});
  Tensor data = from_vector(std::vector<double>{3, 4}, {2}, {.dtype = DType::F64});
  std::vector<bool> told;
  Tensor y = record("probe", w * data, {data, w}, [&told](const Tensor& g, const std::vector<bool>& needs) {
    told = needs;
    return std::vector<Tensor>{Tensor(), g * 2.0};
  });
  sum(y).backward();
  CHECK(told == std::vector<bool>{false, true});
  CHECK(w.grad().to_vector<double>() == std::vector<double>{2, 2});
  // Built-in rules skip the work for inputs that need nothing: the data's gradient is not made.
  Tensor weight = leaf({1, 2, 3, 4}).reshape({2, 2}).detach().requires_grad_();
  Tensor x = from_vector(std::vector<double>{1, 1, 2, 0}, {2, 2}, {.dtype = DType::F64});
  sum(linear(x, weight, Tensor()) + matmul(x, weight)).backward();
  CHECK(weight.grad().to_vector<double>() == std::vector<double>{6, 4, 4, 2});
}

TEST_CASE("graph_dot describes the graph for graphviz") {
  Tensor w = leaf({1, 2});
  Tensor loss = sum(tanh(w * 3.0));
  const std::string dot = graph_dot(loss);
  CHECK(dot.find("digraph autograd") == 0);
  for (const char* name : {"sum", "tanh", "mul", "leaf"}) CHECK(dot.find(name) != std::string::npos);
  CHECK(dot.find("->") != std::string::npos);
}

TEST_CASE("gradcheck reports a wrong gradient") {
  Tensor x = leaf({0.3, -0.7});
  // A function whose backward is deliberately wrong: detach drops one path.
  auto wrong = [](const std::vector<Tensor>& in) { return in[0] * in[0].detach(); };
  GradcheckResult r = gradcheck(wrong, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("input 0") != std::string::npos);
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[0]; }, {x}).ok);
}

TEST_CASE("fused attention equals the plain composition across many tiles, forward and gradients") {
  // 150 queries (3 query tiles) and 700 keys (2 key tiles: the online softmax rescales), heads
  // read from one packed (B, N, 3, H, D)-like tensor as strided views, float64.
  const int64_t b = 2, h = 3, n = 150, m = 700, d = 16;
  manual_seed(3);
  const TensorOptions f64{.dtype = DType::F64};
  Tensor packed_q = randn({b, n, h, d}, f64), packed_kv = randn({b, m, 2, h, d}, f64);
  packed_q.requires_grad_();
  packed_kv.requires_grad_();
  const Tensor grad_out = randn({b, h, n, d}, f64);
  auto run = [&](bool fused) {
    packed_q.zero_grad();
    packed_kv.zero_grad();
    Tensor q = packed_q.permute({0, 2, 1, 3});                                      // (B, H, N, D)
    Tensor k = packed_kv.narrow(2, 0, 1).squeeze(2).permute({0, 2, 1, 3}) * 3.0;    // large scores
    Tensor v = packed_kv.narrow(2, 1, 1).squeeze(2).permute({0, 2, 1, 3});
    Tensor weights;
    Tensor out = scaled_dot_product_attention(q, k, v, 0, fused ? nullptr : &weights);  // (B, H, N, D)
    out.backward(grad_out);
    return std::vector<Tensor>{out.detach(), packed_q.grad(), packed_kv.grad()};
  };
  const std::vector<Tensor> fused = run(true), plain = run(false);
  for (size_t i = 0; i < fused.size(); ++i) {
    CAPTURE(i);
    const double scale = max(abs(plain[i]).flatten(), 0).item();
    CHECK(max(abs(fused[i] - plain[i]).flatten(), 0).item() <= 1e-12 * scale);
  }
}
