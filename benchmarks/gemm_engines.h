#pragma once
// c (n x n) = a @ b, row-major floats.
void gemm_eigen_own(const float* a, const float* b, float* c, int n);
void gemm_openblas(const float* a, const float* b, float* c, int n);  // only with -Dblas=openblas
