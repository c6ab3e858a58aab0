// The worked examples of docs/adding-a-layer.md, so the guide cannot drift from the code:
//  1. RMSNorm built from existing ops (nn/rms_norm.h: rms_norm_composite, RMSNorm with fused = false);
//  2. the same layer as one fused op (rms_norm in autograd/functions.h, its kernels in
//     tensor/cpu/cpu_nn.cpp and tensor/cuda/cuda_nn.cu), and RMSNorm's default;
//  3. the layer in a ViT (ViTConfig::norm) and in the SiamMAE decoder (--decoder-norm rmsnorm).
// The fused op's own checks (PyTorch values for every case in ops.json, gradcheck, strided
// inputs, CUDA against the CPU) run with all the other ops in test_ops, test_grad,
// test_coverage and test_cuda.
#include <doctest/doctest.h>

#include "models/siammae/checkpoint.h"
#include "nn/nn.h"
#include "tests/fixtures.h"
#include "tests/model_fixture.h"

using namespace sm;
using namespace sm::test;

namespace {

// Every RMSNorm of the SiamMAE decoder.
std::vector<std::shared_ptr<RMSNorm>> decoder_rms_norms(const SiamMAE& model) {
  std::vector<std::shared_ptr<Norm>> norms{model.decoder_norm};
  for (const auto& block : *model.memory_blocks) {
    const auto cross_self = std::dynamic_pointer_cast<CrossSelfBlock>(block);
    REQUIRE(cross_self);
    norms.insert(norms.end(), {cross_self->norm_q, cross_self->norm_kv, cross_self->norm1, cross_self->norm2});
  }
  std::vector<std::shared_ptr<RMSNorm>> out;
  for (const auto& norm : norms) {
    out.push_back(std::dynamic_pointer_cast<RMSNorm>(norm));
    REQUIRE(out.back());
  }
  return out;
}

// Output and input gradients of f on copies of `inputs`, for one fixed output gradient.
std::vector<Tensor> output_and_grads(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                     const std::vector<Tensor>& inputs, const Tensor& grad_output) {
  std::vector<Tensor> leaves;
  for (const Tensor& x : inputs) leaves.push_back(x.detach().clone().requires_grad_());
  Tensor out = f(leaves);
  out.backward(grad_output);
  std::vector<Tensor> result{out.detach()};
  for (const Tensor& leaf : leaves) result.push_back(leaf.grad());
  return result;
}

}  // namespace

TEST_CASE("the composite RMSNorm (example 1) matches PyTorch's values and gradients") {
  const nlohmann::json fixtures = load_json("tests/reference/ops.json");
  int cases = 0;
  for (const auto& c : fixtures.at("cases")) {
    // The composite normalizes the last dim: the fixture cases over one trailing dim.
    if (c.at("op") != "rms_norm" || c.at("attrs").at("normalized_shape").size() != 1) continue;
    CAPTURE(c.at("name").get<std::string>());
    std::vector<Tensor> inputs;
    for (const auto& j : c.at("inputs")) inputs.push_back(tensor_from_json(j));
    const auto f = [&](const std::vector<Tensor>& in) {
      return rms_norm_composite(in[0], in.size() > 1 ? in[1] : Tensor(), c.at("attrs").at("eps"));
    };
    const std::vector<Tensor> got = output_and_grads(f, inputs, tensor_from_json(c.at("grad_output")));
    CHECK(closeness(got[0], tensor_from_json(c.at("output")), 1e-9, 1e-10) <= 1.0);
    for (size_t i = 0; i < inputs.size(); ++i)
      CHECK(closeness(got[i + 1], tensor_from_json(c.at("grads")[i]), 1e-9, 1e-10) <= 1.0);
    ++cases;
  }
  CHECK(cases == 2);  // rms_norm/weight and rms_norm/plain
}

TEST_CASE("the fused rms_norm (example 2) equals the composite, forward and backward, and both pass gradcheck") {
  Generator gen(3);
  for (DType dtype : {DType::F64, DType::F32}) {
    const std::string label = dtype_name(dtype);
    CAPTURE(label);
    const double tolerance = dtype == DType::F64 ? 1e-12 : 1e-5;
    const Tensor x = randn({2, 5, 16}, {.dtype = dtype}, &gen) * 3.0 + 0.5;  // (B, N, C)
    const Tensor weight = randn({16}, {.dtype = dtype}, &gen);              // (C)
    const Tensor grad_output = randn({2, 5, 16}, {.dtype = dtype}, &gen);
    const auto fused = output_and_grads(
        [](const std::vector<Tensor>& in) { return rms_norm(in[0], {16}, in[1], 1e-6); }, {x, weight}, grad_output);
    const auto composite = output_and_grads(
        [](const std::vector<Tensor>& in) { return rms_norm_composite(in[0], in[1], 1e-6); }, {x, weight}, grad_output);
    for (size_t i = 0; i < fused.size(); ++i) {
      CAPTURE(i);  // 0 the output, 1 the input's gradient, 2 the weight's
      CHECK(closeness(fused[i], composite[i], tolerance, tolerance) <= 1.0);
    }
  }
  // The module runs either one, by its `fused` flag.
  RMSNorm fused_layer(16), composite_layer(16, 1e-6, false);
  CHECK(fused_layer.fused);
  const Tensor x = randn({3, 16}, {}, &gen);
  CHECK(closeness(fused_layer.forward(x), composite_layer.forward(x), 1e-5, 1e-6) <= 1.0);
  CHECK(fused_layer.forward(x).grad_fn()->name() == "rms_norm");  // one node in the graph, not six

  for (bool fused_op : {true, false}) {
    CAPTURE(fused_op);
    const Tensor xd = randn({4, 6}, {.dtype = DType::F64}, &gen).requires_grad_();
    const Tensor wd = randn({6}, {.dtype = DType::F64}, &gen).requires_grad_();
    const GradcheckResult r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          return fused_op ? rms_norm(in[0], {6}, in[1], 1e-5) : rms_norm_composite(in[0], in[1], 1e-5);
        },
        {xd, wd});
    CAPTURE(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("RMSNorm: one parameter named weight, starting at ones; clear errors") {
  RMSNorm norm(8);
  const NamedTensors params = norm.named_parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].first == "weight");
  CHECK(params[0].second.to_vector<float>() == std::vector<float>(8, 1.0f));
  CHECK_THROWS_WITH(rms_norm(zeros({2, 3}), {4}, Tensor()),
                    "[rms_norm] normalized_shape (4) does not match the end of input (2, 3)");
  CHECK_THROWS_WITH(rms_norm(zeros({2, 4}), {4}, zeros({3})),
                    "[rms_norm] weight of shape (3) does not match normalized_shape (4)");
  CHECK_THROWS_WITH(RMSNorm(0), "[RMSNorm] dim must be positive, got 0");
}

TEST_CASE("a ViT with RMSNorm (ViTConfig::norm): the norms have a weight and no bias, and it learns") {
  ViTConfig config;
  config.image_size = 16, config.patch_size = 8, config.dim = 16, config.depth = 2, config.heads = 2;
  config.norm = NormKind::RMSNorm;
  VisionTransformer vit(config);
  const StateDict state = vit.state_dict();
  for (const std::string name : {"blocks.0.norm1.weight", "blocks.1.norm2.weight", "norm.weight"}) {
    CAPTURE(name);
    CHECK(state.count(name));
  }
  for (const std::string name : {"blocks.0.norm1.bias", "norm.bias"}) {
    CAPTURE(name);
    CHECK(!state.count(name));
  }
  CHECK(std::dynamic_pointer_cast<RMSNorm>(vit.norm));
  CHECK(std::dynamic_pointer_cast<LayerNorm>(VisionTransformer(ViTConfig{}).norm));  // the default stays
}

TEST_CASE("the SiamMAE decoder with --decoder-norm rmsnorm: fused equals composite on the whole model") {
  const MicroFixture fx;
  SiamMAEConfig config = siammae_preset("micro");
  config.decoder_norm = NormKind::RMSNorm;
  auto model = std::make_unique<SiamMAE>(config);
  model->to(DType::F64);
  model->load_state_dict(fx.weights, false);  // the fixture's weights, less the decoder's norm biases
  const StateDict state = model->state_dict();
  CHECK(state.count("decoder_blocks.0.norm_q.weight"));
  CHECK(!state.count("decoder_blocks.0.norm_q.bias"));
  CHECK(!state.count("decoder_norm.bias"));
  CHECK(state.count("blocks.0.norm1.bias"));  // the encoder keeps its LayerNorms

  const PairMasks masks = fixture_masks(fx, *model);
  const double fused_loss = loss_with_grads(*model, fx, masks, DType::F64).item();
  std::map<std::string, Tensor> fused_grads;
  for (const auto& [name, p] : model->named_parameters()) fused_grads[name] = p.grad().clone();
  for (const auto& norm : decoder_rms_norms(*model)) norm->fused = false;
  const double composite_loss = loss_with_grads(*model, fx, masks, DType::F64).item();
  CHECK(std::abs(fused_loss - composite_loss) <= 1e-12 * std::abs(composite_loss));
  for (const auto& [name, p] : model->named_parameters()) {
    CAPTURE(name);
    CHECK(relative_error(fused_grads.at(name), p.grad()) <= 1e-10);
  }
}

TEST_CASE("--decoder-norm: in the config's JSON, in checkpoints, and named in errors") {
  SiamMAEConfig config = siammae_preset("micro");
  CHECK(config.to_json().at("decoder_norm") == "layernorm");
  config.decoder_norm = NormKind::RMSNorm;
  CHECK(config.to_json().at("decoder_norm") == "rmsnorm");
  CHECK(SiamMAEConfig::from_json(config.to_json()).decoder_norm == NormKind::RMSNorm);
  nlohmann::json older = config.to_json();
  older.erase("decoder_norm");  // a config written before the setting existed
  CHECK(SiamMAEConfig::from_json(older).decoder_norm == NormKind::LayerNorm);
  nlohmann::json bad = config.to_json();
  bad["decoder_norm"] = "batchnorm";
  CHECK_THROWS_WITH(SiamMAEConfig::from_json(bad), "[config] unknown norm 'batchnorm' (layernorm|rmsnorm)");

  Generator gen(0);
  SiamMAE model(config, &gen);
  TempDir dir("rms-norm");
  const std::string path = dir / "checkpoint.safetensors";
  save_checkpoint(path, model, nullptr, nlohmann::json::object(), 0, 0, 0);
  auto loaded = load_model(path);
  CHECK(loaded->model_config.decoder_norm == NormKind::RMSNorm);
  CHECK(std::dynamic_pointer_cast<RMSNorm>(loaded->decoder_norm));
  CHECK(closeness(loaded->decoder_norm->forward(ones({1, config.decoder_dim})),
                  model.decoder_norm->forward(ones({1, config.decoder_dim})), 0, 0) <= 1.0);
}
