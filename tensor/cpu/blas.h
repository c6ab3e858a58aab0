// OpenBLAS's GEMM, loaded at first use (meson -Dblas=openblas, the default).
//
// Why loaded rather than linked: a binary built with it still runs where OpenBLAS is missing
// (on Eigen then), and the library can ask OpenBLAS which kernels it chose for this CPU
// (openblas_get_corename) before trusting it with the products. OpenBLAS picks them when it
// is loaded, unless OPENBLAS_CORETYPE names others; where that variable pins it to narrower
// kernels than the CPU runs (some environments set OPENBLAS_CORETYPE=Haswell, AVX2, on
// AVX-512 machines), Eigen's own GEMM, compiled for this CPU, is the faster engine and runs
// the products instead. Without OpenBLAS (-Dblas=eigen, or the file is missing) the products
// run on Eigen too. build/benchmarks/bench_gemm prints which engine runs and its rate.
#pragma once

#include <cstdint>
#include <string>

namespace sm::cpu {

// cblas_?gemm on row-major operands: c (m, n), leading dim ldc, = alpha a b + beta c, where
// a is (m, k) read transposed or not (lda), b is (k, n) likewise (ldb).
struct Blas {
  void (*sgemm)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
  void (*dgemm)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);
};

// The loaded OpenBLAS, or nullptr when the products run on Eigen.
const Blas* blas();
// What runs the products, e.g. "OpenBLAS, Cooperlake kernels" or "Eigen".
std::string gemm_engine();

}  // namespace sm::cpu
