// SiamMAE: a siamese ViT encoder and a cross-self decoder that reconstructs the masked
// patches of a future frame f2 from its few visible patches and the whole past frame f1.
//
//   f1 (B, 3, H, W) --encoder-----------------------> (B, 1+N, D) --decoder_embed + pos--> memory (B, 1+N, Dd)
//   f2 (B, 3, H, W) --keep 5 % of patches--encoder--> (B, 1+n, D) --decoder_embed-->
//        + mask tokens, unshuffled to raster order, + decoder_pos_embed  ----------------> y (B, 1+N, Dd)
//   y = block(y, memory) for each decoder block   (cross-attention to f1, self-attention, MLP)
//   prediction = decoder_pred(decoder_norm(y))[:, 1:]                                   (B, N, p*p*3)
//   loss = mean over masked f2 patches of the squared error to the per-patch normalized pixels
//
// The class is the encoder (it derives from VisionTransformer, so the encoder's parameters
// keep MAE's top-level names: cls_token, patch_embed.*, blocks.*, norm.*) plus the decoder:
// decoder_embed, mask_token, decoder_pos_embed (buffer), decoder_blocks.*, decoder_norm,
// decoder_pred. Checkpoints therefore load unchanged into a PyTorch twin with those names.
#pragma once

#include "models/siammae/config.h"
#include "models/siammae/masking.h"

namespace sm {

// The masks of one forward pass. f1 is whole (undefined mask) unless masking is symmetric.
struct PairMasks {
  PatchMask f1;  // ids_shuffle undefined when f1 is not masked
  PatchMask f2;
};

struct SiamMAEOutput {
  Tensor loss;        // ()
  Tensor prediction;  // (B, N, p*p*3), in the target's units (normalized per patch with norm_pix_loss)
  Tensor mask;        // (B, N) 1 = masked f2 patch
};

class SiamMAE : public VisionTransformer {
 public:
  // Parameters are initialized as MAE does (init_mae_weights), drawing from `gen`.
  explicit SiamMAE(const SiamMAEConfig& config, Generator* gen = nullptr);

  // Masks for a batch as the config asks (f2 at mask_ratio; f1 too when symmetric).
  PairMasks sample_masks(int64_t batch, Generator& gen) const;
  // f1, f2: (B, 3, H, W), ImageNet-normalized; f1 is the earlier frame.
  SiamMAEOutput forward(const Tensor& f1, const Tensor& f2, const PairMasks& masks) const;

  // The encoder on the visible patches: (B, 3, H, W) -> (B, 1 + n_keep, D), or all N
  // patches when `mask` has no ids (f1 in the asymmetric model).
  Tensor encode(const Tensor& images, const PatchMask& mask) const;
  // The loss of a prediction against f2 (MAE's forward_loss): () .
  Tensor reconstruction_loss(const Tensor& f2, const Tensor& prediction, const Tensor& mask) const;

  // When set, every cross-attention layer keeps its weights (B, H, N+1, M+1) for pictures.
  void keep_cross_attention(bool on);
  // The cross-attention weights of decoder block i from the last forward (see keep_cross_attention).
  Tensor cross_attention_weights(int64_t block) const;

  SiamMAEConfig model_config;
  std::shared_ptr<Linear> decoder_embed;
  Tensor mask_token;         // (1, 1, Dd)
  Tensor decoder_pos_embed;  // (1, 1 + N, Dd) fixed 2-D sin-cos, with a CLS row
  // decoder_blocks: MemoryBlocks (cross-self or cross) or plain Blocks (joint decoder).
  std::shared_ptr<ModuleList<MemoryBlock>> memory_blocks;
  std::shared_ptr<ModuleList<Block>> joint_blocks;
  std::shared_ptr<Norm> decoder_norm;  // LayerNorm, or RMSNorm with config.decoder_norm
  std::shared_ptr<Linear> decoder_pred;

 private:
  // Encoder outputs of both frames: siamese (each its own sequence, sharing the products) or
  // joint (one sequence).
  std::pair<Tensor, Tensor> encode_pair(const Tensor& f1, const Tensor& f2, const PairMasks& masks) const;
  // The patch tokens (with positions) that `mask` keeps: (B, n_keep, D), or all N.
  Tensor visible_tokens(const Tensor& images, const PatchMask& mask) const;
  // decoder_embed(tokens) + the positions of the kept patches (CLS first): (B, 1+n, Dd).
  Tensor embed_memory(const Tensor& tokens, const PatchMask& mask) const;
  // decoder_embed(tokens), mask tokens appended, unshuffled, + positions: (B, 1+N, Dd).
  Tensor embed_queries(const Tensor& tokens, const PatchMask& mask) const;
  Tensor decode(const Tensor& y, const Tensor& memory) const;  // (B, 1+N, Dd) -> (B, N, p*p*3)
};

}  // namespace sm
