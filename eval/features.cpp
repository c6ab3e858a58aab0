#include "eval/features.h"

#include <cmath>

#include "autograd/functions.h"

namespace sm {

PixelFeatures::PixelFeatures(int64_t patch) : patch_(patch) {
  check(patch > 0, "PixelFeatures", "patch size must be positive, got ", patch);
}

std::string PixelFeatures::name() const { return "pixels-p" + std::to_string(patch_); }

Tensor PixelFeatures::extract(const Tensor& frame) {
  check(frame.dim() == 3 && frame.size(0) == 3, "PixelFeatures", "expects a (3, H, W) frame, got ", shape_str(frame.shape()));
  const int64_t p = patch_, h = frame.size(1) / p, w = frame.size(2) / p;
  check(frame.size(1) == h * p && frame.size(2) == w * p, "PixelFeatures", "frame ", shape_str(frame.shape()),
        " is not a multiple of the patch size ", p);
  Tensor patches = frame.reshape({3, h, p, w, p});                 // (3, h, p, w, p)
  Tensor grid = patches.permute({1, 3, 2, 4, 0}).contiguous();     // (h, w, p, p, 3)
  return grid.reshape({h, w, p * p * 3});                          // (h, w, C)
}

FrameSize evaluation_frame_size(int64_t height, int64_t width, int64_t size, int64_t stride, bool square) {
  check(height > 0 && width > 0 && size > 0 && stride > 0, "evaluation_frame_size", "frame ", height, "x", width,
        ", size ", size, ", stride ", stride, ": all must be positive");
  FrameSize out{size, size};
  if (!square) {
    const bool portrait = height > width;
    const int64_t short_side = portrait ? width : height, long_side = portrait ? height : width;
    const auto scaled_long = static_cast<int64_t>(std::lround(static_cast<double>(long_side) * size / short_side));
    out = portrait ? FrameSize{scaled_long, size} : FrameSize{size, scaled_long};
  }
  out.height -= out.height % stride;
  out.width -= out.width % stride;
  check(out.height > 0 && out.width > 0, "evaluation_frame_size", "size ", size, " is smaller than the stride ", stride);
  return out;
}

}  // namespace sm
