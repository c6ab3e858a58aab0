// Images <-> patch rows in MAE's order, the normalized-pixel target, and turning a
// prediction back into a picture.
#pragma once

#include "autograd/functions.h"

namespace sm {

// (B, 3, H, W) -> (B, N, p*p*3), each patch flattened as (p, q, c): row within the patch,
// column within the patch, channel (MAE's patchify). N = (H/p)*(W/p) in raster order.
Tensor patchify(const Tensor& images, int64_t patch);
// The inverse: (B, N, p*p*3) -> (B, 3, grid_h*p, grid_w*p).
Tensor unpatchify(const Tensor& patches, int64_t patch, int64_t grid_h, int64_t grid_w);

// Each patch (last dim) normalized by its own mean and unbiased variance:
// (t - mean) / sqrt(var + 1e-6). (B, N, P) -> (B, N, P)
Tensor normalize_patches(const Tensor& patches);

// A prediction (B, N, p*p*3) as an image (B, 3, H, W) in the target's (ImageNet-normalized)
// space. With norm_pix the prediction lives in per-patch normalized units, so each patch is
// scaled back with the target patch's own mean and std, as MAE's visualization does.
Tensor prediction_to_image(const Tensor& prediction, const Tensor& target_images, int64_t patch, bool norm_pix);

// Keeps the visible patches of `images` and replaces the masked ones (mask (B, N), 1 = masked)
// by `fill` (B, 3, H, W) (e.g. a prediction, or a constant): the "masked" and
// "reconstruction + visible" pictures.
Tensor paste_masked_patches(const Tensor& images, const Tensor& fill, const Tensor& mask, int64_t patch);

}  // namespace sm
