// Backend: the kernels of one device, behind one interface.
//
// The CPU backend (tensor/cpu) is always built and is the reference. The CUDA backend
// (tensor/cuda) is built when the toolkit is found; otherwise tensor/no_cuda provides
// backend_for(Device::CUDA), which throws "[to] built without CUDA". Which backend exists
// is decided by which files are compiled, never by #ifdef inside an op.
//
// Kernels are called by the ops in autograd/functions.cpp after all checks: shapes agree,
// dtypes agree, outputs are allocated. A kernel a backend does not override throws
// "[op] has no <device> kernel".
#pragma once

#include <cstddef>
#include <optional>

#include "tensor/tensor.h"

namespace sm {

enum class UnaryOp {
  Neg, Exp, Log, Sqrt, Rsqrt, Abs, Sign, Tanh, Sigmoid, Relu,
  Gelu, GeluTanh,          // erf form and tanh approximation
  GeluGrad, GeluTanhGrad,  // their derivatives, for the backward rules
  PowScalar,               // x ** param0
  Clamp,                   // min(max(x, param0), param1)
};
const char* unary_op_name(UnaryOp op);

enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge };
const char* binary_op_name(BinaryOp op);

enum class ReduceOp { Sum, Mean, Var, Max, Min, ArgMax, ArgMin };
const char* reduce_op_name(ReduceOp op);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // Memory.
  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes) = 0;  // nbytes as allocated
  virtual void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) = 0;

  // out[...] = value.
  virtual void fill(const Tensor& out, double value);
  // dst[...] = src[...], any strides on both sides, converting dtype; same shape.
  virtual void copy(const Tensor& src, const Tensor& dst);
  // out = op(x); x may be strided, out is contiguous with x's shape.
  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out, double param0, double param1);
  // out = op(a, b); a and b are already expanded (stride 0) to out's shape.
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
  // out = cond != 0 ? a : b; all expanded to out's shape.
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
  // x is contiguous (rows, reduce_size) viewed flat; out holds `rows` values.
  // Var divides by (reduce_size - correction).
  virtual void reduce(ReduceOp op, const Tensor& x, int64_t reduce_size, const Tensor& out,
                      double correction);
  // out (batch..., M, N) = a (batch..., M, K) @ b (batch..., K, N). a and b may have any
  // batch strides (0 for broadcast) and be transposed in their last two dims.
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& out);
  // Softmax (or log-softmax) of contiguous x along `dim`.
  virtual void softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out);
  // gx from y = softmax(x) (or log_softmax) and gy, all contiguous.
  virtual void softmax_backward(const Tensor& y, const Tensor& gy, int64_t dim, bool log,
                                const Tensor& gx);
  // Rows of contiguous x (rows, C): out = (x - mean) * rstd * weight + bias.
  // weight/bias may be undefined. Saves mean and rstd (rows) for the backward.
  virtual void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                          const Tensor& out, const Tensor& mean, const Tensor& rstd);
  // gx (rows, C); gweight/gbias (C) are written when defined.
  virtual void layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight,
                                   const Tensor& mean, const Tensor& rstd, const Tensor& gx,
                                   const Tensor& gweight, const Tensor& gbias);
  // out[i][j][k] = x[index[i][j][k]][j][k] (for dim 0), index contiguous int64.
  virtual void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
  // out[index[i][j][k]][j][k] += src[i][j][k] (for dim 0), in place; out contiguous.
  virtual void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
  // Indices that sort contiguous x along dim (stable).
  virtual void argsort(const Tensor& x, int64_t dim, bool descending, const Tensor& out);

 protected:
  [[noreturn]] void missing(const char* op) const;
};

// How a matmul operand's last two dims lie in memory, for GEMM routines that take a
// row-major or column-major matrix with a leading dimension (Eigen maps, cuBLAS).
// A transposed view is column-major: it multiplies without a copy.
struct MatrixLayout {
  bool row_major;
  int64_t leading_dim;  // elements between consecutive rows (row-major) or columns
};
// std::nullopt when the operand must be made contiguous first (e.g. a broadcast matrix).
std::optional<MatrixLayout> matrix_layout(const Tensor& x);

// The backend of a device. For CUDA in a build without it: throws "[to] built without CUDA".
Backend& backend_for(Device device);
bool cuda_available();  // built with CUDA and a GPU is present

// Threads the CPU kernels use (OpenMP; Eigen and OpenBLAS follow it). The default is
// OMP_NUM_THREADS, else one per core.
void set_cpu_threads(int threads);
int cpu_threads();

}  // namespace sm
