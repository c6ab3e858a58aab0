// Defaults for kernels a backend does not provide: a clear error naming op and device.
#include "tensor/backend.h"

#include <algorithm>
#include <atomic>

namespace sm {

std::optional<MatrixLayout> matrix_layout(const Tensor& x) {
  const int64_t rows = x.size(-2), cols = x.size(-1);
  const int64_t row_stride = x.strides()[x.dim() - 2], col_stride = x.strides()[x.dim() - 1];
  if ((col_stride == 1 || cols == 1) && (rows == 1 || row_stride >= std::max<int64_t>(cols, 1)))
    return MatrixLayout{true, rows == 1 ? std::max<int64_t>(cols, 1) : row_stride};
  if ((row_stride == 1 || rows == 1) && (cols == 1 || col_stride >= std::max<int64_t>(rows, 1)))
    return MatrixLayout{false, cols == 1 ? std::max<int64_t>(rows, 1) : col_stride};
  return std::nullopt;
}

static std::atomic<bool> g_allow_tf32{false};
void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }

void Backend::missing(const char* op) const { fail(op, "has no ", device_name(device()), " kernel"); }

void Backend::fill(const Tensor&, double) { missing("fill"); }
void Backend::copy(const Tensor&, const Tensor&) { missing("copy"); }
void Backend::unary(UnaryOp op, const Tensor&, const Tensor&, double, double) { missing(op_name(op)); }
void Backend::binary(BinaryOp op, const Tensor&, const Tensor&, const Tensor&) { missing(op_name(op)); }
void Backend::where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { missing("where"); }
void Backend::reduce(ReduceOp op, const Tensor&, int64_t, int64_t, const Tensor&, double) { missing(op_name(op)); }
void Backend::matmul(const Tensor&, const Tensor&, const Tensor&, bool) { missing("matmul"); }
void Backend::softmax(const Tensor&, int64_t, bool log, const Tensor&) { missing(log ? "log_softmax" : "softmax"); }
void Backend::softmax_backward(const Tensor&, const Tensor&, int64_t, bool log, const Tensor&) {
  missing(log ? "log_softmax_backward" : "softmax_backward");
}
void Backend::layer_norm(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&,
                         const Tensor&) {
  missing("layer_norm");
}
void Backend::layer_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&) {
  missing("layer_norm_backward");
}
void Backend::rms_norm(const Tensor&, const Tensor&, double, const Tensor&, const Tensor&) { missing("rms_norm"); }
void Backend::rms_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  missing("rms_norm_backward");
}
void Backend::gather(const Tensor&, int64_t, const Tensor&, const Tensor&) { missing("gather"); }
void Backend::scatter_add(const Tensor&, int64_t, const Tensor&, const Tensor&) { missing("scatter_add"); }
void Backend::argsort(const Tensor&, int64_t, bool, const Tensor&) { missing("argsort"); }
void Backend::attention(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&) {
  missing("attention");
}
void Backend::attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, double, const Tensor&, const Tensor&, const Tensor&) {
  missing("attention_backward");
}

void Backend::adamw(const std::vector<Tensor>&, const std::vector<Tensor>&, const std::vector<Tensor>&,
                    const std::vector<Tensor>&, const AdamWStep&) {
  missing("adamw");
}

}  // namespace sm
