// Example 4: a tiny Vision Transformer fits a handful of images.
// Twelve 32x32 pictures of four kinds (horizontal stripes, vertical stripes, a checkerboard,
// a disc), each with its own colours and offset; the ViT's CLS token feeds a linear head
// that names the kind. Shows PatchEmbed, sin-cos positions, Blocks and training end to end.
//   build/examples/04_vit
#include <cmath>
#include <iostream>

#include "examples/loss_curve.h"
#include "nn/nn.h"

using namespace sm;

constexpr int64_t kSize = 32, kKinds = 4, kPerKind = 3;
const char* const kKindNames[kKinds] = {"horizontal stripes", "vertical stripes", "checkerboard", "disc"};

// One picture of `kind` (3, kSize, kSize) with random colours and phase.
static Tensor make_picture(int64_t kind, Generator& gen) {
  const double phase = gen.uniform() * 8, hue[2] = {gen.uniform(), gen.uniform()};
  std::vector<float> pixels(3 * kSize * kSize);
  for (int64_t y = 0; y < kSize; ++y)
    for (int64_t x = 0; x < kSize; ++x) {
      bool on = false;
      if (kind == 0) on = std::fmod(y + phase, 8.0) < 4;
      if (kind == 1) on = std::fmod(x + phase, 8.0) < 4;
      if (kind == 2) on = (static_cast<int64_t>((x + phase) / 4) + static_cast<int64_t>((y + phase) / 4)) % 2 == 0;
      if (kind == 3) on = std::hypot(x - 16 + phase / 4, y - 16) < 10;
      for (int64_t c = 0; c < 3; ++c)
        pixels[(c * kSize + y) * kSize + x] = static_cast<float>(std::fmod(hue[on] + 0.3 * c, 1.0) * 2 - 1);
    }
  return from_vector(pixels, {3, kSize, kSize});
}

class TinyClassifier : public Module {
 public:
  explicit TinyClassifier(const ViTConfig& config) {
    vit = register_module("vit", std::make_shared<VisionTransformer>(config));
    head = register_module("head", std::make_shared<Linear>(config.dim, kKinds));
  }
  Tensor forward(const Tensor& images) const {      // (B, 3, H, W) -> (B, kinds)
    Tensor tokens = vit->forward(images);           // (B, 1 + N, D)
    return head->forward(tokens.narrow(1, 0, 1).squeeze(1));  // the CLS token (B, D)
  }
  std::shared_ptr<VisionTransformer> vit;
  std::shared_ptr<Linear> head;
};

int main() {
  manual_seed(0);
  Generator gen(1);
  std::vector<Tensor> pictures;
  std::vector<int64_t> kinds;
  for (int64_t k = 0; k < kKinds; ++k)
    for (int64_t i = 0; i < kPerKind; ++i) {
      pictures.push_back(make_picture(k, gen));
      kinds.push_back(k);
    }
  Tensor images = stack(pictures);   // (12, 3, 32, 32)
  Tensor labels = from_vector(kinds);  // (12) int64

  ViTConfig config;
  config.image_size = kSize, config.patch_size = 8, config.dim = 64, config.depth = 2, config.heads = 4;
  TinyClassifier model(config);
  std::cout << "a ViT with " << config.grid() * config.grid() << " patches of " << config.patch_size << "x"
            << config.patch_size << ", width " << config.dim << ", " << config.depth << " blocks: "
            << model.parameter_count() << " parameters\n";

  AdamW optimizer(decay_groups(model, 0.05), {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95});
  std::vector<double> losses;
  for (int step = 0; step < 150; ++step) {
    Tensor loss = cross_entropy(model.forward(images), labels);  // ()
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item());
  }
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
