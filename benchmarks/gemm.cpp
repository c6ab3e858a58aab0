// GEMM benchmark: GFLOP/s of float32 products (M x K) @ (K x N) for
//   eigen     Eigen's own GEMM
//   library   sm::matmul, i.e. the engine this build uses (OpenBLAS with the kernels chosen
//             for this CPU, see tensor/cpu/blas.h), plus the library's overhead
// at square sizes and at the shapes of the tiny and small presets' layers (tokens of a batch
// of 32 x width), and prints the SGEMM peak: the best library rate over all shapes, the
// yardstick that benchmarks/compare_train_step.sh divides the model's FLOP rate by.
// Each figure is the best of several timed runs after a warm-up.
//   build/benchmarks/bench_gemm [--threads N]
//   OPENBLAS_CORETYPE=Haswell build/benchmarks/bench_gemm   # OpenBLAS pinned to AVX2: the products run on Eigen
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "autograd/autograd.h"
#include "benchmarks/gemm_engines.h"
#include "tensor/backend.h"

using namespace sm;

static double best_seconds(const std::function<void()>& run, double flops) {
  run();  // warm-up
  const int repeats = flops < 1e8 ? 100 : (flops < 2e9 ? 10 : 3);
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
    if (std::strcmp(argv[i], "--threads") == 0) set_cpu_threads(std::stoi(argv[i + 1]));
  std::printf("threads: %d, engine: %s\n", cpu_threads(), cpu_gemm_engine().c_str());
  std::printf("%-26s %6s %6s %6s %10s %10s\n", "shape", "M", "N", "K", "eigen", "library");
  struct Case {
    const char* name;
    int m, n, k;
  };
  const Case cases[] = {
      {"square", 256, 256, 256},          {"square", 1024, 1024, 1024},     {"square", 2048, 2048, 2048},
      {"tiny qkv (32 x 65 tokens)", 2080, 576, 192}, {"tiny fc2", 2080, 192, 768}, {"tiny weight grad", 192, 576, 2080},
      {"small qkv (32 x 50 tokens)", 1600, 1152, 384}, {"small fc2", 1600, 384, 1536},
      {"small weight grad", 384, 1152, 1600},          {"attention head (tiny)", 65, 65, 64},
  };
  double peak = 0;
  for (const Case& c : cases) {
    manual_seed(0);
    Tensor a = randn({c.m, c.k}), b = randn({c.k, c.n}), out = empty({c.m, c.n});
    const double flops = 2.0 * c.m * c.n * c.k;
    auto gflops = [&](const std::function<void()>& run) { return flops / best_seconds(run, flops) / 1e9; };
    const double eigen = gflops([&] { gemm_eigen_own(a.data<float>(), b.data<float>(), out.data<float>(), c.m, c.n, c.k); });
    const double library = gflops([&] { out = matmul(a, b); });
    peak = std::max(peak, library);
    std::printf("%-26s %6d %6d %6d %10.1f %10.1f   GFLOP/s\n", c.name, c.m, c.n, c.k, eigen, library);
  }
  std::printf("SGEMM peak: %.1f GFLOP/s\n", peak);
  return 0;
}
