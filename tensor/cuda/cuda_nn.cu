// CUDA kernels of the fused ops: softmax / log_softmax, layer_norm and rms_norm, forward and backward.
//
// A row (softmax along the last dim, one token's channels in layer_norm and rms_norm) is handled by one
// warp when it is short and by one block when it is long; the row's sums and maxima are warp
// or block reductions, and each element is read from global memory (the row stays in L1/L2
// between the passes). Softmax along another dim walks one line per thread.
// layer_norm's weight and bias gradients sum over all rows: a two-pass reduction (partial sums
// over chunks of rows, then one sum per column), in a fixed order, without atomics.
#include <algorithm>
#include <cmath>

#include "tensor/cuda/cuda_common.cuh"

namespace sm::cuda {

namespace {

constexpr int kRowThreads = 256;
constexpr int64_t kWarpRowMax = 1024;  // rows up to this long get one warp each

// Runs launch(Group{}) with the group that suits rows of length n.
template <typename Launch> void by_row_length(int64_t n, Launch&& launch) {
  if (n <= kWarpRowMax) {
    launch(WarpPerRow{});
  } else {
    launch(BlockPerRow{});
  }
}

// ---- softmax ----

template <typename Group, typename T>
__global__ void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, bool log_output) {
  using A = Accumulate<T>;
  const Group g;
  for (int64_t row = g.first_row(); row < rows; row += g.row_step()) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    A max = -INFINITY;
    for (int64_t i = g.lane(); i < n; i += g.size()) max = fmax(max, static_cast<A>(xr[i]));
    max = g.all_reduce(max, Maximum{});  // subtracted so exp never overflows
    A sum = 0;
    for (int64_t i = g.lane(); i < n; i += g.size()) sum += exp(static_cast<A>(xr[i]) - max);
    sum = g.all_reduce(sum, Plus{});
    const A log_sum = log(sum), inv = A(1) / sum;
    for (int64_t i = g.lane(); i < n; i += g.size()) {
      const A shifted = static_cast<A>(xr[i]) - max;
      yr[i] = static_cast<T>(log_output ? shifted - log_sum : exp(shifted) * inv);
    }
  }
}

// softmax:     gx = y * (gy - sum(gy * y))
// log_softmax: gx = gy - exp(y) * sum(gy)
template <typename Group, typename T>
__global__ void softmax_backward_rows(const T* y, const T* gy, T* gx, int64_t rows, int64_t n, bool log_output) {
  using A = Accumulate<T>;
  const Group g;
  for (int64_t row = g.first_row(); row < rows; row += g.row_step()) {
    const int64_t first = row * n;
    A dot = 0;
    for (int64_t i = g.lane(); i < n; i += g.size())
      dot += log_output ? static_cast<A>(gy[first + i]) : static_cast<A>(gy[first + i]) * static_cast<A>(y[first + i]);
    dot = g.all_reduce(dot, Plus{});
    for (int64_t i = g.lane(); i < n; i += g.size()) {
      const A yi = y[first + i], gi = gy[first + i];
      gx[first + i] = static_cast<T>(log_output ? gi - exp(yi) * dot : yi * (gi - dot));
    }
  }
}

// Softmax along a dim that is not the last: one thread per line (outer, inner), reading along
// it with stride `inner` (neighbouring threads read neighbouring elements).
struct Lines {
  int64_t outer = 1, size = 1, inner = 1;
  int64_t count() const { return outer * inner; }
};

Lines lines_of(const Shape& shape, int64_t dim) {
  Lines l{1, shape.empty() ? 1 : shape[dim], 1};
  for (int64_t d = 0; d < dim; ++d) l.outer *= shape[d];
  for (size_t d = dim + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

template <typename T> __global__ void softmax_lines(const T* x, T* y, Lines l, bool log_output) {
  using A = Accumulate<T>;
  for (int64_t line = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; line < l.outer * l.inner;
       line += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t first = (line / l.inner) * l.size * l.inner + line % l.inner;
    A max = -INFINITY;
    for (int64_t i = 0; i < l.size; ++i) max = fmax(max, static_cast<A>(x[first + i * l.inner]));
    A sum = 0;
    for (int64_t i = 0; i < l.size; ++i) sum += exp(static_cast<A>(x[first + i * l.inner]) - max);
    const A log_sum = log(sum), inv = A(1) / sum;
    for (int64_t i = 0; i < l.size; ++i) {
      const A shifted = static_cast<A>(x[first + i * l.inner]) - max;
      y[first + i * l.inner] = static_cast<T>(log_output ? shifted - log_sum : exp(shifted) * inv);
    }
  }
}

template <typename T> __global__ void softmax_backward_lines(const T* y, const T* gy, T* gx, Lines l, bool log_output) {
  using A = Accumulate<T>;
  for (int64_t line = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; line < l.outer * l.inner;
       line += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t first = (line / l.inner) * l.size * l.inner + line % l.inner;
    A dot = 0;
    for (int64_t i = 0; i < l.size; ++i) {
      const int64_t p = first + i * l.inner;
      dot += log_output ? static_cast<A>(gy[p]) : static_cast<A>(gy[p]) * static_cast<A>(y[p]);
    }
    for (int64_t i = 0; i < l.size; ++i) {
      const int64_t p = first + i * l.inner;
      const A yi = y[p], gi = gy[p];
      gx[p] = static_cast<T>(log_output ? gi - exp(yi) * dot : yi * (gi - dot));
    }
  }
}

// ---- layer_norm ----

template <typename Group, typename T>
__global__ void layer_norm_rows(const T* x, const T* w, const T* b, double eps, T* out, T* mean, T* rstd, int64_t rows,
                                int64_t c) {
  using A = Accumulate<T>;
  const Group g;
  for (int64_t row = g.first_row(); row < rows; row += g.row_step()) {
    const T* xr = x + row * c;
    A sum = 0;
    for (int64_t i = g.lane(); i < c; i += g.size()) sum += static_cast<A>(xr[i]);
    const A m = g.all_reduce(sum, Plus{}) / static_cast<A>(c);
    A squares = 0;  // biased variance, as LayerNorm uses, from the centred values (no cancellation)
    for (int64_t i = g.lane(); i < c; i += g.size()) {
      const A d = static_cast<A>(xr[i]) - m;
      squares += d * d;
    }
    const A var = g.all_reduce(squares, Plus{}) / static_cast<A>(c);
    const A rs = A(1) / sqrt(var + static_cast<A>(eps));
    if (g.lane() == 0) {
      mean[row] = static_cast<T>(m);
      rstd[row] = static_cast<T>(rs);
    }
    for (int64_t i = g.lane(); i < c; i += g.size()) {
      A y = (static_cast<A>(xr[i]) - m) * rs;
      if (w) y *= static_cast<A>(w[i]);
      if (b) y += static_cast<A>(b[i]);
      out[row * c + i] = static_cast<T>(y);
    }
  }
}

template <typename A> struct SumPair {
  A g, gx;
  __device__ SumPair operator+(const SumPair& o) const { return {g + o.g, gx + o.gx}; }
};

// With xhat = (x - mean) * rstd and g = gy * weight:
//   gx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
template <typename Group, typename T>
__global__ void layer_norm_backward_rows(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                                         int64_t rows, int64_t c) {
  using A = Accumulate<T>;
  const Group g;
  for (int64_t row = g.first_row(); row < rows; row += g.row_step()) {
    const int64_t first = row * c;
    const A m = mean[row], rs = rstd[row];
    SumPair<A> sums{0, 0};
    for (int64_t i = g.lane(); i < c; i += g.size()) {
      const A gi = w ? static_cast<A>(gy[first + i]) * static_cast<A>(w[i]) : static_cast<A>(gy[first + i]);
      const A xhat = (static_cast<A>(x[first + i]) - m) * rs;
      sums.g += gi;
      sums.gx += gi * xhat;
    }
    sums = g.all_reduce(sums, Plus{});
    const A mean_g = sums.g / static_cast<A>(c), mean_gx = sums.gx / static_cast<A>(c);
    for (int64_t i = g.lane(); i < c; i += g.size()) {
      const A gi = w ? static_cast<A>(gy[first + i]) * static_cast<A>(w[i]) : static_cast<A>(gy[first + i]);
      const A xhat = (static_cast<A>(x[first + i]) - m) * rs;
      gx[first + i] = static_cast<T>(rs * (gi - mean_g - xhat * mean_gx));
    }
  }
}

// Pass 1 of gweight = sum_rows gy * xhat and gbias = sum_rows gy: block (tile, chunk) sums the
// rows of its chunk for 32 columns; its 32 x 8 threads each take every 8th row of the chunk for
// one column (a warp reads 32 neighbouring columns of a row), then the 8 sums of a column are
// added in order. Writes partial_w/b[chunk * c + column] (each may be null: not wanted).
constexpr int kTileColumns = 32, kTileRows = 8;

template <typename T, typename A>
__global__ void layer_norm_param_grad_partials(const T* gy, const T* x, const T* mean, const T* rstd, int64_t rows,
                                               int64_t c, int64_t chunk_rows, A* partial_w, A* partial_b) {
  __shared__ A sums_w[kTileRows][kTileColumns + 1], sums_b[kTileRows][kTileColumns + 1];
  const int64_t column = blockIdx.x * static_cast<int64_t>(kTileColumns) + threadIdx.x;
  const int64_t begin = blockIdx.y * chunk_rows, end = begin + chunk_rows < rows ? begin + chunk_rows : rows;
  A sw = 0, sb = 0;
  if (column < c) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kTileRows) {
      const A g = gy[r * c + column];
      sw += g * (static_cast<A>(x[r * c + column]) - static_cast<A>(mean[r])) * static_cast<A>(rstd[r]);
      sb += g;
    }
  }
  sums_w[threadIdx.y][threadIdx.x] = sw;
  sums_b[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y != 0 || column >= c) return;
  for (int k = 1; k < kTileRows; ++k) {
    sw += sums_w[k][threadIdx.x];
    sb += sums_b[k][threadIdx.x];
  }
  if (partial_w) partial_w[blockIdx.y * c + column] = sw;
  if (partial_b) partial_b[blockIdx.y * c + column] = sb;
}

// Pass 2: one thread per column adds its chunks' partial sums, in chunk order.
template <typename T, typename A>
__global__ void layer_norm_param_grad_finish(const A* partial_w, const A* partial_b, int64_t chunks, int64_t c, T* gw,
                                             T* gb) {
  for (int64_t column = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; column < c;
       column += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    A sw = 0, sb = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      if (gw) sw += partial_w[k * c + column];
      if (gb) sb += partial_b[k * c + column];
    }
    if (gw) gw[column] = static_cast<T>(sw);
    if (gb) gb[column] = static_cast<T>(sb);
  }
}

// ---- rms_norm (docs/adding-a-layer.md): layer_norm_rows without the mean and the bias ----

template <typename Group, typename T>
__global__ void rms_norm_rows(const T* x, const T* w, double eps, T* out, T* rstd, int64_t rows, int64_t c) {
  using A = Accumulate<T>;
  const Group g;
  for (int64_t row = g.first_row(); row < rows; row += g.row_step()) {
    const T* xr = x + row * c;
    A squares = 0;
    for (int64_t i = g.lane(); i < c; i += g.size()) squares += static_cast<A>(xr[i]) * static_cast<A>(xr[i]);
    const A rs = A(1) / sqrt(g.all_reduce(squares, Plus{}) / static_cast<A>(c) + static_cast<A>(eps));
    if (g.lane() == 0) rstd[row] = static_cast<T>(rs);
    for (int64_t i = g.lane(); i < c; i += g.size()) {
      A y = static_cast<A>(xr[i]) * rs;
      if (w) y *= static_cast<A>(w[i]);
      out[row * c + i] = static_cast<T>(y);
    }
  }
}

// With xhat = x * rstd and g = gy * weight:  gx = rstd * (g - xhat * mean(g * xhat)).
template <typename Group, typename T>
__global__ void rms_norm_backward_rows(const T* gy, const T* x, const T* w, const T* rstd, T* gx, int64_t rows,
                                       int64_t c) {
  using A = Accumulate<T>;
  const Group g;
  for (int64_t row = g.first_row(); row < rows; row += g.row_step()) {
    const int64_t first = row * c;
    const A rs = rstd[row];
    A sum_gx = 0;
    for (int64_t i = g.lane(); i < c; i += g.size()) {
      const A gi = w ? static_cast<A>(gy[first + i]) * static_cast<A>(w[i]) : static_cast<A>(gy[first + i]);
      sum_gx += gi * static_cast<A>(x[first + i]) * rs;
    }
    const A mean_gx = g.all_reduce(sum_gx, Plus{}) / static_cast<A>(c);
    for (int64_t i = g.lane(); i < c; i += g.size()) {
      const A gi = w ? static_cast<A>(gy[first + i]) * static_cast<A>(w[i]) : static_cast<A>(gy[first + i]);
      gx[first + i] = static_cast<T>(rs * (gi - static_cast<A>(x[first + i]) * rs * mean_gx));
    }
  }
}

template <typename T> T* data_or_null(const Tensor& t) { return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr; }

}  // namespace

void CudaBackend::softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) {
  if (x.numel() == 0) return;
  const Lines l = lines_of(x.shape(), dim);
  dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&](auto t) {
    using T = decltype(t);
    const T* in = static_cast<const T*>(x.raw_data());
    T* y = static_cast<T*>(out.raw_data());
    if (l.inner > 1) {
      softmax_lines<T><<<blocks_for(l.count()), kThreads>>>(in, y, l, log);
      return;
    }
    by_row_length(l.size, [&](auto group) {
      using Group = decltype(group);
      softmax_rows<Group, T><<<blocks_for_rows<Group>(l.outer, kRowThreads), kRowThreads>>>(in, y, l.outer, l.size, log);
    });
  });
  launched(log ? "log_softmax" : "softmax");
}

void CudaBackend::softmax_backward(const Tensor& y, const Tensor& gy, int64_t dim, bool log, const Tensor& gx) {
  if (y.numel() == 0) return;
  const Lines l = lines_of(y.shape(), dim);
  dispatch_floating(y.dtype(), "softmax_backward", [&](auto t) {
    using T = decltype(t);
    const T* py = static_cast<const T*>(y.raw_data());
    const T* pg = static_cast<const T*>(gy.raw_data());
    T* out = static_cast<T*>(gx.raw_data());
    if (l.inner > 1) {
      softmax_backward_lines<T><<<blocks_for(l.count()), kThreads>>>(py, pg, out, l, log);
      return;
    }
    by_row_length(l.size, [&](auto group) {
      using Group = decltype(group);
      softmax_backward_rows<Group, T>
          <<<blocks_for_rows<Group>(l.outer, kRowThreads), kRowThreads>>>(py, pg, out, l.outer, l.size, log);
    });
  });
  launched("softmax_backward");
}

void CudaBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& out,
                             const Tensor& mean, const Tensor& rstd) {
  const int64_t rows = x.size(0), c = x.size(1);
  if (rows == 0) return;
  dispatch_floating(x.dtype(), "layer_norm", [&](auto t) {
    using T = decltype(t);
    by_row_length(c, [&](auto group) {
      using Group = decltype(group);
      layer_norm_rows<Group, T><<<blocks_for_rows<Group>(rows, kRowThreads), kRowThreads>>>(
          static_cast<const T*>(x.raw_data()), data_or_null<const T>(weight), data_or_null<const T>(bias), eps,
          static_cast<T*>(out.raw_data()), static_cast<T*>(mean.raw_data()), static_cast<T*>(rstd.raw_data()), rows, c);
    });
  });
  launched("layer_norm");
}

void CudaBackend::layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                      const Tensor& rstd, const Tensor& gx, const Tensor& gweight,
                                      const Tensor& gbias) {
  const int64_t rows = x.size(0), c = x.size(1);
  const bool want_params = gweight.defined() || gbias.defined();
  if (rows == 0) {  // no rows: the parameter gradients are empty sums
    for (const Tensor* g : {&gweight, &gbias})
      if (g->defined()) fill(*g, 0);
    return;
  }
  dispatch_floating(x.dtype(), "layer_norm_backward", [&](auto t) {
    using T = decltype(t);
    using A = Accumulate<T>;
    const T* pg = static_cast<const T*>(gy.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pm = static_cast<const T*>(mean.raw_data());
    const T* pr = static_cast<const T*>(rstd.raw_data());
    by_row_length(c, [&](auto group) {
      using Group = decltype(group);
      layer_norm_backward_rows<Group, T><<<blocks_for_rows<Group>(rows, kRowThreads), kRowThreads>>>(
          pg, px, data_or_null<const T>(weight), pm, pr, static_cast<T*>(gx.raw_data()), rows, c);
    });
    if (!want_params || c == 0) return;
    // Chunks of at least 64 rows, at most 1024 of them (a grid's y extent is below 65536).
    const int64_t chunks = std::clamp<int64_t>(rows / 64, 1, 1024), chunk_rows = (rows + chunks - 1) / chunks;
    Workspace partial_w(gweight.defined() ? chunks * c * sizeof(A) : 0);
    Workspace partial_b(gbias.defined() ? chunks * c * sizeof(A) : 0);
    A* pw = gweight.defined() ? partial_w.as<A>() : nullptr;
    A* pb = gbias.defined() ? partial_b.as<A>() : nullptr;
    const dim3 tiles(static_cast<unsigned>((c + kTileColumns - 1) / kTileColumns), static_cast<unsigned>(chunks));
    layer_norm_param_grad_partials<T, A>
        <<<tiles, dim3(kTileColumns, kTileRows)>>>(pg, px, pm, pr, rows, c, chunk_rows, pw, pb);
    layer_norm_param_grad_finish<T, A><<<blocks_for(c), kThreads>>>(pw, pb, chunks, c, data_or_null<T>(gweight),
                                                                    data_or_null<T>(gbias));
  });
  launched("layer_norm_backward");
}

void CudaBackend::rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out, const Tensor& rstd) {
  const int64_t rows = x.size(0), c = x.size(1);
  if (rows == 0) return;
  dispatch_floating(x.dtype(), "rms_norm", [&](auto t) {
    using T = decltype(t);
    by_row_length(c, [&](auto group) {
      using Group = decltype(group);
      rms_norm_rows<Group, T><<<blocks_for_rows<Group>(rows, kRowThreads), kRowThreads>>>(
          static_cast<const T*>(x.raw_data()), data_or_null<const T>(weight), eps, static_cast<T*>(out.raw_data()),
          static_cast<T*>(rstd.raw_data()), rows, c);
    });
  });
  launched("rms_norm");
}

void CudaBackend::rms_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                                    const Tensor& gx) {
  const int64_t rows = x.size(0), c = x.size(1);
  if (rows == 0) return;
  dispatch_floating(x.dtype(), "rms_norm_backward", [&](auto t) {
    using T = decltype(t);
    by_row_length(c, [&](auto group) {
      using Group = decltype(group);
      rms_norm_backward_rows<Group, T><<<blocks_for_rows<Group>(rows, kRowThreads), kRowThreads>>>(
          static_cast<const T*>(gy.raw_data()), static_cast<const T*>(x.raw_data()), data_or_null<const T>(weight),
          static_cast<const T*>(rstd.raw_data()), static_cast<T*>(gx.raw_data()), rows, c);
    });
  });
  launched("rms_norm_backward");
}

}  // namespace sm::cuda
