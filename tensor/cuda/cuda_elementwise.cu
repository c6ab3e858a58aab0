// CUDA fill, copy and elementwise kernels: one thread per output element in a grid-stride
// loop, offsets from the operands' strides (broadcast operands have stride 0). Each unary and
// binary kernel is compiled once per op of its family (see `visit` in tensor/backend.h).
#include "tensor/cuda/cuda_common.cuh"

namespace sm::cuda {

// Runs body(off) for every element of s's shape, with off[k] the offsets in operand k.
template <int K, typename Body> __device__ void for_each_element(const Strided<K>& s, int64_t n, Body body) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[K];
    s.offsets(i, off);
    body(off);
  }
}

template <typename T> __global__ void fill_kernel(T* out, Strided<1> s, int64_t n, T value) {
  for_each_element(s, n, [&](const int64_t(&off)[1]) { out[off[0]] = value; });
}

void CudaBackend::fill(const Tensor& out, double value) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_all_dtypes(out.dtype(), [&](auto t) {
    using T = decltype(t);
    fill_kernel<T><<<blocks_for(n), kThreads>>>(static_cast<T*>(out.raw_data()), describe<1>(out.shape(), {&out}), n,
                                                static_cast<T>(value));
  });
  launched("fill");
}

template <typename S, typename D> __global__ void copy_kernel(const S* in, D* out, Strided<2> s, int64_t n) {
  for_each_element(s, n, [&](const int64_t(&off)[2]) { out[off[0]] = static_cast<D>(in[off[1]]); });
}

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  dispatch_all_dtypes(src.dtype(), [&](auto s) {
    using S = decltype(s);
    dispatch_all_dtypes(dst.dtype(), [&](auto d) {
      using D = decltype(d);
      copy_kernel<S, D><<<blocks_for(n), kThreads>>>(static_cast<const S*>(src.raw_data()),
                                                     static_cast<D*>(dst.raw_data()), describe<2>(dst.shape(), {&dst, &src}), n);
    });
  });
  launched("copy");
}

// The same formulas as the CPU kernels (tensor/cpu/cpu_elementwise.cpp), in T. Each family's
// formulas are one if-constexpr chain ending in a static_assert: `visit` compiles a kernel for
// every member, so a member without a formula stops the build (nvcc has no -Werror=switch for
// device code).
template <auto> constexpr bool kNoFormula = false;

// GELU's pieces: the normal CDF as erfc, which stays accurate in the lower tail where
// 1 + erf(x / sqrt 2) cancels; the tanh approximation's inner argument.
template <typename T> __device__ T normal_cdf(T x) { return T(0.5) * erfc(-x * T(0.70710678118654752440)); }
template <typename T> __device__ T normal_pdf(T x) { return exp(T(-0.5) * x * x) * T(0.39894228040143267794); }
template <typename T> __device__ T gelu_tanh_inner(T x) { return tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)); }

template <UnaryOp op, typename T> __device__ T unary_value(T x, T p0, T p1) {
  using enum UnaryOp;
  if constexpr (op == Neg) return -x;
  else if constexpr (op == Exp) return exp(x);
  else if constexpr (op == Log) return log(x);
  else if constexpr (op == Sqrt) return sqrt(x);
  else if constexpr (op == Rsqrt) return T(1) / sqrt(x);
  else if constexpr (op == Abs) return fabs(x);
  else if constexpr (op == Sign) return T((x > 0) - (x < 0));
  else if constexpr (op == Tanh) return tanh(x);
  else if constexpr (op == Sigmoid) return T(1) / (T(1) + exp(-x));
  else if constexpr (op == Relu) return x > 0 ? x : T(0);
  else if constexpr (op == Gelu) return x * normal_cdf(x);
  else if constexpr (op == GeluTanh) return T(0.5) * x * (T(1) + gelu_tanh_inner(x));
  else if constexpr (op == PowScalar) return pow(x, p0);
  else if constexpr (op == Clamp) return isnan(x) ? x : fmin(fmax(x, p0), p1);
  else static_assert(kNoFormula<op>, "a unary op without a CUDA formula");
}

template <typename T, UnaryOp op> __global__ void unary_kernel(const T* in, T* out, Strided<2> s, int64_t n, T p0, T p1) {
  for_each_element(s, n, [&](const int64_t(&off)[2]) { out[off[0]] = unary_value<op>(in[off[1]], p0, p1); });
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_floating(x.dtype(), op_name(op), [&](auto t) {
    using T = decltype(t);
    visit(op, [&](auto c) {
      unary_kernel<T, decltype(c)::value><<<blocks_for(n), kThreads>>>(
          static_cast<const T*>(x.raw_data()), static_cast<T*>(out.raw_data()), describe<2>(out.shape(), {&out, &x}), n,
          static_cast<T>(p0), static_cast<T>(p1));
    });
  });
  launched(op_name(op));
}

template <BinaryOp op, typename T> __device__ T binary_value(T a, T b) {
  using enum BinaryOp;
  if constexpr (op == Add) return a + b;
  else if constexpr (op == Sub) return a - b;
  else if constexpr (op == Mul) return a * b;
  else if constexpr (op == Div) return a / b;
  else if constexpr (op == Pow) return static_cast<T>(pow(static_cast<double>(a), static_cast<double>(b)));
  else if constexpr (op == Maximum) return (a != a || a > b) ? a : b;
  else if constexpr (op == Minimum) return (a != a || a < b) ? a : b;
  else if constexpr (op == Eq) return a == b;
  else if constexpr (op == Ne) return a != b;
  else if constexpr (op == Lt) return a < b;
  else if constexpr (op == Le) return a <= b;
  else if constexpr (op == Gt) return a > b;
  else if constexpr (op == Ge) return a >= b;
  // a: the gradient of GELU's output, b: its input.
  else if constexpr (op == GeluBackward) return a * (normal_cdf(b) + b * normal_pdf(b));
  else if constexpr (op == GeluTanhBackward) {
    const T th = gelu_tanh_inner(b);
    return a * (T(0.5) * (T(1) + th) +
                T(0.5) * b * (T(1) - th * th) * T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * b * b));
  } else static_assert(kNoFormula<op>, "a binary op without a CUDA formula");
}

template <typename T, BinaryOp op> __global__ void binary_kernel(const T* a, const T* b, T* out, Strided<3> s, int64_t n) {
  for_each_element(s, n, [&](const int64_t(&off)[3]) { out[off[0]] = binary_value<op>(a[off[1]], b[off[2]]); });
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    visit(op, [&](auto c) {
      binary_kernel<T, decltype(c)::value><<<blocks_for(n), kThreads>>>(
          static_cast<const T*>(a.raw_data()), static_cast<const T*>(b.raw_data()), static_cast<T*>(out.raw_data()),
          describe<3>(out.shape(), {&out, &a, &b}), n);
    });
  });
  launched(op_name(op));
}

template <typename C, typename T>
__global__ void where_kernel(const C* c, const T* a, const T* b, T* out, Strided<4> s, int64_t n) {
  for_each_element(s, n, [&](const int64_t(&off)[4]) { out[off[0]] = c[off[1]] != C(0) ? a[off[2]] : b[off[3]]; });
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    dispatch_dtype(cond.dtype(), [&](auto c) {
      using C = decltype(c);
      where_kernel<C, T><<<blocks_for(n), kThreads>>>(static_cast<const C*>(cond.raw_data()),
                                                      static_cast<const T*>(a.raw_data()),
                                                      static_cast<const T*>(b.raw_data()), static_cast<T*>(out.raw_data()),
                                                      describe<4>(out.shape(), {&out, &cond, &a, &b}), n);
    });
  });
  launched("where");
}

}  // namespace sm::cuda
