// The differentiable ops: what users call. Each op checks its arguments (errors name the op
// and the shapes), runs the kernel of the tensors' device (tensor/backend.h), and, when grad
// mode is on and an input requires grad, records its backward rule (autograd/node.h).
//
// Semantics and names follow PyTorch. Broadcasting follows NumPy rules. Comparison ops
// return 0/1 in the input's dtype (there is no bool dtype). Backends: every op below runs
// on the CPU; see tensor/cuda for the CUDA kernels.
#pragma once

#include <vector>

#include "autograd/node.h"
#include "tensor/tensor.h"

namespace sm {

// ---- views: share storage, change shape/strides only ----
Tensor reshape(const Tensor& x, Shape shape);  // one -1 allowed; copies only if no view exists
Tensor view(const Tensor& x, Shape shape);     // like reshape but throws instead of copying
Tensor permute(const Tensor& x, const Shape& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);  // start may be negative
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a dim; size-1 dims broadcast
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);  // no-op when that dim is not 1 (as in PyTorch)
Tensor squeeze(const Tensor& x);               // drops every size-1 dim
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);

// ---- copies ----
Tensor contiguous(const Tensor& x);  // x itself when already contiguous
Tensor clone(const Tensor& x);
Tensor to_dtype(const Tensor& x, DType dtype);
Tensor to_device(const Tensor& x, Device device);

// ---- elementwise, unary ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);       // exact: x * Phi(x), with the erf (PyTorch's default)
Tensor gelu_tanh(const Tensor& x);  // the tanh approximation (approximate='tanh')
Tensor pow(const Tensor& x, double exponent);
Tensor clamp(const Tensor& x, double min, double max);

// ---- elementwise, binary, broadcasting ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);  // condition != 0 ? a : b
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
// A double operand becomes a 0-d tensor of the other operand's dtype and device.
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// ---- reductions: dims may be negative; {} means every dim ----
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
// Variance; unbiased divides by n - 1 (Bessel), else by n.
Tensor var(const Tensor& x, const Shape& dims, bool unbiased = true, bool keepdim = false);
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);  // values; the gradient goes to argmax
Tensor min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int64
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);  // int64
// Sums `x` down to `shape`, undoing a broadcast: the rule every broadcasting op's backward uses.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra and fused ops ----
// (..., M, K) @ (..., K, N) -> (..., M, N) with broadcast batch dims; 1-D operands as in
// PyTorch. Transposed operands are multiplied without a copy.
Tensor matmul(const Tensor& a, const Tensor& b);
// x W^T + b for x (..., in), weight (out, in), bias (out) or undefined:
// torch.nn.functional.linear. The bias is written first and the product added to it, so the
// bias costs no pass of its own (and its gradient is a sum over rows, read in place).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Normalizes over the trailing dims `normalized_shape`; weight and bias (that shape) may be
// undefined. Biased variance, like torch.nn.functional.layer_norm.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps = 1e-5);
// RMSNorm over the trailing dims `normalized_shape`: x / sqrt(mean(x^2) + eps) * weight, with
// weight (that shape) or undefined; like torch.nn.functional.rms_norm (whose default eps is
// the dtype's machine epsilon: pass it to match). One fused kernel forward and backward
// (docs/adding-a-layer.md); nn/rms_norm.h has the same layer built from the ops above.
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, double eps = 1e-6);
// softmax(q k^T * scale) v: q (..., N, D), k (..., M, D), v (..., M, Dv) -> (..., N, Dv), with
// one backward rule for the whole product (it keeps the attention weights, (..., N, M)).
// scale 0 means 1/sqrt(D). When `weights_out` is given it receives the attention weights.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale = 0,
                                    Tensor* weights_out = nullptr);
// The same attention over `heads` heads, read straight from packed projections as attention
// layers make them: self-attention from qkv (B, N, 3 C) -> (B, N, C), or cross-attention from
// q (B, N, C) and kv (B, M, 2 C) -> (B, N, C); C = heads * D, scale 1/sqrt(D). Nothing is
// copied going in, and each packed input gets one gradient: slicing q, k and v out of qkv
// instead would give each slice a zero-padded full-size gradient, to be summed.
// With `segments` (token counts that sum to N), the tokens of each segment attend only among
// themselves: several sequences of different lengths in one qkv, as when a siamese encoder
// runs two frames' tokens through each product together.
Tensor multi_head_attention(const Tensor& qkv, int64_t heads, const std::vector<int64_t>& segments = {});
Tensor multi_head_attention(const Tensor& q, const Tensor& kv, int64_t heads);

// ---- joining and indexing ----
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);  // views; the last may be shorter
// out[i][j] = x[index[i][j]][j] for dim 0 (and likewise for other dims); index int64, same rank.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// The entries of x at positions `index` (1-D int64) along dim.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// A copy of self with src added at index positions along dim: out[index[i][j]][j] += src[i][j].
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);  // stable, int64

// ---- in place, outside the graph: optimizer updates, loading weights ----
// They refuse to change a tensor that requires grad while grad mode is on (it may be
// saved in a graph); wrap the update in a NoGradGuard.
void copy_(const Tensor& dst, const Tensor& src);  // dst[...] = src broadcast to dst, dtype converted
void fill_(const Tensor& dst, double value);
void add_(const Tensor& dst, const Tensor& src);  // dst[...] += src broadcast to dst; same dtype

}  // namespace sm
