// CUDA memory and device discovery.
#include <cuda_runtime.h>

#include "tensor/cuda/cuda_backend.h"

namespace sm {

namespace cuda {

void check_cuda(int status, const char* op) {
  if (status != cudaSuccess) fail(op, "CUDA error: ", cudaGetErrorString(static_cast<cudaError_t>(status)));
}

void* CudaBackend::allocate(std::size_t nbytes) {
  void* ptr = nullptr;
  if (nbytes > 0) check_cuda(cudaMalloc(&ptr, nbytes), "alloc");
  return ptr;
}

void CudaBackend::deallocate(void* ptr, std::size_t) {
  if (ptr) cudaFree(ptr);  // never throws: called from destructors
}

void CudaBackend::copy_from_host(void* dst, const void* src, std::size_t n) {
  if (n) check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice), "to");
}

void CudaBackend::copy_to_host(void* dst, const void* src, std::size_t n) {
  if (n) check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost), "to");
}

}  // namespace cuda

bool cuda_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

Backend& cuda_backend() {
  check(cuda_available(), "to", "no CUDA device found (this build has CUDA, the machine has no usable GPU)");
  static cuda::CudaBackend backend;
  return backend;
}

}  // namespace sm
