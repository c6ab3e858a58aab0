// A ViT encoder (SiamMAE's, or one imported from timm, DINO, MAE) as the feature extractor of
// label propagation (eval/): patch tokens after the final norm, CLS dropped, on the frame's own
// (H/p, W/p) grid with the position table resized bicubically from the training grid.
#pragma once

#include <memory>

#include "eval/features.h"
#include "models/siammae/model.h"
#include "models/siammae/vit_import.h"

namespace sm {

class EncoderFeatures : public FrameFeatures {
 public:
  EncoderFeatures(std::shared_ptr<const VisionTransformer> encoder, std::string name);
  Tensor extract(const Tensor& frame) override;  // (3, H, W) -> (H/p, W/p, D), on the CPU
  int64_t stride() const override;
  std::string name() const override { return name_; }

 private:
  std::shared_ptr<const VisionTransformer> encoder_;
  std::string name_;
};

// The encoder of a checkpoint, on `device`: a SiamMAE checkpoint of this library (checkpoint.h),
// or any plain ViT encoder from timm, DINO, MAE, ... (vit_import.h), whose name() then says in
// one line what was inferred from its shapes.
std::unique_ptr<EncoderFeatures> checkpoint_features(const std::string& checkpoint_path, Device device = Device::CPU,
                                                     const VitImportOptions& vit = {});
// An untrained encoder of `config`, initialized as for training from `seed`: the "random" baseline.
std::unique_ptr<EncoderFeatures> random_features(const SiamMAEConfig& config, uint64_t seed, Device device = Device::CPU);

}  // namespace sm
