// Eigen's own GEMM, for comparison with the engine the library uses.
// GCC 12 reports false "may be used uninitialized" warnings inside its own AVX-512
// intrinsics when Eigen's GEMM kernels are inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include "benchmarks/gemm_engines.h"

void gemm_eigen_own(const float* a, const float* b, float* c, int m, int n, int k) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Matrix> ma(a, m, k), mb(b, k, n);
  Eigen::Map<Matrix> mc(c, m, n);
  mc.noalias() = ma * mb;
}
