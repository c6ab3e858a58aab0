// ViT encoders from timm, DINO and MAE as feature extractors: checkpoints written by
// tests/reference/make_vit_fixtures.py in each codebase's layout (converted from .pth by
// tools/convert_checkpoint.py), and the features PyTorch computed for two frames following each
// codebase's forward, one frame on the position table's grid and one on another grid.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "models/siammae/checkpoint.h"
#include "models/siammae/features.h"
#include "data/davis.h"
#include "models/siammae/vit_import.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;

namespace {

// Largest |a - b|.
double max_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<float> x = a.contiguous().to_vector<float>(), y = b.contiguous().to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(x[i]) - y[i]));
  return worst;
}

struct Style {
  const char* name;
  SafetensorsFile expected;
  VitImportOptions options;
};

Style style(const char* name) {
  Style s{name, load_safetensors(source_path(std::string("tests/reference/vit_") + name + "_expected.safetensors")), {}};
  s.options.heads = std::stoll(s.expected.metadata.at("heads"));
  s.options.position_resize = parse_position_resize(s.expected.metadata.at("position_resize"));
  return s;
}

std::string checkpoint_path(const char* name) {
  return source_path(std::string("tests/reference/vit_") + name + ".safetensors");
}

// The features of both frames, and how far they are from PyTorch's.
std::pair<double, double> feature_errors(const Style& s, const VitImportOptions& options) {
  std::unique_ptr<EncoderFeatures> features = checkpoint_features(checkpoint_path(s.name), Device::CPU, options);
  const StateDict& e = s.expected.tensors;
  return {max_difference(features->extract(e.at("frame_a").squeeze(0)), e.at("features_a")),
          max_difference(features->extract(e.at("frame_b").squeeze(0)), e.at("features_b"))};
}

}  // namespace

TEST_CASE("bicubic resizing with antialias or scale factors equals torch's interpolate") {
  const StateDict cases = load_safetensors(source_path("tests/reference/vit_resize.safetensors")).tensors;
  const Tensor& input = cases.at("input");  // (2, 5, 7)
  CHECK(max_difference(resize_bicubic(input, 3, 4, {.antialias = true}), cases.at("antialias_shrunk")) < 1e-6);
  CHECK(max_difference(resize_bicubic(input, 9, 11, {.antialias = true}), cases.at("antialias_grown")) < 1e-6);
  CHECK(max_difference(resize_bicubic(input, 8, 4, {.scale_h = 1.7, .scale_w = 0.6}), cases.at("scale_factor")) < 1e-6);
  // Without the options it is the plain resize by sizes, which differs from each of them.
  CHECK(max_difference(resize_bicubic(input, 3, 4), cases.at("antialias_shrunk")) > 1e-2);
  CHECK(max_difference(resize_bicubic(input, 8, 4), cases.at("scale_factor")) > 1e-2);
  CHECK_THROWS_WITH_AS(resize_bicubic(input, 8, 4, {.scale_h = -1}),
                       "[resize_bicubic] scale factors must not be negative, got -1 and 0", Error);
}

TEST_CASE("timm, DINO and MAE checkpoints give PyTorch's features, on the table's grid and another one") {
  for (const char* name : {"timm", "dino", "mae"}) {
    CAPTURE(name);
    const Style s = style(name);
    const auto [error_a, error_b] = feature_errors(s, s.options);
    MESSAGE(std::string(name), ": max |ours - PyTorch| ", error_a, " (table's grid), ", error_b, " (another grid)");
    CHECK(error_a < 1e-4);
    CHECK(error_b < 1e-4);
  }
}

TEST_CASE("each codebase's way of resizing the position table matters") {
  // On the table's own grid the mode plays no part; on another grid the wrong one is far off.
  for (const char* name : {"timm", "dino"}) {
    CAPTURE(name);
    const Style s = style(name);
    VitImportOptions wrong = s.options;
    wrong.position_resize = PositionResize::Bicubic;
    const auto [error_a, error_b] = feature_errors(s, wrong);
    CHECK(error_a < 1e-4);
    CHECK(error_b > 1e-2);
  }
}

TEST_CASE("what is inferred from the shapes, stripped and ignored, in one line") {
  const SafetensorsFile timm = load_safetensors(checkpoint_path("timm"));
  const ImportedVit t = import_vit(timm, "timm.safetensors", {.heads = 4, .position_resize = PositionResize::Timm});
  CHECK(t.config.depth == 2);
  CHECK(t.config.dim == 32);
  CHECK(t.config.patch_size == 8);
  CHECK(t.config.grid() == 6);
  CHECK(t.config.mlp_ratio == 3.0);
  CHECK_FALSE(t.config.qkv_bias);
  CHECK(t.summary ==
        "timm.safetensors: ViT encoder, depth 2, width 32, 4 heads (given), patch 8, positions 6x6 (resized timm), "
        "MLP 96, no qkv bias; ignored 2 head*");

  const ImportedVit d = import_vit(load_safetensors(checkpoint_path("dino")), "dino.safetensors", {.heads = 2});
  CHECK(d.config.qkv_bias);
  CHECK(d.summary ==
        "dino.safetensors: ViT encoder, depth 2, width 48, 2 heads (given), patch 8, positions 4x4 (resized bicubic), "
        "MLP 192, qkv bias; prefixes stripped: backbone. module.; ignored 4 head*");

  const ImportedVit m = import_vit(load_safetensors(checkpoint_path("mae")), "mae.safetensors", {.heads = 2});
  CHECK_MESSAGE(m.summary.ends_with("; ignored 19 decoder* 1 mask_token*"), m.summary);
  CHECK(m.weights.count("pos_embed") == 1);
  CHECK(m.weights.count("decoder_pred.weight") == 0);
}

TEST_CASE("the standard ViT widths give their heads; any other width needs --heads") {
  // Shapes alone, as a ViT-S/16 at 224 px has them (one block is enough to read them).
  SafetensorsFile vits;
  const int64_t d = 384;
  vits.tensors = {{"cls_token", zeros({1, 1, d})},
                  {"pos_embed", zeros({1, 197, d})},
                  {"patch_embed.proj.weight", zeros({d, 3, 16, 16})},
                  {"blocks.0.attn.qkv.weight", zeros({3 * d, d})},
                  {"blocks.0.mlp.fc1.weight", zeros({4 * d, d})}};
  const ImportedVit v = import_vit(vits, "vits16.safetensors");
  CHECK(v.config.heads == 6);
  CHECK(v.config.grid() == 14);
  CHECK(v.config.image_size == 224);
  CHECK(v.summary.find("6 heads (standard for width 384), patch 16, positions 14x14") != std::string::npos);

  const SafetensorsFile timm = load_safetensors(checkpoint_path("timm"));
  CHECK_THROWS_WITH_AS(import_vit(timm, "timm.safetensors"),
                       "[vit] timm.safetensors: the number of heads cannot be read from the shapes, and 32 is not a "
                       "standard ViT width (192, 384, 768, 1024, 1280): give --heads",
                       Error);
  CHECK_THROWS_WITH_AS(import_vit(timm, "timm.safetensors", {.heads = 5}),
                       "[vit] timm.safetensors: width 32 is not divisible by 5 heads", Error);
}

TEST_CASE("checkpoints that are not a plain ViT encoder are refused, naming the tensor") {
  const SafetensorsFile good = load_safetensors(checkpoint_path("timm"));
  auto refused = [&](const std::function<void(SafetensorsFile&)>& change) {
    SafetensorsFile file = good;
    change(file);
    try {
      import_vit(file, "x.safetensors", {.heads = 4});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(refused([](SafetensorsFile& f) { f.tensors["blocks.0.ls1.gamma"] = zeros({32}); }) ==
        "[vit] x.safetensors: tensor 'blocks.0.ls1.gamma' is not part of a plain ViT encoder (cls_token, pos_embed, "
        "patch_embed.proj.*, blocks.N.*, norm.*; layer scale, register tokens and other variants are not supported)");
  CHECK(refused([](SafetensorsFile& f) { f.tensors["reg_token"] = zeros({1, 4, 32}); }).find("'reg_token'") !=
        std::string::npos);
  CHECK(refused([](SafetensorsFile& f) { f.tensors.erase("cls_token"); }) ==
        "[vit] x.safetensors: no 'cls_token' tensor: not a ViT encoder checkpoint");
  CHECK(refused([](SafetensorsFile& f) { f.tensors["pos_embed"] = zeros({1, 36, 32}); }) ==
        "[vit] x.safetensors: pos_embed (1, 36, 32) should be (1, 1 + g*g, 32): a CLS row and a square grid of patch "
        "rows");
  CHECK(refused([](SafetensorsFile& f) { f.tensors["pos_embed"] = zeros({1, 37, 32}, {.dtype = DType::F64}); })
            .find("'pos_embed' is float64") != std::string::npos);
  CHECK(refused([](SafetensorsFile& f) { f.tensors["module.cls_token"] = f.tensors.at("cls_token"); }) ==
        "[vit] x.safetensors: tensor 'cls_token' appears twice (once as 'module.cls_token')");
  CHECK(refused([](SafetensorsFile& f) {
          for (auto it = f.tensors.begin(); it != f.tensors.end();)
            it = it->first.starts_with("blocks.0.") ? f.tensors.erase(it) : std::next(it);
        }) == "[vit] x.safetensors: blocks are numbered up to 1 but only 1 are there");
  CHECK(refused([](SafetensorsFile&) {}) == "accepted");

  // Shapes that do not fit the inferred sizes are named with the file when the encoder is built.
  SafetensorsFile odd = good;
  odd.tensors["blocks.1.attn.proj.weight"] = zeros({32, 31});
  const ImportedVit imported = import_vit(odd, "odd.safetensors", {.heads = 4});
  CHECK_THROWS_WITH_AS(build_vit(imported), doctest::Contains("odd.safetensors"), Error);
  CHECK_THROWS_WITH_AS(build_vit(imported), doctest::Contains("blocks.1.attn.proj.weight"), Error);
}

TEST_CASE("siammae propagate --checkpoint takes an imported ViT and says what it read") {
  TempDir dir("sm-vit-cli");
  write_synthetic_davis(dir / "davis", {.sequences = 1, .frames = 4, .height = 48, .width = 64, .objects = 1});
  const std::string command = std::string(SM_SIAMMAE_BIN) + " propagate --checkpoint " + checkpoint_path("dino") +
                              " --davis " + (dir / "davis") + " --size 48 --out " + (dir / "out");
  const CommandResult dino = run_command(command + " --heads 2 --pos-resize dino");
  CHECK_MESSAGE(dino.code == 0, dino.output);
  CHECK(dino.output.find("features: " + checkpoint_path("dino") +
                         ": ViT encoder, depth 2, width 48, 2 heads (given), patch 8, positions 4x4 (resized dino)") !=
        std::string::npos);
  CHECK(dino.output.find("J&F-Mean") != std::string::npos);

  const CommandResult no_heads = run_command(command);
  CHECK(no_heads.code == 1);
  CHECK(no_heads.output.find("48 is not a standard ViT width (192, 384, 768, 1024, 1280): give --heads") !=
        std::string::npos);
  const CommandResult bad_mode = run_command(command + " --heads 2 --pos-resize nearest");
  CHECK(bad_mode.code == 1);
  CHECK(bad_mode.output.find("unknown position resize 'nearest' (bicubic, dino or timm)") != std::string::npos);
}

TEST_CASE("this library's own checkpoints still load as themselves, with --pos-resize applied") {
  TempDir dir("sm-vit-own");
  const SiamMAEConfig config = siammae_preset("micro");  // 32 px, patch 8: a 4x4 table
  Generator gen(3);
  SiamMAE model(config, &gen);
  model.eval();
  const std::string path = dir / "checkpoint.safetensors";
  save_checkpoint(path, model, nullptr, nlohmann::json::object(), 0, 0, 0);
  const Tensor frame = randn({3, 48, 40}, {}, &gen);  // a 6x5 grid: the table is resized

  std::unique_ptr<EncoderFeatures> features = checkpoint_features(path);
  CHECK(features->name() == "siammae micro (" + path + ")");
  const Tensor expected = model.patch_features(frame.unsqueeze(0)).squeeze(0);  // (6, 5, D)
  CHECK(max_difference(features->extract(frame), expected) == 0);

  VitImportOptions dino;
  dino.position_resize = PositionResize::Dino;
  CHECK(max_difference(checkpoint_features(path, Device::CPU, dino)->extract(frame), expected) > 1e-3);
  CHECK_THROWS_WITH_AS(checkpoint_features(path, Device::CPU, {.heads = 3}),
                       ("[checkpoint] " + path + " has 2 heads in its config, not 3").c_str(), Error);
}
