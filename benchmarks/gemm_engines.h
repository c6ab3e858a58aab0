#pragma once
// c (m x n) = a (m x k) @ b (k x n), row-major floats, on Eigen's own GEMM.
void gemm_eigen_own(const float* a, const float* b, float* c, int m, int n, int k);
