// Tensor basics: creation, views sharing storage, contiguity, printing, random numbers, errors,
// and the CPU backend's vectorizable exp.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <limits>

#include "autograd/autograd.h"
#include "tensor/cpu/cpu_math.h"

using namespace sm;

static std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

TEST_CASE("creation") {
  CHECK(values(zeros({2, 2})) == std::vector<float>{0, 0, 0, 0});
  CHECK(values(full({3}, 2.5)) == std::vector<float>{2.5, 2.5, 2.5});
  CHECK(values(arange(0, 5)) == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(values(arange(1, 2, 0.25)) == std::vector<float>{1, 1.25, 1.5, 1.75});
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, {.dtype = DType::F64});
  CHECK(x.dtype() == DType::F64);
  CHECK(x.shape() == Shape{2, 3});
  CHECK(x.strides() == Shape{3, 1});
  CHECK(scalar_tensor(4).dim() == 0);
  CHECK(scalar_tensor(4).item() == 4);
  CHECK_THROWS_WITH(from_vector(std::vector<float>{1, 2, 3}, {2, 2}), "[from_vector] 3 values cannot fill shape (2, 2)");
  CHECK_THROWS_WITH(zeros({2, 2}).item(), "[item] needs a tensor with one element, got shape (2, 2)");
}

TEST_CASE("views share storage and change only metadata") {
  Tensor x = arange(0, 12).reshape({3, 4});
  Tensor t = x.t();
  CHECK(t.storage() == x.storage());
  CHECK(t.shape() == Shape{4, 3});
  CHECK(t.strides() == Shape{1, 4});
  CHECK_FALSE(t.is_contiguous());
  Tensor row = x.narrow(0, 1, 1);
  CHECK(row.offset() == 4);
  // Writing through a view is visible in the base.
  row.data<float>()[2] = 100;
  CHECK(values(x)[6] == 100);
  CHECK(t.to_vector<float>()[2 * 3 + 1] == 100);
  Tensor e = arange(0, 3).reshape({3, 1}).expand({3, 4});
  CHECK(e.strides() == Shape{1, 0});
  CHECK(values(e) == std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});
  CHECK(x.unsqueeze(0).shape() == Shape{1, 3, 4});
  CHECK(x.unsqueeze(-1).squeeze(-1).shape() == Shape{3, 4});
  CHECK(x.permute({1, 0}).strides() == Shape{1, 4});
}

TEST_CASE("contiguous copies only when needed; reshape views when it can") {
  Tensor x = arange(0, 24).reshape({2, 3, 4});
  CHECK(x.contiguous().same(x));
  Tensor t = x.transpose(0, 2);
  Tensor c = t.contiguous();
  CHECK(c.storage() != x.storage());
  CHECK(c.is_contiguous());
  CHECK(values(c) == values(t));
  // Merging dims that are contiguous with each other needs no copy...
  Tensor merged = x.narrow(2, 0, 4).reshape({6, 4});
  CHECK(merged.storage() == x.storage());
  // ...but flattening a transpose does.
  CHECK(t.reshape({24}).storage() != x.storage());
  CHECK_THROWS_WITH(view(t, {24}), doctest::Contains("cannot be viewed as (24) without a copy; use reshape()"));
  CHECK(x.reshape({4, -1}).shape() == Shape{4, 6});
  CHECK_THROWS_WITH(x.reshape({5, -1}), "[reshape] shape (2, 3, 4) cannot be reshaped to (5, -1)");
}

TEST_CASE("printing shows values, shape and dtype, shortened like PyTorch") {
  CHECK(from_vector(std::vector<float>{1, 2, 3}).str() == "tensor([1., 2., 3.], shape=(3), dtype=float32)");
  CHECK(from_vector(std::vector<int64_t>{4, 5}).str() == "tensor([4, 5], shape=(2), dtype=int64)");
  CHECK(from_vector(std::vector<float>{0.5f, -1.25f}).str() == "tensor([0.5000, -1.2500], shape=(2), dtype=float32)");
  const std::string big = arange(0, 2000).reshape({2, 1000}).str();
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.size() < 200);
  Tensor p = ones({2, 2}, {.requires_grad = true});
  CHECK(p.str().find("requires_grad=True") != std::string::npos);
}

TEST_CASE("random numbers are reproducible from the seed") {
  Generator a(42), b(42), c(43);
  CHECK(a.next_u64() == b.next_u64());
  CHECK(a.next_u64() != c.next_u64());
  manual_seed(7);
  const std::vector<float> first = values(randn({100}));
  manual_seed(7);
  CHECK(values(randn({100})) == first);
  // Moments of 100,000 draws.
  Generator g(1);
  Tensor n = randn({100000}, {.dtype = DType::F64}, &g);
  CHECK(std::abs(mean(n).item()) < 0.02);
  CHECK(std::abs(var(n, {}).item() - 1) < 0.02);
  Tensor u = rand({100000}, {.dtype = DType::F64}, &g);
  CHECK(max(u, 0).item() < 1);
  CHECK(min(u, 0).item() >= 0);
  Tensor r = randint(3, 7, {1000}, {.dtype = DType::I64}, &g);
  CHECK(max(r, 0).item() == 6);
  CHECK(min(r, 0).item() == 3);
  std::vector<int64_t> perm = randperm(50, &g).to_vector<int64_t>();
  std::sort(perm.begin(), perm.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(perm[i] == i);
  // The state can be saved and restored.
  const Generator::State state = g.state();
  const double next = g.normal();
  g.set_state(state);
  CHECK(g.normal() == next);
}

TEST_CASE("errors name the op and the shapes") {
  Tensor a = zeros({4, 8}), b = zeros({6, 3});
  CHECK_THROWS_WITH(matmul(a, b), "[matmul] shapes (4, 8) and (6, 3) cannot be multiplied");
  CHECK_THROWS_WITH(add(zeros({2, 3}), zeros({4})), "[add] shapes (2, 3) and (4) cannot be broadcast");
  CHECK_THROWS_WITH(zeros({2}) + zeros({2}, {.dtype = DType::F64}),
                    "[add] dtypes differ: float32 (2) and float64 (2)");
  CHECK_THROWS_WITH(sum(zeros({2, 3}), {2}), "[sum] dim 2 out of range for a tensor of rank 2");
  CHECK_THROWS_WITH(zeros({3}).narrow(0, 2, 2), "[narrow] range [2, 4) out of bounds for dim 0 of shape (3)");
  CHECK_THROWS_WITH(zeros({3, 1}).expand({3, 4, 2}), "[expand] cannot expand shape (3, 1) to (3, 4, 2)");
  CHECK_THROWS_WITH(gather(zeros({3}), 0, from_vector(std::vector<int64_t>{5})),
                    "[gather] index 5 out of range for size 3");
  CHECK_THROWS_WITH(exp(zeros({2}, {.dtype = DType::I64})), doctest::Contains("[exp] expects a floating tensor"));
  CHECK_THROWS_WITH(zeros({2}).data<double>(), "[data] tensor holds float32, asked for float64");
  CHECK_THROWS_WITH(permute(zeros({2, 3}), {0, 0}), "[permute] dims (0, 0) repeat a dim");
  CHECK_THROWS_WITH(layer_norm(zeros({2, 3}), {4}, Tensor(), Tensor()),
                    "[layer_norm] normalized_shape (4) does not match the end of input (2, 3)");
}

TEST_CASE("cuda without a GPU build or device fails clearly") {
  if (cuda_available()) return;
  CHECK_THROWS_WITH(zeros({2}).to(Device::CUDA), doctest::Contains("[to]"));
}

TEST_CASE("matmul multiplies transposed operands without copying them") {
  Tensor a = randn({64, 32}), b = randn({64, 48});
  // a^T b with a^T a strided view: same result as with a contiguous copy.
  Tensor direct = matmul(a.t(), b);
  Tensor copied = matmul(a.t().contiguous(), b);
  CHECK(max(abs(direct - copied).flatten(), 0).item() < 1e-4);
}

TEST_CASE("reductions over leading dims read columns in place and agree with reducing rows") {
  // 150 columns: two full blocks of 64 and a partial one. NaNs test max/min's NaN rule.
  Tensor x = randn({2, 37, 150});
  std::vector<float> v = x.to_vector<float>();
  v[5 * 150 + 70] = NAN, v[150 * 37 + 9 * 150 + 3] = NAN;
  x = from_vector(v, {2, 37, 150});
  Tensor rows = x.transpose(1, 2).contiguous();  // (2, 150, 37): the same lines, as rows
  auto same = [](const Tensor& a, const Tensor& b) {
    std::vector<float> va = to_dtype(a, DType::F32).to_vector<float>(), vb = to_dtype(b, DType::F32).to_vector<float>();
    REQUIRE(va.size() == vb.size());
    for (size_t i = 0; i < va.size(); ++i)
      if (!(va[i] == vb[i] || (std::isnan(va[i]) && std::isnan(vb[i])) || std::abs(va[i] - vb[i]) < 1e-5f)) return false;
    return true;
  };
  CHECK(same(sum(x, {1}), sum(rows, {2})));
  CHECK(same(mean(x, {1}), mean(rows, {2})));
  CHECK(same(var(x, {1}), var(rows, {2})));
  CHECK(same(max(x, 1), max(rows, 2)));
  CHECK(same(min(x, 1), min(rows, 2)));
  CHECK(same(argmax(x, 1), argmax(rows, 2)));
  CHECK(same(argmin(x, 1), argmin(rows, 2)));
  CHECK(same(sum(x, {0, 1}), sum(rows.permute({1, 0, 2}).contiguous().reshape({150, 74}), {1})));
}

TEST_CASE("the vectorizable float exp stays within 2 ulp of std::exp, and keeps inf, 0 and NaN") {
  double worst_ulps = 0;
  for (float x = -103.0f; x < 88.7f; x += 0.0137f) {
    const float expected = std::exp(x), got = cpu::exp_float(x);
    if (expected < std::numeric_limits<float>::min()) continue;  // denormals: absolute error below
    const float ulp = std::nextafter(expected, INFINITY) - expected;
    worst_ulps = std::max(worst_ulps, std::abs(static_cast<double>(got) - expected) / ulp);
  }
  CHECK(worst_ulps <= 2.0);
  CHECK(cpu::exp_float(0.0f) == 1.0f);
  CHECK(cpu::exp_float(89.0f) == INFINITY);
  CHECK(cpu::exp_float(INFINITY) == INFINITY);
  CHECK(cpu::exp_float(-INFINITY) == 0.0f);
  CHECK(cpu::exp_float(-200.0f) == 0.0f);
  CHECK(std::abs(cpu::exp_float(-100.0f) - std::exp(-100.0f)) < 1e-44f);
  CHECK(std::isnan(cpu::exp_float(NAN)));
}

TEST_CASE("the vectorizable normal CDF behind float GELU is accurate, also far in the lower tail") {
  // Against erfc in double. Relative error matters in the tail, where GELU = x Phi(x) is tiny
  // and 1 + erf(x / sqrt 2) in float would be all rounding error.
  double worst_abs = 0, worst_rel_core = 0, worst_rel_tail = 0, worst_abs_grad = 0;
  for (double x = -12; x < 12; x += 1e-3) {
    const float xf = static_cast<float>(x);
    const double expected = 0.5 * std::erfc(-static_cast<double>(xf) / std::sqrt(2.0));
    const double got = cpu::normal_cdf_float(xf), error = std::abs(got - expected);
    worst_abs = std::max(worst_abs, error);
    double& worst_rel = std::abs(x) <= 5 ? worst_rel_core : worst_rel_tail;
    worst_rel = std::max(worst_rel, error / expected);
    // GELU's derivative Phi(x) + x phi(x), which shares one exponential between its terms.
    const double xd = xf, expected_grad = expected + xd * std::exp(-0.5 * xd * xd) / std::sqrt(2 * std::numbers::pi);
    worst_abs_grad = std::max(worst_abs_grad, std::abs(cpu::gelu_grad_float(xf) - expected_grad));
  }
  CHECK(worst_abs_grad < 1e-6);
  CHECK(worst_abs < 3e-7);
  CHECK(worst_rel_core < 5e-6);   // |x| <= 5
  CHECK(worst_rel_tail < 5e-5);   // down to Phi(-12) ~ 1.8e-33
  CHECK(cpu::normal_cdf_float(0.0f) == doctest::Approx(0.5).epsilon(1e-7));
  CHECK(cpu::normal_cdf_float(INFINITY) == 1.0f);
  CHECK(cpu::normal_cdf_float(-INFINITY) == 0.0f);
}
