// OpenBLAS's GEMM, loaded at first use (meson -Dblas=openblas, the default).
//
// Why loaded rather than linked: OpenBLAS picks its kernels for the CPU when it is loaded,
// and the version Debian ships (0.3.21) does not know every CPU that has AVX-512 (AMD Zen 4,
// for one): there it falls back to its AVX2 (Haswell) kernels, which run at half the speed
// of its AVX-512 (SkylakeX) ones (benchmarks/gemm.cpp measures both). OpenBLAS reads its
// choice from OPENBLAS_CORETYPE, and only while loading, so the library sets that variable
// (unless the environment did) on CPUs with AVX-512 before it loads OpenBLAS. Where the
// environment pins OpenBLAS to narrower kernels than the CPU has, and without OpenBLAS
// (-Dblas=eigen, or the file is missing), the products run on Eigen's own GEMM, compiled for
// this CPU.
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
// What runs the products, e.g. "OpenBLAS 0.3.21, SkylakeX kernels" or "Eigen".
std::string gemm_engine();

}  // namespace sm::cpu
