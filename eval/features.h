// What label propagation compares: a grid of feature vectors per frame.
//
// Any model that maps a frame to patch features plugs in through FrameFeatures (the SiamMAE
// encoder, an untrained encoder, the raw-pixel baseline below). Propagation L2-normalizes the
// vectors itself, so an implementation may return them unnormalized.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace sm {

// Maps one frame to a grid of feature vectors: what label propagation compares.
class FrameFeatures {
 public:
  virtual ~FrameFeatures() = default;
  // frame (3, H, W) float32, ImageNet-normalized, H and W multiples of stride() -> (H/stride, W/stride, C) float32
  virtual Tensor extract(const Tensor& frame) = 0;
  virtual int64_t stride() const = 0;      // pixels per feature cell (the patch size)
  virtual std::string name() const = 0;    // for logs
};

// The raw-pixel baseline: each feature vector is the frame's own p x p patch, flattened in
// (row, column, channel) order like MAE's patchify, so C = 3 p^2.
class PixelFeatures : public FrameFeatures {
 public:
  explicit PixelFeatures(int64_t patch = 8);
  Tensor extract(const Tensor& frame) override;  // (3, H, W) -> (H/p, W/p, 3 p^2)
  int64_t stride() const override { return patch_; }
  std::string name() const override;

 private:
  int64_t patch_;
};

struct FrameSize {
  int64_t height = 0, width = 0;
};

// The size a (height, width) frame is resized to before feature extraction: the short side
// becomes `size` and the long side keeps the aspect ratio (rounded to the nearest pixel), or
// both sides become `size` when `square` (videowalk's JHMDB setting); then each side is
// rounded down to a multiple of `stride`. 854x480 with size 480 and stride 16 -> 848x480.
FrameSize evaluation_frame_size(int64_t height, int64_t width, int64_t size, int64_t stride, bool square = false);

}  // namespace sm
