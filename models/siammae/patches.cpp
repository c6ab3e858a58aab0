#include "models/siammae/patches.h"

namespace sm {

Tensor patchify(const Tensor& images, int64_t patch) {
  check(images.dim() == 4 && images.size(1) == 3 && images.size(2) % patch == 0 && images.size(3) % patch == 0,
        "patchify", "images ", fmt(images.shape()), " must be (B, 3, H, W) with H and W multiples of ", patch);
  const int64_t b = images.size(0), h = images.size(2) / patch, w = images.size(3) / patch;
  return images.reshape({b, 3, h, patch, w, patch})
      .permute({0, 2, 4, 3, 5, 1})                 // (B, h, w, p, q, c)
      .reshape({b, h * w, patch * patch * 3});     // (B, N, p*p*3)
}

Tensor unpatchify(const Tensor& patches, int64_t patch, int64_t grid_h, int64_t grid_w) {
  check(patches.dim() == 3 && patches.size(1) == grid_h * grid_w && patches.size(2) == patch * patch * 3,
        "unpatchify", "patches ", fmt(patches.shape()), " must be (B, ", grid_h * grid_w, ", ", patch * patch * 3, ")");
  const int64_t b = patches.size(0);
  return patches.reshape({b, grid_h, grid_w, patch, patch, 3})
      .permute({0, 5, 1, 3, 2, 4})                           // (B, c, h, p, w, q)
      .reshape({b, 3, grid_h * patch, grid_w * patch});      // (B, 3, H, W)
}

Tensor normalize_patches(const Tensor& patches) {
  Tensor mu = mean(patches, {-1}, true);                  // (B, N, 1)
  Tensor variance = var(patches, {-1}, true, true);       // (B, N, 1), unbiased as in MAE
  return (patches - mu) / sqrt(variance + 1e-6);
}

Tensor prediction_to_image(const Tensor& prediction, const Tensor& target_images, int64_t patch, bool norm_pix) {
  const int64_t grid_h = target_images.size(2) / patch, grid_w = target_images.size(3) / patch;
  Tensor values = prediction;  // (B, N, p*p*3)
  if (norm_pix) {
    Tensor target = patchify(target_images, patch);  // (B, N, p*p*3)
    values = prediction * sqrt(var(target, {-1}, true, true) + 1e-6) + mean(target, {-1}, true);
  }
  return unpatchify(values, patch, grid_h, grid_w);
}

Tensor paste_masked_patches(const Tensor& images, const Tensor& fill, const Tensor& mask, int64_t patch) {
  const int64_t grid_h = images.size(2) / patch, grid_w = images.size(3) / patch;
  check(mask.dim() == 2 && mask.size(1) == grid_h * grid_w, "paste_masked_patches", "mask ", fmt(mask.shape()),
        " does not fit images ", fmt(images.shape()), " with patch ", patch);
  // The mask as a per-pixel image: each patch's flag repeated over its p*p*3 values.
  Tensor per_value = mask.unsqueeze(-1).expand({mask.size(0), mask.size(1), patch * patch * 3});  // (B, N, p*p*3)
  Tensor pixel_mask = unpatchify(per_value, patch, grid_h, grid_w);                               // (B, 3, H, W)
  return where(pixel_mask, fill, images);
}

}  // namespace sm
