// CPU matrix products: OpenBLAS's GEMM when it is loaded (cpu/blas.h), else Eigen's own.
// GCC 12 reports false "may be used uninitialized" warnings inside its own AVX-512
// intrinsics when Eigen's GEMM kernels are inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include "tensor/cpu/blas.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/parallel.h"

namespace sm::cpu {

template <typename T>
using RowMajor = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                            Eigen::OuterStride<>>;
template <typename T>
using ColMajor = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0,
                            Eigen::OuterStride<>>;
template <typename T>
using Output = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;

template <typename T, typename A, typename B>
static void eigen_gemm(const A& a, const B& b, T* c, int64_t m, int64_t n, int64_t ldc, T beta) {
  Output<T> out(c, m, n, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) {
    out.noalias() = a * b;
  } else {
    out *= beta;
    out.noalias() += a * b;
  }
}

// One product on the calling thread (the engines stay on one thread inside a parallel region).
template <typename T>
static void gemm_one_thread(const T* a, MatrixLayout la, const T* b, MatrixLayout lb, T* c, int64_t m, int64_t k,
                            int64_t n, int64_t ldc, T beta) {
  if (const Blas* engine = blas()) {
    // Row-major BLAS: a column-major operand is the transpose of a row-major one.
    if constexpr (std::is_same_v<T, float>) {
      return engine->sgemm(!la.row_major, !lb.row_major, m, n, k, 1.0f, a, la.leading_dim, b, lb.leading_dim, beta,
                           c, ldc);
    } else {
      return engine->dgemm(!la.row_major, !lb.row_major, m, n, k, 1.0, a, la.leading_dim, b, lb.leading_dim, beta,
                           c, ldc);
    }
  }
  const Eigen::OuterStride<> sa(la.leading_dim), sb(lb.leading_dim);
  if (la.row_major) {
    RowMajor<T> ma(a, m, k, sa);
    if (lb.row_major) return eigen_gemm<T>(ma, RowMajor<T>(b, k, n, sb), c, m, n, ldc, beta);
    return eigen_gemm<T>(ma, ColMajor<T>(b, k, n, sb), c, m, n, ldc, beta);
  }
  ColMajor<T> ma(a, m, k, sa);
  if (lb.row_major) return eigen_gemm<T>(ma, RowMajor<T>(b, k, n, sb), c, m, n, ldc, beta);
  return eigen_gemm<T>(ma, ColMajor<T>(b, k, n, sb), c, m, n, ldc, beta);
}
// Where a row (or column) block of an operand starts: rows of a row-major matrix are ld apart,
// of a column-major one 1 apart.
static int64_t row_offset(MatrixLayout l, int64_t row) { return l.row_major ? row * l.leading_dim : row; }
static int64_t col_offset(MatrixLayout l, int64_t col) { return l.row_major ? col : col * l.leading_dim; }

// c (m, n; leading dim ldc) = a (m, k) @ b (k, n) + beta c, each operand read row- or
// column-major as it lies in memory (a column-major operand is a transposed view).
// With several threads, each multiplies its own block of rows of c (of columns, when c is
// wider than tall) on one thread: measured 10-60 % faster at the presets' shapes than one
// product split by the engine itself (OpenBLAS and Eigen alike; benchmarks/gemm.cpp).
constexpr int64_t kSplitFrom = int64_t(1) << 20;  // multiply-adds; below this one thread is faster
constexpr int64_t kMinBlock = 16;                 // rows or columns per thread at the least

template <typename T>
void gemm(const T* a, MatrixLayout la, const T* b, MatrixLayout lb, T* c, int64_t m, int64_t k, int64_t n,
          int64_t ldc, T beta) {
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  const int64_t parts = std::min<int64_t>(max_threads(), extent / kMinBlock);
  if (parts < 2 || m * n * k < kSplitFrom || in_parallel()) return gemm_one_thread(a, la, b, lb, c, m, k, n, ldc, beta);
  const int64_t block = (extent + parts - 1) / parts;
  parallel_for(parts, parts * kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      const int64_t first = part * block, size = std::min(block, extent - first);
      if (by_rows) {
        gemm_one_thread(a + row_offset(la, first), la, b, lb, c + first * ldc, size, k, n, ldc, beta);
      } else {
        gemm_one_thread(a, la, b + col_offset(lb, first), lb, c + first, m, k, size, ldc, beta);
      }
    }
  });
}
template void gemm<float>(const float*, MatrixLayout, const float*, MatrixLayout, float*, int64_t, int64_t, int64_t,
                          int64_t, float);
template void gemm<double>(const double*, MatrixLayout, const double*, MatrixLayout, double*, int64_t, int64_t,
                           int64_t, int64_t, double);

void CpuBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  const int64_t rank = out.dim();
  const int64_t m = out.size(-2), n = out.size(-1), k = a.size(-1);
  const MatrixLayout la = *matrix_layout(a), lb = *matrix_layout(b);  // checked by the op
  const Shape batch_shape(out.shape().begin(), out.shape().end() - 2);
  const int64_t batches = numel_of(batch_shape);
  dispatch_floating(out.dtype(), "matmul", [&](auto t) {
    using T = decltype(t);
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    T* pc = static_cast<T*>(out.raw_data());
    auto run = [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        // Batch offsets from the batch strides (0 where a batch dim is broadcast).
        int64_t rest = i, off_a = 0, off_b = 0;
        for (int64_t d = rank - 3; d >= 0; --d) {
          const int64_t idx = rest % batch_shape[d];
          rest /= batch_shape[d];
          off_a += idx * a.strides()[d];
          off_b += idx * b.strides()[d];
        }
        gemm<T>(pa + off_a, la, pb + off_b, lb, pc + i * m * n, m, k, n, n, accumulate ? T(1) : T(0));
      }
    };
    // Many small products: one thread per product. Few large ones: the GEMM's own threads.
    if (batches >= 2 * max_threads()) {
      parallel_for(batches, batches * m * n * k, run);
    } else {
      run(0, batches);
    }
  });
}

}  // namespace sm::cpu
