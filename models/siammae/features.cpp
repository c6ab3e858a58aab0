#include "models/siammae/features.h"

#include "models/siammae/checkpoint.h"

namespace sm {

EncoderFeatures::EncoderFeatures(std::shared_ptr<const VisionTransformer> encoder, std::string name)
    : encoder_(std::move(encoder)), name_(std::move(name)) {}

int64_t EncoderFeatures::stride() const { return encoder_->config.patch_size; }

Tensor EncoderFeatures::extract(const Tensor& frame) {
  NoGradGuard no_grad;
  const Device device = encoder_->cls_token.device();
  Tensor features = encoder_->patch_features(frame.to(device).unsqueeze(0));  // (1, h, w, D)
  return features.squeeze(0).to(Device::CPU);
}

std::unique_ptr<EncoderFeatures> checkpoint_features(const std::string& checkpoint_path, Device device,
                                                     const VitImportOptions& vit) {
  SafetensorsFile file = load_safetensors(checkpoint_path);
  if (!is_siammae_checkpoint(file)) {
    const ImportedVit imported = import_vit(file, checkpoint_path, vit);
    std::shared_ptr<VisionTransformer> encoder = build_vit(imported);
    encoder->to(device);
    return std::make_unique<EncoderFeatures>(encoder, imported.summary);
  }
  std::shared_ptr<SiamMAE> model = load_model(read_checkpoint(std::move(file), checkpoint_path), checkpoint_path);
  check(vit.heads == 0 || vit.heads == model->config.heads, "checkpoint", checkpoint_path, " has ", model->config.heads,
        " heads in its config, not ", vit.heads);
  model->config.position_resize = vit.position_resize;
  model->to(device);
  return std::make_unique<EncoderFeatures>(model, "siammae " + model->model_config.name + " (" + checkpoint_path + ")");
}

std::unique_ptr<EncoderFeatures> random_features(const SiamMAEConfig& config, uint64_t seed, Device device) {
  Generator gen(seed);
  auto model = std::make_shared<SiamMAE>(config, &gen);
  model->eval();
  model->to(device);
  return std::make_unique<EncoderFeatures>(model, "untrained " + config.name + " encoder (seed " + std::to_string(seed) + ")");
}

}  // namespace sm
