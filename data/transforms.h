// SiamMAE augmentation: one random resized crop and one horizontal flip shared by both frames
// of a pair, bilinear resize to the model's image size, and optional colour jitter (off by
// default: the paper found colour augmentation hurts, 55.8 vs 58.1 J&F).
#pragma once

#include <array>
#include <cstdint>

#include "data/image.h"
#include "tensor/random.h"

namespace sm {

// torchvision ColorJitter strengths: each factor is drawn from [max(0, 1 - s), 1 + s].
struct ColorJitter {
  double brightness = 0, contrast = 0, saturation = 0;
  bool enabled() const { return brightness > 0 || contrast > 0 || saturation > 0; }
};

struct AugmentOptions {
  int64_t image_size = 224;                                   // output frames are (3, S, S)
  std::array<double, 2> crop_scale = {0.5, 1.0};              // crop area / image area
  std::array<double, 2> crop_ratio = {3.0 / 4.0, 4.0 / 3.0};  // crop width / height, drawn log-uniformly
  double hflip_prob = 0.5;
  ColorJitter jitter;  // drawn separately for each frame
};

// Throws "[augment] ..." naming the option that is out of range.
void check_augment_options(const AugmentOptions& options);

// torchvision's RandomResizedCrop.get_params: up to 10 draws of an area fraction in `scale`
// and an aspect ratio in `ratio` until the box fits, else a centre crop clamped to `ratio`.
CropBox sample_crop(int64_t height, int64_t width, const std::array<double, 2>& scale,
                    const std::array<double, 2>& ratio, Generator& gen);

// Brightness, contrast, then saturation, in place on a (3, H, W) float32 image in [0, 1],
// each step clamped to [0, 1] (torchvision's formulas, in a fixed order).
void color_jitter_(const Tensor& chw, const ColorJitter& jitter, Generator& gen);

struct AugmentedPair {
  Tensor f1, f2;  // (3, S, S) float32 in [0, 1]
  CropBox crop;   // the crop both frames got, in source pixels
  bool flipped = false;
};

// Both frames get the same crop and flip; draws crop, flip, then each frame's jitter from `gen`.
// The frames must have the same size.
AugmentedPair augment_pair(const Image& f1, const Image& f2, const AugmentOptions& options, Generator& gen);

}  // namespace sm
