// Multi-head attention layers (timm / MAE names).
//
// Attention (self): one packed projection qkv (dim -> 3 dim), heads attend within x, proj.
// CrossAttention: queries from x (q: dim -> dim), keys and values from a memory sequence
// (kv: dim -> 2 dim), proj. Both hand the packed projections to multi_head_attention, one op
// with its own fused kernels and backward rule, which reads the heads as strided views and
// writes one gradient per packed projection. With keep_weights (attention maps for pictures)
// they call scaled_dot_product_attention's plain composition, which keeps the weights.
#pragma once

#include "nn/layers.h"

namespace sm {

// (B, N, H * D) -> (B, H, N, D)
Tensor split_heads(const Tensor& x, int64_t heads);
// (B, H, N, D) -> (B, N, H * D)
Tensor merge_heads(const Tensor& x);

class Attention : public Module {
 public:
  Attention(int64_t dim, int64_t heads, bool qkv_bias = true);
  // (B, N, C) -> (B, N, C). With segments (token counts summing to N), the tokens of each
  // segment attend only among themselves (multi_head_attention).
  Tensor forward(const Tensor& x, const std::vector<int64_t>& segments = {}) const;
  std::shared_ptr<Linear> qkv, proj;
  int64_t heads;
  // When true, forward keeps its attention weights (B, H, N, N) in last_weights, for pictures.
  bool keep_weights = false;
  mutable Tensor last_weights;
};

class CrossAttention : public Module {
 public:
  CrossAttention(int64_t dim, int64_t heads, bool qkv_bias = true);
  // x (B, N, C) attends to memory (B, M, C) -> (B, N, C)
  Tensor forward(const Tensor& x, const Tensor& memory) const;
  std::shared_ptr<Linear> q, kv, proj;
  int64_t heads;
  bool keep_weights = false;
  mutable Tensor last_weights;  // (B, H, N, M)
};

}  // namespace sm
