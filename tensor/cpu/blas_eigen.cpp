// Built with -Dblas=eigen: every product runs on Eigen's own GEMM.
#include "tensor/cpu/blas.h"

namespace sm::cpu {

const Blas* blas() { return nullptr; }
std::string gemm_engine() { return "Eigen"; }

}  // namespace sm::cpu
