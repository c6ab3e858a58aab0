// Compiled instead of tensor/cuda when the build has no CUDA: any use of the GPU fails
// with one clear line.
#include "tensor/backend.h"

namespace sm {

Backend& cuda_backend() { fail("to", "built without CUDA (reconfigure with -Dcuda=enabled on a machine with nvcc)"); }
bool cuda_available() { return false; }

}  // namespace sm
