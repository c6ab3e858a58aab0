// The OpenBLAS loader (see blas.h for why it loads rather than links).
#include <dlfcn.h>

#include <cblas.h>  // declarations only: the functions are looked up in the loaded library

#include <Eigen/Core>
#include <cstring>

#include "tensor/cpu/blas.h"
#include "tensor/error.h"

namespace sm::cpu {

namespace {

decltype(&cblas_sgemm) g_sgemm = nullptr;
decltype(&cblas_dgemm) g_dgemm = nullptr;

int blas_int(int64_t v) {
  check(v >= 0 && v <= INT32_MAX, "matmul", "dimension ", v, " exceeds OpenBLAS's 32-bit sizes");
  return static_cast<int>(v);
}

template <typename T, typename Gemm>
void row_major_gemm(Gemm gemm, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                    int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  gemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blas_int(m),
       blas_int(n), blas_int(k), alpha, a, blas_int(lda), b, blas_int(ldb), beta, c, blas_int(ldc));
}

// Floats per vector register in OpenBLAS's kernels for a core it names.
int openblas_lanes(const char* core) {
  for (const char* wide : {"SkylakeX", "Cooperlake", "SapphireRapids"})
    if (std::strcmp(core, wide) == 0) return 16;  // AVX-512
  for (const char* avx : {"Haswell", "Zen", "SandyBridge", "Excavator", "Steamroller", "Piledriver", "Bulldozer"})
    if (std::strcmp(core, avx) == 0) return 8;  // AVX, AVX2
  return 4;                                     // SSE
}

struct Loaded {
  Blas blas{};
  bool ok = false;
  std::string engine = "Eigen";
};

const Loaded& loaded() {
  static const Loaded library = [] {
    Loaded l;
    void* handle = dlopen(SM_OPENBLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!handle) return l;  // Eigen's GEMM then
    g_sgemm = reinterpret_cast<decltype(g_sgemm)>(dlsym(handle, "cblas_sgemm"));
    g_dgemm = reinterpret_cast<decltype(g_dgemm)>(dlsym(handle, "cblas_dgemm"));
    auto corename = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_corename"));
    if (!g_sgemm || !g_dgemm) return l;
    // OPENBLAS_CORETYPE may pin OpenBLAS to narrower kernels than this CPU runs (some
    // environments set it for reproducibility): then Eigen's GEMM, compiled for this CPU
    // (-march=native), is faster, and runs the products instead.
    const char* core = corename ? corename() : "unknown";
    const int eigen_lanes = Eigen::internal::packet_traits<float>::size;
    if (openblas_lanes(core) < eigen_lanes) {
      l.engine = std::string("Eigen (OpenBLAS runs ") + core + " kernels: narrower)";
      return l;
    }
    l.blas.sgemm = [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                      const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
      row_major_gemm<float>(g_sgemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    };
    l.blas.dgemm = [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                      const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
      row_major_gemm<double>(g_dgemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    };
    l.ok = true;
    l.engine = std::string("OpenBLAS, ") + core + " kernels";
    return l;
  }();
  return library;
}

}  // namespace

const Blas* blas() { return loaded().ok ? &loaded().blas : nullptr; }
std::string gemm_engine() { return loaded().engine; }

}  // namespace sm::cpu
