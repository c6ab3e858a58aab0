#include "nn/transformer.h"

#include <algorithm>
#include <cmath>

#include "nn/init.h"
#include "tensor/antialiased_taps.h"

namespace sm {

std::shared_ptr<Norm> make_norm(NormKind kind, int64_t dim, double eps) {
  if (kind == NormKind::RMSNorm) return std::make_shared<RMSNorm>(dim, eps);
  return std::make_shared<LayerNorm>(dim, eps);
}

Block::Block(int64_t dim, int64_t heads, double mlp_ratio, bool qkv_bias, double eps, NormKind norm) {
  norm1 = register_module("norm1", make_norm(norm, dim, eps));
  attn = register_module("attn", std::make_shared<Attention>(dim, heads, qkv_bias));
  norm2 = register_module("norm2", make_norm(norm, dim, eps));
  mlp = register_module("mlp", std::make_shared<Mlp>(dim, static_cast<int64_t>(dim * mlp_ratio)));
}

Tensor Block::forward(const Tensor& x, const std::vector<int64_t>& segments) const {
  Tensor h = x + attn->forward(norm1->forward(x), segments);  // (B, N, C)
  return h + mlp->forward(norm2->forward(h));
}

CrossSelfBlock::CrossSelfBlock(int64_t dim, int64_t heads, double mlp_ratio, bool qkv_bias, double eps,
                               NormKind norm) {
  norm_q = register_module("norm_q", make_norm(norm, dim, eps));
  norm_kv = register_module("norm_kv", make_norm(norm, dim, eps));
  cross_attn = register_module("cross_attn", std::make_shared<CrossAttention>(dim, heads, qkv_bias));
  norm1 = register_module("norm1", make_norm(norm, dim, eps));
  attn = register_module("attn", std::make_shared<Attention>(dim, heads, qkv_bias));
  norm2 = register_module("norm2", make_norm(norm, dim, eps));
  mlp = register_module("mlp", std::make_shared<Mlp>(dim, static_cast<int64_t>(dim * mlp_ratio)));
}

Tensor CrossSelfBlock::forward(const Tensor& y, const Tensor& memory) const {
  Tensor h = y + cross_attn->forward(norm_q->forward(y), norm_kv->forward(memory));  // (B, N, C)
  h = h + attn->forward(norm1->forward(h));
  return h + mlp->forward(norm2->forward(h));
}

CrossBlock::CrossBlock(int64_t dim, int64_t heads, double mlp_ratio, bool qkv_bias, double eps, NormKind norm) {
  norm_q = register_module("norm_q", make_norm(norm, dim, eps));
  norm_kv = register_module("norm_kv", make_norm(norm, dim, eps));
  cross_attn = register_module("cross_attn", std::make_shared<CrossAttention>(dim, heads, qkv_bias));
  norm2 = register_module("norm2", make_norm(norm, dim, eps));
  mlp = register_module("mlp", std::make_shared<Mlp>(dim, static_cast<int64_t>(dim * mlp_ratio)));
}

Tensor CrossBlock::forward(const Tensor& y, const Tensor& memory) const {
  Tensor h = y + cross_attn->forward(norm_q->forward(y), norm_kv->forward(memory));  // (B, N, C)
  return h + mlp->forward(norm2->forward(h));
}

Tensor patches_channels_first(const Tensor& images, int64_t patch) {
  check(images.dim() == 4 && images.size(2) % patch == 0 && images.size(3) % patch == 0, "patchify", "images ",
        fmt(images.shape()), " must be (B, C, H, W) with H and W multiples of the patch size ", patch);
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2) / patch, w = images.size(3) / patch;
  return images.reshape({b, c, h, patch, w, patch})
      .permute({0, 2, 4, 1, 3, 5})                 // (B, h, w, C, p, p)
      .reshape({b, h * w, c * patch * patch});     // (B, N, C*p*p)
}

PatchProjection::PatchProjection(int64_t in_chans, int64_t dim, int64_t patch) {
  weight = register_parameter("weight", zeros({dim, in_chans, patch, patch}));
  bias = register_parameter("bias", zeros({dim}));
  // PyTorch's Conv2d default init: U(±1/sqrt(fan_in)) for both.
  init::kaiming_uniform_linear_(weight);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_chans * patch * patch));
  init::uniform_(bias, -bound, bound);
}

PatchEmbed::PatchEmbed(int64_t patch, int64_t in_chans, int64_t dim) : patch(patch) {
  proj = register_module("proj", std::make_shared<PatchProjection>(in_chans, dim, patch));
}

Tensor PatchEmbed::forward(const Tensor& images) const { return project(patches(images)); }

Tensor PatchEmbed::patches(const Tensor& images) const {
  const Tensor& w = proj->weight;  // (D, C, p, p)
  check(images.dim() == 4 && images.size(1) == w.size(1), "PatchEmbed", "images ", fmt(images.shape()),
        " must be (B, ", w.size(1), ", H, W)");
  return patches_channels_first(images, patch);
}

Tensor PatchEmbed::project(const Tensor& patches) const {
  const Tensor& w = proj->weight;  // (D, C, p, p)
  return matmul(patches, w.reshape({w.size(0), -1}).t()) + proj->bias;
}

Tensor take_tokens(const Tensor& tokens, const Tensor& ids) {
  return gather(tokens, 1, ids.unsqueeze(-1).expand({ids.size(0), ids.size(1), tokens.size(2)}));
}

Tensor sincos_2d_table(int64_t dim, int64_t grid_h, int64_t grid_w, bool with_cls) {
  check(dim % 4 == 0, "sincos_2d_table", "dim ", dim, " must be a multiple of 4");
  const int64_t quarter = dim / 4, rows = grid_h * grid_w + (with_cls ? 1 : 0);
  std::vector<double> table(rows * dim, 0.0);
  for (int64_t i = 0; i < grid_h; ++i)
    for (int64_t j = 0; j < grid_w; ++j) {
      double* row = table.data() + ((with_cls ? 1 : 0) + i * grid_w + j) * dim;
      const double coords[2] = {static_cast<double>(j), static_cast<double>(i)};  // MAE: w first, then h
      for (int half = 0; half < 2; ++half)
        for (int64_t k = 0; k < quarter; ++k) {
          const double omega = 1.0 / std::pow(10000.0, static_cast<double>(k) / quarter);
          row[half * 2 * quarter + k] = std::sin(coords[half] * omega);
          row[half * 2 * quarter + quarter + k] = std::cos(coords[half] * omega);
        }
    }
  return from_vector(table, {rows, dim});
}

ViTConfig vit_preset(const std::string& name) {
  ViTConfig c;
  const std::string size = name.substr(0, name.rfind('_'));
  const std::string patch = name.substr(name.rfind('_') + 1);
  if (size == "vit_tiny") {
    c.dim = 192, c.heads = 3;
  } else if (size == "vit_small") {
    c.dim = 384, c.heads = 6;
  } else if (size == "vit_base") {
    c.dim = 768, c.heads = 12;
  } else {
    fail("vit_preset", "unknown preset '", name, "' (vit_tiny|vit_small|vit_base + _patch16|_patch8)");
  }
  check(patch == "patch16" || patch == "patch8", "vit_preset", "unknown preset '", name,
        "' (vit_tiny|vit_small|vit_base + _patch16|_patch8)");
  c.patch_size = patch == "patch16" ? 16 : 8;
  return c;
}

VisionTransformer::VisionTransformer(const ViTConfig& config, Generator* gen) : config(config) {
  check(config.image_size % config.patch_size == 0, "VisionTransformer", "image size ", config.image_size,
        " is not a multiple of the patch size ", config.patch_size);
  const int64_t d = config.dim;
  cls_token = register_parameter("cls_token", zeros({1, 1, d}));
  pos_embed = register_buffer("pos_embed",
                              sincos_2d_table(d, config.grid(), config.grid(), true).reshape({1, -1, d}));
  patch_embed = register_module("patch_embed", std::make_shared<PatchEmbed>(config.patch_size, config.in_chans, d));
  blocks = register_module("blocks", std::make_shared<ModuleList<Block>>());
  for (int64_t i = 0; i < config.depth; ++i)
    blocks->push_back(
        std::make_shared<Block>(d, config.heads, config.mlp_ratio, config.qkv_bias, config.eps, config.norm));
  norm = register_module("norm", make_norm(config.norm, d, config.eps));
  init_mae_weights(*this, gen);
}

Tensor VisionTransformer::embed_patches(const Tensor& images, const Tensor& keep) const {
  Tensor patches = patch_embed->patches(images);  // (B, N, C*p*p)
  check(patches.size(1) == config.num_patches(), "VisionTransformer", "images ", fmt(images.shape()), " give ",
        patches.size(1), " patches, the position table has ", config.num_patches());
  Tensor positions = pos_embed.narrow(1, 1, config.num_patches());  // (1, N, D)
  if (keep.defined()) {
    // Each patch is projected on its own, so only the kept ones need to be.
    patches = take_tokens(patches, keep);  // (B, n, C*p*p)
    positions = take_tokens(positions.expand({keep.size(0), positions.size(1), positions.size(2)}), keep);
  }
  return patch_embed->project(patches) + positions;  // (B, N or n, D)
}

Tensor VisionTransformer::forward_tokens(const Tensor& tokens) const { return forward_token_sets({tokens})[0]; }

std::vector<Tensor> VisionTransformer::forward_token_sets(const std::vector<Tensor>& token_sets) const {
  check(!token_sets.empty(), "VisionTransformer", "forward_token_sets needs at least one token set");
  const int64_t b = token_sets[0].size(0);
  Tensor cls = (cls_token + pos_embed.narrow(1, 0, 1)).expand({b, 1, config.dim});  // (B, 1, D)
  std::vector<Tensor> sequences;  // CLS, set 0, CLS, set 1, ...
  std::vector<int64_t> segments;
  for (const Tensor& tokens : token_sets) {
    check(tokens.dim() == 3 && tokens.size(0) == b && tokens.size(2) == config.dim, "VisionTransformer",
          "token sets must be (", b, ", n, ", config.dim, "), got ", fmt(tokens.shape()));
    sequences.push_back(cls);
    sequences.push_back(tokens);
    segments.push_back(1 + tokens.size(1));
  }
  Tensor x = cat(sequences, 1);  // (B, sum(1 + n_i), D)
  if (segments.size() == 1) segments.clear();  // one sequence: every token attends to every other
  for (const auto& block : *blocks) x = block->forward(x, segments);
  x = norm->forward(x);
  if (token_sets.size() == 1) return {x};
  std::vector<Tensor> outputs;  // (B, 1 + n_i, D) each
  int64_t first = 0;
  for (const Tensor& tokens : token_sets) {
    outputs.push_back(x.narrow(1, first, 1 + tokens.size(1)));
    first += 1 + tokens.size(1);
  }
  return outputs;
}

Tensor VisionTransformer::forward(const Tensor& images) const { return forward_tokens(embed_patches(images)); }

Tensor VisionTransformer::patch_positions(int64_t grid_h, int64_t grid_w) const {
  Tensor table = pos_embed.narrow(1, 1, config.num_patches());  // (1, g*g, D)
  if (grid_h == config.grid() && grid_w == config.grid()) return table;
  const int64_t g = config.grid(), d = config.dim;
  BicubicOptions resize;
  if (config.position_resize == PositionResize::Dino) {
    // DINO adds 0.1 to the target grid "to avoid floating point error" and passes scale factors.
    resize.scale_h = (static_cast<double>(grid_h) + 0.1) / static_cast<double>(g);
    resize.scale_w = (static_cast<double>(grid_w) + 0.1) / static_cast<double>(g);
  }
  resize.antialias = config.position_resize == PositionResize::Timm;
  Tensor grid = table.reshape({g, g, d}).permute({2, 0, 1}).to(Device::CPU);          // (D, g, g)
  Tensor resized = resize_bicubic(grid.contiguous(), grid_h, grid_w, resize);          // (D, h, w)
  return resized.permute({1, 2, 0}).reshape({1, grid_h * grid_w, d}).to(pos_embed.device());
}

Tensor VisionTransformer::patch_features(const Tensor& images) const {
  const int64_t p = config.patch_size;
  check(images.dim() == 4 && images.size(2) % p == 0 && images.size(3) % p == 0, "VisionTransformer", "images ",
        fmt(images.shape()), " must be (B, C, H, W) with H and W multiples of the patch size ", p);
  const int64_t b = images.size(0), h = images.size(2) / p, w = images.size(3) / p;
  Tensor tokens = patch_embed->forward(images) + patch_positions(h, w);  // (B, h*w, D)
  Tensor out = forward_tokens(tokens);                                   // (B, 1 + h*w, D)
  return out.narrow(1, 1, h * w).reshape({b, h, w, config.dim});
}

namespace {

// Keys' cubic convolution kernel with parameter a (PyTorch: -0.75; PIL and antialiasing: -0.5).
double cubic_weight(double x, double a) {
  x = std::abs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

// The input pixels one output pixel reads along an axis, with their weights.
struct Taps {
  std::vector<int64_t> index;
  std::vector<double> weight;
};

// Each output pixel's taps along an axis of in_size -> out_size pixels. `scale` is the
// interpolate scale_factor, 0 when it follows from the sizes.
std::vector<Taps> bicubic_taps(int64_t out_size, int64_t in_size, double scale, bool antialias) {
  const double step = scale > 0 ? 1.0 / scale : static_cast<double>(in_size) / static_cast<double>(out_size);
  std::vector<Taps> taps(out_size);
  if (antialias) {  // PIL's filter, widened when shrinking to cover every input pixel
    const auto cubic = [](double x) { return cubic_weight(x, -0.5); };
    const std::vector<AntialiasedTaps> wide = antialiased_taps(in_size, out_size, step, 2.0, cubic);
    for (int64_t o = 0; o < out_size; ++o) {
      for (size_t k = 0; k < wide[o].weights.size(); ++k) taps[o].index.push_back(wide[o].first + static_cast<int64_t>(k));
      taps[o].weight = wide[o].weights;
    }
    return taps;
  }
  for (int64_t o = 0; o < out_size; ++o) {  // four taps around the source position, clamped to the edge
    const double source = (static_cast<double>(o) + 0.5) * step - 0.5;
    const double base = std::floor(source), frac = source - base;
    for (int k = 0; k < 4; ++k) {
      taps[o].index.push_back(std::clamp<int64_t>(static_cast<int64_t>(base) - 1 + k, 0, in_size - 1));
      taps[o].weight.push_back(cubic_weight(frac - static_cast<double>(k - 1), -0.75));
    }
  }
  return taps;
}

}  // namespace

Tensor resize_bicubic(const Tensor& chw, int64_t out_h, int64_t out_w, const BicubicOptions& options) {
  check(chw.dim() == 3 && out_h > 0 && out_w > 0, "resize_bicubic", "needs (C, H, W) and a positive size, got ",
        fmt(chw.shape()), " to ", out_h, "x", out_w);
  check(options.scale_h >= 0 && options.scale_w >= 0, "resize_bicubic", "scale factors must not be negative, got ",
        options.scale_h, " and ", options.scale_w);
  const int64_t c = chw.size(0), in_h = chw.size(1), in_w = chw.size(2);
  const std::vector<Taps> rows = bicubic_taps(out_h, in_h, options.scale_h, options.antialias);
  const std::vector<Taps> cols = bicubic_taps(out_w, in_w, options.scale_w, options.antialias);
  const std::vector<double> in = chw.to(Device::CPU).to_vector<double>();
  std::vector<double> out(c * out_h * out_w);
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < out_w; ++x) {
        const Taps &row = rows[y], &col = cols[x];
        double sum = 0;
        for (size_t i = 0; i < row.index.size(); ++i)
          for (size_t j = 0; j < col.index.size(); ++j)
            sum += row.weight[i] * col.weight[j] * in[(ch * in_h + row.index[i]) * in_w + col.index[j]];
        out[(ch * out_h + y) * out_w + x] = sum;
      }
  return from_vector(out, {c, out_h, out_w}, {.dtype = chw.dtype()});
}

void init_mae_weights(const Module& module, Generator* gen) {
  NoGradGuard no_grad;  // reshaped views of parameters must not join a graph
  for (const auto& [name, p] : module.named_parameters()) {
    if (name.ends_with("token")) {
      init::normal_(p, 0, 0.02, gen);
    } else if (name.ends_with("bias")) {
      init::zeros_(p);
    } else if (p.dim() == 1) {  // LayerNorm and RMSNorm weights
      init::ones_(p);
    } else {
      init::xavier_uniform_(p.reshape({p.size(0), -1}), 1.0, gen);
    }
  }
}

}  // namespace sm
