// Eigen's own GEMM, compiled without EIGEN_USE_BLAS whatever the library was built with.
#undef EIGEN_USE_BLAS
// GCC 12 reports false "may be used uninitialized" warnings inside its own AVX-512
// intrinsics when Eigen's GEMM kernels are inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include "benchmarks/gemm_engines.h"

void gemm_eigen_own(const float* a, const float* b, float* c, int n) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Matrix> ma(a, n, n), mb(b, n, n);
  Eigen::Map<Matrix> mc(c, n, n);
  mc.noalias() = ma * mb;
}
