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
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/allocator.h"
#include "tensor/tensor.h"

namespace sm {

// ---- Kernel families ----
// Elementwise ops and reductions share one kernel per family, told which member to run.
// Each family is ONE list, X(Enumerator, "name"); the enum, the names used in errors and
// `visit` (below) are generated from it. A backend dispatches with `visit`, which compiles
// its kernel once per member with the member known at compile time; a member some backend
// has no case for fails the build (-Werror=switch), and a value outside the list throws.
#define SM_UNARY_OPS(X)                                                                        \
  X(Neg, "neg") X(Exp, "exp") X(Log, "log") X(Sqrt, "sqrt") X(Rsqrt, "rsqrt") X(Abs, "abs")     \
  X(Sign, "sign") X(Tanh, "tanh") X(Sigmoid, "sigmoid") X(Relu, "relu")                         \
  X(Gelu, "gelu") X(GeluTanh, "gelu_tanh")              /* erf form and tanh approximation */   \
  X(PowScalar, "pow_scalar")                            /* x ** param0 */                       \
  X(Clamp, "clamp")                                     /* min(max(x, param0), param1) */

#define SM_BINARY_OPS(X)                                                                    \
  X(Add, "add") X(Sub, "sub") X(Mul, "mul") X(Div, "div") X(Pow, "pow") X(Maximum, "maximum") \
  X(Minimum, "minimum") X(Eq, "eq") X(Ne, "ne") X(Lt, "lt") X(Le, "le") X(Gt, "gt") X(Ge, "ge")   \
  X(GeluBackward, "gelu_backward")         /* a * gelu'(b): a the output's gradient, b the input */ \
  X(GeluTanhBackward, "gelu_tanh_backward") /* the same for the tanh approximation */

#define SM_REDUCE_OPS(X) \
  X(Sum, "sum") X(Mean, "mean") X(Var, "var") X(Max, "max") X(Min, "min") X(ArgMax, "argmax") X(ArgMin, "argmin")

#define SM_FAMILY_ENUMERATOR(Name, text) Name,
#define SM_FAMILY_NAME_CASE(Name, text) \
  case Name:                            \
    return text;
#define SM_FAMILY_VISIT_CASE(Name, text) \
  case Name:                             \
    return fn(std::integral_constant<decltype(op), Name>{});
// Declares `enum class Family`, `op_name(Family)` and `visit(Family, fn)`, where fn is
// called with std::integral_constant<Family, member>.
#define SM_KERNEL_FAMILY(Family, LIST)                                               \
  enum class Family { LIST(SM_FAMILY_ENUMERATOR) };                                  \
  inline const char* op_name(Family op) {                                            \
    using enum Family;                                                               \
    switch (op) { LIST(SM_FAMILY_NAME_CASE) }                                        \
    return "unknown " #Family;                                                       \
  }                                                                                  \
  template <typename Fn> decltype(auto) visit(Family op, Fn&& fn) {                  \
    using enum Family;                                                               \
    switch (op) { LIST(SM_FAMILY_VISIT_CASE) }                                       \
    fail(#Family, "no member with value ", static_cast<int>(op));                    \
  }

SM_KERNEL_FAMILY(UnaryOp, SM_UNARY_OPS)
SM_KERNEL_FAMILY(BinaryOp, SM_BINARY_OPS)
SM_KERNEL_FAMILY(ReduceOp, SM_REDUCE_OPS)

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // Memory: the device's caching allocator (tensor/allocator.h) and copies to and from the host.
  virtual CachingAllocator& memory() = 0;
  virtual void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) = 0;
  // Whether matmul and attention take bfloat16 operands (autocast's mixed precision,
  // autograd/autocast.h), accumulating and writing float32. A backend that does not is handed
  // float32 operands rounded to bfloat16 values instead: the same products, at float32 speed.
  virtual bool multiplies_bfloat16() const { return false; }
  // Waits until every kernel launched so far has finished (the CPU's kernels finish before they
  // return; the GPU's run ahead of the host). For timing; transfers to the host wait anyway.
  virtual void synchronize() {}

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
  // x is contiguous, seen as (outer, reduce_size, inner); the middle axis is reduced into
  // out, contiguous (outer, inner). inner = 1 reduces rows; outer = 1 reduces columns (a bias
  // gradient: the sum over all leading dims), with no transposing copy either way.
  // Var divides by (reduce_size - correction).
  virtual void reduce(ReduceOp op, const Tensor& x, int64_t reduce_size, int64_t inner, const Tensor& out,
                      double correction);
  // out (batch..., M, N) = a (batch..., M, K) @ b (batch..., K, N), or out += a @ b when
  // `accumulate` (a bias already in out: the GEMM adds to it, saving a pass). a and b may have
  // any batch strides (0 for broadcast) and be transposed in their last two dims.
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate);
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
  // Rows of contiguous x (rows, C): out = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps).
  // weight may be undefined. Saves rstd (rows) for the backward.
  virtual void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out, const Tensor& rstd);
  // gx (rows, C) only: the weight's gradient is a column sum, left to the op (autograd/functions.cpp).
  virtual void rms_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                                 const Tensor& gx);
  // out[i][j][k] = x[index[i][j][k]][j][k] (for dim 0), index contiguous int64.
  virtual void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
  // out[index[i][j][k]][j][k] += src[i][j][k] (for dim 0), in place; out contiguous.
  virtual void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
  // Indices that sort contiguous x along dim (stable).
  virtual void argsort(const Tensor& x, int64_t dim, bool descending, const Tensor& out);

  // Fused attention: out = softmax(q k^T * scale) v, computed block by block so that no
  // (N, M) matrix of weights is ever held whole (FlashAttention's online softmax).
  // q (B, H, N, D), k (B, H, M, D), v (B, H, M, Dv), out (B, H, N, Dv): views whose last dim
  // is contiguous, any strides elsewhere (so heads can be read from, and written into, the
  // (B, N, H, D) layout of the projections without a copy). lse (B, H, N), contiguous, the
  // dtype of q: each row's log-sum-exp of the scaled scores, kept for the backward.
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out,
                         const Tensor& lse);
  // gq, gk, gv (shapes of q, k, v; same stride rules) from gout (the shape of out), with the
  // weights recomputed from q, k and lse block by block.
  virtual void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, const Tensor& gout, double scale, const Tensor& gq,
                                  const Tensor& gk, const Tensor& gv);

  // One fused AdamW step (tensor/adamw_update.h) over a list of parameters: params[i],
  // grads[i], exp_avgs[i] and exp_avg_sqs[i] are contiguous tensors of one shape and floating
  // dtype on this device; params and both moments are updated in place. `step` counts from 1
  // (the bias corrections use it).
  struct AdamWStep {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t step;
  };
  virtual void adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                     const AdamWStep& step);

 protected:
  [[noreturn]] void missing(const char* op) const;
};

// The kernels of the Backend interface, one list: tests/test_coverage.cpp checks that every
// backend implements each of them, and that every op in tensor/ops.def uses only kernels on
// this list (so each op runs on every backend). A kernel added to Backend belongs here.
#define SM_BACKEND_KERNELS(X)                                                                       \
  X(fill) X(copy) X(unary) X(binary) X(where) X(reduce) X(matmul) X(softmax) X(softmax_backward)  \
  X(layer_norm) X(layer_norm_backward) X(rms_norm) X(rms_norm_backward) X(gather) X(scatter_add)   \
  X(argsort) X(attention) X(attention_backward) X(adamw)

// The kernels a backend class B overrides (the others throw "has no <device> kernel"). Read
// from B's declarations at compile time: &B::name names B's member only if B declares it.
template <typename> struct member_of;
template <typename Function, typename Class> struct member_of<Function Class::*> {
  using type = Class;
};
template <typename B> std::vector<std::string> implemented_kernels() {
  std::vector<std::string> names;
#define SM_IF_IMPLEMENTED(name) \
  if (std::is_same_v<typename member_of<decltype(&B::name)>::type, B>) names.push_back(#name);
  SM_BACKEND_KERNELS(SM_IF_IMPLEMENTED)
#undef SM_IF_IMPLEMENTED
  return names;
}

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
// While alive, the CPU's kernels run through `front` (which passes them on to the CPU backend):
// tests use it to see which kernels each op runs. One at a time.
class CpuBackendOverride {
 public:
  explicit CpuBackendOverride(Backend& front);
  ~CpuBackendOverride();
  CpuBackendOverride(const CpuBackendOverride&) = delete;
  CpuBackendOverride& operator=(const CpuBackendOverride&) = delete;
};
bool cuda_available();  // built with CUDA and a GPU is present (asked once, then remembered)

// The caching allocator's bytes on a device (tensor/allocator.h); the peaks count from the
// start or the last reset_peak_memory(device).
MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);
// Gives the device's cached free blocks back to the system (tensors keep theirs).
void release_cached_memory(Device device);

// Whether float32 matrix products may use TF32 tensor cores on GPUs that have them (inputs
// rounded to 10 mantissa bits, about 8x the float32 rate). Off by default, and in the tests.
void set_allow_tf32(bool allow);
bool allow_tf32();

// Threads the CPU kernels use (OpenMP; Eigen and OpenBLAS follow it). The default is
// OMP_NUM_THREADS, else one per core.
void set_cpu_threads(int threads);
int cpu_threads();
// What runs the CPU's matrix products, e.g. "OpenBLAS, SkylakeX kernels" or "Eigen".
std::string cpu_gemm_engine();

}  // namespace sm
