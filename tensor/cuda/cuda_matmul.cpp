// CUDA matrix products with cuBLAS.
//
// cuBLAS is column-major. A row-major (m, k) matrix with leading dim ld is, in memory,
// the column-major (k, m) matrix A^T; so for row-major C = A B we ask cuBLAS for the
// column-major C^T = B^T A^T, which needs no copy. A transposed view (column-major in
// our terms) just flips that operand's op to CUBLAS_OP_T.
#include <cublas_v2.h>

#include <vector>

#include "tensor/cuda/cuda_backend.h"

namespace sm::cuda {

static cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created;
    check(cublasCreate(&created) == CUBLAS_STATUS_SUCCESS, "matmul", "cublasCreate failed");
    return created;
  }();
  return h;
}

static void check_cublas(cublasStatus_t status) {
  check(status == CUBLAS_STATUS_SUCCESS, "matmul", "cuBLAS error ", static_cast<int>(status));
}

template <typename T>
static void gemm(cublasOperation_t op_b, cublasOperation_t op_a, int64_t n, int64_t m, int64_t k, const T* b,
                 int64_t ldb, long long stride_b, const T* a, int64_t lda, long long stride_a, T* c, long long stride_c,
                 int64_t batches) {
  const T one = 1, zero = 0;
  if constexpr (std::is_same_v<T, float>) {
    check_cublas(cublasSgemmStridedBatched(handle(), op_b, op_a, n, m, k, &one, b, ldb, stride_b, a, lda, stride_a,
                                           &zero, c, n, stride_c, batches));
  } else {
    check_cublas(cublasDgemmStridedBatched(handle(), op_b, op_a, n, m, k, &one, b, ldb, stride_b, a, lda, stride_a,
                                           &zero, c, n, stride_c, batches));
  }
}

void CudaBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t rank = out.dim();
  const int64_t m = out.size(-2), n = out.size(-1), k = a.size(-1);
  const MatrixLayout la = *matrix_layout(a), lb = *matrix_layout(b);  // checked by the op
  const cublasOperation_t op_a = la.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  const cublasOperation_t op_b = lb.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  const Shape batch_shape(out.shape().begin(), out.shape().end() - 2);
  const int64_t batches = numel_of(batch_shape);
  if (batches == 0 || m == 0 || n == 0) return;
  // Element offsets of each batch's a and b (broadcast batch dims have stride 0).
  std::vector<int64_t> off_a(batches), off_b(batches);
  for (int64_t i = 0; i < batches; ++i) {
    int64_t rest = i;
    off_a[i] = off_b[i] = 0;
    for (int64_t d = rank - 3; d >= 0; --d) {
      const int64_t idx = rest % batch_shape[d];
      rest /= batch_shape[d];
      off_a[i] += idx * a.strides()[d];
      off_b[i] += idx * b.strides()[d];
    }
  }
  // One strided-batched call when the batch offsets step evenly, else one call per batch.
  bool even = true;
  for (int64_t i = 1; i < batches && even; ++i)
    even = off_a[i] - off_a[i - 1] == (batches > 1 ? off_a[1] - off_a[0] : 0) &&
           off_b[i] - off_b[i - 1] == (batches > 1 ? off_b[1] - off_b[0] : 0);
  dispatch_floating(out.dtype(), "matmul", [&](auto t) {
    using T = decltype(t);
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    T* pc = static_cast<T*>(out.raw_data());
    if (even) {
      const long long step_a = batches > 1 ? off_a[1] - off_a[0] : 0, step_b = batches > 1 ? off_b[1] - off_b[0] : 0;
      gemm<T>(op_b, op_a, n, m, k, pb, lb.leading_dim, step_b, pa, la.leading_dim, step_a, pc, m * n, batches);
      return;
    }
    for (int64_t i = 0; i < batches; ++i)
      gemm<T>(op_b, op_a, n, m, k, pb + off_b[i], lb.leading_dim, 0, pa + off_a[i], la.leading_dim, 0, pc + i * m * n,
              0, 1);
  });
}

}  // namespace sm::cuda
