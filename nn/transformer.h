// Transformer pieces: pre-norm blocks, patch embedding, fixed 2-D sin-cos positions, and a
// Vision Transformer encoder with MAE's parameter names.
#pragma once

#include <string>

#include "nn/attention.h"
#include "nn/rms_norm.h"
#include "tensor/random.h"

namespace sm {

// A list of sub-modules named "0", "1", ... (PyTorch's nn.ModuleList).
template <typename M> class ModuleList : public Module {
 public:
  void push_back(std::shared_ptr<M> module) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(module)));
  }
  const std::shared_ptr<M>& operator[](size_t i) const { return items_.at(i); }
  size_t size() const { return items_.size(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

// Which normalization the blocks use: LayerNorm (ViT, MAE, SiamMAE) or RMSNorm (nn/rms_norm.h).
enum class NormKind { LayerNorm, RMSNorm };
std::shared_ptr<Norm> make_norm(NormKind kind, int64_t dim, double eps);

// Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)).
class Block : public Module {
 public:
  Block(int64_t dim, int64_t heads, double mlp_ratio = 4.0, bool qkv_bias = true, double eps = 1e-6,
        NormKind norm = NormKind::LayerNorm);
  // (B, N, C) -> (B, N, C); segments as in Attention::forward.
  Tensor forward(const Tensor& x, const std::vector<int64_t>& segments = {}) const;
  std::shared_ptr<Norm> norm1, norm2;
  std::shared_ptr<Attention> attn;
  std::shared_ptr<Mlp> mlp;
};

// A decoder block that updates a stream y while reading a memory sequence (another frame)
// through its cross-attention layer.
class MemoryBlock : public Module {
 public:
  virtual Tensor forward(const Tensor& y, const Tensor& memory) const = 0;  // (B, N, C), (B, M, C) -> (B, N, C)
  std::shared_ptr<CrossAttention> cross_attn;
};

// Pre-norm cross-self block (the SiamMAE decoder block):
//   y = y + cross_attn(norm_q(y), norm_kv(memory));  y = y + attn(norm1(y));  y = y + mlp(norm2(y)).
class CrossSelfBlock : public MemoryBlock {
 public:
  CrossSelfBlock(int64_t dim, int64_t heads, double mlp_ratio = 4.0, bool qkv_bias = true, double eps = 1e-6,
                 NormKind norm = NormKind::LayerNorm);
  Tensor forward(const Tensor& y, const Tensor& memory) const override;
  std::shared_ptr<Norm> norm_q, norm_kv, norm1, norm2;
  std::shared_ptr<Attention> attn;
  std::shared_ptr<Mlp> mlp;
};

// Pre-norm cross block, without self-attention (SiamMAE's "cross" decoder ablation):
//   y = y + cross_attn(norm_q(y), norm_kv(memory));  y = y + mlp(norm2(y)).
class CrossBlock : public MemoryBlock {
 public:
  CrossBlock(int64_t dim, int64_t heads, double mlp_ratio = 4.0, bool qkv_bias = true, double eps = 1e-6,
             NormKind norm = NormKind::LayerNorm);
  Tensor forward(const Tensor& y, const Tensor& memory) const override;
  std::shared_ptr<Norm> norm_q, norm_kv, norm2;
  std::shared_ptr<Mlp> mlp;
};

// Image (B, C, H, W) -> patch rows (B, N, C*p*p), each patch flattened in (c, i, j) order:
// the order of a Conv2d weight (D, C, p, p), so a patch embedding is one matrix product.
Tensor patches_channels_first(const Tensor& images, int64_t patch);

// The Conv2d-shaped weight of a patch embedding: proj.weight (D, C, p, p), proj.bias (D).
class PatchProjection : public Module {
 public:
  PatchProjection(int64_t in_chans, int64_t dim, int64_t patch);
  Tensor weight, bias;
};

// Conv2d(C, D, kernel = stride = p) as patchify + matmul: (B, C, H, W) -> (B, N, D).
class PatchEmbed : public Module {
 public:
  PatchEmbed(int64_t patch, int64_t in_chans, int64_t dim);
  Tensor forward(const Tensor& images) const;  // project(patches(images))
  // The images cut into patches, channels first within each: (B, C, H, W) -> (B, N, C*p*p).
  Tensor patches(const Tensor& images) const;
  // The matmul alone, on patches already cut out: (B, n, C*p*p) -> (B, n, D).
  Tensor project(const Tensor& patches) const;
  std::shared_ptr<PatchProjection> proj;
  int64_t patch;
};

// Rows of `tokens` (B, N, C) picked per batch item by `ids` (B, n): (B, n, C).
Tensor take_tokens(const Tensor& tokens, const Tensor& ids);

// MAE's fixed 2-D sin-cos position table for a grid_h x grid_w grid: (grid_h*grid_w, dim),
// with a zero row first when with_cls. For the token at (row i, column j), the first
// dim/2 values encode j and the last dim/2 encode i, each as [sin(pos*w_k), cos(pos*w_k)]
// with w_k = 1 / 10000^(k / (dim/4)).
Tensor sincos_2d_table(int64_t dim, int64_t grid_h, int64_t grid_w, bool with_cls);

// The other arguments of torch.nn.functional.interpolate(mode="bicubic", align_corners=False).
struct BicubicOptions {
  // scale_factor=(scale_h, scale_w): output pixel o samples the input at (o + 0.5) / scale - 0.5
  // rather than at (o + 0.5) * in / out - 0.5; 0 means "from the sizes".
  double scale_h = 0, scale_w = 0;
  // antialias=True: PIL's cubic (a = -0.5), stretched over all the input pixels an output pixel
  // covers when shrinking; taps outside the image are dropped and the weights renormalized.
  bool antialias = false;
};

// Bicubic resize of (C, H, W) to (C, out_h, out_w) as torch.nn.functional.interpolate(mode=
// "bicubic", align_corners=False): half-pixel centres, Keys' cubic with a = -0.75, edge
// pixels repeated. No autograd; float32 or float64 on the CPU.
Tensor resize_bicubic(const Tensor& chw, int64_t out_h, int64_t out_w, const BicubicOptions& options = {});

// MAE's init, by parameter name: xavier_uniform for every weight matrix (a Conv2d patch weight
// (D, C, p, p) seen as the matrix (D, C*p*p)), zero biases, norm weights 1, and any
// parameter named "*token" (cls_token, mask_token) ~ N(0, 0.02).
void init_mae_weights(const Module& module, Generator* gen = nullptr);

// How a ViT resizes its position table to another grid, as each codebase does it:
enum class PositionResize {
  Bicubic,  // interpolate(size=(h, w), mode="bicubic"): MAE's interpolate_pos_embed, and this library
  Dino,     // interpolate(scale_factor=((h + 0.1) / g, (w + 0.1) / g), mode="bicubic"): DINO's
  Timm,     // interpolate(size=(h, w), mode="bicubic", antialias=True): timm's resample_abs_pos_embed
};

struct ViTConfig {
  int64_t image_size = 224, patch_size = 16, in_chans = 3;
  int64_t dim = 384, depth = 12, heads = 6;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double eps = 1e-6;
  NormKind norm = NormKind::LayerNorm;  // of every block and the final norm
  PositionResize position_resize = PositionResize::Bicubic;  // for images of another size
  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
};
// "vit_tiny" (192/12/3), "vit_small" (384/12/6), "vit_base" (768/12/12), each with
// "_patch16" or "_patch8", at 224 px.
ViTConfig vit_preset(const std::string& name);

// ViT encoder with a CLS token and fixed sin-cos positions (MAE's encoder):
// names cls_token, pos_embed (buffer), patch_embed.proj.*, blocks.{i}.*, norm.*.
class VisionTransformer : public Module {
 public:
  // Parameters are initialized with init_mae_weights, drawing from `gen` (the default generator if null).
  explicit VisionTransformer(const ViTConfig& config, Generator* gen = nullptr);
  // Images (B, C, H, W) -> tokens (B, 1 + N, D) after the final norm; CLS first.
  Tensor forward(const Tensor& images) const;
  // Patch tokens with positions added, before CLS and blocks: (B, N, D). With `keep` (B, n)
  // patch ids, only those patches: (B, n, D), the rows of the full result that `keep` names,
  // without projecting the others.
  Tensor embed_patches(const Tensor& images, const Tensor& keep = Tensor()) const;
  // CLS (with its position) prepended to `tokens` (B, n, D), then blocks and norm.
  Tensor forward_tokens(const Tensor& tokens) const;
  // forward_tokens of several token sets (B, n_i, D) at once, each its own sequence: their rows
  // go through every product, norm and MLP together (one GEMM per weight instead of one per
  // set), and attention keeps them apart. Equal to calling forward_tokens on each; faster
  // when a set is small (the few visible patches of a masked frame).
  std::vector<Tensor> forward_token_sets(const std::vector<Tensor>& token_sets) const;
  // Patch features of images of any size (multiples of the patch size): the position table is
  // resized bicubically from the training grid to the images' grid (config.position_resize), as
  // DINO does for evaluation. (B, C, H, W) -> (B, H/p, W/p, D), after the final norm, CLS dropped.
  Tensor patch_features(const Tensor& images) const;
  // The patch rows of the position table for a grid_h x grid_w grid: (1, grid_h*grid_w, D).
  Tensor patch_positions(int64_t grid_h, int64_t grid_w) const;

  ViTConfig config;
  Tensor cls_token, pos_embed;  // (1, 1, D), (1, 1 + N, D)
  std::shared_ptr<PatchEmbed> patch_embed;
  std::shared_ptr<ModuleList<Block>> blocks;
  std::shared_ptr<Norm> norm;
};

}  // namespace sm
