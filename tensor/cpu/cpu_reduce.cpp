// CPU reductions over the last axis of a contiguous (rows, reduce_size) block.
#include <cmath>
#include <limits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/parallel.h"

namespace sm::cpu {

// Float sums accumulate in double: reductions are where float32 loses the most digits.
template <typename T> using Accumulator = std::conditional_t<std::is_integral_v<T>, int64_t, double>;

// Compiled once per op (kOp), so the switch below costs nothing inside the loop.
template <ReduceOp kOp, typename T, typename O>
static void reduce_rows(const T* x, int64_t rows, int64_t n, O* out, double correction) {
  parallel_for(rows, rows * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* row = x + r * n;
      switch (kOp) {
        case ReduceOp::Sum:
        case ReduceOp::Mean: {
          Accumulator<T> acc = 0;
          for (int64_t i = 0; i < n; ++i) acc += row[i];
          out[r] = static_cast<O>(kOp == ReduceOp::Mean ? static_cast<double>(acc) / n : acc);
          break;
        }
        case ReduceOp::Var: {  // two passes: the mean first, then squared deviations
          double mean = 0;
          for (int64_t i = 0; i < n; ++i) mean += row[i];
          mean /= n;
          double sq = 0;
          for (int64_t i = 0; i < n; ++i) sq += (row[i] - mean) * (row[i] - mean);
          const double dof = n - correction;
          out[r] = static_cast<O>(dof > 0 ? sq / dof : std::numeric_limits<double>::quiet_NaN());
          break;
        }
        case ReduceOp::Max:
        case ReduceOp::Min:
        case ReduceOp::ArgMax:
        case ReduceOp::ArgMin: {
          // The first extreme wins; a NaN counts as the extreme (as in PyTorch).
          const bool want_max = kOp == ReduceOp::Max || kOp == ReduceOp::ArgMax;
          int64_t best = 0;
          for (int64_t i = 1; i < n && row[best] == row[best]; ++i) {
            const bool better = row[i] != row[i] || (want_max ? row[i] > row[best] : row[i] < row[best]);
            if (better) best = i;
          }
          const bool arg = kOp == ReduceOp::ArgMax || kOp == ReduceOp::ArgMin;
          out[r] = arg ? static_cast<O>(best) : static_cast<O>(row[best]);
          break;
        }
      }
    }
  });
}

void CpuBackend::reduce(ReduceOp op, const Tensor& x, int64_t reduce_size, const Tensor& out, double correction) {
  const int64_t rows = out.numel();
  dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    dispatch_dtype(out.dtype(), [&](auto o) {
      using O = decltype(o);
      visit(op, [&](auto c) {
        reduce_rows<decltype(c)::value>(static_cast<const T*>(x.raw_data()), rows, reduce_size,
                                         static_cast<O*>(out.raw_data()), correction);
      });
    });
  });
}

}  // namespace sm::cpu
