// The CPU's fused AdamW step: one pass over each parameter's elements (tensor/adamw_update.h).
#include "tensor/adamw_update.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/parallel.h"

namespace sm::cpu {

void CpuBackend::adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                       const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs, const AdamWStep& s) {
  for (size_t i = 0; i < params.size(); ++i) {
    dispatch_floating(params[i].dtype(), "adamw", [&](auto t) {
      using T = decltype(t);
      const AdamWConstants<T> constants(s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.step);
      T* p = static_cast<T*>(params[i].raw_data());
      const T* g = static_cast<const T*>(grads[i].raw_data());
      T* m = static_cast<T*>(exp_avgs[i].raw_data());
      T* v = static_cast<T*>(exp_avg_sqs[i].raw_data());
      const int64_t n = params[i].numel();
      parallel_for(n, 8 * n, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) adamw_update(p[j], g[j], m[j], v[j], constants);
      });
    });
  }
}

}  // namespace sm::cpu
