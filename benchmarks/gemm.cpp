// GEMM benchmark: GFLOP/s of a float32 n x n x n product at n = 256, 1024, 2048 for
//   eigen     Eigen's own GEMM
//   openblas  OpenBLAS's sgemm (built with -Dblas=openblas, the default)
//   library   sm::matmul, i.e. whichever engine this build uses, plus its overhead
// Each figure is the best of several timed runs after a warm-up.
//   build/benchmarks/bench_gemm [--threads N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "autograd/autograd.h"
#include "benchmarks/gemm_engines.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace sm;

static double best_seconds(const std::function<void()>& run, int repeats) {
  run();  // warm-up
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--threads") == 0) {
#ifdef _OPENMP
      omp_set_num_threads(std::stoi(argv[i + 1]));
#endif
    }
#ifdef _OPENMP
  std::printf("threads: %d\n", omp_get_max_threads());
#endif
  std::printf("%6s %12s %12s %12s\n", "n", "eigen", "openblas", "library");
  for (int n : {256, 1024, 2048}) {
    manual_seed(0);
    Tensor a = randn({n, n}), b = randn({n, n}), c = empty({n, n});
    const int repeats = n <= 256 ? 20 : (n <= 1024 ? 5 : 3);
    const double flops = 2.0 * n * n * n;
    auto gflops = [&](double seconds) { return flops / seconds / 1e9; };
    const double eigen = gflops(best_seconds([&] { gemm_eigen_own(a.data<float>(), b.data<float>(), c.data<float>(), n); }, repeats));
#ifdef SM_BENCH_OPENBLAS
    const double openblas = gflops(best_seconds([&] { gemm_openblas(a.data<float>(), b.data<float>(), c.data<float>(), n); }, repeats));
#else
    const double openblas = 0;
#endif
    const double library = gflops(best_seconds([&] { c = matmul(a, b); }, repeats));
    std::printf("%6d %12.1f %12.1f %12.1f   GFLOP/s\n", n, eigen, openblas, library);
  }
  return 0;
}
