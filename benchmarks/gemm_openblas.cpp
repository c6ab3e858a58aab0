// OpenBLAS's SGEMM called directly.
#include <cblas.h>

#include "benchmarks/gemm_engines.h"

void gemm_openblas(const float* a, const float* b, float* c, int n) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
}
