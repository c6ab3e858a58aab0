// CPU kernels of the fused ops: softmax / log_softmax, layer_norm and rms_norm, forward and backward.
#include <array>
#include <cmath>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/cpu_math.h"
#include "tensor/parallel.h"

namespace sm::cpu {

// Runs fn(first, stride, n) for every 1-D line along `dim` of a contiguous tensor.
template <typename Fn> static void for_each_line(const Shape& shape, int64_t dim, Fn&& fn) {
  const DimSplit s = split_at(shape, dim);
  parallel_for(s.outer * s.inner, s.outer * s.inner * s.size, [&](int64_t begin, int64_t end) {
    for (int64_t line = begin; line < end; ++line) {
      const int64_t o = line / s.inner, k = line % s.inner;
      fn(o * s.size * s.inner + k, s.inner, s.size);
    }
  });
}

// Softmax (or log-softmax) of one contiguous row x[0..n) into y. The reductions are OpenMP
// SIMD reductions, so they vectorize (in lanes, i.e. summed in a different order than a plain
// loop would; softmax does not care about that last bit).
template <typename T> static void softmax_row(const T* x, T* y, int64_t n, bool log) {
  T max = x[0];
#pragma omp simd reduction(max : max)
  for (int64_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;  // subtracted so exp never overflows
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    y[i] = exp_of(x[i] - max);
    sum += y[i];
  }
  if (log) {
    const T log_sum = std::log(sum);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - max - log_sum;
  } else {
    const T inv = T(1) / sum;
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

// softmax:     gx = y * (gy - sum(gy * y))
// log_softmax: gx = gy - exp(y) * sum(gy)
template <typename T> static void softmax_backward_row(const T* y, const T* gy, T* gx, int64_t n, bool log) {
  T dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int64_t i = 0; i < n; ++i) dot += log ? gy[i] : gy[i] * y[i];
  for (int64_t i = 0; i < n; ++i) gx[i] = log ? gy[i] - exp_of(y[i]) * dot : y[i] * (gy[i] - dot);
}

// Runs row(pointers...) on every line along `dim`: in place for the last dim (stride 1), else
// on a gathered copy of the line whose result is scattered back.
template <typename T, size_t K, typename Row>
static void for_each_row(const Shape& shape, int64_t dim, std::array<const T*, K> inputs, T* output, Row&& row) {
  for_each_line(shape, dim, [&](int64_t first, int64_t stride, int64_t n) {
    if (stride == 1) {
      std::array<const T*, K> at;
      for (size_t k = 0; k < K; ++k) at[k] = inputs[k] + first;
      row(at, output + first, n);
      return;
    }
    thread_local std::vector<T> buffer;
    buffer.resize((K + 1) * n);
    std::array<const T*, K> at;
    for (size_t k = 0; k < K; ++k) {
      for (int64_t i = 0; i < n; ++i) buffer[k * n + i] = inputs[k][first + i * stride];
      at[k] = buffer.data() + k * n;
    }
    T* result = buffer.data() + K * n;
    row(at, result, n);
    for (int64_t i = 0; i < n; ++i) output[first + i * stride] = result[i];
  });
}

void CpuBackend::softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) {
  dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&](auto t) {
    using T = decltype(t);
    for_each_row<T, 1>(x.shape(), dim, {static_cast<const T*>(x.raw_data())}, static_cast<T*>(out.raw_data()),
                       [&](const auto& in, T* y, int64_t n) { softmax_row(in[0], y, n, log); });
  });
}

void CpuBackend::softmax_backward(const Tensor& y, const Tensor& gy, int64_t dim, bool log, const Tensor& gx) {
  dispatch_floating(y.dtype(), "softmax_backward", [&](auto t) {
    using T = decltype(t);
    for_each_row<T, 2>(y.shape(), dim, {static_cast<const T*>(y.raw_data()), static_cast<const T*>(gy.raw_data())},
                       static_cast<T*>(gx.raw_data()),
                       [&](const auto& in, T* g, int64_t n) { softmax_backward_row(in[0], in[1], g, n, log); });
  });
}

void CpuBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& out,
                            const Tensor& mean, const Tensor& rstd) {
  const int64_t c = x.size(-1), rows = x.numel() / std::max<int64_t>(c, 1);
  dispatch_floating(x.dtype(), "layer_norm", [&](auto t) {
    using T = decltype(t);
    const T* in = static_cast<const T*>(x.raw_data());
    const T* w = weight.defined() ? static_cast<const T*>(weight.raw_data()) : nullptr;
    const T* b = bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr;
    T* o = static_cast<T*>(out.raw_data());
    T* pm = static_cast<T*>(mean.raw_data());
    T* pr = static_cast<T*>(rstd.raw_data());
    parallel_for(rows, rows * c, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* row = in + r * c;
        // The statistics in double, summed in SIMD lanes: one running sum would be a chain of
        // dependent adds, and in double the order changes nothing a float result can see.
        double m = 0;
#pragma omp simd reduction(+ : m)
        for (int64_t i = 0; i < c; ++i) m += row[i];
        m /= c;
        double v = 0;  // biased variance, as LayerNorm uses
#pragma omp simd reduction(+ : v)
        for (int64_t i = 0; i < c; ++i) v += (row[i] - m) * (row[i] - m);
        const double rs = 1.0 / std::sqrt(v / c + eps);
        pm[r] = static_cast<T>(m);
        pr[r] = static_cast<T>(rs);
        for (int64_t i = 0; i < c; ++i) {
          T y = static_cast<T>((row[i] - m) * rs);
          if (w) y *= w[i];
          if (b) y += b[i];
          o[r * c + i] = y;
        }
      }
    });
  });
}

// With xhat = (x - mean) * rstd and g = gy * weight:
//   gx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  gweight = sum_rows gy * xhat,  gbias = sum_rows gy.
void CpuBackend::layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& gx, const Tensor& gweight,
                                     const Tensor& gbias) {
  const int64_t c = x.size(-1), rows = x.numel() / std::max<int64_t>(c, 1);
  dispatch_floating(x.dtype(), "layer_norm_backward", [&](auto t) {
    using T = decltype(t);
    const T* pg = static_cast<const T*>(gy.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T* w = weight.defined() ? static_cast<const T*>(weight.raw_data()) : nullptr;
    const T* pm = static_cast<const T*>(mean.raw_data());
    const T* pr = static_cast<const T*>(rstd.raw_data());
    T* o = static_cast<T*>(gx.raw_data());
    // Each thread sums its rows' weight/bias gradients into its own slot, then we add the slots.
    const int threads = max_threads();
    std::vector<double> partial_w(gweight.defined() ? threads * c : 0), partial_b(gbias.defined() ? threads * c : 0);
    const int64_t chunk = (rows + threads - 1) / threads;
    // One row; `weighted` (whether there is a weight) is a compile-time constant, so that no
    // loop below branches on it per element: with the branch, GCC left the sums scalar.
    auto row_backward = [&](auto weighted, int64_t r, double* slot_w, double* slot_b) {
      constexpr bool kWeighted = decltype(weighted)::value;
      const T* g = pg + r * c;
      const T* xr = px + r * c;
      const T row_mean = pm[r], row_rstd = pr[r];  // xhat in T, as the forward stored them
      auto weighted_g = [&](int64_t i) -> T {
        if constexpr (kWeighted) return g[i] * w[i];
        return g[i];
      };
      double sum_g = 0, sum_gx = 0;  // in double, in SIMD lanes, as in layer_norm
#pragma omp simd reduction(+ : sum_g, sum_gx)
      for (int64_t i = 0; i < c; ++i) {
        const double gi = weighted_g(i);
        const double xhat = (xr[i] - row_mean) * row_rstd;
        sum_g += gi;
        sum_gx += gi * xhat;
      }
      if (slot_w)
        for (int64_t i = 0; i < c; ++i) slot_w[i] += g[i] * ((xr[i] - row_mean) * row_rstd);
      if (slot_b)
        for (int64_t i = 0; i < c; ++i) slot_b[i] += g[i];
      // The input gradient element by element in T: its row sums are already in double.
      const T mean_g = static_cast<T>(sum_g / c), mean_gx = static_cast<T>(sum_gx / c);
      T* gx_row = o + r * c;
#pragma omp simd
      for (int64_t i = 0; i < c; ++i) {
        const T xhat = (xr[i] - row_mean) * row_rstd;
        gx_row[i] = row_rstd * (weighted_g(i) - mean_g - xhat * mean_gx);
      }
    };
    parallel_for(threads, rows * c, [&](int64_t t_begin, int64_t t_end) {
      for (int64_t slot = t_begin; slot < t_end; ++slot) {
        double* slot_w = partial_w.empty() ? nullptr : partial_w.data() + slot * c;
        double* slot_b = partial_b.empty() ? nullptr : partial_b.data() + slot * c;
        for (int64_t r = slot * chunk; r < std::min(rows, (slot + 1) * chunk); ++r) {
          if (w) {
            row_backward(std::true_type{}, r, slot_w, slot_b);
          } else {
            row_backward(std::false_type{}, r, slot_w, slot_b);
          }
        }
      }
    });
    auto finish = [&](const std::vector<double>& partial, const Tensor& grad) {
      if (partial.empty()) return;
      T* out = static_cast<T*>(grad.raw_data());
      for (int64_t i = 0; i < c; ++i) {
        double s = 0;
        for (int slot = 0; slot < threads; ++slot) s += partial[slot * c + i];
        out[i] = static_cast<T>(s);
      }
    };
    finish(partial_w, gweight);
    finish(partial_b, gbias);
  });
}

// RMSNorm (docs/adding-a-layer.md walks through this op): each row is scaled by the inverse of
// its root mean square, rstd = 1 / sqrt(mean(x^2) + eps); no mean is subtracted, no bias added.
void CpuBackend::rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out, const Tensor& rstd) {
  const int64_t c = x.size(-1), rows = x.numel() / std::max<int64_t>(c, 1);
  dispatch_floating(x.dtype(), "rms_norm", [&](auto t) {
    using T = decltype(t);
    const T* in = static_cast<const T*>(x.raw_data());
    const T* w = weight.defined() ? static_cast<const T*>(weight.raw_data()) : nullptr;
    T* o = static_cast<T*>(out.raw_data());
    T* pr = static_cast<T*>(rstd.raw_data());
    parallel_for(rows, rows * c, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* row = in + r * c;
        double squares = 0;  // in double, like layer_norm's statistics
        for (int64_t i = 0; i < c; ++i) squares += static_cast<double>(row[i]) * row[i];
        const double rs = 1.0 / std::sqrt(squares / c + eps);
        pr[r] = static_cast<T>(rs);
        for (int64_t i = 0; i < c; ++i) {
          T y = static_cast<T>(row[i] * rs);
          if (w) y *= w[i];
          o[r * c + i] = y;
        }
      }
    });
  });
}

// With xhat = x * rstd and g = gy * weight (each output depends on its whole row through rstd):
//   gx = rstd * (g - xhat * mean(g * xhat)).
void CpuBackend::rms_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                                   const Tensor& gx) {
  const int64_t c = x.size(-1), rows = x.numel() / std::max<int64_t>(c, 1);
  dispatch_floating(x.dtype(), "rms_norm_backward", [&](auto t) {
    using T = decltype(t);
    const T* pg = static_cast<const T*>(gy.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T* w = weight.defined() ? static_cast<const T*>(weight.raw_data()) : nullptr;
    const T* pr = static_cast<const T*>(rstd.raw_data());
    T* o = static_cast<T*>(gx.raw_data());
    parallel_for(rows, rows * c, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* g = pg + r * c;
        const T* xr = px + r * c;
        const double rs = pr[r];
        double sum_gx = 0;
        for (int64_t i = 0; i < c; ++i) sum_gx += (w ? g[i] * w[i] : g[i]) * (xr[i] * rs);
        const double mean_gx = sum_gx / c;
        for (int64_t i = 0; i < c; ++i) {
          const double gi = w ? g[i] * w[i] : g[i];
          o[r * c + i] = static_cast<T>(rs * (gi - xr[i] * rs * mean_gx));
        }
      }
    });
  });
}

}  // namespace sm::cpu
