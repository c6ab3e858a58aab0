// Which backend serves which device.
#include <atomic>

#include "tensor/backend.h"

namespace sm {

Backend& cpu_backend();   // tensor/cpu
Backend& cuda_backend();  // tensor/cuda, or the stub in tensor/no_cuda

namespace {
std::atomic<Backend*> g_cpu_front{nullptr};  // see CpuBackendOverride
}

Backend& backend_for(Device device) {
  if (device == Device::CUDA) return cuda_backend();
  Backend* front = g_cpu_front.load(std::memory_order_relaxed);
  return front ? *front : cpu_backend();
}

CpuBackendOverride::CpuBackendOverride(Backend& front) {
  Backend* none = nullptr;
  check(g_cpu_front.compare_exchange_strong(none, &front), "backend", "a CPU backend override is already active");
}
CpuBackendOverride::~CpuBackendOverride() { g_cpu_front = nullptr; }

}  // namespace sm
