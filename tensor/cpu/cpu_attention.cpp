// Fused attention on the CPU: softmax(q k^T * scale) v, forward and backward, computed in
// tiles so that no (N, M) matrix of weights is ever held whole (FlashAttention-2's algorithm).
//
// Forward, for one head and a tile of query rows Q_i:
//   for each tile of keys K_j, values V_j:
//     S = Q_i K_j^T * scale                     (rows x cols), one small GEMM
//     m_new = max(m, rowmax S);  P = exp(S - m_new)
//     l = l * exp(m - m_new) + rowsum P;  O_i = O_i * exp(m - m_new) + P V_j;  m = m_new
//   O_i /= l;  lse_i = m + log l                (kept for the backward)
// Backward, for one head, with D_i = rowsum(dO_i * O_i):
//   for each tile pair (i, j):  P = exp(Q_i K_j^T * scale - lse_i)
//     dV_j += P^T dO_i;  dP = dO_i V_j^T;  dS = P * (dP - D_i)
//     dQ_i += dS K_j * scale;  dK_j += dS^T Q_i * scale
// Tiles are a few hundred KB, so they stay in cache; heads (and query tiles in the forward)
// run in parallel. The memory the op needs grows with N + M, not N x M: at 480p (6,360 tokens
// a frame) one head's weights would be 160 MB.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/cpu_math.h"
#include "tensor/parallel.h"

namespace sm::cpu {

namespace {

constexpr int64_t kQueryTile = 64;   // query rows per tile
constexpr int64_t kKeyTile = 512;    // keys per tile

// One head's operand: element (row, col) at data[row * row_stride + col].
template <typename T> struct Rows {
  T* data;
  int64_t row_stride;
  T* row(int64_t r) const { return data + r * row_stride; }
  MatrixLayout layout() const { return {true, row_stride}; }
  // The same rows read as the transpose (a column-major matrix).
  MatrixLayout transposed() const { return {false, row_stride}; }
};

// Head (b, h) of a (B, H, rows, cols) view whose last dim is contiguous.
template <typename T> Rows<T> head(const Tensor& t, int64_t b, int64_t h) {
  const Shape& s = t.strides();
  return {static_cast<T*>(t.raw_data()) + b * s[0] + h * s[1], s[2]};
}

// Scratch space of one thread, reused across tiles and calls.
template <typename T> std::vector<T>& scratch(size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer;
}

template <typename T>
void forward_tile(Rows<const T> q, Rows<const T> k, Rows<const T> v, Rows<T> out, T* lse, int64_t first, int64_t rows,
                  int64_t m, int64_t d, int64_t dv, T scale) {
  const int64_t cols_max = std::min(kKeyTile, m);
  std::vector<T>& buffer = scratch<T>(rows * cols_max + 2 * rows);
  T* s = buffer.data();           // (rows, cols) scores, then probabilities
  T* row_max = s + rows * cols_max;
  T* row_sum = row_max + rows;
  std::fill(row_max, row_max + rows, -std::numeric_limits<T>::infinity());
  std::fill(row_sum, row_sum + rows, T(0));
  for (int64_t r = 0; r < rows; ++r) std::fill(out.row(first + r), out.row(first + r) + dv, T(0));
  for (int64_t key = 0; key < m; key += kKeyTile) {
    const int64_t cols = std::min(kKeyTile, m - key);
    // S = Q_i K_j^T (scaled below, with the exponent).
    gemm<T>(q.row(first), q.layout(), k.row(key), k.transposed(), s, rows, d, cols, cols, T(0));
    for (int64_t r = 0; r < rows; ++r) {
      T* sr = s + r * cols;
      T tile_max = -std::numeric_limits<T>::infinity();
      for (int64_t c = 0; c < cols; ++c) tile_max = std::max(tile_max, sr[c] * scale);
      const T new_max = std::max(row_max[r], tile_max);
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < cols; ++c) {
        sr[c] = exp_of(sr[c] * scale - new_max);
        sum += sr[c];
      }
      // Rescale what earlier tiles accumulated to the new maximum (exp(-inf) = 0 at the start).
      const T correction = exp_of(row_max[r] - new_max);
      row_sum[r] = row_sum[r] * correction + sum;
      row_max[r] = new_max;
      if (key > 0) {
        T* o = out.row(first + r);
        for (int64_t c = 0; c < dv; ++c) o[c] *= correction;
      }
    }
    // O_i += P V_j
    gemm<T>(s, {true, cols}, v.row(key), v.layout(), out.row(first), rows, cols, dv, out.row_stride, T(1));
  }
  for (int64_t r = 0; r < rows; ++r) {
    T* o = out.row(first + r);
    const T inv = T(1) / row_sum[r];
    for (int64_t c = 0; c < dv; ++c) o[c] *= inv;
    lse[first + r] = row_max[r] + std::log(row_sum[r]);
  }
}

template <typename T>
void backward_head(Rows<const T> q, Rows<const T> k, Rows<const T> v, Rows<const T> out, Rows<const T> gout,
                   const T* lse, Rows<T> gq, Rows<T> gk, Rows<T> gv, int64_t n, int64_t m, int64_t d, int64_t dv,
                   T scale) {
  const int64_t rows_max = std::min(kQueryTile, n), cols_max = std::min(kKeyTile, m);
  std::vector<T>& buffer = scratch<T>(2 * rows_max * cols_max + n);
  T* p = buffer.data();                  // (rows, cols) probabilities
  T* ds = p + rows_max * cols_max;       // (rows, cols) dP, then dS
  T* delta = ds + rows_max * cols_max;   // (n) rowsum(dO * O)
  for (int64_t r = 0; r < n; ++r) {
    const T* o = out.row(r);
    const T* go = gout.row(r);
    T dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < dv; ++c) dot += o[c] * go[c];
    delta[r] = dot;
    std::fill(gq.row(r), gq.row(r) + d, T(0));
  }
  for (int64_t r = 0; r < m; ++r) {
    std::fill(gk.row(r), gk.row(r) + d, T(0));
    std::fill(gv.row(r), gv.row(r) + dv, T(0));
  }
  for (int64_t key = 0; key < m; key += kKeyTile) {
    const int64_t cols = std::min(kKeyTile, m - key);
    for (int64_t first = 0; first < n; first += kQueryTile) {
      const int64_t rows = std::min(kQueryTile, n - first);
      // P = exp(Q_i K_j^T * scale - lse_i): the forward's weights, recomputed.
      gemm<T>(q.row(first), q.layout(), k.row(key), k.transposed(), p, rows, d, cols, cols, T(0));
      for (int64_t r = 0; r < rows; ++r) {
        T* pr = p + r * cols;
        const T shift = lse[first + r];
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) pr[c] = exp_of(pr[c] * scale - shift);
      }
      // dV_j += P^T dO_i
      gemm<T>(p, {false, cols}, gout.row(first), gout.layout(), gv.row(key), cols, rows, dv, gv.row_stride, T(1));
      // dP = dO_i V_j^T, then dS = P * (dP - D_i) * scale (the scale of both gradients below)
      gemm<T>(gout.row(first), gout.layout(), v.row(key), v.transposed(), ds, rows, dv, cols, cols, T(0));
      for (int64_t r = 0; r < rows; ++r) {
        T* dr = ds + r * cols;
        const T* pr = p + r * cols;
        const T dl = delta[first + r];
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) dr[c] = pr[c] * (dr[c] - dl) * scale;
      }
      // dQ_i += dS K_j;  dK_j += dS^T Q_i
      gemm<T>(ds, {true, cols}, k.row(key), k.layout(), gq.row(first), rows, cols, d, gq.row_stride, T(1));
      gemm<T>(ds, {false, cols}, q.row(first), q.layout(), gk.row(key), cols, rows, d, gk.row_stride, T(1));
    }
  }
}

}  // namespace

void CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out,
                           const Tensor& lse) {
  const int64_t batch = q.size(0), heads = q.size(1), n = q.size(2), d = q.size(3), m = k.size(2), dv = v.size(3);
  const int64_t tiles = (n + kQueryTile - 1) / kQueryTile;
  dispatch_floating(q.dtype(), "attention", [&](auto t) {
    using T = decltype(t);
    T* plse = static_cast<T*>(lse.raw_data());
    // Every (batch, head, query tile) is independent: it writes its own rows of out and lse.
    parallel_for(batch * heads * tiles, batch * heads * n * m * (d + dv), [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t bh = task / tiles, first = task % tiles * kQueryTile, b = bh / heads, h = bh % heads;
        forward_tile<T>(head<const T>(q, b, h), head<const T>(k, b, h), head<const T>(v, b, h), head<T>(out, b, h),
                        plse + bh * n, first, std::min(kQueryTile, n - first), m, d, dv, static_cast<T>(scale));
      }
    });
  });
}

void CpuBackend::attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, const Tensor& gout, double scale, const Tensor& gq,
                                    const Tensor& gk, const Tensor& gv) {
  const int64_t batch = q.size(0), heads = q.size(1), n = q.size(2), d = q.size(3), m = k.size(2), dv = v.size(3);
  dispatch_floating(q.dtype(), "attention_backward", [&](auto t) {
    using T = decltype(t);
    const T* plse = static_cast<const T*>(lse.raw_data());
    // One task per head: a head's dK and dV gather from all its query tiles.
    parallel_for(batch * heads, batch * heads * n * m * (2 * d + 2 * dv), [&](int64_t begin, int64_t end) {
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / heads, h = bh % heads;
        backward_head<T>(head<const T>(q, b, h), head<const T>(k, b, h), head<const T>(v, b, h),
                         head<const T>(out, b, h), head<const T>(gout, b, h), plse + bh * n, head<T>(gq, b, h),
                         head<T>(gk, b, h), head<T>(gv, b, h), n, m, d, dv, static_cast<T>(scale));
      }
    });
  });
}

}  // namespace sm::cpu
