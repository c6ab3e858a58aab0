// Which backend serves which device.
#include "tensor/backend.h"

namespace sm {

Backend& cpu_backend();   // tensor/cpu
Backend& cuda_backend();  // tensor/cuda, or the stub in tensor/no_cuda

Backend& backend_for(Device device) { return device == Device::CPU ? cpu_backend() : cuda_backend(); }

}  // namespace sm
