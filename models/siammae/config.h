// SiamMAE configuration: sizes, masking, decoder type and loss, with the named presets.
//
// The presets (image / patch / encoder dim-depth-heads / decoder dim-depth-heads):
//   tiny    64 /  8 / 192-6-3  / 128-2-4    a laptop run in minutes
//   small  112 / 16 / 384-12-6 / 256-4-8    CropMAE's decoder at a smaller image
//   vits16 224 / 16 / 384-12-6 / 512-8-16   the paper's ViT-S/16 with MAE's default decoder
//   vits8  224 /  8 / 384-12-6 / 512-8-16   the paper's ViT-S/8
//   micro   32 /  8 /  16-2-2  /  16-2-2    for whole-model tests against PyTorch (mask ratio 0.75)
// All use an MLP ratio of 4, qkv bias and LayerNorm eps 1e-6.
//
// The ablation switches reproduce the paper's Tables 2-3: mask ratio, symmetric masking
// (f1 masked too), random or grid masking, the decoder (cross-self, cross, joint) and the
// encoder (siamese or joint).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/siammae/fields.h"
#include "nn/transformer.h"

namespace sm {

enum class MaskKind { Random, Grid };
enum class DecoderKind { CrossSelf, Cross, Joint };
enum class EncoderKind { Siamese, Joint };

struct SiamMAEConfig {
  std::string name = "tiny";
  int64_t image_size = 64, patch_size = 8;
  int64_t encoder_dim = 192, encoder_depth = 6, encoder_heads = 3;
  int64_t decoder_dim = 128, decoder_depth = 2, decoder_heads = 4;
  double mlp_ratio = 4.0;
  double mask_ratio = 0.95;        // of f2's patches; f1 is whole unless symmetric_masking
  bool symmetric_masking = false;  // mask f1 at the same ratio too (ablation)
  MaskKind mask_kind = MaskKind::Random;
  DecoderKind decoder = DecoderKind::CrossSelf;
  EncoderKind encoder = EncoderKind::Siamese;
  bool norm_pix_loss = true;  // per-patch normalized targets (MAE's norm_pix_loss)
  NormKind decoder_norm = NormKind::LayerNorm;  // RMSNorm: docs/adding-a-layer.md

  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  int64_t patch_dim() const { return patch_size * patch_size * 3; }  // values predicted per patch
  ViTConfig encoder_config() const;

  // Throws "[config] ..." naming the first inconsistent setting.
  void validate() const;
  nlohmann::json to_json() const;
  // Every key is optional and defaults to this preset's value; an unknown key is an error.
  static SiamMAEConfig from_json(const nlohmann::json& j);
  // The settings: JSON keys, and the flags of `siammae train` that change them.
  static const FieldTable<SiamMAEConfig>& fields();
};
// nlohmann::json's conversions, so a config can be a setting of TrainOptions.
inline void to_json(nlohmann::json& j, const SiamMAEConfig& c) { j = c.to_json(); }
inline void from_json(const nlohmann::json& j, SiamMAEConfig& c) { c = SiamMAEConfig::from_json(j); }

SiamMAEConfig siammae_preset(const std::string& name);
std::vector<std::string> siammae_preset_names();
// A preset name, or the path of a JSON config file (anything ending in ".json").
SiamMAEConfig resolve_config(const std::string& preset_or_path);

// Text names used in configs, flags and checkpoints: "random"/"grid", "cross-self"/"cross"/"joint",
// "siamese"/"joint", "layernorm"/"rmsnorm". The parsers throw "[config] unknown ..." listing the choices.
std::string to_string(MaskKind kind);
std::string to_string(DecoderKind kind);
std::string to_string(EncoderKind kind);
std::string to_string(NormKind kind);
MaskKind parse_mask_kind(const std::string& text);
DecoderKind parse_decoder_kind(const std::string& text);
EncoderKind parse_encoder_kind(const std::string& text);
NormKind parse_norm_kind(const std::string& text);
// The same parsers in the form FieldTable looks for.
inline void from_text(const std::string& text, MaskKind& kind) { kind = parse_mask_kind(text); }
inline void from_text(const std::string& text, DecoderKind& kind) { kind = parse_decoder_kind(text); }
inline void from_text(const std::string& text, EncoderKind& kind) { kind = parse_encoder_kind(text); }
inline void from_text(const std::string& text, NormKind& kind) { kind = parse_norm_kind(text); }

}  // namespace sm
