// nn/: modules against their PyTorch twins (tests/reference/make_nn_fixtures.py), the module
// system, optimizers and the schedule, safetensors, and a small model learning a toy task.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "nn/nn.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;

namespace {

// A fixture file's parameters and buffers: every entry that is not an input, output or gradient.
StateDict module_state(const StateDict& fixture) {
  StateDict state;
  for (const auto& [name, t] : fixture)
    if (name.rfind("grad.", 0) != 0 && name.rfind("input.", 0) != 0 && name != "output" && name != "grad_output")
      state[name] = t;
  return state;
}

Tensor input_of(const StateDict& fixture, const std::string& name, DType dtype) {
  return to_dtype(fixture.at("input." + name), dtype).detach().requires_grad_();
}

// Runs `forward` on the fixture's inputs in `dtype`; checks output, input and parameter gradients.
void check_against_fixture(const std::string& file, Module& module, const std::vector<std::string>& input_names,
                           const std::function<Tensor(const std::vector<Tensor>&)>& forward, DType dtype, double rtol,
                           double atol) {
  const StateDict fixture = load_safetensors(source_path("tests/reference/" + file)).tensors;
  module.to(dtype);
  module.load_state_dict(module_state(fixture));
  std::vector<Tensor> inputs;
  for (const std::string& name : input_names) inputs.push_back(input_of(fixture, name, dtype));
  Tensor out = forward(inputs);
  CHECK(closeness(out, to_dtype(fixture.at("output"), dtype), rtol, atol) <= 1.0);
  out.backward(to_dtype(fixture.at("grad_output"), dtype));
  for (size_t i = 0; i < inputs.size(); ++i) {
    CAPTURE(input_names[i]);
    CHECK(closeness(inputs[i].grad(), to_dtype(fixture.at("grad.input." + input_names[i]), dtype), rtol, atol) <= 1.0);
  }
  int checked = 0;
  for (const auto& [name, p] : module.named_parameters()) {
    CAPTURE(name);
    CHECK(closeness(p.grad(), to_dtype(fixture.at("grad." + name), dtype), rtol, atol) <= 1.0);
    ++checked;
  }
  CHECK(checked == static_cast<int>(module.named_parameters().size()));
  module.zero_grad();
}

}  // namespace

TEST_CASE("a ViT block matches PyTorch: output and every gradient") {
  for (DType dtype : {DType::F64, DType::F32}) {
    const std::string dtype_label = dtype_name(dtype);
    CAPTURE(dtype_label);
    Block block(16, 4);
    check_against_fixture("nn_block.safetensors", block, {"x"},
                          [&](const std::vector<Tensor>& in) { return block.forward(in[0]); }, dtype,
                          dtype == DType::F64 ? 1e-9 : 1e-4, dtype == DType::F64 ? 1e-10 : 1e-4);
  }
}

TEST_CASE("a cross-self block matches PyTorch: output and every gradient") {
  for (DType dtype : {DType::F64, DType::F32}) {
    const std::string dtype_label = dtype_name(dtype);
    CAPTURE(dtype_label);
    CrossSelfBlock block(16, 4);
    check_against_fixture("nn_cross_block.safetensors", block, {"y", "memory"},
                          [&](const std::vector<Tensor>& in) { return block.forward(in[0], in[1]); }, dtype,
                          dtype == DType::F64 ? 1e-9 : 1e-4, dtype == DType::F64 ? 1e-10 : 1e-4);
  }
}

TEST_CASE("a tiny ViT matches PyTorch, Conv2d patch weights included") {
  ViTConfig config;
  config.image_size = 16, config.patch_size = 4, config.dim = 16, config.depth = 2, config.heads = 2;
  VisionTransformer vit(config);
  check_against_fixture("nn_vit.safetensors", vit, {"images"},
                        [&](const std::vector<Tensor>& in) { return vit.forward(in[0]); }, DType::F64, 1e-9, 1e-10);
}

// A float64 ViT on 16 x 16 images in 4 x 4 patches, for exact comparisons of two computations.
static std::unique_ptr<VisionTransformer> small_f64_vit(int64_t dim, int64_t depth) {
  ViTConfig config;
  config.image_size = 16, config.patch_size = 4, config.dim = dim, config.depth = depth, config.heads = 2;
  auto vit = std::make_unique<VisionTransformer>(config);
  vit->to(DType::F64);
  return vit;
}

TEST_CASE("token sets run together equal each set run alone: tokens and every gradient") {
  const auto vit_owner = small_f64_vit(16, 2);
  VisionTransformer& vit = *vit_owner;
  Generator gen(3);
  const Tensor a = randn({2, 5, 16}, {.dtype = DType::F64}, &gen), b = randn({2, 2, 16}, {.dtype = DType::F64}, &gen);
  const Tensor wa = randn({2, 6, 16}, {.dtype = DType::F64}, &gen), wb = randn({2, 3, 16}, {.dtype = DType::F64}, &gen);
  auto gradients = [&] {
    std::vector<Tensor> grads;
    for (const Tensor& p : vit.parameters()) grads.push_back(p.grad());
    vit.zero_grad();
    return grads;
  };
  const Tensor alone_a = vit.forward_tokens(a), alone_b = vit.forward_tokens(b);
  sum(alone_a * wa).backward();  // gradients accumulate over both
  sum(alone_b * wb).backward();
  const std::vector<Tensor> expected = gradients();
  const std::vector<Tensor> together = vit.forward_token_sets({a, b});
  CHECK(closeness(together[0], alone_a, 1e-12, 1e-12) <= 1.0);
  CHECK(closeness(together[1], alone_b, 1e-12, 1e-12) <= 1.0);
  (sum(together[0] * wa) + sum(together[1] * wb)).backward();
  const std::vector<Tensor> got = gradients();
  for (size_t i = 0; i < got.size(); ++i) {
    REQUIRE(got[i].defined() == expected[i].defined());  // the patch embedding is not used here
    if (expected[i].defined()) CHECK(closeness(got[i], expected[i], 1e-12, 1e-12) <= 1.0);
  }
  // Attention maps are kept for one sequence only; segments that do not cover the tokens fail.
  (*vit.blocks)[0]->attn->keep_weights = true;
  CHECK_THROWS_WITH_AS(vit.forward_token_sets({a, b}), doctest::Contains("keep_weights keeps the maps of one sequence"),
                       std::exception);
  CHECK_THROWS_WITH_AS(multi_head_attention(randn({2, 5, 48}), 2, {2, 2}),
                       doctest::Contains("segments (2, 2) must be positive token counts that sum to the 5 tokens"),
                       std::exception);
}

TEST_CASE("embedding only the kept patches equals keeping them after embedding all, with gradients") {
  const auto vit_owner = small_f64_vit(8, 1);
  VisionTransformer& vit = *vit_owner;
  Generator gen(5);
  const Tensor images = randn({2, 3, 16, 16}, {.dtype = DType::F64}, &gen);
  const Tensor keep = from_vector(std::vector<int64_t>{3, 0, 15, 7, 7, 1}, {2, 3}, {.dtype = DType::I64});  // (B, n)
  const Tensor weights = randn({2, 3, 8}, {.dtype = DType::F64}, &gen);
  const Tensor all_then_kept = take_tokens(vit.embed_patches(images), keep);
  sum(all_then_kept * weights).backward();
  const Tensor expected_w = vit.patch_embed->proj->weight.grad(), expected_b = vit.patch_embed->proj->bias.grad();
  vit.zero_grad();
  const Tensor kept = vit.embed_patches(images, keep);
  sum(kept * weights).backward();
  CHECK(closeness(kept, all_then_kept, 1e-12, 1e-12) <= 1.0);
  CHECK(closeness(vit.patch_embed->proj->weight.grad(), expected_w, 1e-12, 1e-12) <= 1.0);
  CHECK(closeness(vit.patch_embed->proj->bias.grad(), expected_b, 1e-12, 1e-12) <= 1.0);
}

TEST_CASE("parameter names and counts follow MAE") {
  VisionTransformer vit(vit_preset("vit_small_patch16"));
  const NamedTensors params = vit.named_parameters();
  CHECK(params.front().first == "cls_token");
  CHECK(params[1].first == "patch_embed.proj.weight");
  CHECK(params[1].second.shape() == Shape{384, 3, 16, 16});
  CHECK(vit.named_buffers().at(0).first == "pos_embed");
  CHECK(vit.named_buffers().at(0).second.shape() == Shape{1, 197, 384});
  int64_t in_blocks = 0;
  for (const auto& [name, p] : params)
    if (name.starts_with("blocks.")) in_blocks += p.numel();
  CHECK(in_blocks == 21293568);  // 21.29 M in the 12 blocks of ViT-S/16, as in CropMAE's log
  CHECK(vit.state_dict().count("blocks.11.mlp.fc2.bias"));
  CHECK_THROWS_WITH(vit_preset("vit_huge_patch14"), doctest::Contains("[vit_preset] unknown preset 'vit_huge_patch14'"));
}

TEST_CASE("load_state_dict names the missing, unexpected or mis-shaped key") {
  Linear a(3, 2), b(3, 2);
  StateDict state = a.state_dict();
  b.load_state_dict(state);
  CHECK(b.weight.to_vector<float>() == a.weight.to_vector<float>());
  state.erase("bias");
  CHECK_THROWS_WITH(b.load_state_dict(state), "[load_state_dict] missing key 'bias' (2)");
  b.load_state_dict(state, false);  // non-strict: missing keys are left alone
  state["bias"] = zeros({2});
  state["extra"] = zeros({1});
  CHECK_THROWS_WITH(b.load_state_dict(state), "[load_state_dict] unexpected key 'extra' (1)");
  state.erase("extra");
  state["weight"] = zeros({2, 4});
  CHECK_THROWS_WITH(b.load_state_dict(state),
                    "[load_state_dict] key 'weight' has shape (2, 4) in the state dict but (2, 3) in the model");
}

TEST_CASE("the sin-cos table equals MAE's") {
  const nlohmann::json misc = load_json("tests/reference/nn_misc.json");
  const int64_t dim = misc["sincos"]["dim"], grid = misc["sincos"]["grid"];
  Tensor expected = from_vector(misc["sincos"]["table"].get<std::vector<double>>(), {grid * grid + 1, dim});
  CHECK(closeness(sincos_2d_table(dim, grid, grid, true), to_dtype(expected, DType::F32), 1e-6, 1e-6) <= 1.0);
}

TEST_CASE("bicubic resizing equals torch's interpolate, and a ViT runs at another grid") {
  const nlohmann::json b = load_json("tests/reference/nn_misc.json")["bicubic"];
  Tensor grid = from_vector(b["input"].get<std::vector<double>>(), {2, 4, 4}, {.dtype = DType::F64});
  CHECK(closeness(resize_bicubic(grid, 7, 9), from_vector(b["up"].get<std::vector<double>>(), {2, 7, 9},
                                                          {.dtype = DType::F64}), 1e-12, 1e-12) <= 1.0);
  CHECK(closeness(resize_bicubic(grid, 3, 2), from_vector(b["down"].get<std::vector<double>>(), {2, 3, 2},
                                                          {.dtype = DType::F64}), 1e-12, 1e-12) <= 1.0);
  ViTConfig config;
  config.image_size = 16, config.patch_size = 4, config.dim = 16, config.depth = 1, config.heads = 2;
  VisionTransformer vit(config);
  NoGradGuard no_grad;
  Tensor images = randn({1, 3, 16, 16});
  // At the training grid, patch features are the encoder's tokens without CLS.
  CHECK(closeness(vit.patch_features(images).reshape({16, 16}), vit.forward(images).narrow(1, 1, 16).reshape({16, 16}),
                  1e-6, 1e-6) <= 1.0);
  CHECK(vit.patch_features(randn({2, 3, 24, 36})).shape() == Shape{2, 6, 9, 16});
  CHECK(closeness(vit.patch_positions(4, 4), vit.pos_embed.narrow(1, 1, 16), 0, 0) <= 1.0);
}

TEST_CASE("the warmup + cosine schedule equals MAE's") {
  const nlohmann::json s = load_json("tests/reference/nn_misc.json")["schedule"];
  for (int step = 0; step <= 20; ++step) {
    CAPTURE(step);
    CHECK(warmup_cosine_lr(step, s["warmup"], s["total"], s["base"], s["min"]) ==
          doctest::Approx(s["values"][step].get<double>()).epsilon(1e-12));
  }
}

// Replays the optimizer trajectory of nn_misc.json: 10 steps of least squares.
static void check_trajectory(const nlohmann::json& misc, const std::string& key,
                             const std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup>)>& make) {
  const nlohmann::json& t = misc[key];
  const TensorOptions f64{.dtype = DType::F64};
  Tensor x = from_vector(t["x"].get<std::vector<double>>(), {8, 3}, f64);
  Tensor y = from_vector(t["y"].get<std::vector<double>>(), {8, 2}, f64);
  Tensor w = from_vector(misc["w0"].get<std::vector<double>>(), {2, 3}, f64).requires_grad_();
  Tensor b = from_vector(misc["b0"].get<std::vector<double>>(), {2}, f64).requires_grad_();
  auto optimizer = make({ParamGroup{{{"w", w}}, key == "adamw" ? 0.05 : 0.01}, ParamGroup{{{"b", b}}, 0.0}});
  for (int step = 0; step < 10; ++step) {
    optimizer->zero_grad();
    Tensor loss = mean(pow(matmul(x, w.t()) + b - y, 2.0));
    loss.backward();
    optimizer->step();
    CHECK(loss.item() == doctest::Approx(t["losses"][step].get<double>()).epsilon(1e-10));
  }
  CHECK(closeness(w, from_vector(t["w"].get<std::vector<double>>(), {2, 3}, f64), 1e-10, 1e-12) <= 1.0);
  CHECK(closeness(b, from_vector(t["b"].get<std::vector<double>>(), {2}, f64), 1e-10, 1e-12) <= 1.0);
}

TEST_CASE("AdamW and SGD follow PyTorch's trajectories for 10 steps") {
  const nlohmann::json misc = load_json("tests/reference/nn_misc.json");
  check_trajectory(misc, "adamw", [](std::vector<ParamGroup> g) -> std::unique_ptr<Optimizer> {
    return std::make_unique<AdamW>(std::move(g), AdamW::Options{.lr = 0.05, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8});
  });
  check_trajectory(misc, "sgd", [](std::vector<ParamGroup> g) -> std::unique_ptr<Optimizer> {
    return std::make_unique<SGD>(std::move(g), 0.1, 0.9);
  });
}

// AdamW's update written with tensor ops: the reference the fused kernel (Backend::adamw) is
// held to.
static void reference_adamw_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, double lr,
                                 double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  NoGradGuard no_grad;
  const double correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  copy_(m, m * beta1 + g * (1 - beta1));
  copy_(v, v * beta2 + g * g * (1 - beta2));
  Tensor decayed = weight_decay != 0 ? p * (1 - lr * weight_decay) : p;
  Tensor denom = sqrt(v) / std::sqrt(correction2) + eps;
  copy_(p, decayed - m / denom * (lr / correction1));
}

TEST_CASE("the fused AdamW step equals the update written with tensor ops (to FMA rounding)") {
  // The fused kernel may round a multiply-add once where the ops round twice: the values are
  // of order 1, so the differences are of the order of their last bit, relative and absolute.
  for (auto [dtype, tolerance] : {std::pair{DType::F32, 1e-6}, std::pair{DType::F64, 1e-14}}) {
    CAPTURE(dtype_name(dtype));
    Generator gen(11);
    const TensorOptions o{.dtype = dtype};
    Tensor w = randn({5, 3}, o, &gen).requires_grad_(), b = randn({70000}, o, &gen).requires_grad_();  // b: several chunks
    Tensor w_ref = w.detach().clone(), b_ref = b.detach().clone();
    Tensor m_w = zeros({5, 3}, o), v_w = zeros({5, 3}, o), m_b = zeros({70000}, o), v_b = zeros({70000}, o);
    AdamW optimizer({ParamGroup{{{"w", w}}, 0.05}, ParamGroup{{{"b", b}}, 0.0}},
                    {.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8});
    for (int64_t step = 1; step <= 3; ++step) {
      Tensor g_w = randn({3, 5}, o, &gen).t();  // a transposed (strided) gradient
      Tensor g_b = randn({70000}, o, &gen);
      w.set_grad(g_w);
      b.set_grad(g_b);
      optimizer.step();
      reference_adamw_step(w_ref, g_w, m_w, v_w, 3e-3, 0.9, 0.95, 1e-8, 0.05, step);
      reference_adamw_step(b_ref, g_b, m_b, v_b, 3e-3, 0.9, 0.95, 1e-8, 0.0, step);
      CHECK(closeness(w, w_ref, tolerance, tolerance) <= 1.0);
      CHECK(closeness(b, b_ref, tolerance, tolerance) <= 1.0);
      CHECK(closeness(optimizer.state_dict().at("exp_avg.b"), m_b, tolerance, tolerance) <= 1.0);
      CHECK(closeness(optimizer.state_dict().at("exp_avg_sq.b"), v_b, tolerance, tolerance) <= 1.0);
    }
  }
}

TEST_CASE("optimizer state round-trips: a resumed run continues exactly") {
  auto run = [](int steps, Optimizer* resume_from, StateDict* save_to, Tensor w) {
    AdamW opt({ParamGroup{{{"w", w}}, 0.1}}, {});
    if (resume_from) opt.load_state_dict(resume_from->state_dict());
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      sum(pow(w - 3.0, 2.0)).backward();
      opt.step();
    }
    if (save_to) *save_to = opt.state_dict();
    return opt.step_count();
  };
  Tensor straight = full({3}, 1.0).requires_grad_();
  run(6, nullptr, nullptr, straight);
  Tensor resumed = full({3}, 1.0).requires_grad_();
  StateDict state;
  run(3, nullptr, &state, resumed);
  AdamW holder({ParamGroup{{{"w", resumed}}, 0.1}}, {});
  holder.load_state_dict(state);
  CHECK(holder.step_count() == 3);
  run(3, &holder, nullptr, resumed);
  CHECK(resumed.to_vector<float>() == straight.to_vector<float>());
}

TEST_CASE("decay groups leave biases, norms and tokens undecayed") {
  ViTConfig config;
  config.image_size = 16, config.patch_size = 4, config.dim = 16, config.depth = 1, config.heads = 2;
  VisionTransformer vit(config);
  const auto groups = decay_groups(vit, 0.05);
  for (const auto& [name, p] : groups[0].params) CHECK_MESSAGE(p.dim() >= 2, name);
  bool cls_undecayed = false;
  for (const auto& [name, p] : groups[1].params) cls_undecayed |= name == "cls_token";
  CHECK(cls_undecayed);
  CHECK(groups[0].params.size() + groups[1].params.size() == vit.named_parameters().size());
}

TEST_CASE("clip_grad_norm scales to the max norm and returns the norm before") {
  Tensor a = full({2}, 1.0).requires_grad_(), b = full({1}, 1.0).requires_grad_();
  sum(a * 3.0 + b * 4.0).backward();  // grads (3, 3) and (8) (b is broadcast twice): norm sqrt(82)
  CHECK(clip_grad_norm({a, b}, 1.0) == doctest::Approx(std::sqrt(82.0)));
  CHECK(std::sqrt(sum(a.grad() * a.grad()).item() + sum(b.grad() * b.grad()).item()) == doctest::Approx(1.0).epsilon(1e-5));
}

TEST_CASE("safetensors: round trip, metadata, the file layout, and a file Python reads") {
  const std::string path = (std::filesystem::temp_directory_path() / "sm_test.safetensors").string();
  StateDict tensors{{"a", arange(0, 6).reshape({2, 3})},
                    {"b", from_vector(std::vector<double>{1.5, -2.0})},
                    {"c", from_vector(std::vector<int64_t>{7, -8}, {2, 1}, {.dtype = DType::I64})}};
  save_safetensors(path, tensors, {{"note", "written by tests/test_nn.cpp"}});
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  SafetensorsFile file = load_safetensors(path);
  CHECK(file.metadata.at("note") == "written by tests/test_nn.cpp");
  for (const auto& [name, t] : tensors) {
    CHECK(file.tensors.at(name).dtype() == t.dtype());
    CHECK(file.tensors.at(name).to_vector<double>() == t.to_vector<double>());
  }
  // Byte for byte the committed file that make_nn_fixtures.py checks with its own reader.
  auto bytes = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(bytes(path) == bytes(source_path("tests/reference/cpp_written.safetensors")));
  std::filesystem::remove(path);
}

TEST_CASE("safetensors: corrupt files fail with one clear line") {
  const std::string path = (std::filesystem::temp_directory_path() / "sm_bad.safetensors").string();
  auto write = [&](const std::string& header, const std::string& data, uint64_t length) {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
    out << header << data;
  };
  auto write_header = [&](const std::string& header, size_t data_bytes) {
    write(header, std::string(data_bytes, '\0'), header.size());
  };
  write("", "", 0);
  std::filesystem::resize_file(path, 5);
  CHECK_THROWS_WITH(load_safetensors(path), doctest::Contains("is truncated: 5 bytes, no header length"));
  write("{}", "", 1000);
  CHECK_THROWS_WITH(load_safetensors(path), doctest::Contains("is truncated or corrupt: header of 1000 bytes"));
  // Headers the loader must refuse: the header, the data bytes after it, what the message says.
  struct BadHeader {
    const char* header;
    size_t data_bytes;
    const char* message;
  };
  for (const BadHeader& bad : std::initializer_list<BadHeader>{
           {"{not json", 0, "header is not valid JSON"},
           {R"({"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}})", 2, "tensor 'x' has unsupported dtype BF16"},
           {R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, "tensor 'x' data range is outside the file"},
           {R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "needs 12 bytes but its range holds 8"},
           {R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "ranges overlap or leave a hole"},
           {R"({"x":{"dtype":"F32","shape":[2]}})", 8, "entry 'x' is malformed"},
           // sizes whose byte count overflows 64 bits, and sizes that are not sizes
           {R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8, "tensor 'x' of shape"},
           {R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", 8, "has a negative or non-integer size"},
           {R"({"x":{"dtype":"F32","shape":[1e30],"data_offsets":[0,8]}})", 8, "has a negative or non-integer size"},
           {R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8e0]}})", 8, "data range is not a pair of byte offsets"},
       }) {
    CAPTURE(bad.header);
    write_header(bad.header, bad.data_bytes);
    CHECK_THROWS_WITH(load_safetensors(path), doctest::Contains(bad.message));
  }
  CHECK_THROWS_WITH(load_safetensors(path + ".missing"), doctest::Contains("cannot open"));
  std::filesystem::remove(path);
}

TEST_CASE("layers: shapes, dropout modes, losses") {
  manual_seed(0);
  Linear linear(4, 3);
  CHECK(linear.forward(zeros({2, 5, 4})).shape() == Shape{2, 5, 3});
  CHECK_THROWS_WITH(linear.forward(zeros({2, 5})), doctest::Contains("[Linear] input (2, 5) does not end in 4 features"));
  Dropout dropout(0.5);
  Tensor x = ones({10000});
  Tensor dropped = dropout.forward(x);
  const double kept = mean(ne(dropped, zeros_like(dropped))).item();
  CHECK(kept == doctest::Approx(0.5).epsilon(0.05));
  CHECK(sum(dropped).item() == doctest::Approx(10000).epsilon(0.05));  // scaled by 1 / (1 - p)
  dropout.eval();
  CHECK(dropout.forward(x).same(x));
  // cross_entropy of uniform logits is log(C).
  CHECK(cross_entropy(zeros({3, 4}), from_vector(std::vector<int64_t>{0, 1, 3})).item() == doctest::Approx(std::log(4.0)));
  // masked MSE averages only the rows the mask keeps.
  Tensor pred = from_vector(std::vector<float>{1, 1, 3, 3}, {2, 2}), target = zeros({2, 2});
  CHECK(masked_mse_loss(pred, target, from_vector(std::vector<float>{0, 1})).item() == doctest::Approx(9.0));
  CHECK(mse_loss(pred, target).item() == doctest::Approx(5.0));
}

TEST_CASE("xavier_uniform_ stays within its bound") {
  Tensor w = zeros({64, 32});
  init::xavier_uniform_(w);
  const double bound = std::sqrt(6.0 / (64 + 32));
  CHECK(max(abs(w).flatten(), 0).item() <= bound);
  CHECK(max(abs(w).flatten(), 0).item() > 0.9 * bound);
}

TEST_CASE("a small MLP overfits a toy task to near-zero loss") {
  // Points on two interleaved spirals, classified by an MLP trained with AdamW.
  manual_seed(3);
  const int n = 64;
  std::vector<float> points;
  std::vector<int64_t> labels;
  for (int i = 0; i < n; ++i) {
    const double r = 0.2 + i / static_cast<double>(n), angle = 3.0 * r * 3.14159 + (i % 2) * 3.14159;
    points.push_back(static_cast<float>(r * std::cos(angle)));
    points.push_back(static_cast<float>(r * std::sin(angle)));
    labels.push_back(i % 2);
  }
  Tensor x = from_vector(points, {n, 2});
  Tensor y = from_vector(labels);
  class Net : public Module {
   public:
    Net() {
      fc1 = register_module("fc1", std::make_shared<Linear>(2, 64));
      fc2 = register_module("fc2", std::make_shared<Linear>(64, 64));
      fc3 = register_module("fc3", std::make_shared<Linear>(64, 2));
    }
    Tensor forward(const Tensor& x) const { return fc3->forward(tanh(fc2->forward(tanh(fc1->forward(x))))); }
    std::shared_ptr<Linear> fc1, fc2, fc3;
  } net;
  AdamW optimizer(decay_groups(net, 0.0), {.lr = 0.01});
  double loss_value = 0;
  for (int step = 0; step < 600; ++step) {
    Tensor logits = net.forward(x);
    Tensor loss = cross_entropy(logits, y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    loss_value = loss.item();
  }
  CHECK(loss_value < 0.01);
}
