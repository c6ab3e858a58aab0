// CUDA matrix products with cuBLAS (cublasGemmStridedBatchedEx).
//
// cuBLAS is column-major. A row-major (m, k) matrix with leading dim ld is, in memory,
// the column-major (k, m) matrix A^T; so for row-major C = A B we ask cuBLAS for the
// column-major C^T = B^T A^T, which needs no copy. A transposed view (column-major in
// our terms) just flips that operand's op to CUBLAS_OP_T.
//
// Precision: float64 products compute in float64; float32 ones in float32, or with TF32
// tensor cores (inputs rounded to 10 mantissa bits) when set_allow_tf32(true); bfloat16
// operands (mixed precision) multiply on the tensor cores and accumulate and write float32.
#include <cublas_v2.h>

#include <climits>
#include <vector>

#include "tensor/cuda/cuda_backend.h"

namespace sm::cuda {

namespace {

cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created;
    check(cublasCreate(&created) == CUBLAS_STATUS_SUCCESS, "matmul", "cublasCreate failed");
    return created;
  }();
  return h;
}

void check_cublas(cublasStatus_t status) {
  check(status == CUBLAS_STATUS_SUCCESS, "matmul", "cuBLAS error ", static_cast<int>(status), " (",
        cublasGetStatusString(status), ")");
}

cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
    case DType::F32: return CUDA_R_32F;
    case DType::F64: return CUDA_R_64F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::I64: break;
  }
  fail("matmul", "cuBLAS multiplies float32, float64 and bfloat16, not ", dtype_name(dtype));
}

int as_int(int64_t value, const Tensor& a, const Tensor& b) {
  check(value <= INT_MAX, "matmul", "shapes ", fmt(a.shape()), " and ", fmt(b.shape()),
        " exceed cuBLAS's 32-bit sizes");
  return static_cast<int>(value);
}

// The batch dims of out, split as (outer, inner): the trailing `inner` batches of every
// operand lie at one fixed stride from each other (0 for a broadcast operand), so one
// strided-batched call does them; the outer ones would be a loop (matmul packs an operand
// that does not step evenly, so there is one call).
struct BatchPlan {
  Shape outer_shape;           // looped over
  int64_t inner = 1;           // batches per call
  int64_t step_a = 0, step_b = 0;  // element strides between a call's batches
};

BatchPlan plan_batches(const Tensor& a, const Tensor& b, const Shape& batch) {
  BatchPlan plan;
  int64_t d = static_cast<int64_t>(batch.size()) - 1;
  for (; d >= 0; --d) {
    if (batch[d] == 1) continue;
    if (plan.inner == 1) {  // the first (innermost) batch dim of size > 1 sets the steps
      plan.step_a = a.strides()[d];
      plan.step_b = b.strides()[d];
      plan.inner = batch[d];
      continue;
    }
    // dim d joins when both operands step over it exactly `inner` of the dims inside it
    if (a.strides()[d] != plan.step_a * plan.inner || b.strides()[d] != plan.step_b * plan.inner) break;
    plan.inner *= batch[d];
  }
  plan.outer_shape.assign(batch.begin(), batch.begin() + (d + 1));
  return plan;
}

// Whether x's batch dims step evenly, so that one strided-batched call walks them all.
bool batches_even(const Tensor& x, const Shape& batch) {
  int64_t step = 0, inner = 1;
  for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
    if (batch[d] == 1) continue;
    if (inner > 1 && x.strides()[d] != step * inner) return false;
    if (inner == 1) step = x.strides()[d];
    inner *= batch[d];
  }
  return true;
}

// x as a dense (batch..., rows, cols) copy, from the caching allocator.
Tensor packed(CudaBackend& backend, const Tensor& x) {
  Tensor dense = empty(x.shape(), {.dtype = x.dtype(), .device = Device::CUDA});
  backend.copy(x, dense);
  return dense;
}

}  // namespace

void CudaBackend::matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out, bool accumulate) {
  // Heads read in place from a (B, N, H, D) projection step unevenly over (B, H): a loop of
  // small products would cost a launch each, so such an operand is copied dense first.
  const Shape out_batch(out.shape().begin(), out.shape().end() - 2);
  const Tensor a = batches_even(a_in, out_batch) ? a_in : packed(*this, a_in);
  const Tensor b = batches_even(b_in, out_batch) ? b_in : packed(*this, b_in);
  const int64_t m = out.size(-2), n = out.size(-1), k = a.size(-1);
  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  if (numel_of(batch) == 0 || m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: zeros (cuBLAS would leave out untouched)
    if (!accumulate) fill(out, 0);
    return;
  }
  const MatrixLayout la = *matrix_layout(a), lb = *matrix_layout(b);  // checked by the op
  const cublasOperation_t op_a = la.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  const cublasOperation_t op_b = lb.row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  check(a.dtype() == b.dtype(), "matmul", "operands of dtypes ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  const bool doubles = out.dtype() == DType::F64;
  const cublasComputeType_t compute = doubles                                        ? CUBLAS_COMPUTE_64F
                                      : a.dtype() == DType::F32 && allow_tf32()       ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                                     : CUBLAS_COMPUTE_32F;
  const double one_d = 1, zero_d = 0;
  const float one_f = 1, zero_f = 0;
  const void* one = doubles ? static_cast<const void*>(&one_d) : &one_f;
  const void* zero = doubles ? static_cast<const void*>(&zero_d) : &zero_f;
  const std::size_t a_size = dtype_size(a.dtype()), b_size = dtype_size(b.dtype()), c_size = dtype_size(out.dtype());

  const BatchPlan plan = plan_batches(a, b, batch);
  const int64_t calls = numel_of(plan.outer_shape);  // 1: both operands step evenly now
  for (int64_t call = 0; call < calls; ++call) {
    int64_t rest = call, off_a = 0, off_b = 0;  // element offsets of this call's first batch
    for (int64_t d = static_cast<int64_t>(plan.outer_shape.size()) - 1; d >= 0; --d) {
      const int64_t idx = rest % plan.outer_shape[d];
      rest /= plan.outer_shape[d];
      off_a += idx * a.strides()[d];
      off_b += idx * b.strides()[d];
    }
    const char* pa = static_cast<const char*>(a.raw_data()) + off_a * a_size;
    const char* pb = static_cast<const char*>(b.raw_data()) + off_b * b_size;
    char* pc = static_cast<char*>(out.raw_data()) + call * plan.inner * m * n * c_size;
    check_cublas(cublasGemmStridedBatchedEx(
        handle(), op_b, op_a, as_int(n, a, b), as_int(m, a, b), as_int(k, a, b), one, pb, cuda_type(b.dtype()),
        as_int(lb.leading_dim, a, b), plan.step_b, pa, cuda_type(a.dtype()), as_int(la.leading_dim, a, b), plan.step_a,
        accumulate ? one : zero, pc, cuda_type(out.dtype()), as_int(n, a, b), m * n, as_int(plan.inner, a, b), compute, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace sm::cuda
