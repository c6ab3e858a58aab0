#include "data/transforms.h"

#include <algorithm>
#include <cmath>

namespace sm {

static void check_crop_ranges(const std::array<double, 2>& scale, const std::array<double, 2>& ratio) {
  check(0 < scale[0] && scale[0] <= scale[1] && scale[1] <= 1, "augment", "crop scale must satisfy 0 < ", scale[0],
        " <= ", scale[1], " <= 1");
  check(0 < ratio[0] && ratio[0] <= ratio[1], "augment", "crop ratio must satisfy 0 < ", ratio[0], " <= ", ratio[1]);
}

void check_augment_options(const AugmentOptions& options) {
  check(options.image_size > 0, "augment", "image_size must be positive, got ", options.image_size);
  check(0 <= options.hflip_prob && options.hflip_prob <= 1, "augment", "hflip_prob must be in [0, 1], got ",
        options.hflip_prob);
  const ColorJitter& j = options.jitter;
  check(j.brightness >= 0 && j.contrast >= 0 && j.saturation >= 0, "augment", "jitter strengths must be >= 0, got ",
        j.brightness, ", ", j.contrast, ", ", j.saturation);
  check_crop_ranges(options.crop_scale, options.crop_ratio);
}

CropBox sample_crop(int64_t height, int64_t width, const std::array<double, 2>& scale,
                    const std::array<double, 2>& ratio, Generator& gen) {
  check_crop_ranges(scale, ratio);
  const double area = static_cast<double>(height * width);
  const double log_low = std::log(ratio[0]), log_high = std::log(ratio[1]);
  // nearbyint rounds halves to even, like Python's round() in torchvision.
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (scale[0] + (scale[1] - scale[0]) * gen.uniform());
    const double aspect = std::exp(log_low + (log_high - log_low) * gen.uniform());
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target * aspect)));
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target / aspect)));
    if (0 < w && w <= width && 0 < h && h <= height)
      return {gen.randint(0, height - h + 1), gen.randint(0, width - w + 1), h, w};
  }
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < ratio[0]) h = static_cast<int64_t>(std::nearbyint(width / ratio[0]));
  if (in_ratio > ratio[1]) w = static_cast<int64_t>(std::nearbyint(height * ratio[1]));
  return {(height - h) / 2, (width - w) / 2, h, w};
}

// A factor drawn uniformly from [max(0, 1 - strength), 1 + strength]; 1 when strength is 0.
static float jitter_factor(double strength, Generator& gen) {
  if (strength <= 0) return 1.0f;
  const double low = std::max(0.0, 1.0 - strength);
  return static_cast<float>(low + (1.0 + strength - low) * gen.uniform());
}

void color_jitter_(const Tensor& chw, const ColorJitter& jitter, Generator& gen) {
  check(chw.dim() == 3 && chw.size(0) == 3 && chw.is_contiguous(), "color_jitter_",
        "expected a contiguous (3, H, W) image, got ", fmt(chw.shape()));
  const float brightness = jitter_factor(jitter.brightness, gen);
  const float contrast = jitter_factor(jitter.contrast, gen);
  const float saturation = jitter_factor(jitter.saturation, gen);
  const int64_t n = chw.size(1) * chw.size(2);
  float* r = chw.data<float>();
  float* g = r + n;
  float* b = g + n;
  const auto grey = [&](int64_t i) { return 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i]; };  // ITU-R 601 luma
  // out = factor * x + (1 - factor) * reference, clamped: torchvision's _blend.
  const auto blend = [](float x, float reference, float factor) {
    return std::clamp(factor * x + (1.0f - factor) * reference, 0.0f, 1.0f);
  };
  for (float* channel : {r, g, b})
    for (int64_t i = 0; i < n; ++i) channel[i] = blend(channel[i], 0.0f, brightness);
  double grey_sum = 0;
  for (int64_t i = 0; i < n; ++i) grey_sum += grey(i);
  const auto mean_grey = static_cast<float>(grey_sum / static_cast<double>(n));
  for (float* channel : {r, g, b})
    for (int64_t i = 0; i < n; ++i) channel[i] = blend(channel[i], mean_grey, contrast);
  for (int64_t i = 0; i < n; ++i) {
    const float y = grey(i);
    for (float* channel : {r, g, b}) channel[i] = blend(channel[i], y, saturation);
  }
}

AugmentedPair augment_pair(const Image& f1, const Image& f2, const AugmentOptions& options, Generator& gen) {
  check(f1.height == f2.height && f1.width == f2.width && f1.channels == f2.channels, "augment_pair",
        "the frames differ in size: ", f1.height, "x", f1.width, "x", f1.channels, " and ", f2.height, "x", f2.width,
        "x", f2.channels);
  check_augment_options(options);
  AugmentedPair pair;
  pair.crop = sample_crop(f1.height, f1.width, options.crop_scale, options.crop_ratio, gen);
  pair.flipped = gen.uniform() < options.hflip_prob;
  const int64_t S = options.image_size;
  pair.f1 = resized_crop(f1, pair.crop, S, S, /*antialias=*/true, pair.flipped);  // (3, S, S)
  pair.f2 = resized_crop(f2, pair.crop, S, S, /*antialias=*/true, pair.flipped);  // (3, S, S)
  if (options.jitter.enabled()) {
    color_jitter_(pair.f1, options.jitter, gen);
    color_jitter_(pair.f2, options.jitter, gen);
  }
  return pair;
}

}  // namespace sm
