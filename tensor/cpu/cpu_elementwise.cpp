// CPU fill, copy and elementwise kernels.
#include <cmath>
#include <numbers>
#include <type_traits>

#include "tensor/cpu/blas.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/cpu_math.h"
#include "tensor/cpu/strided_loop.h"

namespace sm {

Backend& cpu_backend() {
  static cpu::CpuBackend backend;
  return backend;
}

void set_cpu_threads(int threads) {
  check(threads > 0, "threads", "need at least one thread, got ", threads);
  set_max_threads(threads);
}
int cpu_threads() { return max_threads(); }
std::string cpu_gemm_engine() { return cpu::gemm_engine(); }

namespace cpu {

DimSplit split_at(const Shape& shape, int64_t dim) {
  DimSplit s{1, shape.empty() ? 1 : shape[dim], 1};
  for (int64_t d = 0; d < dim; ++d) s.outer *= shape[d];
  for (size_t d = dim + 1; d < shape.size(); ++d) s.inner *= shape[d];
  return s;
}

template <size_t K> static Operands<K> operands(const std::array<const Tensor*, K>& tensors) {
  Operands<K> ops;
  for (size_t k = 0; k < K; ++k) {
    ops.offsets[k] = 0;  // data pointers below already point at each view's first element
    ops.strides[k] = tensors[k]->strides();
  }
  return ops;
}

void CpuBackend::fill(const Tensor& out, double value) {
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T* o = static_cast<T*>(out.raw_data());
    const T v = static_cast<T>(value);
    strided_loop<1>(out.shape(), operands<1>({&out}), [&](const auto& off) { o[off[0]] = v; });
  });
}

// out = f(x) elementwise; x may be strided or broadcast. Runs where both step by one element
// get a plain indexed loop, which the compiler vectorizes.
template <typename In, typename Out, typename F> static void map_unary(const Tensor& x, const Tensor& out, F f) {
  const In* in = static_cast<const In*>(x.raw_data());
  Out* o = static_cast<Out*>(out.raw_data());
  strided_runs<2>(out.shape(), operands<2>({&out, &x}), [&](const auto& off, const auto& step, int64_t n) {
    Out* po = o + off[0];
    const In* px = in + off[1];
    if (step[0] == 1 && step[1] == 1) {
      for (int64_t j = 0; j < n; ++j) po[j] = f(px[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) po[j * step[0]] = f(px[j * step[1]]);
    }
  });
}

// out = f(a, b) elementwise, with plain loops for the common runs: all contiguous, or one
// side broadcast (step 0: a scalar, or a bias row along the run).
template <typename T, typename F>
static void map_binary(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  T* o = static_cast<T*>(out.raw_data());
  strided_runs<3>(out.shape(), operands<3>({&out, &a, &b}), [&](const auto& off, const auto& step, int64_t n) {
    T* po = o + off[0];
    const T* x = pa + off[1];
    const T* y = pb + off[2];
    if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
      for (int64_t j = 0; j < n; ++j) po[j] = f(x[j], y[j]);
    } else if (step[0] == 1 && step[1] == 1 && step[2] == 0) {
      const T yv = *y;
      for (int64_t j = 0; j < n; ++j) po[j] = f(x[j], yv);
    } else if (step[0] == 1 && step[1] == 0 && step[2] == 1) {
      const T xv = *x;
      for (int64_t j = 0; j < n; ++j) po[j] = f(xv, y[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) po[j * step[0]] = f(x[j * step[1]], y[j * step[2]]);
    }
  });
}

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  dispatch_all_dtypes(src.dtype(), [&](auto s) {
    using S = decltype(s);
    dispatch_all_dtypes(dst.dtype(), [&](auto d) {
      using D = decltype(d);
      map_unary<S, D>(src, dst, [](S v) { return static_cast<D>(v); });
    });
  });
}

// GELU, exact form: x Phi(x), Phi the standard normal CDF; its derivative Phi(x) + x phi(x).
// Float uses the vectorizable Phi of cpu_math.h; double (the gradient-check reference) std::erf.
template <typename T> static T normal_cdf(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return normal_cdf_float(x);
  } else {
    return T(0.5) * (T(1) + std::erf(x * T(std::numbers::sqrt2 / 2)));
  }
}
template <typename T> static T gelu_erf(T x) { return x * normal_cdf(x); }
template <typename T> static T gelu_erf_grad(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return gelu_grad_float(x);  // one exponential for both terms
  } else {
    return normal_cdf(x) + x * std::exp(T(-0.5) * x * x) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  }
}
// tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
template <typename T> static T gelu_tanh(T x) {
  const T k = T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);
  return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
}
template <typename T> static T gelu_tanh_grad(T x) {
  const T k = T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);
  const T inner = k * (x + T(0.044715) * x * x * x);
  const T th = std::tanh(inner);
  return T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * k * (T(1) + T(3 * 0.044715) * x * x);
}

template <typename T> static T apply_unary(UnaryOp op, T x, T p0, T p1) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return exp_of(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Sign: return T((x > 0) - (x < 0));
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sigmoid: return T(1) / (T(1) + exp_of(-x));
    case UnaryOp::Relu: return x > 0 ? x : T(0);
    case UnaryOp::Gelu: return gelu_erf(x);
    case UnaryOp::GeluTanh: return gelu_tanh(x);
    case UnaryOp::PowScalar: return std::pow(x, p0);
    case UnaryOp::Clamp: return std::isnan(x) ? x : std::min(std::max(x, p0), p1);
  }
  return x;  // not reached: the switch covers every member (-Werror=switch)
}

void CpuBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, double param0, double param1) {
  dispatch_floating(x.dtype(), op_name(op), [&](auto t) {
    using T = decltype(t);
    const T p0 = static_cast<T>(param0), p1 = static_cast<T>(param1);
    // x ** 2 and x ** 1 (a squared error and its gradient) as a product and a copy, as PyTorch
    // computes them, not one pow call per element.
    if (op == UnaryOp::PowScalar && param0 == 2.0) return map_unary<T, T>(x, out, [](T v) { return v * v; });
    if (op == UnaryOp::PowScalar && param0 == 1.0) return map_unary<T, T>(x, out, [](T v) { return v; });
    visit(op, [&](auto c) {
      map_unary<T, T>(x, out, [p0, p1](T v) { return apply_unary(decltype(c)::value, v, p0, p1); });
    });
  });
}

template <typename T> static T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return static_cast<T>(std::pow(a, b));
    // NaN wins, as in torch.maximum / torch.minimum.
    case BinaryOp::Maximum: return (a != a || a > b) ? a : b;
    case BinaryOp::Minimum: return (a != a || a < b) ? a : b;
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    // a: the gradient of GELU's output, b: its input (one pass instead of two in the backward).
    case BinaryOp::GeluBackward:
      if constexpr (std::is_floating_point_v<T>) return a * gelu_erf_grad(b);
      return T(0);  // integers: refused by the op before this
    case BinaryOp::GeluTanhBackward:
      if constexpr (std::is_floating_point_v<T>) return a * gelu_tanh_grad(b);
      return T(0);
  }
  return a;  // not reached: the switch covers every member (-Werror=switch)
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    visit(op, [&](auto c) {
      map_binary<T>(a, b, out, [](T x, T y) { return apply_binary(decltype(c)::value, x, y); });
    });
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    dispatch_dtype(cond.dtype(), [&](auto c) {
      using C = decltype(c);
      const C* pc = static_cast<const C*>(cond.raw_data());
      const T* pa = static_cast<const T*>(a.raw_data());
      const T* pb = static_cast<const T*>(b.raw_data());
      T* o = static_cast<T*>(out.raw_data());
      strided_loop<4>(out.shape(), operands<4>({&out, &cond, &a, &b}), [&](const auto& off) {
        o[off[0]] = pc[off[1]] != C(0) ? pa[off[2]] : pb[off[3]];
      });
    });
  });
}

}  // namespace cpu
}  // namespace sm
