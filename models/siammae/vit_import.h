// ViT encoders trained elsewhere (timm, DINO, MAE, a PyTorch SiamMAE or CropMAE), as feature
// extractors. Their checkpoints share the timm/MAE names this library uses: cls_token
// (1, 1, D), pos_embed (1, 1 + g*g, D), patch_embed.proj.weight (D, 3, p, p), blocks.N.*,
// norm.*. What differs is around them, and is handled here:
//   - prefixes: "module." (DistributedDataParallel) and "backbone." (DINO's wrapper) are stripped;
//   - tensors that are not the encoder's are ignored: decoder* and mask_token (MAE, SiamMAE),
//     head* (DINO's projection head, a classifier), fc_norm* (a pooled classifier's norm);
//   - the sizes are read from the shapes: depth (blocks.N), width (cls_token), patch size and
//     channels (patch_embed.proj.weight), the position table's grid (pos_embed), the MLP width
//     (blocks.0.mlp.fc1.weight) and whether qkv has a bias. The number of heads is not in any
//     shape: it is the standard one for the ViT widths (192: 3, 384: 6, 768: 12, 1024 and 1280:
//     16) and must be given for any other width.
// LayerNorm eps is 1e-6 and GELU exact, as in all three codebases. A .pth file becomes a
// safetensors file with tools/convert_checkpoint.py.
#pragma once

#include <memory>
#include <string>

#include "nn/serialization.h"
#include "nn/transformer.h"

namespace sm {

struct VitImportOptions {
  int64_t heads = 0;  // --heads; 0: the standard number for the width
  PositionResize position_resize = PositionResize::Bicubic;  // --pos-resize
};

struct ImportedVit {
  std::string path;  // where it came from, for errors
  ViTConfig config;
  StateDict weights;    // the encoder's tensors under this library's names
  std::string summary;  // one line: what was inferred, stripped and ignored
};

// The encoder of a safetensors file that is not a SiamMAE checkpoint of this library. Throws
// naming the file and the tensor when it is not a plain ViT encoder this library can run.
ImportedVit import_vit(const SafetensorsFile& file, const std::string& path, const VitImportOptions& options = {});

// The encoder itself, built from config and loaded (strict: a tensor of the wrong shape or a
// missing one is named with the file), in eval mode.
std::shared_ptr<VisionTransformer> build_vit(const ImportedVit& imported);

// The position-resize modes by name (bicubic, dino, timm), for flags and messages.
std::string to_string(PositionResize mode);
PositionResize parse_position_resize(const std::string& text);

}  // namespace sm
