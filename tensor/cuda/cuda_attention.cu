// Fused attention on the GPU: softmax(q k^T * scale) v, forward and backward, without ever
// holding the (N, M) matrix of weights (FlashAttention's algorithm, on the CUDA cores).
//
// Forward: one thread per query row, a block per 64 rows of one head. The block walks the
// head's keys in tiles of kTile rows staged in shared memory (all threads read the same key
// at once: a broadcast, no bank conflicts). Each thread keeps its running maximum m, sum l and
// output accumulator, and for each group of kGroup keys (their scores in registers):
//   s_j = q . k_j * scale
//   m' = max(m, max_j s_j);  l = l e^(m - m') + sum_j e^(s_j - m');  acc = acc e^(m - m') + sum_j e^(s_j - m') v_j
// then out = acc / l and lse = m + log l. Exponentials are base 2, with log2(e) folded into
// the scale (exp2 is one instruction).
//
// Registers hold kChunk head dims at a time: scores sum over chunks of q (read again from
// L1), and outputs wider than a chunk take one pass per chunk of columns (recomputing the
// scores), so any head size up to kMaxHeadDim works; the presets' 32 and 64 take one pass.
//
// Backward, with the weights recomputed from lse (p_ij = e^(s_ij - lse_i), no running max)
// and delta_i = gout_i . out_i:
//   dQ kernel, one thread per query row:  dq_i = scale sum_j p_ij (gout_i . v_j - delta_i) k_j
//   dK/dV kernel, one thread per key row:  dv_j = sum_i p_ij gout_i
//                                          dk_j = scale sum_i p_ij (gout_i . v_j - delta_i) q_i
// Each thread owns the rows it writes: no atomics, and the sums run in a fixed order.
//
// Operands are (B, H, rows, dims) views with a contiguous last dim and any other strides;
// lse is (B, H, N), contiguous. Inputs may be bfloat16 (mixed precision); everything
// accumulates in float (double for double inputs), and bfloat16 inputs give float32 outputs,
// lse and gradients.
#include <cmath>

#include "tensor/cuda/cuda_common.cuh"

namespace sm::cuda {

namespace {

constexpr int kRowsPerBlock = 64;              // query (or key) rows per block, one per thread
constexpr int kTile = 32;                      // rows (keys, or queries) per shared-memory tile
constexpr int kGroup = 8;                      // rows of a tile whose scores sit in registers at once
constexpr int64_t kMaxHeadDim = 128;           // the widest heads the kernels take
constexpr std::size_t kMaxShared = 48 * 1024;  // shared memory a block may use without opting in
constexpr double kLog2e = 1.4426950408889634;

// What the kernels accumulate in, and what they write, for inputs of type T.
template <typename T> using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
template <typename T> using Out = std::conditional_t<std::is_same_v<T, bfloat16>, float, T>;

template <typename A> __device__ A exp2_of(A x) {
  if constexpr (std::is_same_v<A, double>) return exp2(x);
  return exp2f(x);
}

// One head's rows of a (B, H, rows, dims) view: element (r, c) at data[r * row_stride + c].
template <typename T> struct HeadRows {
  T* data;
  int64_t row_stride;
  __device__ T* row(int64_t r) const { return data + r * row_stride; }
};

// A (B, H, rows, dims) view as the kernels get it.
template <typename T> struct View {
  T* data;
  int64_t batch_stride, head_stride, row_stride;
  __device__ HeadRows<T> head(int64_t b, int64_t h) const {
    return {data + b * batch_stride + h * head_stride, row_stride};
  }
};

template <typename T> View<T> view_of(const Tensor& t) {
  return {static_cast<T*>(t.raw_data()), t.strides()[0], t.strides()[1], t.strides()[2]};
}

struct Sizes {
  int64_t batch, heads, n, m, d, dv;
  int64_t d_padded, dv_padded;  // rounded up to whole register chunks (tiles hold zeros beyond)
  __host__ __device__ int64_t pairs() const { return batch * heads; }
};

// The (batch, head) pairs of a grid: blockIdx.y, then z for more than 65535 pairs, then a
// loop. Every thread of a block sees the same pairs, so the barriers inside stay uniform.
#define SM_FOR_EACH_HEAD(s, bh)                                                              \
  for (int64_t bh = blockIdx.y + static_cast<int64_t>(gridDim.y) * blockIdx.z; bh < (s).pairs(); \
       bh += static_cast<int64_t>(gridDim.y) * gridDim.z)

// Loads rows [first, first + rows) of `src`, columns [column, column + width), into a tile of
// `width` values per row: zero past `count` rows and past the first `columns` columns.
template <typename T, typename A>
__device__ void load_tile(A* tile, HeadRows<const T> src, int64_t first, int64_t rows, int64_t count, int64_t column,
                          int64_t columns, int64_t width) {
  for (int64_t idx = threadIdx.x; idx < rows * width; idx += blockDim.x) {
    const int64_t r = idx / width, c = idx % width;
    tile[idx] = first + r < count && c < columns ? static_cast<A>(src.row(first + r)[column + c]) : A(0);
  }
}

// Columns [c0, c0 + kChunk) of a row, times `scale`, into registers (zero from `dims` on).
template <int kChunk, typename T, typename A>
__device__ void load_chunk(A (&chunk)[kChunk], const T* row, int64_t c0, int64_t dims, A scale) {
#pragma unroll
  for (int c = 0; c < kChunk; ++c) chunk[c] = c0 + c < dims ? static_cast<A>(row[c0 + c]) * scale : A(0);
}

// a . b for kChunk values, b in shared memory (16-byte aligned: tile rows are whole chunks),
// read four floats at a time.
template <int kChunk, typename A> __device__ A dot_chunk(const A (&a)[kChunk], const A* b) {
  A sum = 0;
  if constexpr (std::is_same_v<A, float>) {
    const float4* b4 = reinterpret_cast<const float4*>(b);
#pragma unroll
    for (int c = 0; c < kChunk / 4; ++c) {
      const float4 x = b4[c];
      sum += a[4 * c] * x.x + a[4 * c + 1] * x.y + a[4 * c + 2] * x.z + a[4 * c + 3] * x.w;
    }
  } else {
#pragma unroll
    for (int c = 0; c < kChunk; ++c) sum += a[c] * b[c];
  }
  return sum;
}

// acc += w * b for kChunk values, b in shared memory as in dot_chunk.
template <int kChunk, typename A> __device__ void add_scaled_chunk(A (&acc)[kChunk], A w, const A* b) {
  if constexpr (std::is_same_v<A, float>) {
    const float4* b4 = reinterpret_cast<const float4*>(b);
#pragma unroll
    for (int c = 0; c < kChunk / 4; ++c) {
      const float4 x = b4[c];
      acc[4 * c] += w * x.x;
      acc[4 * c + 1] += w * x.y;
      acc[4 * c + 2] += w * x.z;
      acc[4 * c + 3] += w * x.w;
    }
  } else {
#pragma unroll
    for (int c = 0; c < kChunk; ++c) acc[c] += w * b[c];
  }
}

// ---- forward ----

// One pass writes columns [column, column + kChunk) of out (and lse on the first pass).
template <typename T, int kChunk>
__global__ void __launch_bounds__(kRowsPerBlock, 1)
    attention_forward(View<const T> q, View<const T> k, View<const T> v, View<Out<T>> out, Out<T>* lse, Sizes s,
                      Acc<T> scale_log2, int64_t column) {
  using A = Acc<T>;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  A* k_tile = reinterpret_cast<A*>(shared_bytes);  // (kTile, d_padded)
  A* v_tile = k_tile + kTile * s.d_padded;         // (kTile, kChunk): this pass's columns of v
  const int64_t i = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x;
  const bool active = i < s.n;  // threads past the last row still load tiles and meet the barriers
  const int64_t chunks = s.d_padded / kChunk;
  SM_FOR_EACH_HEAD(s, bh) {
    const int64_t b = bh / s.heads, h = bh % s.heads;
    const HeadRows<const T> kh = k.head(b, h), vh = v.head(b, h);
    const T* q_row = q.head(b, h).row(active ? i : 0);
    A q_chunk[kChunk], acc[kChunk];
    if (chunks == 1) load_chunk(q_chunk, q_row, 0, s.d, scale_log2);
#pragma unroll
    for (int c = 0; c < kChunk; ++c) acc[c] = 0;
    A m = -INFINITY, l = 0;
    for (int64_t key = 0; key < s.m; key += kTile) {
      __syncthreads();  // every thread is done with the previous tile
      load_tile<T>(k_tile, kh, key, kTile, s.m, 0, s.d, s.d_padded);
      load_tile<T>(v_tile, vh, key, kTile, s.m, column, s.dv - column, kChunk);
      __syncthreads();
      const int64_t groups = (std::min<int64_t>(kTile, s.m - key) + kGroup - 1) / kGroup;
#pragma unroll 1
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = key + g * kGroup;  // the group's first key
        A scores[kGroup];
#pragma unroll
        for (int j = 0; j < kGroup; ++j) scores[j] = 0;
#pragma unroll 1
        for (int64_t chunk = 0; chunk < chunks; ++chunk) {
          if (chunks > 1) load_chunk(q_chunk, q_row, chunk * kChunk, s.d, scale_log2);
#pragma unroll
          for (int j = 0; j < kGroup; ++j)
            scores[j] += dot_chunk(q_chunk, k_tile + (g * kGroup + j) * s.d_padded + chunk * kChunk);
        }
        A group_max = -INFINITY;
#pragma unroll
        for (int j = 0; j < kGroup; ++j) {
          if (first + j >= s.m) scores[j] = -INFINITY;  // past the last key: weight 0
          group_max = fmax(group_max, scores[j]);
        }
        const A new_max = fmax(m, group_max);        // finite: a group holds at least one key
        const A correction = exp2_of(m - new_max);  // 0 on the first group, where m = -inf
        l *= correction;
#pragma unroll
        for (int c = 0; c < kChunk; ++c) acc[c] *= correction;
#pragma unroll
        for (int j = 0; j < kGroup; ++j) {
          const A p = exp2_of(scores[j] - new_max);
          l += p;
          add_scaled_chunk(acc, p, v_tile + (g * kGroup + j) * kChunk);
        }
        m = new_max;
      }
    }
    if (active) {
      Out<T>* o = out.head(b, h).row(i) + column;
      const A inv = l > 0 ? A(1) / l : A(0);  // no keys: zeros
#pragma unroll
      for (int c = 0; c < kChunk; ++c)
        if (column + c < s.dv) o[c] = static_cast<Out<T>>(acc[c] * inv);
      if (column == 0) lse[bh * s.n + i] = static_cast<Out<T>>((m + log2(l)) / A(kLog2e));  // in natural log
    }
  }
}

// ---- backward ----

// delta_i = gout_i . out_i, one thread per row of all (batch, head) pairs.
template <typename O> __global__ void attention_delta(View<const O> out, View<const O> gout, Acc<O>* delta, Sizes s) {
  const int64_t rows = s.pairs() * s.n;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t bh = r / s.n, i = r % s.n, b = bh / s.heads, h = bh % s.heads;
    const O* o = out.head(b, h).row(i);
    const O* g = gout.head(b, h).row(i);
    Acc<O> dot = 0;
    for (int64_t c = 0; c < s.dv; ++c) dot += static_cast<Acc<O>>(o[c]) * static_cast<Acc<O>>(g[c]);
    delta[r] = dot;
  }
}

// scores[j] = scale * (row . tile row j) for the kGroup rows of a tile (`width` values per
// row) from `rows` on; the row's chunks are read from global memory (it stays in L1).
template <int kChunk, typename T, typename A>
__device__ void group_scores(A (&scores)[kGroup], A (&buffer)[kChunk], const T* row, const A* rows, int64_t dims,
                             int64_t width, A scale) {
#pragma unroll
  for (int j = 0; j < kGroup; ++j) scores[j] = 0;
#pragma unroll 1
  for (int64_t c0 = 0; c0 < width; c0 += kChunk) {
    load_chunk(buffer, row, c0, dims, scale);
#pragma unroll
    for (int j = 0; j < kGroup; ++j) scores[j] += dot_chunk(buffer, rows + j * width + c0);
  }
}

// Columns [column, column + kChunk) of dq, one query row per thread.
template <typename T, int kChunk>
__global__ void __launch_bounds__(kRowsPerBlock, 1)
    attention_backward_dq(View<const T> q, View<const T> k, View<const T> v, View<const Out<T>> gout,
                          const Out<T>* lse, const Acc<T>* delta, View<Out<T>> gq, Sizes s, Acc<T> scale,
                          int64_t column) {
  using A = Acc<T>;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  A* k_tile = reinterpret_cast<A*>(shared_bytes);  // (kTile, d_padded)
  A* v_tile = k_tile + kTile * s.d_padded;         // (kTile, dv_padded)
  const int64_t i = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x;
  const bool active = i < s.n;
  SM_FOR_EACH_HEAD(s, bh) {
    const int64_t b = bh / s.heads, h = bh % s.heads;
    const HeadRows<const T> kh = k.head(b, h), vh = v.head(b, h);
    const T* q_row = q.head(b, h).row(active ? i : 0);
    const Out<T>* g_row = gout.head(b, h).row(active ? i : 0);
    const A lse2 = active ? static_cast<A>(lse[bh * s.n + i]) * A(kLog2e) : A(0);
    const A delta_i = active ? delta[bh * s.n + i] : A(0);
    A dq[kChunk], buffer[kChunk], p[kGroup], dp[kGroup];
#pragma unroll
    for (int c = 0; c < kChunk; ++c) dq[c] = 0;
    for (int64_t key = 0; key < s.m; key += kTile) {
      __syncthreads();
      load_tile<T>(k_tile, kh, key, kTile, s.m, 0, s.d, s.d_padded);
      load_tile<T>(v_tile, vh, key, kTile, s.m, 0, s.dv, s.dv_padded);
      __syncthreads();
      const int64_t groups = (std::min<int64_t>(kTile, s.m - key) + kGroup - 1) / kGroup;
#pragma unroll 1
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = key + g * kGroup;
        group_scores(p, buffer, q_row, k_tile + g * kGroup * s.d_padded, s.d, s.d_padded, scale * A(kLog2e));
        group_scores(dp, buffer, g_row, v_tile + g * kGroup * s.dv_padded, s.dv, s.dv_padded, A(1));
#pragma unroll
        for (int j = 0; j < kGroup; ++j) {
          const A weight = first + j < s.m ? exp2_of(p[j] - lse2) : A(0);  // P_ij
          add_scaled_chunk(dq, weight * (dp[j] - delta_i), k_tile + (g * kGroup + j) * s.d_padded + column);
        }
      }
    }
    if (active) {
      Out<T>* o = gq.head(b, h).row(i) + column;
#pragma unroll
      for (int c = 0; c < kChunk; ++c)
        if (column + c < s.d) o[c] = static_cast<Out<T>>(dq[c] * scale);
    }
  }
}

// Columns [column, column + kChunk) of dk and dv, one key row per thread (a pass covers the
// columns that exist in each: d and dv may differ).
template <typename T, int kChunk>
__global__ void __launch_bounds__(kRowsPerBlock, 1)
    attention_backward_dkv(View<const T> q, View<const T> k, View<const T> v, View<const Out<T>> gout,
                           const Out<T>* lse, const Acc<T>* delta, View<Out<T>> gk, View<Out<T>> gv, Sizes s,
                           Acc<T> scale, int64_t column) {
  using A = Acc<T>;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  A* q_tile = reinterpret_cast<A*>(shared_bytes);  // (kTile, d_padded)
  A* g_tile = q_tile + kTile * s.d_padded;         // (kTile, dv_padded)
  A* lse2_tile = g_tile + kTile * s.dv_padded;     // (kTile)
  A* delta_tile = lse2_tile + kTile;               // (kTile)
  const int64_t j = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x;
  const bool active = j < s.m;
  const bool want_dk = column < s.d, want_dv = column < s.dv;
  SM_FOR_EACH_HEAD(s, bh) {
    const int64_t b = bh / s.heads, h = bh % s.heads;
    const HeadRows<const T> qh = q.head(b, h);
    const HeadRows<const Out<T>> gh = gout.head(b, h);
    const T* k_row = k.head(b, h).row(active ? j : 0);
    const T* v_row = v.head(b, h).row(active ? j : 0);
    A dk[kChunk], dv[kChunk], buffer[kChunk], p[kGroup], ds[kGroup];
#pragma unroll
    for (int c = 0; c < kChunk; ++c) dk[c] = dv[c] = 0;
    for (int64_t query = 0; query < s.n; query += kTile) {
      __syncthreads();
      load_tile<T>(q_tile, qh, query, kTile, s.n, 0, s.d, s.d_padded);
      load_tile<Out<T>>(g_tile, gh, query, kTile, s.n, 0, s.dv, s.dv_padded);
      for (int r = threadIdx.x; r < kTile; r += blockDim.x) {
        const bool inside = query + r < s.n;
        lse2_tile[r] = inside ? static_cast<A>(lse[bh * s.n + query + r]) * A(kLog2e) : A(0);
        delta_tile[r] = inside ? delta[bh * s.n + query + r] : A(0);
      }
      __syncthreads();
      const int64_t groups = (std::min<int64_t>(kTile, s.n - query) + kGroup - 1) / kGroup;
#pragma unroll 1
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = g * kGroup;  // the group's first row in the tile
        group_scores(p, buffer, k_row, q_tile + first * s.d_padded, s.d, s.d_padded, scale * A(kLog2e));
        group_scores(ds, buffer, v_row, g_tile + first * s.dv_padded, s.dv, s.dv_padded, A(1));
#pragma unroll
        for (int r = 0; r < kGroup; ++r) {
          p[r] = query + first + r < s.n ? exp2_of(p[r] - lse2_tile[first + r]) : A(0);  // P_rj
          ds[r] = p[r] * (ds[r] - delta_tile[first + r]);                               // dS_rj
        }
#pragma unroll
        for (int r = 0; r < kGroup; ++r) {
          if (want_dk) add_scaled_chunk(dk, ds[r], q_tile + (first + r) * s.d_padded + column);
          if (want_dv) add_scaled_chunk(dv, p[r], g_tile + (first + r) * s.dv_padded + column);
        }
      }
    }
    if (active) {
      Out<T>* ok = gk.head(b, h).row(j) + column;
      Out<T>* ov = gv.head(b, h).row(j) + column;
#pragma unroll
      for (int c = 0; c < kChunk; ++c) {
        if (column + c < s.d) ok[c] = static_cast<Out<T>>(dk[c] * scale);
        if (column + c < s.dv) ov[c] = static_cast<Out<T>>(dv[c]);
      }
    }
  }
}

#undef SM_FOR_EACH_HEAD

int64_t round_up(int64_t x, int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// Blocks of kRowsPerBlock rows over (rows, pairs): pairs beyond the y extent go to z.
dim3 attention_grid(int64_t rows, int64_t pairs) {
  const int64_t y = std::min<int64_t>(pairs, 65535), z = std::min<int64_t>((pairs + y - 1) / y, 65535);
  return dim3(static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock), static_cast<unsigned>(y),
              static_cast<unsigned>(z));
}

// The sizes of the problem, after the checks every kernel relies on.
Sizes sizes_of(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lse, int64_t chunk) {
  check(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op, "takes (B, H, rows, dims) views, got q ", fmt(q.shape()));
  for (const Tensor* t : {&q, &k, &v})
    check(t->strides()[3] == 1 || t->size(3) == 1, op, "needs a contiguous last dim, got strides ", fmt(t->strides()));
  check(lse.is_contiguous(), op, "needs a contiguous lse, got strides ", fmt(lse.strides()));
  const int64_t d = q.size(3), dv = v.size(3);
  check(d <= kMaxHeadDim && dv <= kMaxHeadDim, op, "the CUDA kernels take head dims up to ", kMaxHeadDim, ", got q ",
        fmt(q.shape()), " and v ", fmt(v.shape()));
  return {q.size(0), q.size(1), q.size(2), k.size(2), d, dv, round_up(d, chunk), round_up(dv, chunk)};
}

void check_shared(const char* op, std::size_t bytes, const Tensor& q, const Tensor& v) {
  check(bytes <= kMaxShared, op, "head dims of q ", fmt(q.shape()), " and v ", fmt(v.shape()), " need ", bytes,
        " bytes of shared memory, more than the CUDA kernels take (", kMaxShared, ")");
}

// Runs fn(T{}) for q's dtype: float32, float64, or bfloat16 (mixed precision).
template <typename Fn> void dispatch_attention(const char* op, const Tensor& q, Fn&& fn) {
  if (q.dtype() == DType::BF16) return fn(bfloat16{});
  dispatch_floating(q.dtype(), op, fn);
}

template <typename T> void check_output_dtype(const char* op, const Tensor& t) {
  check(t.dtype() == dtype_of<Out<T>>(), op, "writes ", dtype_name(dtype_of<Out<T>>()), " for ",
        dtype_name(dtype_of<T>()), " inputs, got an output of ", dtype_name(t.dtype()));
}

}  // namespace

void CudaBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out,
                            const Tensor& lse) {
  dispatch_attention("attention", q, [&](auto t) {
    using T = decltype(t);
    using A = Acc<T>;
    check_output_dtype<T>("attention", out);
    check_output_dtype<T>("attention", lse);
    // Registers hold 64 head dims at a time (32 for double, or when the heads are no wider).
    auto run = [&](auto chunk_constant) {
      constexpr int kChunk = decltype(chunk_constant)::value;
      const Sizes s = sizes_of("attention", q, k, v, lse, kChunk);
      if (s.pairs() == 0 || s.n == 0) return;
      const std::size_t shared = static_cast<std::size_t>(kTile * (s.d_padded + kChunk)) * sizeof(A);
      check_shared("attention", shared, q, v);
      const dim3 grid = attention_grid(s.n, s.pairs());
      for (int64_t column = 0; column < std::max<int64_t>(s.dv, 1); column += kChunk)
        attention_forward<T, kChunk><<<grid, kRowsPerBlock, shared>>>(
            view_of<const T>(q), view_of<const T>(k), view_of<const T>(v), view_of<Out<T>>(out),
            static_cast<Out<T>*>(lse.raw_data()), s, static_cast<A>(scale * kLog2e), column);
    };
    if constexpr (std::is_same_v<T, double>) {
      run(std::integral_constant<int, 32>{});
    } else if (std::max(q.size(-1), v.size(-1)) <= 32) {
      run(std::integral_constant<int, 32>{});
    } else {
      run(std::integral_constant<int, 64>{});
    }
  });
  launched("attention");
}

void CudaBackend::attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                     const Tensor& lse, const Tensor& gout, double scale, const Tensor& gq,
                                     const Tensor& gk, const Tensor& gv) {
  dispatch_attention("attention_backward", q, [&](auto t) {
    using T = decltype(t);
    using A = Acc<T>;
    using O = Out<T>;
    for (const Tensor* x : {&out, &lse, &gout, &gq, &gk, &gv}) check_output_dtype<T>("attention_backward", *x);
    constexpr int kChunk = 32;  // each thread holds two or three chunk-wide accumulators
    const Sizes s = sizes_of("attention_backward", q, k, v, lse, kChunk);
    if (s.pairs() == 0) return;
    const std::size_t shared = static_cast<std::size_t>(kTile * (s.d_padded + s.dv_padded + 2)) * sizeof(A);
    check_shared("attention_backward", shared, q, v);
    const View<const T> qv = view_of<const T>(q), kv = view_of<const T>(k), vv = view_of<const T>(v);
    const View<const O> gov = view_of<const O>(gout);
    const O* plse = static_cast<const O*>(lse.raw_data());
    Workspace delta(static_cast<std::size_t>(std::max<int64_t>(s.pairs() * s.n, 1)) * sizeof(A));
    if (s.n > 0) {
      attention_delta<O><<<blocks_for(s.pairs() * s.n), kThreads>>>(view_of<const O>(out), gov, delta.as<A>(), s);
      for (int64_t column = 0; column < s.d; column += kChunk)
        attention_backward_dq<T, kChunk><<<attention_grid(s.n, s.pairs()), kRowsPerBlock, shared>>>(
            qv, kv, vv, gov, plse, delta.as<A>(), view_of<O>(gq), s, static_cast<A>(scale), column);
    }
    if (s.m > 0) {
      for (int64_t column = 0; column < std::max(s.d, s.dv); column += kChunk)
        attention_backward_dkv<T, kChunk><<<attention_grid(s.m, s.pairs()), kRowsPerBlock, shared>>>(
            qv, kv, vv, gov, plse, delta.as<A>(), view_of<O>(gk), view_of<O>(gv), s, static_cast<A>(scale), column);
    }
  });
  launched("attention_backward");
}

}  // namespace sm::cuda
