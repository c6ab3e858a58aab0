// Example 4: a tiny Vision Transformer fits a handful of images.
// Twelve 32x32 pictures of four kinds (horizontal stripes, vertical stripes, a checkerboard,
// a disc), each with its own colours and offset; the ViT's CLS token feeds a linear head
// that names the kind. Shows PatchEmbed, sin-cos positions, Blocks and training end to end.
//   build/examples/04_vit
#include <iostream>

#include "examples/loss_curve.h"
#include "examples/pictures.h"
#include "examples/training.h"

using namespace sm;

int main() {
  manual_seed(0);
  Generator gen(1);
  const PictureSet set = make_pictures(gen);  // the pictures and their makers: examples/pictures.h
  const Tensor& images = set.images;          // (12, 3, 32, 32)
  const Tensor& labels = set.kinds;           // (12) int64
  const std::vector<int64_t> kinds = labels.to_vector<int64_t>();

  ViTConfig config;
  config.image_size = kSize, config.patch_size = 8, config.dim = 64, config.depth = 2, config.heads = 4;
  TinyClassifier model(config);
  std::cout << "a ViT with " << config.grid() * config.grid() << " patches of " << config.patch_size << "x"
            << config.patch_size << ", width " << config.dim << ", " << config.depth << " blocks: "
            << model.parameter_count() << " parameters\n";

  AdamW optimizer(decay_groups(model, 0.05), {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95});
  const std::vector<double> losses = fit_classifier(model, optimizer, images, labels, 150);
  print_loss_curve(losses);

  NoGradGuard no_grad;
  const std::vector<int64_t> predicted = argmax(model.forward(images), 1).to_vector<int64_t>();
  int64_t right = 0;
  for (size_t i = 0; i < kinds.size(); ++i) {
    right += predicted[i] == kinds[i];
    std::cout << "picture " << i << ": " << kKindNames[kinds[i]] << " -> " << kKindNames[predicted[i]] << "\n";
  }
  std::cout << "final loss " << losses.back() << ", " << right << " of " << kinds.size() << " right\n";
  return right == static_cast<int64_t>(kinds.size()) ? 0 : 1;
}
