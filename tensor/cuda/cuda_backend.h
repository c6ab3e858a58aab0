// The CUDA backend: cuBLAS for matrix products, our own kernels for the rest (tensor/cuda/*.cu).
// The CPU backend is the reference: tests/test_cuda.cpp runs every op on both and compares.
#pragma once

#include "tensor/backend.h"

namespace sm::cuda {

class CudaBackend final : public Backend {
 public:
  Device device() const override { return Device::CUDA; }
  CachingAllocator& memory() override;
  void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) override;
  void synchronize() override;
  bool multiplies_bfloat16() const override { return true; }  // cuBLAS and the attention kernels

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
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out,
                 const Tensor& lse) override;
  void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                          const Tensor& gout, double scale, const Tensor& gq, const Tensor& gk,
                          const Tensor& gv) override;
  void adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avgs,
             const std::vector<Tensor>& exp_avg_sqs, const AdamWStep& step) override;
};

// The one instance (cuda_backend() in tensor/device.cpp checks for a GPU first).
CudaBackend& cuda_backend_instance();

// Throws "[op] CUDA error: ..." when a CUDA runtime call failed.
void check_cuda(int status, const char* op);

// Throws "[gather] index ... out of range ..." when a kernel since the last call met a bad
// index (kernels cannot throw; they record the first fault and skip the element). Called
// where the host waits for the GPU anyway: transfers to the host and synchronize().
void raise_index_fault();

}  // namespace sm::cuda
