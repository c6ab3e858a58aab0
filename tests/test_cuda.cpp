// The CUDA backend against the CPU backend (the reference) and the PyTorch fixtures:
//  - every op of tests/reference/ops.json, forward values and gradients, in float32;
//  - each kernel's paths at sizes the fixtures do not reach (long rows, few rows, columns,
//    head dims, dtypes), and its failure modes (a bad index);
//  - the caching allocator, fused AdamW and TF32;
//  - the whole micro SiamMAE: loss, every gradient by name and 10 AdamW steps against
//    PyTorch, in float32 and in bfloat16 autocast; and a checkpoint moving between devices.
// Exits with meson's "skipped" code 77 and a clear message when the build or the machine has
// no GPU.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>

#include "models/siammae/checkpoint.h"
#include "tests/fixtures.h"
#include "tests/model_fixture.h"
#include "tests/op_runner.h"

using namespace sm;
using namespace sm::test;

namespace {

const Device kGpu = Device::CUDA;

std::vector<Tensor> inputs_on(const nlohmann::json& c, Device device) {
  std::vector<Tensor> inputs;
  for (const auto& j : c.at("inputs")) {
    Tensor x = tensor_from_json(j, DType::F32).to(device);
    if (is_floating(x.dtype()) && c.contains("grads")) x.requires_grad_();
    inputs.push_back(x);
  }
  return inputs;
}

// The GPU's result against the CPU's, on the host.
double gpu_vs_cpu(const Tensor& gpu, const Tensor& cpu, double rtol, double atol) {
  REQUIRE(gpu.device() == kGpu);
  return closeness(gpu.to(Device::CPU), cpu, rtol, atol);
}

// Runs f on a CPU input and on its GPU copy (both requiring grad), backpropagates the same
// random gradient, and compares outputs and input gradients.
void compare_with_gradients(const Tensor& input, const std::function<Tensor(const Tensor&)>& f, double rtol,
                            double atol) {
  Tensor cpu_in = input.detach().clone().requires_grad_();
  Tensor gpu_in = input.detach().to(kGpu).requires_grad_();
  Tensor cpu_out = f(cpu_in), gpu_out = f(gpu_in);
  CHECK(gpu_vs_cpu(gpu_out, cpu_out, rtol, atol) <= 1.0);
  Generator gen(5);
  const Tensor grad = randn(cpu_out.shape(), {.dtype = cpu_out.dtype()}, &gen);
  cpu_out.backward(grad);
  gpu_out.backward(grad.to(kGpu));
  CHECK(gpu_vs_cpu(gpu_in.grad(), cpu_in.grad(), rtol, atol) <= 1.0);
}

}  // namespace

TEST_CASE("every op on CUDA matches the CPU backend") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  for (const auto& c : fixtures.at("cases")) {
    CAPTURE(c.at("name").get<std::string>());
    std::vector<Tensor> cpu_in = inputs_on(c, Device::CPU), gpu_in = inputs_on(c, kGpu);
    Tensor cpu_out = run_op(c.at("op"), cpu_in, c.at("attrs"));
    Tensor gpu_out = run_op(c.at("op"), gpu_in, c.at("attrs"));
    CHECK(gpu_out.device() == kGpu);
    CHECK(closeness(gpu_out.to(Device::CPU), cpu_out, 1e-4, 1e-5) <= 1.0);
    if (!c.contains("grads")) continue;
    const Tensor grad_output = tensor_from_json(c.at("grad_output"), DType::F32);
    cpu_out.backward(grad_output);
    gpu_out.backward(grad_output.to(kGpu));
    for (size_t i = 0; i < cpu_in.size(); ++i) {
      if (!cpu_in[i].requires_grad()) continue;
      CHECK(closeness(gpu_in[i].grad().to(Device::CPU), cpu_in[i].grad(), 1e-4, 1e-5) <= 1.0);
    }
  }
}

TEST_CASE("reductions on CUDA: a warp, a block or chunks per row, columns, every op and dtype") {
  Generator gen(1);
  // (rows, n): short rows (a warp each), long rows (a block each), few long rows (chunks),
  // one row of a million (a full mean).
  for (auto [rows, n] : {std::pair<int64_t, int64_t>{3, 5}, {1000, 37}, {400, 3000}, {7, 5000}, {1, 1 << 20}}) {
    CAPTURE(rows);
    CAPTURE(n);
    const Tensor x = randn({rows, n}, {}, &gen) + 3.0;
    const Tensor g = x.to(kGpu);
    CHECK(gpu_vs_cpu(sum(g, {1}), sum(x, {1}), 1e-5, 1e-5) <= 1.0);
    CHECK(gpu_vs_cpu(mean(g, {1}), mean(x, {1}), 1e-5, 1e-6) <= 1.0);
    if (n > 1) CHECK(gpu_vs_cpu(var(g, {1}), var(x, {1}), 1e-4, 1e-6) <= 1.0);
    CHECK(gpu_vs_cpu(max(g, 1), max(x, 1), 0, 0) <= 1.0);
    CHECK(gpu_vs_cpu(min(g, 1), min(x, 1), 0, 0) <= 1.0);
    CHECK(argmax(g, 1).to(Device::CPU).to_vector<int64_t>() == argmax(x, 1).to_vector<int64_t>());
    CHECK(argmin(g, 1).to(Device::CPU).to_vector<int64_t>() == argmin(x, 1).to_vector<int64_t>());
    CHECK(gpu_vs_cpu(sum(g), sum(x), 1e-6, 0) <= 1.0);
  }
  // Over leading dims (a bias gradient), the middle dim, and int64 and float64 inputs.
  const Tensor x = randn({5000, 300}, {}, &gen), y = randn({6, 700, 9}, {}, &gen);
  CHECK(gpu_vs_cpu(sum(x.to(kGpu), {0}), sum(x, {0}), 1e-5, 1e-4) <= 1.0);
  CHECK(gpu_vs_cpu(var(y.to(kGpu), {1}), var(y, {1}), 1e-4, 1e-6) <= 1.0);
  CHECK(argmax(y.to(kGpu), 1).to(Device::CPU).to_vector<int64_t>() == argmax(y, 1).to_vector<int64_t>());
  const Tensor counts = randint(-1000, 1000, {300, 4000}, {.dtype = DType::I64}, &gen);
  CHECK(sum(counts.to(kGpu), {1}).to(Device::CPU).to_vector<int64_t>() == sum(counts, {1}).to_vector<int64_t>());
  const Tensor doubles = randn({10, 9000}, {.dtype = DType::F64}, &gen);
  CHECK(gpu_vs_cpu(var(doubles.to(kGpu), {1}), var(doubles, {1}), 1e-12, 0) <= 1.0);
  // A NaN is the extreme, and the first NaN wins.
  Tensor with_nan = randn({2, 3000}, {}, &gen);
  {
    NoGradGuard no_grad;
    fill_(with_nan.narrow(1, 2500, 1), std::nan(""));
    fill_(with_nan.narrow(1, 2700, 1), std::nan(""));
  }
  CHECK(argmax(with_nan.to(kGpu), 1).to(Device::CPU).to_vector<int64_t>() == std::vector<int64_t>{2500, 2500});
  CHECK(std::isnan(max(with_nan.to(kGpu), 1).to(Device::CPU).to_vector<float>()[0]));
}

TEST_CASE("softmax, log_softmax, layer_norm and rms_norm on CUDA: short and long rows, other dims, with gradients") {
  Generator gen(2);
  for (int64_t n : {10, 197, 3000}) {  // 3000: a block per row
    CAPTURE(n);
    const Tensor x = randn({37, n}, {}, &gen) * 4.0;
    compare_with_gradients(x, [](const Tensor& t) { return softmax(t, -1); }, 1e-4, 1e-6);
    compare_with_gradients(x, [](const Tensor& t) { return log_softmax(t, -1); }, 1e-4, 1e-5);
    compare_with_gradients(x.t().contiguous(), [](const Tensor& t) { return softmax(t, 0); }, 1e-4, 1e-6);
  }
  for (int64_t c : {384, 3000}) {
    CAPTURE(c);
    const Tensor x = randn({1000, c}, {}, &gen) * 2.0 + 1.0;
    const Tensor w = randn({c}, {}, &gen), b = randn({c}, {}, &gen);
    // Weight and bias gradients sum over the 1000 rows (the two-pass column sums).
    Tensor cpu_w = w.clone().requires_grad_(), cpu_b = b.clone().requires_grad_();
    Tensor gpu_w = w.to(kGpu).requires_grad_(), gpu_b = b.to(kGpu).requires_grad_();
    compare_with_gradients(x, [&](const Tensor& t) {
      const bool on_gpu = t.device() == kGpu;
      return layer_norm(t, {c}, on_gpu ? gpu_w : cpu_w, on_gpu ? gpu_b : cpu_b, 1e-6);
    }, 1e-4, 1e-5);
    CHECK(gpu_vs_cpu(gpu_w.grad(), cpu_w.grad(), 1e-4, 1e-3) <= 1.0);
    CHECK(gpu_vs_cpu(gpu_b.grad(), cpu_b.grad(), 1e-4, 1e-3) <= 1.0);
    compare_with_gradients(x, [c](const Tensor& t) { return layer_norm(t, {c}, Tensor(), Tensor(), 1e-5); }, 1e-4,
                           1e-5);
    // rms_norm: the fused kernels of docs/adding-a-layer.md; its weight gradient is a column sum of ops.
    Tensor cpu_rms_w = w.clone().requires_grad_(), gpu_rms_w = w.to(kGpu).requires_grad_();
    compare_with_gradients(x, [&](const Tensor& t) {
      return rms_norm(t, {c}, t.device() == kGpu ? gpu_rms_w : cpu_rms_w, 1e-6);
    }, 1e-4, 1e-5);
    CHECK(gpu_vs_cpu(gpu_rms_w.grad(), cpu_rms_w.grad(), 1e-4, 1e-3) <= 1.0);
  }
}

TEST_CASE("argsort on CUDA: stable, NaN last (first descending), -0 == +0, any dim, every dtype") {
  Generator gen(3);
  // Few distinct values: many ties, whose order only a stable sort keeps.
  Tensor x = randint(-3, 4, {6, 500, 3}, {.dtype = DType::F32}, &gen);
  {
    NoGradGuard no_grad;
    fill_(x.narrow(1, 7, 1), std::nan(""));
    fill_(x.narrow(1, 9, 1), -0.0);
  }
  for (int64_t dim : {0, 1, 2}) {
    for (bool descending : {false, true}) {
      CAPTURE(dim);
      CAPTURE(descending);
      CHECK(argsort(x.to(kGpu), dim, descending).to(Device::CPU).to_vector<int64_t>() ==
            argsort(x, dim, descending).to_vector<int64_t>());
    }
  }
  const Tensor doubles = randn({3, 1000}, {.dtype = DType::F64}, &gen);
  CHECK(argsort(doubles.to(kGpu)).to(Device::CPU).to_vector<int64_t>() == argsort(doubles).to_vector<int64_t>());
  const Tensor ints = randint(-50, 50, {4, 777}, {.dtype = DType::I64}, &gen);
  CHECK(argsort(ints.to(kGpu), -1, true).to(Device::CPU).to_vector<int64_t>() == argsort(ints, -1, true).to_vector<int64_t>());
  const Tensor one_row = rand({200000}, {}, &gen);  // a single segment: the device-wide sort
  CHECK(argsort(one_row.to(kGpu)).to(Device::CPU).to_vector<int64_t>() == argsort(one_row).to_vector<int64_t>());
}

TEST_CASE("gather, scatter_add and index_select on CUDA for every dtype; a bad index is reported at the next transfer") {
  Generator gen(4);
  const Tensor index = randint(0, 50, {40, 7}, {.dtype = DType::I64}, &gen);  // repeats: scatter_add adds them up
  for (DType dtype : {DType::F32, DType::F64, DType::I64}) {
    CAPTURE(dtype_name(dtype));
    const Tensor x = dtype == DType::I64 ? randint(-9, 9, {50, 7}, {.dtype = dtype}, &gen) : randn({50, 7}, {.dtype = dtype}, &gen);
    const Tensor src = dtype == DType::I64 ? randint(-9, 9, {40, 7}, {.dtype = dtype}, &gen) : randn({40, 7}, {.dtype = dtype}, &gen);
    CHECK(gpu_vs_cpu(gather(x.to(kGpu), 0, index.to(kGpu)), gather(x, 0, index), 0, 0) <= 1.0);
    CHECK(gpu_vs_cpu(gather(x.t().to(kGpu), 1, index.t().contiguous().to(kGpu)), gather(x.t(), 1, index.t().contiguous()),
                     0, 0) <= 1.0);  // a strided input
    CHECK(gpu_vs_cpu(scatter_add(x.to(kGpu), 0, index.to(kGpu), src.to(kGpu)), scatter_add(x, 0, index, src), 1e-6,
                     1e-6) <= 1.0);
    const Tensor rows = randint(0, 7, {11}, {.dtype = DType::I64}, &gen);
    CHECK(gpu_vs_cpu(index_select(x.to(kGpu), 1, rows.to(kGpu)), index_select(x, 1, rows), 0, 0) <= 1.0);
  }
  // The kernel records the bad index; the op returns, and the next transfer throws it.
  const Tensor bad = from_vector<int64_t>({1, 99, 2}, {3}, {.dtype = DType::I64, .device = kGpu});
  const Tensor five = arange(0, 5, 1, {.device = kGpu});
  CHECK_THROWS_WITH(gather(five, 0, bad).to(Device::CPU), doctest::Contains("[gather] index 99 out of range for size 5"));
  CHECK(gather(five, 0, bad.narrow(0, 0, 1)).item() == 1.0);  // reported once: the GPU carries on
}

// softmax(q k^T * scale) v and its gradients, in float64 on the CPU, from the ops.
struct AttentionReference {
  Tensor out, lse, gq, gk, gv;
};
AttentionReference attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gout,
                                       double scale) {
  Tensor q64 = q.to(Device::CPU).to(DType::F64).detach().requires_grad_();
  Tensor k64 = k.to(Device::CPU).to(DType::F64).detach().requires_grad_();
  Tensor v64 = v.to(Device::CPU).to(DType::F64).detach().requires_grad_();
  Tensor scores = matmul(q64, k64.transpose(-1, -2)) * scale;  // (B, H, N, M)
  Tensor top = max(scores, -1, true);
  Tensor lse = log(sum(exp(scores - top), {-1})) + top.squeeze(-1);
  Tensor out = matmul(softmax(scores, -1), v64);
  out.backward(gout.to(Device::CPU).to(DType::F64));
  return {out.detach(), lse.detach(), q64.grad(), k64.grad(), v64.grad()};
}

TEST_CASE("fused attention on CUDA: strided heads, head dims 8 to 128, float32 and bfloat16, forward and backward") {
  Generator gen(6);
  Backend& gpu = backend_for(kGpu);
  struct Case {
    int64_t b, h, n, m, d, dv;
  };
  for (const Case c : {Case{2, 3, 70, 33, 8, 8}, Case{2, 6, 197, 197, 64, 64}, Case{1, 16, 197, 197, 32, 32},
                       Case{3, 2, 1, 5, 64, 32}, Case{1, 2, 40, 1, 32, 96}, Case{1, 2, 65, 100, 80, 80},
                       Case{1, 1, 129, 64, 128, 128}}) {
    for (DType dtype : {DType::F32, DType::BF16}) {
      CAPTURE(c.n);
      CAPTURE(c.m);
      CAPTURE(c.d);
      CAPTURE(c.dv);
      CAPTURE(dtype_name(dtype));
      // Heads read in place from the (B, N, H, D) layout of the projections: strided views.
      auto heads = [&](int64_t rows, int64_t dims) {
        Tensor packed = randn({c.b, rows, c.h, dims}, {}, &gen).to(kGpu);
        return to_dtype(packed, dtype).permute({0, 2, 1, 3});
      };
      const Tensor q = heads(c.n, c.d), k = heads(c.m, c.d), v = heads(c.m, c.dv);
      const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
      const TensorOptions f32{.device = kGpu};
      Tensor out = empty({c.b, c.n, c.h, c.dv}, f32).permute({0, 2, 1, 3});
      Tensor lse = empty({c.b, c.h, c.n}, f32);
      gpu.attention(q, k, v, scale, out, lse);
      const Tensor gout = randn({c.b, c.h, c.n, c.dv}, {}, &gen);
      // The reference multiplies the same (bfloat16-rounded) values exactly.
      const AttentionReference ref = attention_reference(q, k, v, gout, scale);
      CHECK(closeness(out.to(Device::CPU).to(DType::F64), ref.out, 1e-4, 1e-5) <= 1.0);
      CHECK(closeness(lse.to(Device::CPU).to(DType::F64), ref.lse, 1e-5, 1e-5) <= 1.0);
      Tensor gq = empty({c.b, c.n, c.h, c.d}, f32).permute({0, 2, 1, 3});
      Tensor gk = empty({c.b, c.h, c.m, c.d}, f32), gv = empty({c.b, c.h, c.m, c.dv}, f32);
      gpu.attention_backward(q, k, v, out, lse, gout.to(kGpu), scale, gq, gk, gv);
      CHECK(closeness(gq.to(Device::CPU).to(DType::F64), ref.gq, 1e-3, 1e-4) <= 1.0);
      CHECK(closeness(gk.to(Device::CPU).to(DType::F64), ref.gk, 1e-3, 1e-4) <= 1.0);
      CHECK(closeness(gv.to(Device::CPU).to(DType::F64), ref.gv, 1e-3, 1e-4) <= 1.0);
    }
  }
  // float64 heads accumulate in float64.
  const Tensor q = randn({1, 2, 50, 16}, {.dtype = DType::F64}, &gen).to(kGpu);
  const Tensor kv = randn({1, 2, 60, 16}, {.dtype = DType::F64}, &gen).to(kGpu);
  Tensor out = empty({1, 2, 50, 16}, {.dtype = DType::F64, .device = kGpu});
  Tensor lse = empty({1, 2, 50}, {.dtype = DType::F64, .device = kGpu});
  gpu.attention(q, kv, kv, 0.25, out, lse);
  const AttentionReference ref = attention_reference(q, kv, kv, zeros({1, 2, 50, 16}), 0.25);
  CHECK(closeness(out.to(Device::CPU), ref.out, 1e-12, 1e-12) <= 1.0);
}

TEST_CASE("the caching allocator: a repeated training step asks the GPU for no new memory") {
  const MicroFixture fx;
  auto model = micro_model(fx, DType::F32, siammae_preset("micro"), kGpu);
  AdamW optimizer(decay_groups(*model, 0.05), {.lr = 1e-3});
  const PairMasks masks = fixture_masks(fx, *model);
  auto step = [&] {
    loss_with_grads(*model, fx, masks, DType::F32);
    optimizer.step();
  };
  step();
  step();
  const MemoryStats warm = memory_stats(kGpu);
  step();
  step();
  const MemoryStats after = memory_stats(kGpu);
  CHECK(after.system_allocations == warm.system_allocations);  // every block came from the cache
  CHECK(after.reserved == warm.reserved);
  CHECK(after.peak_allocated >= after.allocated);
  CHECK(after.reserved >= after.allocated);
  release_cached_memory(kGpu);
  CHECK(memory_stats(kGpu).reserved == memory_stats(kGpu).allocated);
}

TEST_CASE("fused AdamW on CUDA equals the CPU's") {
  Generator gen(7);
  const Tensor w0 = randn({300, 70}, {}, &gen), b0 = randn({70}, {}, &gen);  // w: several chunks
  auto run = [&](Device device) {
    Tensor w = w0.to(device).clone().requires_grad_(), b = b0.to(device).clone().requires_grad_();
    AdamW optimizer({ParamGroup{{{"w", w}}, 0.05}, ParamGroup{{{"b", b}}, 0.0}}, {.lr = 1e-2, .beta2 = 0.95});
    Generator grads(8);
    for (int step = 0; step < 3; ++step) {
      w.set_grad(randn(w.shape(), {}, &grads).to(device));
      b.set_grad(randn(b.shape(), {}, &grads).to(device));
      optimizer.step();
    }
    return std::pair{w.detach().to(Device::CPU), b.detach().to(Device::CPU)};
  };
  const auto [w_cpu, b_cpu] = run(Device::CPU);
  const auto [w_gpu, b_gpu] = run(kGpu);
  CHECK(closeness(w_gpu, w_cpu, 1e-6, 1e-6) <= 1.0);
  CHECK(closeness(b_gpu, b_cpu, 1e-6, 1e-6) <= 1.0);
}

TEST_CASE("matmul on CUDA: heads read in place, broadcast batches, transposed operands, bfloat16 operands") {
  Generator gen(10);
  const Tensor qkv = randn({4, 50, 3, 6, 16}, {}, &gen);  // (B, N, 3, H, D), as a qkv projection lies
  const Tensor q = qkv.narrow(2, 0, 1).squeeze(2).permute({0, 2, 1, 3});  // (B, H, N, D), strided
  const Tensor k = qkv.narrow(2, 1, 1).squeeze(2).permute({0, 2, 1, 3});
  const Tensor gq = q.to(kGpu).detach(), gk = k.to(kGpu).detach();
  // to(kGpu) packs; the views below are taken on the GPU, as the model takes them.
  const Tensor gqkv = qkv.to(kGpu);
  const Tensor q_view = gqkv.narrow(2, 0, 1).squeeze(2).permute({0, 2, 1, 3});
  const Tensor k_view = gqkv.narrow(2, 1, 1).squeeze(2).permute({0, 2, 1, 3});
  const Tensor expected = matmul(q, k.transpose(-1, -2));  // (B, H, N, N)
  CHECK(gpu_vs_cpu(matmul(q_view, k_view.transpose(-1, -2)), expected, 1e-5, 1e-5) <= 1.0);
  CHECK(gpu_vs_cpu(matmul(gq, gk.transpose(-1, -2)), expected, 1e-5, 1e-5) <= 1.0);
  // A (N, D) matrix broadcast over the batch, and a transposed left operand.
  const Tensor w = randn({16, 50}, {}, &gen);
  CHECK(gpu_vs_cpu(matmul(q_view, w.to(kGpu)), matmul(q, w), 1e-5, 1e-5) <= 1.0);
  CHECK(gpu_vs_cpu(matmul(q_view.transpose(-1, -2), q_view), matmul(q.transpose(-1, -2), q), 1e-5, 1e-5) <= 1.0);
  // bfloat16 operands (what autocast hands cuBLAS): the product of the rounded values.
  auto rounded = [](const Tensor& t) { return to_dtype(to_dtype(t, DType::BF16), DType::F32); };
  Tensor mixed;
  {
    AutocastGuard autocast;
    mixed = matmul(q_view, k_view.transpose(-1, -2));
  }
  CHECK(mixed.dtype() == DType::F32);
  CHECK(gpu_vs_cpu(mixed, matmul(rounded(q), rounded(k).transpose(-1, -2)), 1e-5, 1e-5) <= 1.0);
}

TEST_CASE("TF32 is off unless asked for; with it on, products agree to TF32's precision") {
  CHECK(!allow_tf32());
  Generator gen(9);
  const Tensor a = randn({256, 512}, {}, &gen), b = randn({512, 128}, {}, &gen);
  const Tensor exact = matmul(a, b);
  CHECK(gpu_vs_cpu(matmul(a.to(kGpu), b.to(kGpu)), exact, 1e-4, 1e-4) <= 1.0);
  set_allow_tf32(true);
  const Tensor tf32 = matmul(a.to(kGpu), b.to(kGpu));
  set_allow_tf32(false);
  CHECK(gpu_vs_cpu(tf32, exact, 1e-2, 1e-1) <= 1.0);  // 10-bit mantissas: about 1e-3 relative per product
}

TEST_CASE("SiamMAE on CUDA matches its PyTorch twin: loss, every gradient by name, 10 AdamW steps") {
  const MicroFixture fx;
  auto model = micro_model(fx, DType::F32, siammae_preset("micro"), kGpu);
  Tensor loss = loss_with_grads(*model, fx, fixture_masks(fx, *model), DType::F32);
  const double loss_error = relative_error(loss, fx.expected.at("loss"));
  CHECK(loss_error <= 1e-4);  // the CPU's float32 tolerance (tests/test_model.cpp)
  const auto worst = compare_grads(*model, fx.expected, "", 1e-4);
  MESSAGE("float32 on CUDA, max relative error: loss ", loss_error, ", encoder gradients ", worst.at("encoder"),
          ", decoder gradients ", worst.at("decoder"));

  model = micro_model(fx, DType::F32, siammae_preset("micro"), kGpu);
  const PairMasks masks = fixture_masks(fx, *model);
  AdamW optimizer(decay_groups(*model, 0.05), {.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8});
  const std::vector<double> expected = fx.expected.at("adamw_losses").to_vector<double>();
  double trajectory = 0;
  for (double target : expected) {
    const double step_loss = loss_with_grads(*model, fx, masks, DType::F32).item();
    optimizer.step();
    trajectory = std::max(trajectory, std::abs(step_loss - target) / std::abs(target));
  }
  CHECK(trajectory <= 2e-4);
  MESSAGE("float32 on CUDA, AdamW trajectory: max relative loss error ", trajectory, " over 10 steps");
}

TEST_CASE("SiamMAE in bfloat16 autocast on CUDA stays within the stated tolerance of PyTorch's float32") {
  const MixedPrecisionErrors e = bfloat16_errors(MicroFixture(), kGpu);
  MESSAGE("bfloat16 autocast on CUDA against float32: loss ", e.loss, ", gradients ", e.gradient,
          ", 10 AdamW steps ", e.trajectory, " (relative)");
  CHECK(e.loss <= kBfloat16LossTolerance);
  CHECK(e.trajectory <= kBfloat16LossTolerance);
  CHECK(e.gradient <= kBfloat16GradientTolerance);
}

TEST_CASE("a checkpoint saved on one device loads on the other, optimizer state included") {
  const MicroFixture fx;
  const std::string path = (std::filesystem::temp_directory_path() / "sm_cuda_checkpoint.safetensors").string();
  for (auto [from, to] : {std::pair{kGpu, Device::CPU}, std::pair{Device::CPU, kGpu}}) {
    CAPTURE(device_name(from));
    auto model = micro_model(fx, DType::F32, siammae_preset("micro"), from);
    const PairMasks masks = fixture_masks(fx, *model);
    AdamW optimizer(decay_groups(*model, 0.05), {.lr = 2e-3});
    loss_with_grads(*model, fx, masks, DType::F32);
    optimizer.step();
    save_checkpoint(path, *model, &optimizer, nlohmann::json::object(), 1, 0.0, 0.0);

    // Resume on the other device; its next step must match the step on the first device.
    const Checkpoint saved = read_checkpoint(path);
    auto resumed = micro_model(fx, DType::F32, siammae_preset("micro"), to);
    resumed->load_state_dict(saved.model);
    AdamW resumed_optimizer(decay_groups(*resumed, 0.05), {.lr = 2e-3});
    resumed_optimizer.load_state_dict(saved.optimizer);
    const PairMasks resumed_masks = fixture_masks(fx, *resumed);
    const double next = loss_with_grads(*model, fx, masks, DType::F32).item();
    const double next_resumed = loss_with_grads(*resumed, fx, resumed_masks, DType::F32).item();
    CHECK(next_resumed == doctest::Approx(next).epsilon(1e-5));
    optimizer.step();
    resumed_optimizer.step();
    const StateDict after = model->state_dict(), resumed_after = resumed->state_dict();
    for (const auto& [name, p] : after) {
      CAPTURE(name);
      CHECK(closeness(resumed_after.at(name).to(Device::CPU), p.to(Device::CPU), 1e-4, 1e-6) <= 1.0);
    }
  }
  std::filesystem::remove(path);
}

int main(int argc, char** argv) {
  if (!cuda_available()) {
    std::cout << "skipped: no CUDA device (or this build has no CUDA backend); the CUDA tests need a GPU\n";
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
