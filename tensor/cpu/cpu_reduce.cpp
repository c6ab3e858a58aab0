// CPU reductions of the middle axis of a contiguous (outer, n, inner) block.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/parallel.h"

namespace sm::cpu {

// Float sums accumulate in double: reductions are where float32 loses the most digits.
template <typename T> using Accumulator = std::conditional_t<std::is_integral_v<T>, int64_t, double>;

// Reduces `width` adjacent lines at once: line j holds x[i * stride + j] for i in [0, n), so
// rows (stride 1, width 1) and columns (stride = the row length, width up to kColumns) share
// this code, and a block of columns is read one row segment at a time (whole cache lines).
// Compiled once per op (kOp), so the switch costs nothing inside the loops.
constexpr int64_t kColumns = 64;

template <ReduceOp kOp, typename T, typename O>
static void reduce_lines(const T* x, int64_t n, int64_t stride, int64_t width, O* out, double correction) {
  switch (kOp) {
    case ReduceOp::Sum:
    case ReduceOp::Mean: {
      Accumulator<T> acc[kColumns] = {};
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < width; ++j) acc[j] += x[i * stride + j];
      for (int64_t j = 0; j < width; ++j)
        out[j] = static_cast<O>(kOp == ReduceOp::Mean ? static_cast<double>(acc[j]) / n : acc[j]);
      return;
    }
    case ReduceOp::Var: {  // two passes: the mean first, then squared deviations
      double mean[kColumns] = {}, sq[kColumns] = {};
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < width; ++j) mean[j] += x[i * stride + j];
      for (int64_t j = 0; j < width; ++j) mean[j] /= n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < width; ++j) sq[j] += (x[i * stride + j] - mean[j]) * (x[i * stride + j] - mean[j]);
      const double dof = n - correction;
      for (int64_t j = 0; j < width; ++j)
        out[j] = static_cast<O>(dof > 0 ? sq[j] / dof : std::numeric_limits<double>::quiet_NaN());
      return;
    }
    case ReduceOp::Max:
    case ReduceOp::Min:
    case ReduceOp::ArgMax:
    case ReduceOp::ArgMin: {
      // The first extreme wins; a NaN counts as the extreme (as in PyTorch): once a line's
      // best is NaN it stays.
      constexpr bool want_max = kOp == ReduceOp::Max || kOp == ReduceOp::ArgMax;
      constexpr bool arg = kOp == ReduceOp::ArgMax || kOp == ReduceOp::ArgMin;
      T best[kColumns];
      int64_t at[kColumns] = {};
      for (int64_t j = 0; j < width; ++j) best[j] = x[j];
      for (int64_t i = 1; i < n; ++i)
        for (int64_t j = 0; j < width; ++j) {
          const T v = x[i * stride + j];
          if (best[j] == best[j] && (v != v || (want_max ? v > best[j] : v < best[j]))) best[j] = v, at[j] = i;
        }
      for (int64_t j = 0; j < width; ++j) out[j] = arg ? static_cast<O>(at[j]) : static_cast<O>(best[j]);
      return;
    }
  }
}

void CpuBackend::reduce(ReduceOp op, const Tensor& x, int64_t reduce_size, int64_t inner, const Tensor& out,
                        double correction) {
  const int64_t outer = inner == 0 ? 0 : out.numel() / inner;
  const int64_t blocks = (inner + kColumns - 1) / kColumns;  // column blocks per outer index
  dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    dispatch_dtype(out.dtype(), [&](auto o) {
      using O = decltype(o);
      const T* px = static_cast<const T*>(x.raw_data());
      O* po = static_cast<O*>(out.raw_data());
      visit(op, [&](auto c) {
        constexpr ReduceOp kOp = decltype(c)::value;
        if (inner == 1) {  // rows: one line each
          parallel_for(outer, outer * reduce_size, [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; ++r)
              reduce_lines<kOp>(px + r * reduce_size, reduce_size, 1, 1, po + r, correction);
          });
          return;
        }
        parallel_for(outer * blocks, outer * reduce_size * inner, [&](int64_t begin, int64_t end) {
          for (int64_t task = begin; task < end; ++task) {
            const int64_t o = task / blocks, first = task % blocks * kColumns;
            reduce_lines<kOp>(px + o * reduce_size * inner + first, reduce_size, inner,
                              std::min(kColumns, inner - first), po + o * inner + first, correction);
          }
        });
      });
    });
  });
}

}  // namespace sm::cpu
