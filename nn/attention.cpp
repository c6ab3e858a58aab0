#include "nn/attention.h"

namespace sm {

Tensor split_heads(const Tensor& x, int64_t heads) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  check(c % heads == 0, "attention", "width ", c, " is not divisible by ", heads, " heads");
  return x.reshape({b, n, heads, c / heads}).permute({0, 2, 1, 3});  // (B, H, N, D)
}

Tensor merge_heads(const Tensor& x) {
  const int64_t b = x.size(0), h = x.size(1), n = x.size(2), d = x.size(3);
  return x.permute({0, 2, 1, 3}).reshape({b, n, h * d});  // (B, N, C)
}

static void check_tokens(const Tensor& x, int64_t dim, const char* what) {
  check(x.dim() == 3 && x.size(2) == dim, "attention", what, " must be (B, N, ", dim, "), got ", fmt(x.shape()));
}

Attention::Attention(int64_t dim, int64_t heads, bool qkv_bias) : heads(heads) {
  check(heads > 0 && dim % heads == 0, "Attention", "width ", dim, " is not divisible by ", heads, " heads");
  qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, qkv_bias));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim));
}

// Heads of part `part` of a packed projection (B, N, parts * C), for the attention maps of
// pictures (keep_weights): the plain composition, which keeps the weights.
static Tensor part_heads(const Tensor& packed, int64_t part, int64_t c, int64_t heads) {
  return split_heads(packed.narrow(2, part * c, c), heads);
}

Tensor Attention::forward(const Tensor& x, const std::vector<int64_t>& segments) const {
  check_tokens(x, proj->weight.size(0), "input");
  const int64_t c = x.size(2);
  Tensor projected = qkv->forward(x);  // (B, N, 3C): q, k and v from one product
  if (!keep_weights) return proj->forward(multi_head_attention(projected, heads, segments));
  check(segments.empty(), "Attention", "keep_weights keeps the maps of one sequence, got segments ",
        shape_str(segments));
  Tensor out = scaled_dot_product_attention(part_heads(projected, 0, c, heads), part_heads(projected, 1, c, heads),
                                            part_heads(projected, 2, c, heads), 0, &last_weights);  // (B, H, N, D)
  return proj->forward(merge_heads(out));
}

CrossAttention::CrossAttention(int64_t dim, int64_t heads, bool qkv_bias) : heads(heads) {
  check(heads > 0 && dim % heads == 0, "CrossAttention", "width ", dim, " is not divisible by ", heads, " heads");
  q = register_module("q", std::make_shared<Linear>(dim, dim, qkv_bias));
  kv = register_module("kv", std::make_shared<Linear>(dim, 2 * dim, qkv_bias));
  proj = register_module("proj", std::make_shared<Linear>(dim, dim));
}

Tensor CrossAttention::forward(const Tensor& x, const Tensor& memory) const {
  const int64_t c = proj->weight.size(0);
  check_tokens(x, c, "queries");
  check_tokens(memory, c, "memory");
  check(memory.size(0) == x.size(0), "CrossAttention", "batch of queries ", fmt(x.shape()), " and memory ",
        fmt(memory.shape()), " differ");
  Tensor queries = q->forward(x);          // (B, N, C)
  Tensor keys_values = kv->forward(memory);  // (B, M, 2C): k and v from one product
  if (!keep_weights) return proj->forward(multi_head_attention(queries, keys_values, heads));
  Tensor out = scaled_dot_product_attention(split_heads(queries, heads), part_heads(keys_values, 0, c, heads),
                                            part_heads(keys_values, 1, c, heads), 0, &last_weights);
  return proj->forward(merge_heads(out));
}

}  // namespace sm
