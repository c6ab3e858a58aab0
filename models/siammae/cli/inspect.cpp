// siammae info / reconstruct / attention: looking at a trained model.
#include <cstdio>
#include <iostream>

#include "data/image.h"
#include "models/siammae/checkpoint.h"
#include "models/siammae/cli/commands.h"
#include "models/siammae/cli/flags.h"
#include "models/siammae/visualize.h"

namespace sm::cli {

namespace {

// A frame file as the model sees it: the centred square, resized to (1, 3, S, S), normalized.
Tensor model_input(const std::string& path, int64_t size) {
  const Image image = read_image(path);
  const int64_t side = std::min(image.height, image.width);
  const CropBox centre{(image.height - side) / 2, (image.width - side) / 2, side, side};
  return imagenet_normalize(resized_crop(image, centre, size, size)).unsqueeze(0);
}

// Flags shared by reconstruct and attention; returns the model, both frames and the masks.
struct PairInput {
  std::unique_ptr<SiamMAE> model;
  Tensor f1, f2;
  PairMasks masks;
};

void add_pair_flags(Flags& flags, const std::string& out_help) {
  flags.add_required("checkpoint", "a checkpoint written by siammae train")
      .add_values("frames", 2, "the past frame f1 and the future frame f2 (JPEG or PNG)")
      .add_required("out", out_help)
      .add("mask-seed", "0", "seed of f2's random mask")
      .add("mask-ratio", "the model's", "fraction of f2's patches hidden")
      .add("device", "cpu", "cpu or cuda, for the model");
}

PairInput read_pair(const Flags& flags) {
  PairInput in;
  const Device device = flags.device("device");
  in.model = load_model(flags.text("checkpoint"));
  in.model->to(device);
  if (flags.given("mask-ratio")) {
    in.model->model_config.mask_ratio = flags.number("mask-ratio");
    in.model->model_config.validate();  // e.g. a ratio that leaves no patch visible
  }
  const std::vector<std::string> frames = flags.list("frames");
  const int64_t size = in.model->model_config.image_size;
  in.f1 = model_input(frames[0], size).to(device);
  in.f2 = model_input(frames[1], size).to(device);
  Generator gen(static_cast<uint64_t>(flags.integer("mask-seed")));
  in.masks = in.model->sample_masks(1, gen);
  return in;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

int info(int argc, char** argv) {
  Flags flags("info",
              "Prints what a checkpoint holds: the model, its size, and how far it was trained. Fails (exit 1) when\n"
              "the checkpoint would not load: a corrupt file, a missing or mis-shaped parameter, NaN or infinite values.");
  flags.add_required("checkpoint", "a checkpoint written by siammae train")
      .add_switch("allow-nonfinite", "describe a checkpoint even when it holds NaN or infinite values");
  if (!flags.parse(argc, argv, 2)) return 0;
  const std::string path = flags.text("checkpoint");
  const Checkpoint c = read_checkpoint(path, flags.on("allow-nonfinite"));
  load_model(c, path);  // the checks a user of the checkpoint will meet: every parameter there, with its shape
  const SiamMAEConfig& m = c.config;
  int64_t total = 0, decoder = 0;
  for (const auto& [name, tensor] : c.model) {
    if (name.find("pos_embed") != std::string::npos) continue;  // fixed buffers, not parameters
    total += tensor.numel();
    if (name.starts_with("decoder") || name == "mask_token") decoder += tensor.numel();
  }
  std::printf("checkpoint  %s\n", path.c_str());
  std::printf("model       %s: image %ld, patch %ld; %s encoder %ld wide, %ld blocks, %ld heads; %s decoder %ld wide, "
              "%ld blocks, %ld heads\n",
              m.name.c_str(), static_cast<long>(m.image_size), static_cast<long>(m.patch_size), to_string(m.encoder).c_str(),
              static_cast<long>(m.encoder_dim), static_cast<long>(m.encoder_depth), static_cast<long>(m.encoder_heads),
              to_string(m.decoder).c_str(), static_cast<long>(m.decoder_dim), static_cast<long>(m.decoder_depth),
              static_cast<long>(m.decoder_heads));
  std::printf("masking     %s %.2f of f2%s; %s loss\n", to_string(m.mask_kind).c_str(), m.mask_ratio,
              m.symmetric_masking ? " and of f1" : " (f1 whole)", m.norm_pix_loss ? "normalized-pixel" : "pixel");
  std::printf("parameters  %s (encoder %s, decoder %s)\n", with_commas(total).c_str(),
              with_commas(total - decoder).c_str(), with_commas(decoder).c_str());
  std::printf("trained     step %ld, loss %.4f, %.1f minutes%s\n", static_cast<long>(c.step), c.loss,
              c.elapsed_seconds / 60, c.optimizer.empty() ? "" : ", optimizer state included");
  if (c.train.is_object())
    std::printf("options     %s\n", c.train.dump().c_str());
  return 0;
}

int reconstruct(int argc, char** argv) {
  Flags flags("reconstruct",
              "Masks most of the future frame f2 and lets the model rebuild it from its visible patches and the past\n"
              "frame f1. Writes a picture with rows f1, masked f2, reconstruction, f2 (each frame is centre-cropped\n"
              "to a square and resized to the model's image size).");
  add_pair_flags(flags, "the PNG to write");
  if (!flags.parse(argc, argv, 2)) return 0;
  PairInput in = read_pair(flags);
  write_png(flags.text("out"), reconstruction_grid(*in.model, in.f1, in.f2, in.masks));
  std::printf("wrote %s\n", flags.text("out").c_str());
  return 0;
}

int attention(int argc, char** argv) {
  Flags flags("attention",
              "Shows where the decoder looks in the past frame f1 while it rebuilds patches of the future frame f2:\n"
              "the cross-attention weights of a few f2 patches over f1, as heat maps (the paper's qualitative figure).");
  add_pair_flags(flags, "the PNG to write");
  flags.add("queries", "4", "how many f2 patches to show, spread over the frame");
  if (!flags.parse(argc, argv, 2)) return 0;
  PairInput in = read_pair(flags);
  const int64_t g = in.model->model_config.grid(), count = flags.integer("queries");
  check(count >= 1 && count <= g * g, "attention", "--queries must be between 1 and ", g * g, ", got ", count);
  // Patches on an evenly spread k x k lattice (k = ceil(sqrt(count))), the first `count` of them.
  int64_t k = 1;
  while (k * k < count) ++k;
  std::vector<std::pair<int64_t, int64_t>> queries;
  for (int64_t i = 0; i < k && static_cast<int64_t>(queries.size()) < count; ++i)
    for (int64_t j = 0; j < k && static_cast<int64_t>(queries.size()) < count; ++j)
      queries.emplace_back((2 * i + 1) * g / (2 * k), (2 * j + 1) * g / (2 * k));
  write_png(flags.text("out"), attention_grid(*in.model, in.f1, in.f2, in.masks, queries));
  std::printf("wrote %s\n", flags.text("out").c_str());
  return 0;
}

}  // namespace sm::cli
