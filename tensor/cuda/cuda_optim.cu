// The GPU's fused AdamW step over all parameters at once (tensor/adamw_update.h).
//
// A model has hundreds of parameter tensors, most of them small (biases, norms): a kernel per
// tensor would spend the step on launch overheads. So the tensors are cut into chunks of
// kChunk elements and one launch takes up to kMaxBlocks chunks of up to kMaxTensors tensors,
// one block per chunk; the table saying which block does which chunk travels in the kernel's
// parameters (under the 4 KB every GPU accepts), so nothing is copied to the GPU first.
#include "tensor/adamw_update.h"
#include "tensor/cuda/cuda_common.cuh"

namespace sm::cuda {

namespace {

constexpr int kMaxTensors = 24, kMaxBlocks = 256;
constexpr int64_t kChunk = 16384;  // elements per block: 64 per thread of 256

template <typename T> struct AdamWLaunch {
  T* params[kMaxTensors];
  const T* grads[kMaxTensors];
  T* exp_avgs[kMaxTensors];
  T* exp_avg_sqs[kMaxTensors];
  int64_t numel[kMaxTensors];
  unsigned char block_tensor[kMaxBlocks];  // which tensor block b updates
  int block_chunk[kMaxBlocks];             // and which chunk of it
};
static_assert(sizeof(AdamWLaunch<double>) < 4000, "kernel parameters must stay under 4 KB");

template <typename T> __global__ void adamw_kernel(AdamWLaunch<T> launch, AdamWConstants<T> constants) {
  const int t = launch.block_tensor[blockIdx.x];
  const int64_t begin = launch.block_chunk[blockIdx.x] * kChunk;
  const int64_t end = begin + kChunk < launch.numel[t] ? begin + kChunk : launch.numel[t];
  T* p = launch.params[t];
  const T* g = launch.grads[t];
  T* m = launch.exp_avgs[t];
  T* v = launch.exp_avg_sqs[t];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) adamw_update(p[i], g[i], m[i], v[i], constants);
}

template <typename T>
void run_adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avgs,
               const std::vector<Tensor>& exp_avg_sqs, const AdamWConstants<T>& constants) {
  AdamWLaunch<T> launch{};
  int tensors = 0, blocks = 0;
  auto flush = [&] {
    if (blocks > 0) adamw_kernel<T><<<blocks, kThreads>>>(launch, constants);
    tensors = blocks = 0;
  };
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t n = params[i].numel();
    if (n == 0) continue;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      if (chunk == 0 || tensors == 0) {  // (re)register the tensor in this launch's table
        if (tensors == kMaxTensors) flush();
        launch.params[tensors] = static_cast<T*>(params[i].raw_data());
        launch.grads[tensors] = static_cast<const T*>(grads[i].raw_data());
        launch.exp_avgs[tensors] = static_cast<T*>(exp_avgs[i].raw_data());
        launch.exp_avg_sqs[tensors] = static_cast<T*>(exp_avg_sqs[i].raw_data());
        launch.numel[tensors] = n;
        ++tensors;
      }
      check(chunk <= INT32_MAX, "adamw", "a parameter of ", n, " elements is too large");
      launch.block_tensor[blocks] = static_cast<unsigned char>(tensors - 1);
      launch.block_chunk[blocks] = static_cast<int>(chunk);
      if (++blocks == kMaxBlocks) flush();
    }
  }
  flush();
}

}  // namespace

void CudaBackend::adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                        const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs, const AdamWStep& s) {
  if (params.empty()) return;
  dispatch_floating(params[0].dtype(), "adamw", [&](auto t) {
    using T = decltype(t);
    for (const Tensor& p : params)
      check(p.dtype() == params[0].dtype(), "adamw", "parameters of dtypes ", dtype_name(params[0].dtype()), " and ",
            dtype_name(p.dtype()), " in one step");
    run_adamw<T>(params, grads, exp_avgs, exp_avg_sqs, AdamWConstants<T>(s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.step));
  });
  launched("adamw");
}

}  // namespace sm::cuda
