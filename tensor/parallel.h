// Parallel loops on the CPU (OpenMP when built with it, serial otherwise): the CPU kernels use
// them, and so may any CPU-side code above tensor/ (feature propagation, data preparation).
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace sm {

// Below this many elements of work a loop runs on one thread: thread start-up costs more.
constexpr int64_t kParallelGrain = 32768;

// True inside a parallel loop: nested loops run on the calling thread.
inline bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

// Calls body(begin, end) over [0, n) split into chunks, in parallel when `work` is large.
template <typename Body> void parallel_for(int64_t n, int64_t work, Body&& body) {
  if (n <= 0) return;
#ifdef _OPENMP
  if (work >= kParallelGrain && n > 1 && !in_parallel()) {
    const int64_t threads = omp_get_max_threads();
    const int64_t chunk = (n + threads - 1) / threads;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < threads; ++t) {
      const int64_t begin = t * chunk, end = begin + chunk < n ? begin + chunk : n;
      if (begin < end) body(begin, end);
    }
    return;
  }
#endif
  body(0, n);
}

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_max_threads([[maybe_unused]] int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
}

}  // namespace sm
