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

Tensor Attention::forward(const Tensor& x) const {
  check_tokens(x, proj->weight.size(0), "input");
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  Tensor qkv_heads = qkv->forward(x).reshape({b, n, 3, heads, c / heads}).permute({2, 0, 3, 1, 4});  // (3, B, H, N, D)
  Tensor q = qkv_heads.narrow(0, 0, 1).squeeze(0), k = qkv_heads.narrow(0, 1, 1).squeeze(0),
         v = qkv_heads.narrow(0, 2, 1).squeeze(0);  // (B, H, N, D) each
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
  const int64_t b = memory.size(0), m = memory.size(1);
  Tensor queries = split_heads(q->forward(x), heads);                                                 // (B, H, N, D)
  Tensor kv_heads = kv->forward(memory).reshape({b, m, 2, heads, c / heads}).permute({2, 0, 3, 1, 4});  // (2, B, H, M, D)
  Tensor keys = kv_heads.narrow(0, 0, 1).squeeze(0), values = kv_heads.narrow(0, 1, 1).squeeze(0);     // (B, H, M, D)
  Tensor out = scaled_dot_product_attention(queries, keys, values, 0, keep_weights ? &last_weights : nullptr);
  return proj->forward(merge_heads(out));
}

}  // namespace sm
