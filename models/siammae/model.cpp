#include "models/siammae/model.h"

#include "models/siammae/patches.h"
#include "nn/loss.h"

namespace sm {

namespace {

// (B, 1 + n, C) -> the CLS token (B, 1, C) and the rest (B, n, C).
std::pair<Tensor, Tensor> split_cls(const Tensor& tokens) {
  return {tokens.narrow(1, 0, 1), tokens.narrow(1, 1, tokens.size(1) - 1)};
}

}  // namespace

SiamMAE::SiamMAE(const SiamMAEConfig& config, Generator* gen)
    : VisionTransformer((config.validate(), config.encoder_config()), gen), model_config(config) {
  const int64_t dd = config.decoder_dim;
  decoder_embed = register_module("decoder_embed", std::make_shared<Linear>(config.encoder_dim, dd));
  mask_token = register_parameter("mask_token", zeros({1, 1, dd}));
  decoder_pos_embed = register_buffer("decoder_pos_embed",
                                      sincos_2d_table(dd, config.grid(), config.grid(), true).reshape({1, -1, dd}));
  // Both kinds of block list are named decoder_blocks; only the one the config uses exists.
  if (config.decoder == DecoderKind::Joint) {
    joint_blocks = register_module("decoder_blocks", std::make_shared<ModuleList<Block>>());
    for (int64_t i = 0; i < config.decoder_depth; ++i)
      joint_blocks->push_back(
          std::make_shared<Block>(dd, config.decoder_heads, config.mlp_ratio, true, 1e-6, config.decoder_norm));
  } else {
    memory_blocks = register_module("decoder_blocks", std::make_shared<ModuleList<MemoryBlock>>());
    for (int64_t i = 0; i < config.decoder_depth; ++i) {
      if (config.decoder == DecoderKind::Cross) {
        memory_blocks->push_back(
            std::make_shared<CrossBlock>(dd, config.decoder_heads, config.mlp_ratio, true, 1e-6, config.decoder_norm));
      } else {
        memory_blocks->push_back(std::make_shared<CrossSelfBlock>(dd, config.decoder_heads, config.mlp_ratio, true,
                                                                  1e-6, config.decoder_norm));
      }
    }
  }
  decoder_norm = register_module("decoder_norm", make_norm(config.decoder_norm, dd, 1e-6));
  decoder_pred = register_module("decoder_pred", std::make_shared<Linear>(dd, config.patch_dim()));
  init_mae_weights(*this, gen);
}

PairMasks SiamMAE::sample_masks(int64_t batch, Generator& gen) const {
  const Tensor& like = mask_token;  // masks live on the model's device, in its float dtype
  PairMasks masks;
  if (model_config.symmetric_masking) masks.f1 = sample_mask(model_config, model_config.mask_ratio, batch, gen, like);
  masks.f2 = sample_mask(model_config, model_config.mask_ratio, batch, gen, like);
  return masks;
}

Tensor SiamMAE::visible_tokens(const Tensor& images, const PatchMask& mask) const {
  return embed_patches(images, mask.ids_keep);  // (B, n_keep, D), or (B, N, D) without ids
}

Tensor SiamMAE::encode(const Tensor& images, const PatchMask& mask) const {
  return forward_tokens(visible_tokens(images, mask));  // (B, 1 + n, D)
}

std::pair<Tensor, Tensor> SiamMAE::encode_pair(const Tensor& f1, const Tensor& f2, const PairMasks& masks) const {
  if (model_config.encoder == EncoderKind::Siamese) {
    // The same as encode(f1), encode(f2), with both frames' rows in each product: f2 keeps only
    // a few patches, and alone its products would be too small to run at full speed.
    std::vector<Tensor> h = forward_token_sets({visible_tokens(f1, masks.f1), visible_tokens(f2, masks.f2)});
    return {h[0], h[1]};
  }
  // Joint encoder: both frames' visible patches form one sequence behind one CLS token;
  // each frame's output gets that CLS back.
  Tensor t1 = visible_tokens(f1, masks.f1), t2 = visible_tokens(f2, masks.f2);  // (B, n1, D), (B, n2, D)
  auto [cls, rest] = split_cls(forward_tokens(cat({t1, t2}, 1)));  // (B, 1, D), (B, n1 + n2, D)
  const int64_t n1 = t1.size(1), n2 = t2.size(1);
  return {cat({cls, rest.narrow(1, 0, n1)}, 1), cat({cls, rest.narrow(1, n1, n2)}, 1)};
}

Tensor SiamMAE::embed_memory(const Tensor& tokens, const PatchMask& mask) const {
  Tensor x = decoder_embed->forward(tokens);  // (B, 1 + n, Dd)
  if (!mask.ids_keep.defined()) return x + decoder_pos_embed;
  auto [cls_pos, patch_pos] = split_cls(decoder_pos_embed);  // (1, 1, Dd), (1, N, Dd)
  const int64_t b = x.size(0);
  Tensor kept_pos = take_tokens(patch_pos.expand({b, patch_pos.size(1), patch_pos.size(2)}), mask.ids_keep);
  return x + cat({cls_pos.expand({b, 1, cls_pos.size(2)}), kept_pos}, 1);
}

Tensor SiamMAE::embed_queries(const Tensor& tokens, const PatchMask& mask) const {
  auto [cls, visible] = split_cls(decoder_embed->forward(tokens));  // (B, 1, Dd), (B, n, Dd)
  const int64_t b = visible.size(0), n = mask.num_patches();
  Tensor mask_tokens = mask_token.expand({b, n - visible.size(1), mask_token.size(2)});  // (B, N - n, Dd)
  Tensor patches = take_tokens(cat({visible, mask_tokens}, 1), mask.ids_restore);       // (B, N, Dd) raster order
  return cat({cls, patches}, 1) + decoder_pos_embed;                                     // (B, 1 + N, Dd)
}

Tensor SiamMAE::decode(const Tensor& queries, const Tensor& memory) const {
  Tensor y = queries;  // (B, 1 + N, Dd)
  if (joint_blocks) {
    Tensor joint = cat({memory, y}, 1);  // (B, M + 1 + N, Dd)
    for (const auto& block : *joint_blocks) joint = block->forward(joint);
    y = joint.narrow(1, memory.size(1), y.size(1));
  } else {
    for (const auto& block : *memory_blocks) y = block->forward(y, memory);
  }
  Tensor out = decoder_pred->forward(decoder_norm->forward(y));  // (B, 1 + N, p*p*3)
  return out.narrow(1, 1, out.size(1) - 1);                        // CLS dropped
}

Tensor SiamMAE::reconstruction_loss(const Tensor& f2, const Tensor& prediction, const Tensor& mask) const {
  Tensor target = patchify(f2, model_config.patch_size);  // (B, N, p*p*3)
  if (model_config.norm_pix_loss) target = normalize_patches(target);
  return masked_mse_loss(prediction, target, mask);
}

SiamMAEOutput SiamMAE::forward(const Tensor& f1, const Tensor& f2, const PairMasks& masks) const {
  check(f1.shape() == f2.shape(), "SiamMAE", "frames f1 ", fmt(f1.shape()), " and f2 ", fmt(f2.shape()), " differ");
  check(masks.f2.ids_shuffle.defined() && masks.f2.batch() == f2.size(0) &&
            masks.f2.num_patches() == model_config.num_patches(),
        "SiamMAE", "the f2 mask must be (", f2.size(0), ", ", model_config.num_patches(), ")");
  check(masks.f2.n_keep < masks.f2.num_patches(), "SiamMAE", "the f2 mask hides no patch: nothing to reconstruct");
  auto [h1, h2] = encode_pair(f1, f2, masks);  // (B, 1 + n1, D), (B, 1 + n2, D)
  Tensor prediction = decode(embed_queries(h2, masks.f2), embed_memory(h1, masks.f1));  // (B, N, p*p*3)
  return {reconstruction_loss(f2, prediction, masks.f2.mask), prediction, masks.f2.mask};
}

void SiamMAE::keep_cross_attention(bool on) {
  check(memory_blocks != nullptr, "SiamMAE", "the joint decoder has no cross-attention");
  for (const auto& block : *memory_blocks) block->cross_attn->keep_weights = on;
}

Tensor SiamMAE::cross_attention_weights(int64_t block) const {
  check(memory_blocks != nullptr && block >= 0 && block < static_cast<int64_t>(memory_blocks->size()), "SiamMAE",
        "no cross-attention in decoder block ", block);
  return (*memory_blocks)[block]->cross_attn->last_weights;
}

}  // namespace sm
