// The GPU: discovery (asked once), its caching allocator, copies to and from the host.
#include <cuda_runtime.h>

#include "tensor/cuda/cuda_common.cuh"

namespace sm {

namespace cuda {

void check_cuda(int status, const char* op) {
  if (status != cudaSuccess) fail(op, "CUDA error: ", cudaGetErrorString(static_cast<cudaError_t>(status)));
}

namespace {

class DeviceMemory final : public MemorySource {
 public:
  void* allocate(std::size_t nbytes) override {
    void* ptr = nullptr;
    if (cudaMalloc(&ptr, nbytes) != cudaSuccess) {
      cudaGetLastError();  // clear the error, so the next launch does not report it
      return nullptr;
    }
    return ptr;
  }
  // cudaFree waits for the GPU, which is why blocks are cached. At exit the runtime may be
  // gone already; the error it returns then is of no interest.
  void release(void* ptr, std::size_t) noexcept override { cudaFree(ptr); }
};

}  // namespace

// Never destroyed: tensors held in static objects may be freed after main returns.
CachingAllocator& CudaBackend::memory() {
  static DeviceMemory* source = new DeviceMemory;
  // 512-byte classes as PyTorch's allocator uses; every freed block is kept (on running out,
  // the cache is given back before the allocation fails).
  static CachingAllocator* allocator =
      new CachingAllocator(*source, {.alignment = 512, .cached_from = 0, .cache_limit = SIZE_MAX}, "cuda");
  return *allocator;
}

void CudaBackend::copy_from_host(void* dst, const void* src, std::size_t n) {
  if (n) check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice), "to");
}

// The GPU's kernels run ahead of the host; a transfer to the host waits for them, so a bad
// index found by a kernel is reported here.
void CudaBackend::copy_to_host(void* dst, const void* src, std::size_t n) {
  if (n) check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost), "to");
  raise_index_fault();
}

void CudaBackend::synchronize() {
  check_cuda(cudaDeviceSynchronize(), "synchronize");
  raise_index_fault();
}

int multiprocessor_count() {
  static const int count = [] {
    int device = 0, value = 0;
    check_cuda(cudaGetDevice(&device), "cuda");
    check_cuda(cudaDeviceGetAttribute(&value, cudaDevAttrMultiProcessorCount, device), "cuda");
    return value;
  }();
  return count;
}

Workspace::Workspace(std::size_t nbytes) : nbytes_(nbytes) { data_ = cuda_backend_instance().memory().allocate(nbytes); }
Workspace::~Workspace() { cuda_backend_instance().memory().deallocate(data_, nbytes_); }

CudaBackend& cuda_backend_instance() {
  static CudaBackend backend;
  return backend;
}

}  // namespace cuda

bool cuda_available() {
  static const bool available = [] {
    int count = 0;
    const bool found = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
    cudaGetLastError();  // a machine without a driver leaves an error behind
    return found;
  }();
  return available;
}

Backend& cuda_backend() {
  check(cuda_available(), "to", "no CUDA device found (this build has CUDA, the machine has no usable GPU)");
  return cuda::cuda_backend_instance();
}

}  // namespace sm
