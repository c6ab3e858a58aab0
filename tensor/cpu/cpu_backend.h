// The CPU backend: Eigen for matrix products, OpenMP threads, plain loops elsewhere.
#pragma once

#include "tensor/backend.h"

namespace sm::cpu {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::CPU; }
  CachingAllocator& memory() override;
  void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) override;

  void fill(const Tensor& out, double value) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void unary(UnaryOp op, const Tensor& x, const Tensor& out, double param0, double param1) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, int64_t reduce_size, int64_t inner, const Tensor& out,
              double correction) override;
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) override;
  void softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) override;
  void softmax_backward(const Tensor& y, const Tensor& gy, int64_t dim, bool log, const Tensor& gx) override;
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& out,
                  const Tensor& mean, const Tensor& rstd) override;
  void layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& rstd, const Tensor& gx, const Tensor& gweight,
                           const Tensor& gbias) override;
  void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out, const Tensor& rstd) override;
  void rms_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                         const Tensor& gx) override;
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void argsort(const Tensor& x, int64_t dim, bool descending, const Tensor& out) override;
  void adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avgs,
             const std::vector<Tensor>& exp_avg_sqs, const AdamWStep& step) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out,
                 const Tensor& lse) override;
  void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                          const Tensor& gout, double scale, const Tensor& gq, const Tensor& gk,
                          const Tensor& gv) override;
};

// Splits a contiguous shape around `dim` into (outer, size, inner): element (o, i, k)
// lives at (o * size + i) * inner + k.
struct DimSplit {
  int64_t outer, size, inner;
};
DimSplit split_at(const Shape& shape, int64_t dim);

// c (m, n; leading dim ldc) = a (m, k) @ b (k, n) + beta * c, with a and b read as they lie
// (row-major, or column-major for a transposed view). OpenBLAS or Eigen (cpu/blas.h).
template <typename T>
void gemm(const T* a, MatrixLayout la, const T* b, MatrixLayout lb, T* c, int64_t m, int64_t k, int64_t n, int64_t ldc,
          T beta);

}  // namespace sm::cpu
