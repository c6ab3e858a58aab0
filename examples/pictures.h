// The toy picture task of examples 04 and 08: 32x32 pictures of four kinds (horizontal
// stripes, vertical stripes, a checkerboard, a disc), each with its own colours and offset.
#pragma once

#include <cmath>
#include <vector>

#include "nn/nn.h"

constexpr int64_t kSize = 32, kKinds = 4, kPerKind = 3;
inline const char* const kKindNames[kKinds] = {"horizontal stripes", "vertical stripes", "checkerboard", "disc"};

// One picture of `kind` (3, kSize, kSize) with random colours and phase.
inline sm::Tensor make_picture(int64_t kind, sm::Generator& gen) {
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
  return sm::from_vector(pixels, {3, kSize, kSize});
}

// kPerKind pictures of each kind: images (kKinds * kPerKind, 3, kSize, kSize) and their kinds (int64).
struct PictureSet {
  sm::Tensor images, kinds;
};
inline PictureSet make_pictures(sm::Generator& gen) {
  std::vector<sm::Tensor> pictures;
  std::vector<int64_t> kinds;
  for (int64_t k = 0; k < kKinds; ++k)
    for (int64_t i = 0; i < kPerKind; ++i) {
      pictures.push_back(make_picture(k, gen));
      kinds.push_back(k);
    }
  return {sm::stack(pictures), sm::from_vector(kinds)};
}

// A ViT whose CLS token feeds a linear head that names the kind.
class TinyClassifier : public sm::Module {
 public:
  explicit TinyClassifier(const sm::ViTConfig& config) {
    vit = register_module("vit", std::make_shared<sm::VisionTransformer>(config));
    head = register_module("head", std::make_shared<sm::Linear>(config.dim, kKinds));
  }
  sm::Tensor forward(const sm::Tensor& images) const {      // (B, 3, H, W) -> (B, kinds)
    sm::Tensor tokens = vit->forward(images);               // (B, 1 + N, D)
    return head->forward(tokens.narrow(1, 0, 1).squeeze(1));  // the CLS token (B, D)
  }
  std::shared_ptr<sm::VisionTransformer> vit;
  std::shared_ptr<sm::Linear> head;
};
