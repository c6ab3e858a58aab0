// CUDA kernels for everything but matrix products. These are the plain versions: one
// thread per element (or per row / line for reductions and fused ops), strides read
// directly, like the CPU kernels. Each elementwise and reduction kernel is compiled once per op of its family (see `visit` in
// tensor/backend.h).
#include <cuda_runtime.h>

#include <array>

#include "tensor/cuda/cuda_backend.h"

namespace sm::cuda {

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;

// Shape and per-operand strides, passed to kernels by value.
template <int K> struct Strided {
  int rank;
  int64_t shape[kMaxDims];
  int64_t strides[K][kMaxDims];

  __device__ void offsets(int64_t i, int64_t (&off)[K]) const {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t idx = i % shape[d];
      i /= shape[d];
      for (int k = 0; k < K; ++k) off[k] += idx * strides[k][d];
    }
  }
};

template <int K> static Strided<K> describe(const Shape& shape, const std::array<const Tensor*, K>& tensors) {
  check(shape.size() <= kMaxDims, "cuda", "tensors of rank ", shape.size(), " exceed the CUDA kernels' ", kMaxDims);
  Strided<K> s{};
  s.rank = static_cast<int>(shape.size());
  for (int d = 0; d < s.rank; ++d) {
    s.shape[d] = shape[d];
    for (int k = 0; k < K; ++k) s.strides[k][d] = tensors[k]->strides()[d];
  }
  return s;
}

static int blocks_for(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

static void launched(const char* op) { check_cuda(cudaGetLastError(), op); }

template <typename T> __global__ void fill_kernel(T* out, Strided<1> s, int64_t n, T value) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  int64_t off[1];
  s.offsets(i, off);
  out[off[0]] = value;
}

void CudaBackend::fill(const Tensor& out, double value) {
  if (out.numel() == 0) return;
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    fill_kernel<T><<<blocks_for(out.numel()), kThreads>>>(static_cast<T*>(out.raw_data()),
                                                           describe<1>(out.shape(), {&out}), out.numel(),
                                                           static_cast<T>(value));
  });
  launched("fill");
}

template <typename S, typename D> __global__ void copy_kernel(const S* in, D* out, Strided<2> s, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  int64_t off[2];
  s.offsets(i, off);
  out[off[0]] = static_cast<D>(in[off[1]]);
}

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  if (dst.numel() == 0) return;
  dispatch_dtype(src.dtype(), [&](auto s) {
    using S = decltype(s);
    dispatch_dtype(dst.dtype(), [&](auto d) {
      using D = decltype(d);
      copy_kernel<S, D><<<blocks_for(dst.numel()), kThreads>>>(static_cast<const S*>(src.raw_data()),
                                                               static_cast<D*>(dst.raw_data()),
                                                               describe<2>(dst.shape(), {&dst, &src}), dst.numel());
    });
  });
  launched("copy");
}

template <typename T> __device__ T unary_value(UnaryOp op, T x, T p0, T p1) {
  const T k_erf = T(0.70710678118654752440);         // 1/sqrt(2)
  const T k_pdf = T(0.39894228040143267794);         // 1/sqrt(2 pi)
  const T k_tanh = T(0.79788456080286535588);        // sqrt(2/pi)
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return exp(x);
    case UnaryOp::Log: return log(x);
    case UnaryOp::Sqrt: return sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / sqrt(x);
    case UnaryOp::Abs: return fabs(x);
    case UnaryOp::Sign: return T((x > 0) - (x < 0));
    case UnaryOp::Tanh: return tanh(x);
    case UnaryOp::Sigmoid: return T(1) / (T(1) + exp(-x));
    case UnaryOp::Relu: return x > 0 ? x : T(0);
    case UnaryOp::Gelu: return T(0.5) * x * (T(1) + erf(x * k_erf));
    case UnaryOp::GeluGrad: return T(0.5) * (T(1) + erf(x * k_erf)) + x * exp(T(-0.5) * x * x) * k_pdf;
    case UnaryOp::GeluTanh: return T(0.5) * x * (T(1) + tanh(k_tanh * (x + T(0.044715) * x * x * x)));
    case UnaryOp::GeluTanhGrad: {
      const T th = tanh(k_tanh * (x + T(0.044715) * x * x * x));
      return T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * k_tanh * (T(1) + T(3 * 0.044715) * x * x);
    }
    case UnaryOp::PowScalar: return pow(x, p0);
    case UnaryOp::Clamp: return isnan(x) ? x : fmin(fmax(x, p0), p1);
  }
  return x;  // not reached: the switch covers every member (-Werror=switch)
}

template <typename T, UnaryOp op>
__global__ void unary_kernel(const T* in, T* out, Strided<2> s, int64_t n, T p0, T p1) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  int64_t off[2];
  s.offsets(i, off);
  out[off[0]] = unary_value(op, in[off[1]], p0, p1);
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  if (out.numel() == 0) return;
  dispatch_floating(x.dtype(), op_name(op), [&](auto t) {
    using T = decltype(t);
    visit(op, [&](auto c) {
      unary_kernel<T, decltype(c)::value><<<blocks_for(out.numel()), kThreads>>>(
          static_cast<const T*>(x.raw_data()), static_cast<T*>(out.raw_data()), describe<2>(out.shape(), {&out, &x}),
          out.numel(), static_cast<T>(p0), static_cast<T>(p1));
    });
  });
  launched(op_name(op));
}

template <typename T> __device__ T binary_value(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return static_cast<T>(pow(static_cast<double>(a), static_cast<double>(b)));
    case BinaryOp::Maximum: return (a != a || a > b) ? a : b;
    case BinaryOp::Minimum: return (a != a || a < b) ? a : b;
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
  }
  return a;  // not reached: the switch covers every member (-Werror=switch)
}

template <typename T, BinaryOp op>
__global__ void binary_kernel(const T* a, const T* b, T* out, Strided<3> s, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  int64_t off[3];
  s.offsets(i, off);
  out[off[0]] = binary_value(op, a[off[1]], b[off[2]]);
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (out.numel() == 0) return;
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    visit(op, [&](auto c) {
      binary_kernel<T, decltype(c)::value><<<blocks_for(out.numel()), kThreads>>>(
          static_cast<const T*>(a.raw_data()), static_cast<const T*>(b.raw_data()), static_cast<T*>(out.raw_data()),
          describe<3>(out.shape(), {&out, &a, &b}), out.numel());
    });
  });
  launched(op_name(op));
}

template <typename C, typename T>
__global__ void where_kernel(const C* c, const T* a, const T* b, T* out, Strided<4> s, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  int64_t off[4];
  s.offsets(i, off);
  out[off[0]] = c[off[1]] != C(0) ? a[off[2]] : b[off[3]];
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (out.numel() == 0) return;
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    dispatch_dtype(cond.dtype(), [&](auto c) {
      using C = decltype(c);
      where_kernel<C, T><<<blocks_for(out.numel()), kThreads>>>(
          static_cast<const C*>(cond.raw_data()), static_cast<const T*>(a.raw_data()),
          static_cast<const T*>(b.raw_data()), static_cast<T*>(out.raw_data()),
          describe<4>(out.shape(), {&out, &cond, &a, &b}), out.numel());
    });
  });
  launched("where");
}

// One thread per row; float sums accumulate in double, as on the CPU.
template <typename T, typename O, ReduceOp op>
__global__ void reduce_kernel(const T* x, int64_t rows, int64_t n, O* out, double correction) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  const T* row = x + r * n;
  if (op == ReduceOp::Sum || op == ReduceOp::Mean || op == ReduceOp::Var) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(row[i]);
    if (op == ReduceOp::Sum) {
      out[r] = static_cast<O>(sum);
      return;
    }
    const double mean = sum / n;
    if (op == ReduceOp::Mean) {
      out[r] = static_cast<O>(mean);
      return;
    }
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) sq += (row[i] - mean) * (row[i] - mean);
    out[r] = static_cast<O>(n - correction > 0 ? sq / (n - correction) : nan(""));
    return;
  }
  const bool want_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
  int64_t best = 0;
  for (int64_t i = 1; i < n && row[best] == row[best]; ++i) {
    const bool better = row[i] != row[i] || (want_max ? row[i] > row[best] : row[i] < row[best]);
    if (better) best = i;
  }
  const bool arg = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  out[r] = arg ? static_cast<O>(best) : static_cast<O>(row[best]);
}

void CudaBackend::reduce(ReduceOp op, const Tensor& x, int64_t reduce_size, const Tensor& out, double correction) {
  const int64_t rows = out.numel();
  if (rows == 0) return;
  dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    dispatch_dtype(out.dtype(), [&](auto o) {
      using O = decltype(o);
      visit(op, [&](auto c) {
        reduce_kernel<T, O, decltype(c)::value><<<blocks_for(rows), kThreads>>>(
            static_cast<const T*>(x.raw_data()), rows, reduce_size, static_cast<O*>(out.raw_data()), correction);
      });
    });
  });
  launched(op_name(op));
}

// One thread per line along `dim` of a contiguous tensor split as (outer, size, inner).
template <typename T>
__global__ void softmax_kernel(const T* x, T* out, int64_t outer, int64_t size, int64_t inner, bool log) {
  const int64_t line = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (line >= outer * inner) return;
  const int64_t first = (line / inner) * size * inner + line % inner;
  T max = x[first];
  for (int64_t i = 1; i < size; ++i) max = fmax(max, x[first + i * inner]);
  double sum = 0;
  for (int64_t i = 0; i < size; ++i) sum += exp(x[first + i * inner] - max);
  const T log_sum = static_cast<T>(::log(sum));
  for (int64_t i = 0; i < size; ++i) {
    const T v = x[first + i * inner] - max;
    out[first + i * inner] = log ? v - log_sum : static_cast<T>(exp(v) / sum);
  }
}

template <typename T>
__global__ void softmax_backward_kernel(const T* y, const T* gy, T* gx, int64_t outer, int64_t size, int64_t inner,
                                        bool log) {
  const int64_t line = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (line >= outer * inner) return;
  const int64_t first = (line / inner) * size * inner + line % inner;
  double dot = 0;
  for (int64_t i = 0; i < size; ++i) {
    const int64_t p = first + i * inner;
    dot += log ? gy[p] : gy[p] * y[p];
  }
  for (int64_t i = 0; i < size; ++i) {
    const int64_t p = first + i * inner;
    gx[p] = log ? static_cast<T>(gy[p] - exp(y[p]) * dot) : static_cast<T>(y[p] * (gy[p] - dot));
  }
}

struct Lines {
  int64_t outer = 1, size, inner = 1;
};
static Lines lines_of(const Shape& shape, int64_t dim) {
  Lines l{1, shape.empty() ? 1 : shape[dim], 1};
  for (int64_t d = 0; d < dim; ++d) l.outer *= shape[d];
  for (size_t d = dim + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

void CudaBackend::softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) {
  const Lines l = lines_of(x.shape(), dim);
  if (x.numel() == 0) return;
  dispatch_floating(x.dtype(), "softmax", [&](auto t) {
    using T = decltype(t);
    softmax_kernel<T><<<blocks_for(l.outer * l.inner), kThreads>>>(
        static_cast<const T*>(x.raw_data()), static_cast<T*>(out.raw_data()), l.outer, l.size, l.inner, log);
  });
  launched(log ? "log_softmax" : "softmax");
}

void CudaBackend::softmax_backward(const Tensor& y, const Tensor& gy, int64_t dim, bool log, const Tensor& gx) {
  const Lines l = lines_of(y.shape(), dim);
  if (y.numel() == 0) return;
  dispatch_floating(y.dtype(), "softmax_backward", [&](auto t) {
    using T = decltype(t);
    softmax_backward_kernel<T><<<blocks_for(l.outer * l.inner), kThreads>>>(
        static_cast<const T*>(y.raw_data()), static_cast<const T*>(gy.raw_data()), static_cast<T*>(gx.raw_data()),
        l.outer, l.size, l.inner, log);
  });
  launched("softmax_backward");
}

template <typename T>
__global__ void layer_norm_kernel(const T* x, const T* w, const T* b, double eps, T* out, T* mean, T* rstd,
                                  int64_t rows, int64_t c) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  const T* row = x + r * c;
  double m = 0;
  for (int64_t i = 0; i < c; ++i) m += row[i];
  m /= c;
  double v = 0;
  for (int64_t i = 0; i < c; ++i) v += (row[i] - m) * (row[i] - m);
  const double rs = 1.0 / ::sqrt(v / c + eps);
  mean[r] = static_cast<T>(m);
  rstd[r] = static_cast<T>(rs);
  for (int64_t i = 0; i < c; ++i) {
    T y = static_cast<T>((row[i] - m) * rs);
    if (w) y *= w[i];
    if (b) y += b[i];
    out[r * c + i] = y;
  }
}

template <typename T>
__global__ void layer_norm_backward_kernel(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                                           T* gw, T* gb, int64_t rows, int64_t c) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  const T* g = gy + r * c;
  const T* xr = x + r * c;
  double sum_g = 0, sum_gx = 0;
  for (int64_t i = 0; i < c; ++i) {
    const double gi = w ? g[i] * w[i] : g[i];
    const double xhat = (xr[i] - mean[r]) * rstd[r];
    sum_g += gi;
    sum_gx += gi * xhat;
    if (gw) atomicAdd(&gw[i], static_cast<T>(g[i] * xhat));
    if (gb) atomicAdd(&gb[i], g[i]);
  }
  for (int64_t i = 0; i < c; ++i) {
    const double gi = w ? g[i] * w[i] : g[i];
    const double xhat = (xr[i] - mean[r]) * rstd[r];
    gx[r * c + i] = static_cast<T>(rstd[r] * (gi - sum_g / c - xhat * sum_gx / c));
  }
}

template <typename T> static T* data_or_null(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

void CudaBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& out,
                             const Tensor& mean, const Tensor& rstd) {
  const int64_t rows = x.size(0), c = x.size(1);
  if (rows == 0) return;
  dispatch_floating(x.dtype(), "layer_norm", [&](auto t) {
    using T = decltype(t);
    layer_norm_kernel<T><<<blocks_for(rows), kThreads>>>(
        static_cast<const T*>(x.raw_data()), data_or_null<const T>(weight), data_or_null<const T>(bias), eps,
        static_cast<T*>(out.raw_data()), static_cast<T*>(mean.raw_data()), static_cast<T*>(rstd.raw_data()), rows, c);
  });
  launched("layer_norm");
}

void CudaBackend::layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                      const Tensor& rstd, const Tensor& gx, const Tensor& gweight,
                                      const Tensor& gbias) {
  const int64_t rows = x.size(0), c = x.size(1);
  for (const Tensor* g : {&gweight, &gbias})
    if (g->defined()) fill(*g, 0);  // the kernel accumulates into them
  if (rows == 0) return;
  dispatch_floating(x.dtype(), "layer_norm_backward", [&](auto t) {
    using T = decltype(t);
    layer_norm_backward_kernel<T><<<blocks_for(rows), kThreads>>>(
        static_cast<const T*>(gy.raw_data()), static_cast<const T*>(x.raw_data()), data_or_null<const T>(weight),
        static_cast<const T*>(mean.raw_data()), static_cast<const T*>(rstd.raw_data()),
        static_cast<T*>(gx.raw_data()), data_or_null<T>(gweight), data_or_null<T>(gbias), rows, c);
  });
  launched("layer_norm_backward");
}

// For element i of a contiguous index: the offset into the indexed tensor (strides s,
// with the indexed dim's position taken from the index value). Flags a bad index.
template <bool kAdd, typename T>
__global__ void index_kernel(const int64_t* index, Strided<1> index_shape, Strided<1> self, int dim, int64_t limit,
                             const T* src, T* dst, int64_t n, int* bad_index) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const int64_t value = index[i];
  if (value < 0 || value >= limit) {
    atomicExch(bad_index, 1);
    return;
  }
  int64_t rest = i, offset = 0;
  for (int d = index_shape.rank - 1; d >= 0; --d) {
    const int64_t idx = rest % index_shape.shape[d];
    rest /= index_shape.shape[d];
    offset += (d == dim ? value : idx) * self.strides[0][d];
  }
  if constexpr (kAdd) {
    atomicAdd(&dst[offset], src[i]);
  } else {
    dst[i] = src[offset];
  }
}

template <bool kAdd>
static void run_index(const char* op, const Tensor& self, int64_t dim, const Tensor& index, const Tensor& values) {
  const int64_t n = index.numel();
  if (n == 0) return;
  int* bad = nullptr;
  check_cuda(cudaMalloc(&bad, sizeof(int)), op);
  check_cuda(cudaMemset(bad, 0, sizeof(int)), op);
  dispatch_floating(self.dtype(), op, [&](auto t) {
    using T = decltype(t);
    const Strided<1> index_shape = describe<1>(index.shape(), {&index});
    const Strided<1> self_strides = describe<1>(self.shape(), {&self});
    const T* src = kAdd ? static_cast<const T*>(values.raw_data()) : static_cast<const T*>(self.raw_data());
    T* dst = kAdd ? static_cast<T*>(self.raw_data()) : static_cast<T*>(values.raw_data());
    index_kernel<kAdd, T><<<blocks_for(n), kThreads>>>(static_cast<const int64_t*>(index.raw_data()), index_shape,
                                                       self_strides, static_cast<int>(dim), self.size(dim), src, dst, n,
                                                       bad);
  });
  int host_bad = 0;
  const cudaError_t status = cudaMemcpy(&host_bad, bad, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(bad);
  check_cuda(status, op);
  check(host_bad == 0, op, "index out of range for size ", self.size(dim));
}

void CudaBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  run_index<false>("gather", x, dim, index, out);
}

void CudaBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  run_index<true>("scatter_add", out, dim, index, src);
}

// One thread per line; insertion sort keeps equal values in order (stable) and puts NaN last.
template <typename T>
__global__ void argsort_kernel(const T* x, int64_t* out, int64_t outer, int64_t size, int64_t inner, bool descending) {
  const int64_t line = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (line >= outer * inner) return;
  const int64_t first = (line / inner) * size * inner + line % inner;
  auto before = [&](int64_t i, int64_t j) {  // must element i come before element j?
    const T a = x[first + i * inner], b = x[first + j * inner];
    if (descending) return !isnan(static_cast<double>(b)) && (isnan(static_cast<double>(a)) || a > b);
    return !isnan(static_cast<double>(a)) && (isnan(static_cast<double>(b)) || a < b);
  };
  for (int64_t i = 0; i < size; ++i) {
    const int64_t value = i;
    int64_t j = i;
    while (j > 0 && before(value, out[first + (j - 1) * inner])) {
      out[first + j * inner] = out[first + (j - 1) * inner];
      --j;
    }
    out[first + j * inner] = value;
  }
}

void CudaBackend::argsort(const Tensor& x, int64_t dim, bool descending, const Tensor& out) {
  const Lines l = lines_of(x.shape(), dim);
  if (x.numel() == 0) return;
  dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    argsort_kernel<T><<<blocks_for(l.outer * l.inner), kThreads>>>(static_cast<const T*>(x.raw_data()),
                                                                   static_cast<int64_t*>(out.raw_data()), l.outer,
                                                                   l.size, l.inner, descending);
  });
  launched("argsort");
}

}  // namespace sm::cuda
