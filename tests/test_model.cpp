// models/siammae: the whole model against its PyTorch twin (tests/reference/make_model_fixtures.py):
// loss, every gradient by name, 10 AdamW steps and the ablation variants; plus masking,
// patch order and the presets' names.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "models/siammae/model.h"
#include "models/siammae/patches.h"
#include "nn/nn.h"
#include "tests/fixtures.h"
#include "tests/model_fixture.h"

using namespace sm;
using namespace sm::test;

TEST_CASE("SiamMAE matches its PyTorch twin: loss and every gradient by name") {
  const MicroFixture fx;
  for (auto [dtype, tolerance] : {std::pair{DType::F64, 1e-10}, std::pair{DType::F32, 1e-4}}) {
    const std::string dtype_label = dtype_name(dtype);
    CAPTURE(dtype_label);
    auto model = micro_model(fx, dtype);
    Tensor loss = loss_with_grads(*model, fx, fixture_masks(fx, *model), dtype);
    const double loss_error = relative_error(loss, fx.expected.at("loss"));
    CHECK(loss_error <= tolerance);
    const auto worst = compare_grads(*model, fx.expected, "", tolerance);
    MESSAGE(std::string(dtype_name(dtype)), " max relative error: loss ", loss_error, ", encoder gradients ", worst.at("encoder"),
            ", decoder gradients ", worst.at("decoder"));
  }
}

TEST_CASE("10 AdamW steps follow PyTorch's loss trajectory") {
  const MicroFixture fx;
  const std::vector<double> expected = fx.expected.at("adamw_losses").to_vector<double>();
  for (auto [dtype, tolerance] : {std::pair{DType::F64, 1e-9}, std::pair{DType::F32, 2e-4}}) {
    const std::string dtype_label = dtype_name(dtype);
    CAPTURE(dtype_label);
    auto model = micro_model(fx, dtype);
    const PairMasks masks = fixture_masks(fx, *model);
    AdamW optimizer(decay_groups(*model, 0.05), {.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8});
    double worst = 0;
    for (size_t step = 0; step < expected.size(); ++step) {
      const double loss = loss_with_grads(*model, fx, masks, dtype).item();
      optimizer.step();
      worst = std::max(worst, std::abs(loss - expected[step]) / std::abs(expected[step]));
    }
    CHECK(worst <= tolerance);
    MESSAGE(std::string(dtype_name(dtype)), " AdamW trajectory: max relative loss error ", worst, " over 10 steps (",
            expected.front(), " -> ", expected.back(), ")");
  }
}

TEST_CASE("bfloat16 autocast stays within its stated tolerance of PyTorch's float32 model") {
  const MixedPrecisionErrors e = bfloat16_errors(MicroFixture(), Device::CPU);
  MESSAGE("bfloat16 autocast against float32: loss ", e.loss, ", gradients ", e.gradient, ", 10 AdamW steps ",
          e.trajectory, " (relative)");
  CHECK(e.loss <= kBfloat16LossTolerance);
  CHECK(e.trajectory <= kBfloat16LossTolerance);
  CHECK(e.gradient <= kBfloat16GradientTolerance);
  CHECK(e.gradient > 1e-5);  // the products did run in bfloat16: float32 alone is within 1e-4 of PyTorch
}

TEST_CASE("the ablation variants match PyTorch: cross and joint decoders, joint encoder, symmetric and grid masking") {
  const MicroFixture fx;
  const std::map<std::string, std::function<void(SiamMAEConfig&)>> variants{
      {"decoder_cross", [](SiamMAEConfig& c) { c.decoder = DecoderKind::Cross; }},
      {"decoder_joint", [](SiamMAEConfig& c) { c.decoder = DecoderKind::Joint; }},
      {"encoder_joint", [](SiamMAEConfig& c) { c.encoder = EncoderKind::Joint; }},
      {"symmetric", [](SiamMAEConfig& c) { c.symmetric_masking = true; }},
      {"grid", [](SiamMAEConfig& c) { c.mask_kind = MaskKind::Grid; }},
  };
  for (const auto& [tag, change] : variants) {
    CAPTURE(tag);
    SiamMAEConfig config = siammae_preset("micro");
    change(config);
    auto model = std::make_unique<SiamMAE>(config);
    model->to(DType::F64);
    model->load_state_dict(fx.weights, false);
    PairMasks masks;
    Generator unused(0);
    if (config.mask_kind == MaskKind::Grid) {
      masks = model->sample_masks(2, unused);  // the regular pattern itself is under test here
    } else {
      masks = fixture_masks(fx, *model);
      if (config.symmetric_masking) masks.f1 = mask_from_shuffle(fx.inputs.at("ids_shuffle_f1"), 4, model->mask_token);
    }
    Tensor loss = loss_with_grads(*model, fx, masks, DType::F64);
    // The expected values are stored in float32: compare at float32 precision.
    CHECK(relative_error(loss, fx.expected.at("variant." + tag + ".loss")) <= 1e-6);
    compare_grads(*model, fx.expected, "variant." + tag + ".", 1e-5);
  }
}

TEST_CASE("masks: MAE's counts, permutations checked, grid patterns") {
  Generator gen(7);
  const Tensor like = zeros({1});
  PatchMask m = random_mask(3, 64, 0.95, gen, like);
  CHECK(m.n_keep == 3);  // int(64 * 0.05)
  CHECK(visible_count(196, 0.95) == 9);
  CHECK(visible_count(784, 0.95) == 39);
  CHECK(m.ids_keep.shape() == Shape{3, 3});
  CHECK(sum(m.mask, {1}).to_vector<float>() == std::vector<float>{61, 61, 61});
  // The kept ids are exactly the unmasked positions.
  const std::vector<int64_t> keep = m.ids_keep.to_vector<int64_t>();
  const std::vector<float> mask = m.mask.to_vector<float>();
  for (int64_t row = 0; row < 3; ++row)
    for (int64_t j = 0; j < 3; ++j) CHECK(mask[row * 64 + keep[row * 3 + j]] == 0);
  // ids_restore undoes the shuffle.
  Tensor restored = gather(m.ids_shuffle, 1, m.ids_restore);
  CHECK(restored.to_vector<int64_t>() == arange(0, 64).expand({3, 64}).contiguous().to(DType::I64).to_vector<int64_t>());

  PatchMask grid = grid_mask(1, 4, 0.75, like);
  CHECK(grid.ids_keep.to_vector<int64_t>() == std::vector<int64_t>{0, 2, 8, 10});
  PatchMask checker = grid_mask(1, 4, 0.5, like);
  CHECK(checker.n_keep == 8);
  CHECK(checker.mask.to_vector<float>() == std::vector<float>{0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0});
  CHECK_THROWS_WITH(grid_mask(1, 4, 0.6, like), doctest::Contains("grid masking needs ratio 0.5 or 1 - 1/s^2"));
  CHECK_THROWS_WITH(mask_from_shuffle(from_vector(std::vector<int64_t>{0, 0, 1}, {1, 3}, {.dtype = DType::I64}), 1, like),
                    "[mask] row 0 of ids_shuffle (1, 3) is not a permutation of 0..2");
}

TEST_CASE("patchify uses MAE's (p, q, c) order and unpatchify inverts it") {
  Tensor images = arange(0, 2 * 3 * 4 * 4).reshape({2, 3, 4, 4});  // (B, 3, H, W)
  Tensor patches = patchify(images, 2);                              // (2, 4, 12)
  CHECK(patches.shape() == Shape{2, 4, 12});
  // Patch 1 (top right) of image 0: rows 0-1, columns 2-3; values (p, q, c) with c fastest.
  const std::vector<float> first = patches.narrow(1, 1, 1).narrow(0, 0, 1).reshape({12}).to_vector<float>();
  CHECK(first == std::vector<float>{2, 18, 34, 3, 19, 35, 6, 22, 38, 7, 23, 39});
  CHECK(unpatchify(patches, 2, 2, 2).to_vector<float>() == images.to_vector<float>());
  // A perfect normalized prediction turns back into the image itself.
  Tensor x = randn({1, 3, 8, 8});
  Tensor back = prediction_to_image(normalize_patches(patchify(x, 4)), x, 4, true);
  CHECK(closeness(back, x, 1e-4, 1e-5) <= 1.0);
  // Pasting keeps visible patches and fills masked ones.
  Tensor pasted = paste_masked_patches(x, zeros_like(x), from_vector(std::vector<float>{1, 0, 0, 1}, {1, 4}), 4);
  CHECK(sum(abs(pasted.narrow(2, 0, 4).narrow(3, 0, 4))).item() == 0);
  CHECK(pasted.narrow(2, 0, 4).narrow(3, 4, 4).to_vector<float>() == x.narrow(2, 0, 4).narrow(3, 4, 4).to_vector<float>());
}

TEST_CASE("presets: MAE's parameter names, the decoder blocks, the configs round-trip") {
  SiamMAE model(siammae_preset("tiny"));
  const StateDict state = model.state_dict();
  for (const char* name : {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.5.mlp.fc2.bias", "norm.weight",
                           "decoder_embed.weight", "mask_token", "decoder_pos_embed",
                           "decoder_blocks.1.norm_q.weight", "decoder_blocks.1.norm_kv.bias",
                           "decoder_blocks.1.cross_attn.q.weight", "decoder_blocks.1.cross_attn.kv.bias",
                           "decoder_blocks.1.cross_attn.proj.weight", "decoder_blocks.1.attn.qkv.weight",
                           "decoder_blocks.1.mlp.fc1.weight", "decoder_norm.bias", "decoder_pred.weight"}) {
    CHECK_MESSAGE(state.count(name), name);
  }
  CHECK(state.at("patch_embed.proj.weight").shape() == Shape{192, 3, 8, 8});
  CHECK(state.at("decoder_pos_embed").shape() == Shape{1, 65, 128});
  CHECK(state.at("decoder_pred.weight").shape() == Shape{192, 128});
  CHECK(state.at("mask_token").shape() == Shape{1, 1, 128});
  // Init as MAE: tokens small, biases zero, norms one.
  CHECK(max(abs(model.mask_token).flatten(), 0).item() < 0.2);
  CHECK(sum(abs(model.decoder_pred->bias)).item() == 0);
  for (const std::string& name : siammae_preset_names()) {
    const SiamMAEConfig c = siammae_preset(name);
    CHECK(SiamMAEConfig::from_json(c.to_json()).to_json() == c.to_json());
  }
  const SiamMAEConfig vits8 = siammae_preset("vits8");
  CHECK(vits8.num_patches() == 784);
  CHECK(vits8.decoder_dim == 512);
  CHECK_THROWS_WITH(siammae_preset("huge"), "[config] unknown preset 'huge' (tiny|small|vits16|vits8|micro)");
  CHECK_THROWS_WITH(SiamMAEConfig::from_json({{"name", "tiny"}, {"mask_ratio", 1.5}}),
                    "[config] mask ratio must be in [0, 1), got 1.5");
  CHECK_THROWS_WITH(SiamMAEConfig::from_json({{"decoder", "fancy"}}),
                    "[config] unknown decoder 'fancy' (cross-self|cross|joint)");
  CHECK_THROWS_WITH(SiamMAEConfig::from_json({{"layers", 3}}), "[config] unknown key 'layers'");
}

TEST_CASE("every ablation runs forward and backward at the tiny preset's shapes") {
  Generator gen(1);
  for (const char* variant : {"cross-self", "cross", "joint", "joint-encoder", "symmetric", "grid"}) {
    CAPTURE(variant);
    SiamMAEConfig c = siammae_preset("tiny");
    c.encoder_depth = 1, c.decoder_depth = 1;  // shapes as the preset, fewer blocks for speed
    const std::string v = variant;
    if (v == "cross" || v == "joint") c.decoder = parse_decoder_kind(v);
    if (v == "joint-encoder") c.encoder = EncoderKind::Joint;
    if (v == "symmetric") c.symmetric_masking = true, c.mask_ratio = 0.75;
    if (v == "grid") c.mask_kind = MaskKind::Grid, c.mask_ratio = 0.75;
    SiamMAE model(c, &gen);
    Tensor f1 = randn({2, 3, 64, 64}, {}, &gen), f2 = randn({2, 3, 64, 64}, {}, &gen);
    SiamMAEOutput out = model.forward(f1, f2, model.sample_masks(2, gen));
    CHECK(out.prediction.shape() == Shape{2, 64, 192});
    CHECK(std::isfinite(out.loss.item()));
    CHECK(out.loss.item() > 0.5);  // an untrained model predicts about the patch mean: loss near 1
    out.loss.backward();
    for (const auto& [name, p] : model.named_parameters()) CHECK_MESSAGE(p.grad().defined(), name);
  }
}

TEST_CASE("bad inputs give one clear line") {
  SiamMAE model(siammae_preset("micro"));
  Generator gen(0);
  const PairMasks masks = model.sample_masks(2, gen);
  CHECK_THROWS_WITH(model.forward(zeros({2, 3, 32, 32}), zeros({2, 3, 16, 16}), masks),
                    "[SiamMAE] frames f1 (2, 3, 32, 32) and f2 (2, 3, 16, 16) differ");
  CHECK_THROWS_WITH(model.forward(zeros({3, 3, 32, 32}), zeros({3, 3, 32, 32}), masks),
                    "[SiamMAE] the f2 mask must be (3, 16)");
  CHECK_THROWS_WITH(model.forward(zeros({2, 3, 48, 48}), zeros({2, 3, 48, 48}), model.sample_masks(2, gen)),
                    doctest::Contains("patches, the position table has 16"));
}
