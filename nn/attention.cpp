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

// Rows [part * C, (part + 1) * C) of a packed projection (qkv: 3 parts, kv: 2) applied to x:
// one product per part rather than slicing one (B, N, parts * C) product, because the
// gradient of a slice of activations is a zero-padded full-size copy, while the gradient of
// a slice of the weights is small. The parameters keep their packed MAE names and layouts.
static Tensor project_part(const Linear& packed, const Tensor& x, int64_t part, int64_t c) {
  return linear(x, packed.weight.narrow(0, part * c, c), packed.bias.defined() ? packed.bias.narrow(0, part * c, c) : Tensor());
}

Tensor Attention::forward(const Tensor& x) const {
  check_tokens(x, proj->weight.size(0), "input");
  const int64_t c = x.size(2);
  Tensor q = split_heads(project_part(*qkv, x, 0, c), heads);  // (B, H, N, D) each
  Tensor k = split_heads(project_part(*qkv, x, 1, c), heads);
  Tensor v = split_heads(project_part(*qkv, x, 2, c), heads);
  Tensor out = scaled_dot_product_attention(q, k, v, 0, keep_weights ? &last_weights : nullptr);  // (B, H, N, D)
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
  Tensor queries = split_heads(q->forward(x), heads);                  // (B, H, N, D)
  Tensor keys = split_heads(project_part(*kv, memory, 0, c), heads);    // (B, H, M, D)
  Tensor values = split_heads(project_part(*kv, memory, 1, c), heads);  // (B, H, M, D)
  Tensor out = scaled_dot_product_attention(queries, keys, values, 0, keep_weights ? &last_weights : nullptr);
  return proj->forward(merge_heads(out));
}

}  // namespace sm
