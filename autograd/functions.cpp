// Every op: argument checks, the kernel call, and the backward rule, kept together.
#include "autograd/functions.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <numeric>
#include <optional>

#include "autograd/autocast.h"
#include "tensor/backend.h"

namespace sm {

namespace {

Backend& kernels(const Tensor& x) { return backend_for(x.device()); }

// What a backward rule keeps of a tensor: an alias cut from the graph (no cycles, no
// autograd history), sharing the data.
Tensor saved(const Tensor& x) { return x.detach(); }

Tensor new_like(const Shape& shape, const Tensor& like, DType dtype) {
  return empty(shape, {.dtype = dtype, .device = like.device()});
}
Tensor new_like(const Shape& shape, const Tensor& like) { return new_like(shape, like, like.dtype()); }

void check_floating(const char* op, const Tensor& x) {
  check(is_floating(x.dtype()), op, "expects a floating tensor, got ", dtype_name(x.dtype()), " of shape ",
        fmt(x.shape()));
}

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  check(a.device() == b.device(), op, "tensors are on different devices: ", device_name(a.device()), " ",
        fmt(a.shape()), " and ", device_name(b.device()), " ", fmt(b.shape()));
  check(a.dtype() == b.dtype(), op, "dtypes differ: ", dtype_name(a.dtype()), " ", fmt(a.shape()), " and ",
        dtype_name(b.dtype()), " ", fmt(b.shape()));
}

// ---- raw views and copies (no autograd): the building blocks of the ops below ----

// x seen with `shape` by broadcasting: new leading dims and size-1 dims get stride 0.
Tensor broadcast_view(const Tensor& x, const Shape& shape, const char* op = "expand") {
  check(shape.size() >= x.shape().size(), op, "cannot expand shape ", fmt(x.shape()), " to ", fmt(shape));
  const size_t lead = shape.size() - x.shape().size();
  Shape strides(shape.size(), 0), out_shape = shape;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      check(shape[i] >= 0, op, "cannot expand shape ", fmt(x.shape()), " to ", fmt(shape));
      continue;
    }
    const int64_t have = x.shape()[i - lead];
    if (shape[i] == -1 || shape[i] == have) {
      out_shape[i] = have;
      strides[i] = x.strides()[i - lead];
    } else {
      check(have == 1, op, "cannot expand shape ", fmt(x.shape()), " to ", fmt(shape));
    }
  }
  return make_view(x, out_shape, strides, x.offset());
}

Tensor raw_permute(const Tensor& x, const Shape& dims) {
  Shape shape(dims.size()), strides(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    shape[i] = x.shape()[dims[i]];
    strides[i] = x.strides()[dims[i]];
  }
  return make_view(x, shape, strides, x.offset());
}

Tensor raw_narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  Shape shape = x.shape();
  shape[dim] = length;
  return make_view(x, shape, x.strides(), x.offset() + start * x.strides()[dim]);
}

Tensor raw_copy(const Tensor& x) {
  Tensor out = new_like(x.shape(), x);
  kernels(x).copy(x, out);
  return out;
}

Tensor raw_contiguous(const Tensor& x) { return x.is_contiguous() ? x : raw_copy(x); }

// Replaces one -1 in `shape` by what makes numel match.
Shape infer_shape(Shape shape, int64_t numel, const char* op, const Shape& from) {
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check(infer_at < 0, op, "only one dim can be -1 in ", fmt(shape));
      infer_at = static_cast<int64_t>(i);
    } else {
      check(shape[i] >= 0, op, "invalid size in ", fmt(shape));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    check(known != 0 && numel % known == 0, op, "shape ", fmt(from), " cannot be reshaped to ", fmt(shape));
    shape[infer_at] = numel / known;
  }
  check(numel_of(shape) == numel, op, "shape ", fmt(from), " (", numel, " elements) cannot be reshaped to ",
        fmt(shape));
  return shape;
}

// Strides that show x's elements, in row-major order, with `shape` without copying; none
// when the layout does not allow it. (The algorithm of PyTorch's computeStride: match
// runs of dims that are contiguous with each other.)
std::optional<Shape> view_strides(const Tensor& x, const Shape& shape) {
  if (x.dim() == 0 || x.numel() == 0) return contiguous_strides(shape);
  const Shape& old_shape = x.shape();
  const Shape& old_strides = x.strides();
  Shape strides(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = x.dim() - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_shape[tensor_d];
    const bool chunk_ends = tensor_d == 0 || (old_shape[tensor_d - 1] != 1 &&
                                              old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
      strides[view_d] = view_numel * chunk_base_stride;
      view_numel *= shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (tensor_d > 0) {
      chunk_base_stride = old_strides[tensor_d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

// x seen with `shape` (same numel), as a view when the layout allows, else as a copy.
Tensor raw_reshape(const Tensor& x, const Shape& shape) {
  if (shape == x.shape()) return x;
  std::optional<Shape> strides = view_strides(x, shape);
  if (strides) return make_view(x, shape, *strides, x.offset());
  Tensor packed = raw_copy(x);
  return make_view(packed, shape, contiguous_strides(shape), packed.offset());
}

// A contiguous tensor seen as (rows, c): how the fused row kernels read it.
Tensor as_rows(const Tensor& t, int64_t c) {
  const int64_t rows = c == 0 ? 0 : t.numel() / c;
  return make_view(t, {rows, c}, {c, 1}, t.offset());
}

// A weight / bias seen as one contiguous vector of c values (undefined stays undefined).
Tensor as_vector(const Tensor& t, int64_t c) {
  if (!t.defined()) return t;
  Tensor packed = raw_contiguous(t);
  return make_view(packed, {c}, {1}, packed.offset());
}

Tensor scalar_like(double value, const Tensor& like) {
  return scalar_tensor(value, {.dtype = like.dtype(), .device = like.device()});
}

}  // namespace

// ======================= views =======================

Tensor reshape(const Tensor& x, Shape shape) {
  shape = infer_shape(std::move(shape), x.numel(), "reshape", x.shape());
  if (shape == x.shape()) return x;
  std::optional<Shape> strides = view_strides(x, shape);
  Tensor out = strides ? make_view(x, shape, *strides, x.offset()) : reshape(raw_copy(x), shape);
  return record("reshape", out, {x}, [in_shape = x.shape()](const Tensor& g) -> std::vector<Tensor> {
    return {reshape(g, in_shape)};
  });
}

Tensor view(const Tensor& x, Shape shape) {
  shape = infer_shape(std::move(shape), x.numel(), "view", x.shape());
  check(view_strides(x, shape).has_value(), "view", "a tensor of shape ", fmt(x.shape()), " and strides ",
        fmt(x.strides()), " cannot be viewed as ", fmt(shape), " without a copy; use reshape()");
  return reshape(x, shape);
}

Tensor permute(const Tensor& x, const Shape& dims) {
  check(static_cast<int64_t>(dims.size()) == x.dim(), "permute", "needs ", x.dim(), " dims for shape ",
        fmt(x.shape()), ", got ", fmt(dims));
  Shape normalized(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    normalized[i] = normalize_dim(dims[i], x.dim(), "permute");
    check(!seen[normalized[i]], "permute", "dims ", fmt(dims), " repeat a dim");
    seen[normalized[i]] = true;
    inverse[normalized[i]] = static_cast<int64_t>(i);
  }
  return record("permute", raw_permute(x, normalized), {x}, [inverse](const Tensor& g) -> std::vector<Tensor> {
    return {permute(g, inverse)};
  });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  const int64_t a = normalize_dim(dim0, x.dim(), "transpose"), b = normalize_dim(dim1, x.dim(), "transpose");
  Shape dims(x.dim());
  std::iota(dims.begin(), dims.end(), 0);
  if (x.dim() > 0) std::swap(dims[a], dims[b]);
  return record("transpose", raw_permute(x, dims), {x}, [a, b](const Tensor& g) -> std::vector<Tensor> {
    return {transpose(g, a, b)};
  });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  check(x.dim() > 0, "narrow", "cannot narrow a 0-d tensor");
  const int64_t d = normalize_dim(dim, x.dim(), "narrow");
  const int64_t size = x.size(d);
  if (start < 0) start += size;
  check(start >= 0 && length >= 0 && start + length <= size, "narrow", "range [", start, ", ", start + length,
        ") out of bounds for dim ", d, " of shape ", fmt(x.shape()));
  return record("narrow", raw_narrow(x, d, start, length), {x},
                [shape = x.shape(), d, start, length](const Tensor& g) -> std::vector<Tensor> {
                  Tensor grad = zeros(shape, {.dtype = g.dtype(), .device = g.device()});
                  kernels(g).copy(g, raw_narrow(grad, d, start, length));
                  return {grad};
                });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor out = broadcast_view(x, shape);
  if (out.shape() == x.shape()) return x;
  return record("expand", out, {x}, [in_shape = x.shape()](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, in_shape)};
  });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int64_t d = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  const int64_t stride = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return record("unsqueeze", make_view(x, shape, strides, x.offset()), {x},
                [in_shape = x.shape()](const Tensor& g) -> std::vector<Tensor> { return {reshape(g, in_shape)}; });
}

// Removes the size-1 dims marked in `drop`.
static Tensor squeeze_dims(const Tensor& x, const std::vector<bool>& drop) {
  Shape shape, strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (drop[d] && x.shape()[d] == 1) continue;
    shape.push_back(x.shape()[d]);
    strides.push_back(x.strides()[d]);
  }
  if (shape.size() == x.shape().size()) return x;
  return record("squeeze", make_view(x, shape, strides, x.offset()), {x},
                [in_shape = x.shape()](const Tensor& g) -> std::vector<Tensor> { return {reshape(g, in_shape)}; });
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  std::vector<bool> drop(x.dim(), false);
  if (x.dim() > 0) drop[normalize_dim(dim, x.dim(), "squeeze")] = true;
  return squeeze_dims(x, drop);
}

Tensor squeeze(const Tensor& x) { return squeeze_dims(x, std::vector<bool>(x.dim(), true)); }

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  const int64_t s = normalize_dim(start_dim, x.dim(), "flatten"), e = normalize_dim(end_dim, x.dim(), "flatten");
  check(s <= e, "flatten", "start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t merged = 1;
  for (int64_t d = s; d <= e; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, shape);
}

// ======================= copies =======================

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  return record("contiguous", raw_copy(x), {x}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}

Tensor clone(const Tensor& x) {
  return record("clone", raw_copy(x), {x}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = new_like(x.shape(), x, dtype);
  kernels(x).copy(x, out);
  if (!is_floating(dtype)) return out;  // integers carry no gradient
  return record("to_dtype", out, {x}, [from = x.dtype()](const Tensor& g) -> std::vector<Tensor> {
    return {to_dtype(g, from)};
  });
}

Tensor to_device(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  Tensor src = raw_contiguous(x);
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = device});
  const size_t nbytes = x.numel() * dtype_size(x.dtype());
  if (device == Device::CPU) {
    backend_for(x.device()).copy_to_host(out.raw_data(), src.raw_data(), nbytes);
  } else {
    backend_for(device).copy_from_host(out.raw_data(), src.raw_data(), nbytes);
  }
  return record("to_device", out, {x}, [from = x.device()](const Tensor& g) -> std::vector<Tensor> {
    return {to_device(g, from)};
  });
}

// ======================= elementwise, unary =======================

static Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);  // below: GELU's backward is one

static Tensor unary(UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0) {
  check_floating(op_name(op), x);
  Tensor out = new_like(x.shape(), x);
  kernels(x).unary(op, x, out, p0, p1);
  return out;
}

Tensor neg(const Tensor& x) {
  return record("neg", unary(UnaryOp::Neg, x), {x}, [](const Tensor& g) -> std::vector<Tensor> { return {neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor y = unary(UnaryOp::Exp, x);
  return record("exp", y, {x}, [y = saved(y)](const Tensor& g) -> std::vector<Tensor> { return {g * y}; });
}

Tensor log(const Tensor& x) {
  return record("log", unary(UnaryOp::Log, x), {x}, [x = saved(x)](const Tensor& g) -> std::vector<Tensor> {
    return {g / x};
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary(UnaryOp::Sqrt, x);
  return record("sqrt", y, {x}, [y = saved(y)](const Tensor& g) -> std::vector<Tensor> { return {g * 0.5 / y}; });
}

Tensor rsqrt(const Tensor& x) {
  Tensor y = unary(UnaryOp::Rsqrt, x);  // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
  return record("rsqrt", y, {x}, [y = saved(y)](const Tensor& g) -> std::vector<Tensor> {
    return {g * -0.5 * y * y * y};
  });
}

Tensor abs(const Tensor& x) {
  return record("abs", unary(UnaryOp::Abs, x), {x}, [x = saved(x)](const Tensor& g) -> std::vector<Tensor> {
    return {g * unary(UnaryOp::Sign, x)};
  });
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary(UnaryOp::Tanh, x);
  return record("tanh", y, {x}, [y = saved(y)](const Tensor& g) -> std::vector<Tensor> {
    return {g * (1.0 - y * y)};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary(UnaryOp::Sigmoid, x);
  return record("sigmoid", y, {x}, [y = saved(y)](const Tensor& g) -> std::vector<Tensor> {
    return {g * y * (1.0 - y)};
  });
}

Tensor relu(const Tensor& x) {
  return record("relu", unary(UnaryOp::Relu, x), {x}, [x = saved(x)](const Tensor& g) -> std::vector<Tensor> {
    return {g * gt(x, scalar_like(0, x))};
  });
}

Tensor gelu(const Tensor& x) {
  return record("gelu", unary(UnaryOp::Gelu, x), {x}, [x = saved(x)](const Tensor& g) -> std::vector<Tensor> {
    return {binary(BinaryOp::GeluBackward, g, x)};
  });
}

Tensor gelu_tanh(const Tensor& x) {
  return record("gelu_tanh", unary(UnaryOp::GeluTanh, x), {x}, [x = saved(x)](const Tensor& g) -> std::vector<Tensor> {
    return {binary(BinaryOp::GeluTanhBackward, g, x)};
  });
}

Tensor pow(const Tensor& x, double exponent) {
  return record("pow_scalar", unary(UnaryOp::PowScalar, x, exponent), {x},
                [x = saved(x), exponent](const Tensor& g) -> std::vector<Tensor> {
                  return {g * exponent * pow(x, exponent - 1)};
                });
}

Tensor clamp(const Tensor& x, double min, double max) {
  check(!(min > max), "clamp", "min ", min, " is greater than max ", max);
  // The gradient passes where min <= x <= max, as in PyTorch.
  return record("clamp", unary(UnaryOp::Clamp, x, min, max), {x},
                [x = saved(x), min, max](const Tensor& g) -> std::vector<Tensor> {
                  return {g * ge(x, scalar_like(min, x)) * le(x, scalar_like(max, x))};
                });
}

// ======================= elementwise, binary =======================

static Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_same(name, a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = new_like(shape, a);
  kernels(a).binary(op, broadcast_view(a, shape, name), broadcast_view(b, shape, name), out);
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  return record("add", binary(BinaryOp::Add, a, b), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
                  return std::vector<Tensor>{needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? sum_to(g, sb) : Tensor()};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record("sub", binary(BinaryOp::Sub, a, b), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
                  return std::vector<Tensor>{needs[0] ? sum_to(g, sa) : Tensor(),
                                             needs[1] ? sum_to(neg(g), sb) : Tensor()};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return record("mul", binary(BinaryOp::Mul, a, b), {a, b},
                [a = saved(a), b = saved(b)](const Tensor& g, const std::vector<bool>& needs) {
                  return std::vector<Tensor>{needs[0] ? sum_to(g * b, a.shape()) : Tensor(),
                                             needs[1] ? sum_to(g * a, b.shape()) : Tensor()};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  check_floating("div", a);
  return record("div", binary(BinaryOp::Div, a, b), {a, b},
                [a = saved(a), b = saved(b)](const Tensor& g, const std::vector<bool>& needs) {
                  return std::vector<Tensor>{needs[0] ? sum_to(g / b, a.shape()) : Tensor(),
                                             needs[1] ? sum_to(neg(g) * a / (b * b), b.shape()) : Tensor()};
                });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  check_floating("pow", a);
  Tensor y = binary(BinaryOp::Pow, a, b);
  return record("pow", y, {a, b}, [a = saved(a), b = saved(b), y = saved(y)](const Tensor& g) -> std::vector<Tensor> {
    // d/da a^b = b a^(b-1), taken as 0 where b == 0 (else 0 * inf at a == 0);
    // d/db a^b = a^b log a, taken as 0 where a == 0 (else 0 * -inf). Both as in PyTorch.
    Tensor zero = scalar_like(0, a);
    Tensor dy_da = where(eq(b, zero), zero, b * pow(a, b - 1.0));
    Tensor dy_db = where(eq(a, zero), zero, y * log(a));
    return {sum_to(g * dy_da, a.shape()), sum_to(g * dy_db, b.shape())};
  });
}

// maximum / minimum: the gradient goes to the winner; ties split it evenly (as in PyTorch).
static Tensor extremum(BinaryOp op, const Tensor& a, const Tensor& b) {
  const bool is_max = op == BinaryOp::Maximum;
  return record(op_name(op), binary(op, a, b), {a, b},
                [a = saved(a), b = saved(b), is_max](const Tensor& g) -> std::vector<Tensor> {
                  Tensor half_tie = eq(a, b) * 0.5;
                  Tensor a_wins = (is_max ? gt(a, b) : lt(a, b)) + half_tie;
                  Tensor b_wins = (is_max ? lt(a, b) : gt(a, b)) + half_tie;
                  return {sum_to(g * a_wins, a.shape()), sum_to(g * b_wins, b.shape())};
                });
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(BinaryOp::Minimum, a, b); }

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_same("where", a, b);
  check(condition.device() == a.device(), "where", "condition is on ", device_name(condition.device()),
        ", values on ", device_name(a.device()));
  const Shape shape = broadcast_shapes(condition.shape(), broadcast_shapes(a.shape(), b.shape(), "where"), "where");
  Tensor out = new_like(shape, a);
  kernels(a).where(broadcast_view(condition, shape, "where"), broadcast_view(a, shape, "where"),
                   broadcast_view(b, shape, "where"), out);
  return record("where", out, {a, b},
                [c = saved(condition), sa = a.shape(), sb = b.shape()](const Tensor& g) -> std::vector<Tensor> {
                  Tensor zero = scalar_like(0, g);
                  return {sum_to(where(c, g, zero), sa), sum_to(where(c, zero, g), sb)};
                });
}

Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ge, a, b); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }

// ======================= reductions =======================

namespace {

struct ReductionPlan {
  Shape perm;           // kept dims first, then the reduced ones
  Shape out_shape;      // the kept dims
  Shape keepdim_shape;  // x's shape with the reduced dims set to 1
  int64_t reduce_size = 1;
  // When the reduced dims are one run of adjacent dims, a contiguous x is read in place as
  // (outer, reduce_size, inner) and `perm` is not needed: no transposing copy.
  bool one_run = false;
  int64_t inner = 1;
};

ReductionPlan plan_reduction(const Tensor& x, const Shape& dims, const char* op) {
  ReductionPlan plan;
  if (x.dim() == 0) return plan;  // a scalar reduces to itself
  std::vector<bool> reduced(x.dim(), dims.empty());
  for (int64_t d : dims) {
    const int64_t nd = normalize_dim(d, x.dim(), op);
    check(!reduced[nd], op, "dim ", d, " appears twice in ", fmt(dims));
    reduced[nd] = true;
  }
  for (int64_t d = 0; d < x.dim(); ++d) {
    plan.keepdim_shape.push_back(reduced[d] ? 1 : x.size(d));
    if (!reduced[d]) {
      plan.perm.push_back(d);
      plan.out_shape.push_back(x.size(d));
    }
  }
  int64_t first = -1, last = -1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (!reduced[d]) continue;
    plan.perm.push_back(d);
    plan.reduce_size *= x.size(d);
    if (first < 0) first = d;
    last = d;
  }
  plan.one_run = first >= 0 && std::all_of(reduced.begin() + first, reduced.begin() + last + 1, [](bool r) { return r; });
  for (int64_t d = last + 1; plan.one_run && d < x.dim(); ++d) plan.inner *= x.size(d);
  return plan;
}

Tensor run_reduction(ReduceOp op, const Tensor& x, const ReductionPlan& plan, bool keepdim, DType out_dtype,
                     double correction = 0) {
  Tensor out = new_like(keepdim ? plan.keepdim_shape : plan.out_shape, x, out_dtype);
  if (plan.one_run && x.is_contiguous()) {
    kernels(x).reduce(op, x, plan.reduce_size, plan.inner, out, correction);
  } else {
    kernels(x).reduce(op, raw_contiguous(raw_permute(x, plan.perm)), plan.reduce_size, 1, out, correction);
  }
  return out;
}

// The gradient of a reduction's output, seen with x's shape (a broadcast view).
Tensor spread(const Tensor& g, const ReductionPlan& plan, const Shape& shape) {
  return expand(reshape(g, plan.keepdim_shape), shape);
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  const ReductionPlan plan = plan_reduction(x, dims, "sum");
  return record("sum", run_reduction(ReduceOp::Sum, x, plan, keepdim, x.dtype()), {x},
                [plan, shape = x.shape()](const Tensor& g) -> std::vector<Tensor> { return {spread(g, plan, shape)}; });
}
Tensor sum(const Tensor& x) { return sum(x, {}); }

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  check_floating("mean", x);
  const ReductionPlan plan = plan_reduction(x, dims, "mean");
  return record("mean", run_reduction(ReduceOp::Mean, x, plan, keepdim, x.dtype()), {x},
                [plan, shape = x.shape()](const Tensor& g) -> std::vector<Tensor> {
                  return {spread(g, plan, shape) / static_cast<double>(plan.reduce_size)};
                });
}
Tensor mean(const Tensor& x) { return mean(x, {}); }

Tensor var(const Tensor& x, const Shape& dims, bool unbiased, bool keepdim) {
  check_floating("var", x);
  const ReductionPlan plan = plan_reduction(x, dims, "var");
  const double correction = unbiased ? 1 : 0;
  return record("var", run_reduction(ReduceOp::Var, x, plan, keepdim, x.dtype(), correction), {x},
                [plan, x = saved(x), correction, dims](const Tensor& g) -> std::vector<Tensor> {
                  // d var / dx_i = 2 (x_i - mean) / (n - correction)
                  Tensor centered = x - mean(x, dims, true);
                  const double scale = 2.0 / (static_cast<double>(plan.reduce_size) - correction);
                  return {spread(g, plan, x.shape()) * centered * scale};
                });
}

static Tensor extremum_along(ReduceOp value_op, ReduceOp index_op, const char* name, const Tensor& x, int64_t dim,
                             bool keepdim) {
  const int64_t d = x.dim() == 0 ? 0 : normalize_dim(dim, x.dim(), name);
  const ReductionPlan plan = plan_reduction(x, x.dim() == 0 ? Shape{} : Shape{d}, name);
  check(plan.reduce_size > 0, name, "cannot reduce an empty dim of shape ", fmt(x.shape()));
  Tensor values = run_reduction(value_op, x, plan, keepdim, x.dtype());
  if (!grad_enabled() || !x.requires_grad()) return values;
  Tensor index = run_reduction(index_op, x, plan, true, DType::I64);
  return record(name, values, {x}, [plan, index, d, shape = x.shape()](const Tensor& g) -> std::vector<Tensor> {
    if (shape.empty()) return {g};
    Tensor zero = zeros(shape, {.dtype = g.dtype(), .device = g.device()});
    return {scatter_add(zero, d, index, reshape(g, plan.keepdim_shape))};
  });
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_along(ReduceOp::Max, ReduceOp::ArgMax, "max", x, dim, keepdim);
}
Tensor min(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_along(ReduceOp::Min, ReduceOp::ArgMin, "min", x, dim, keepdim);
}

static Tensor arg_extremum(ReduceOp op, const char* name, const Tensor& x, int64_t dim, bool keepdim) {
  const ReductionPlan plan = plan_reduction(x, x.dim() == 0 ? Shape{} : Shape{normalize_dim(dim, x.dim(), name)}, name);
  check(plan.reduce_size > 0, name, "cannot reduce an empty dim of shape ", fmt(x.shape()));
  return run_reduction(op, x, plan, keepdim, DType::I64);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return arg_extremum(ReduceOp::ArgMax, "argmax", x, dim, keepdim); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return arg_extremum(ReduceOp::ArgMin, "argmin", x, dim, keepdim); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  check(x.shape().size() >= shape.size(), "sum_to", "cannot sum shape ", fmt(x.shape()), " to ", fmt(shape));
  const size_t lead = x.shape().size() - shape.size();
  Shape dims;
  for (size_t i = 0; i < x.shape().size(); ++i) {
    if (i < lead) {
      dims.push_back(static_cast<int64_t>(i));
    } else if (shape[i - lead] == 1 && x.shape()[i] != 1) {
      dims.push_back(static_cast<int64_t>(i));
    } else {
      check(shape[i - lead] == x.shape()[i], "sum_to", "cannot sum shape ", fmt(x.shape()), " to ", fmt(shape));
    }
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

// ======================= linear algebra and fused =======================

Tensor matmul(const Tensor& a, const Tensor& b) {
  check(a.dim() >= 1 && b.dim() >= 1, "matmul", "needs tensors of rank >= 1, got shapes ", fmt(a.shape()), " and ",
        fmt(b.shape()));
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, -1)), -1);
  if (a.dim() > 2 && b.dim() == 2) {
    // (..., M, K) @ (K, N) as one (... * M, K) @ (K, N) product rather than one per leading
    // index (a Linear layer on (B, N, C) tokens); its backward is then single products too.
    check(a.size(-1) == b.size(0), "matmul", "shapes ", fmt(a.shape()), " and ", fmt(b.shape()), " cannot be multiplied");
    Shape out_shape = a.shape();
    out_shape.back() = b.size(1);
    return reshape(matmul(reshape(a, {-1, a.size(-1)}), b), out_shape);
  }
  const ProductOperands p = product_operands("matmul", {a, b});  // bfloat16 copies under autocast
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  check(b.size(-2) == k, "matmul", "shapes ", fmt(a.shape()), " and ", fmt(b.shape()), " cannot be multiplied");
  const Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  auto operand = [&](const Tensor& x, int64_t rows, int64_t cols) {
    Shape shape = batch;
    shape.push_back(rows);
    shape.push_back(cols);
    Tensor v = broadcast_view(x, shape, "matmul");
    return matrix_layout(v) ? v : raw_copy(v);  // e.g. a broadcast matrix: GEMM needs real rows
  };
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = new_like(out_shape, a, p.out_dtype);
  kernels(a).matmul(operand(p.operands[0], m, k), operand(p.operands[1], k, n), out, /*accumulate=*/false);
  return record("matmul", out, {a, b},
                [a = saved(p.operands[0]), b = saved(p.operands[1]), mixed = p.autocast](
                    const Tensor& g, const std::vector<bool>& needs) {
                  AutocastGuard precision(mixed);  // the backward's products in the forward's precision
                  return std::vector<Tensor>{
                      needs[0] ? sum_to(matmul(g, transpose(b, -1, -2)), a.shape()) : Tensor(),
                      needs[1] ? sum_to(matmul(transpose(a, -1, -2), g), b.shape()) : Tensor()};
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check(x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1), "linear", "input ", fmt(x.shape()),
        " does not end in ", weight.dim() == 2 ? weight.size(1) : -1, " features (weight ", fmt(weight.shape()), ")");
  const int64_t in = weight.size(1), out_features = weight.size(0), rows = x.numel() / std::max<int64_t>(in, 1);
  if (bias.defined()) {
    check_same("linear", weight, bias);
    check(bias.shape() == Shape{out_features}, "linear", "bias ", fmt(bias.shape()), " does not match weight ",
          fmt(weight.shape()));
  }
  const ProductOperands p = product_operands("linear", {x, weight});  // bfloat16 copies under autocast
  Tensor x2 = raw_reshape(p.operands[0], {rows, in});                 // (M, in)
  Tensor w_t = raw_permute(p.operands[1], {1, 0});                    // (in, out), a transposed view
  if (!matrix_layout(x2)) x2 = raw_copy(x2);    // GEMM needs rows (or columns) a stride apart
  if (!matrix_layout(w_t)) w_t = raw_permute(raw_copy(p.operands[1]), {1, 0});
  Tensor out = new_like({rows, out_features}, x, p.out_dtype);       // (M, out)
  if (bias.defined()) kernels(x).copy(broadcast_view(bias, out.shape(), "linear"), out);
  kernels(x).matmul(x2, w_t, out, /*accumulate=*/bias.defined());
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  return record("linear", raw_reshape(out, out_shape), {x, weight, bias},
                [x2 = saved(x2), w = saved(p.operands[1]), x_shape = x.shape(), has_bias = bias.defined(),
                 mixed = p.autocast](const Tensor& g, const std::vector<bool>& needs) {
                  AutocastGuard precision(mixed);  // the backward's products in the forward's precision
                  Tensor g2 = reshape(g, {-1, g.size(-1)});  // (M, out)
                  return std::vector<Tensor>{needs[0] ? reshape(matmul(g2, w), x_shape) : Tensor(),
                                             needs[1] ? matmul(transpose(g2, 0, 1), x2) : Tensor(),
                                             has_bias && needs[2] ? sum(g2, {0}) : Tensor()};
                });
}

static Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_floating(name, x);
  const int64_t d = x.dim() == 0 ? 0 : normalize_dim(dim, x.dim(), name);
  Tensor input = raw_contiguous(x);
  Tensor y = new_like(x.shape(), x);
  kernels(x).softmax(input, d, log, y);
  return record(name, y, {x}, [y = saved(y), d, log](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = empty_like(y);
    kernels(y).softmax_backward(y, raw_contiguous(g), d, log, gx);
    return {gx};
  });
}
Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

// The checks layer_norm and rms_norm share: x ends in normalized_shape, and each defined
// parameter has that shape, x's dtype and x's device.
static void check_normalized(const char* op, const Tensor& x, const Shape& normalized_shape,
                             std::initializer_list<const Tensor*> params) {
  check_floating(op, x);
  const size_t nd = normalized_shape.size();
  const bool trailing_match = nd >= 1 && x.shape().size() >= nd &&
                              Shape(x.shape().end() - nd, x.shape().end()) == normalized_shape;
  check(trailing_match, op, "normalized_shape ", fmt(normalized_shape), " does not match the end of input ",
        fmt(x.shape()));
  for (const Tensor* p : params) {
    if (!p->defined()) continue;
    check_same(op, x, *p);
    check(p->shape() == normalized_shape, op, params.size() > 1 ? "weight/bias" : "weight", " of shape ",
          fmt(p->shape()), " does not match normalized_shape ", fmt(normalized_shape));
  }
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias, double eps) {
  check_normalized("layer_norm", x, normalized_shape, {&weight, &bias});
  const int64_t c = numel_of(normalized_shape), rows = c == 0 ? 0 : x.numel() / c;
  Tensor input = raw_contiguous(x);
  Tensor y = new_like(x.shape(), x);
  Tensor mean = new_like({rows}, x), rstd = new_like({rows}, x);
  Tensor w = as_vector(weight, c), b = as_vector(bias, c);
  kernels(x).layer_norm(as_rows(input, c), w, b, eps, as_rows(y, c), mean, rstd);
  return record("layer_norm", y, {x, weight, bias},
                [input = saved(input), w = w.defined() ? saved(w) : w, has_bias = b.defined(), mean, rstd,
                 normalized_shape](const Tensor& g) -> std::vector<Tensor> {
                  const int64_t c = numel_of(normalized_shape);
                  Tensor gx = empty_like(input);
                  Tensor gw = w.defined() ? new_like({c}, input) : Tensor();
                  Tensor gb = has_bias ? new_like({c}, input) : Tensor();
                  kernels(input).layer_norm_backward(as_rows(raw_contiguous(g), c), as_rows(input, c), w, mean, rstd,
                                                     as_rows(gx, c), gw, gb);
                  return {gx, gw.defined() ? reshape(gw, normalized_shape) : gw,
                          gb.defined() ? reshape(gb, normalized_shape) : gb};
                });
}

// The fused RMSNorm that docs/adding-a-layer.md builds step by step: one kernel forward and one
// backward, where nn/rms_norm.cpp's composite runs six ops, each a pass over memory and a node.
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, double eps) {
  check_normalized("rms_norm", x, normalized_shape, {&weight});
  const int64_t c = numel_of(normalized_shape), rows = c == 0 ? 0 : x.numel() / c;
  Tensor input = raw_contiguous(x);
  Tensor y = new_like(x.shape(), x);
  Tensor rstd = new_like({rows}, x);  // 1 / sqrt(mean(x^2) + eps) of each row, kept for the backward
  Tensor w = as_vector(weight, c);
  kernels(x).rms_norm(as_rows(input, c), w, eps, as_rows(y, c), rstd);
  return record("rms_norm", y, {x, weight},
                [input = saved(input), w = w.defined() ? saved(w) : w, rstd,
                 normalized_shape](const Tensor& g) -> std::vector<Tensor> {
                  const int64_t c = numel_of(normalized_shape);
                  Tensor gy = as_rows(raw_contiguous(g), c), x_rows = as_rows(input, c);  // (rows, C)
                  Tensor gx = empty_like(input);
                  kernels(input).rms_norm_backward(gy, x_rows, w, rstd, as_rows(gx, c));
                  if (!w.defined()) return {gx, Tensor()};
                  // The weight's gradient sums gy * xhat over the rows: existing ops, on every backend.
                  Tensor gw = sum(gy * (x_rows * unsqueeze(rstd, 1)), {0});  // (C)
                  return {gx, reshape(gw, normalized_shape)};
                });
}

// q, k, v as the (B, H, N, D) views the attention kernels take: leading unit dims added, or
// leading batch dims merged (a copy only if they cannot be merged as a view), the last dim
// contiguous.
static Tensor as_heads(const Tensor& x) {
  Shape shape = x.shape();
  while (shape.size() < 4) shape.insert(shape.begin(), 1);
  int64_t merged = 1;
  while (shape.size() > 4) merged *= shape.front(), shape.erase(shape.begin());
  shape[0] *= merged;
  Tensor t = raw_reshape(x, shape);
  return t.strides().back() == 1 || t.size(-1) == 1 ? t : raw_copy(t);
}

// The fused kernels on (B, H, N|M, D) head views: the output, seen as (B, H, N, Dv), lies as
// (B, N, H, Dv), so merging the heads back into (B, N, H * Dv), what the projection after
// attention reads, is a view, not a copy; lse (B, H, N) is kept for the backward. With
// segments (self-attention only), each segment's tokens attend among themselves: one kernel
// call per segment on views of its rows, one lse each.
struct FusedAttention {
  Tensor out;
  std::vector<Tensor> lse;
  std::vector<int64_t> segments;  // token counts; empty: every query attends to every key

  // Segment i's tokens of a (B, H, tokens, D) view; the whole view without segments.
  Tensor segment(const Tensor& t4, size_t i) const {
    if (segments.empty()) return t4;
    const int64_t first = std::accumulate(segments.begin(), segments.begin() + static_cast<int64_t>(i), int64_t(0));
    return raw_narrow(t4, 2, first, segments[i]);
  }
};
static FusedAttention fused_attention(const Tensor& q4, const Tensor& k4, const Tensor& v4, double scale,
                                      DType out_dtype, std::vector<int64_t> segments = {}) {
  const int64_t b = q4.size(0), h = q4.size(1), n = q4.size(2), dv = v4.size(3);
  FusedAttention f{raw_permute(new_like({b, n, h, dv}, q4, out_dtype), {0, 2, 1, 3}), {}, std::move(segments)};
  for (size_t i = 0; i < std::max<size_t>(f.segments.size(), 1); ++i) {
    const Tensor q = f.segment(q4, i);
    f.lse.push_back(new_like({b, h, q.size(2)}, q4, out_dtype));
    kernels(q4).attention(q, f.segment(k4, i), f.segment(v4, i), scale, f.segment(f.out, i), f.lse.back());
  }
  return f;
}
static void fused_attention_backward(const Tensor& q4, const Tensor& k4, const Tensor& v4, const FusedAttention& f,
                                     const Tensor& g4, double scale, const Tensor& gq, const Tensor& gk,
                                     const Tensor& gv) {
  for (size_t i = 0; i < f.lse.size(); ++i)
    kernels(q4).attention_backward(f.segment(q4, i), f.segment(k4, i), f.segment(v4, i), f.segment(f.out, i),
                                   f.lse[i], f.segment(g4, i), scale, f.segment(gq, i), f.segment(gk, i),
                                   f.segment(gv, i));
}
// What the backward rule keeps: aliases, since the op's output may be a view of `out` itself.
static FusedAttention saved(const FusedAttention& f) { return {saved(f.out), f.lse, f.segments}; }

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                                    Tensor* weights_out) {
  const char* op = "scaled_dot_product_attention";
  check(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(), op, "q ", fmt(q.shape()), ", k ", fmt(k.shape()),
        ", v ", fmt(v.shape()), " must have the same rank >= 2");
  const bool fits = Shape(q.shape().begin(), q.shape().end() - 2) == Shape(k.shape().begin(), k.shape().end() - 2) &&
                    Shape(k.shape().begin(), k.shape().end() - 1) == Shape(v.shape().begin(), v.shape().end() - 1) &&
                    q.size(-1) == k.size(-1);
  check(fits, op, "shapes q ", fmt(q.shape()), ", k ", fmt(k.shape()), ", v ", fmt(v.shape()),
        " do not fit (..., N, D), (..., M, D), (..., M, Dv)");
  const ProductOperands p = product_operands(op, {q, k, v});  // bfloat16 copies under autocast
  check(k.size(-2) > 0, op, "needs at least one key, got k ", fmt(k.shape()));
  if (scale == 0) scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  if (weights_out) {
    // The weights were asked for (attention maps): the plain composition, which keeps them.
    Tensor weights = softmax(matmul(q * scale, transpose(k, -1, -2)), -1);  // (..., N, M)
    *weights_out = weights.detach();
    return matmul(weights, v);                                                // (..., N, Dv)
  }
  // The fused kernels: no (N, M) matrix is kept, in the forward or the backward.
  Tensor q4 = as_heads(p.operands[0]), k4 = as_heads(p.operands[1]), v4 = as_heads(p.operands[2]);  // (B, H, N|M, D|Dv)
  const FusedAttention fused = fused_attention(q4, k4, v4, scale, p.out_dtype);
  Shape out_shape = q.shape();
  out_shape.back() = v.size(-1);
  return record(op, raw_reshape(fused.out, out_shape), {q, k, v},
                [q4 = saved(q4), k4 = saved(k4), v4 = saved(v4), fused = saved(fused), scale,
                 shapes = std::vector<Shape>{q.shape(), k.shape(), v.shape()}](const Tensor& g) -> std::vector<Tensor> {
                  Tensor g4 = as_heads(g);
                  // Gradients in the (B, N, H, D) layout too, for the same reason as the output.
                  auto like_heads = [&](const Tensor& x) {
                    return raw_permute(new_like({x.size(0), x.size(2), x.size(1), x.size(3)}, x, g4.dtype()), {0, 2, 1, 3});
                  };
                  Tensor gq = like_heads(q4), gk = like_heads(k4), gv = like_heads(v4);
                  fused_attention_backward(q4, k4, v4, fused, g4, scale, gq, gk, gv);
                  return {raw_reshape(gq, shapes[0]), raw_reshape(gk, shapes[1]), raw_reshape(gv, shapes[2])};
                });
}

// Part `part` of a packed projection (B, N, parts * C), C = heads * D, seen as the heads
// (B, H, N, D) of that part: a view (the packed tensor's last dim must be contiguous).
static Tensor packed_heads(const Tensor& packed, int64_t part, int64_t heads, int64_t c) {
  const Shape& s = packed.strides();
  const int64_t d = c / heads;
  return make_view(packed, {packed.size(0), heads, packed.size(1), d}, {s[0], d, s[1], 1}, packed.offset() + part * c);
}

// Self-attention (inputs {qkv}, optionally in segments) or cross-attention (inputs {q, kv})
// from packed projections.
static Tensor packed_attention(const std::vector<Tensor>& inputs, int64_t heads, const std::vector<int64_t>& segments) {
  const char* op = "scaled_dot_product_attention";
  const bool self = inputs.size() == 1;
  const Tensor& queries = inputs.front();
  const Tensor& keys_values = inputs.back();
  const int64_t q_parts = self ? 3 : 1, kv_parts = self ? 3 : 2, kv_first = self ? 1 : 0;
  const std::string given = self ? "qkv " + shape_str(queries.shape())
                                  : "q " + shape_str(queries.shape()) + " and kv " + shape_str(keys_values.shape());
  check(queries.dim() == 3 && keys_values.dim() == 3 && queries.size(0) == keys_values.size(0) && heads > 0 &&
            queries.size(2) % (q_parts * heads) == 0 && keys_values.size(2) * q_parts == queries.size(2) * kv_parts,
        op, given, " must be ", self ? "(B, N, 3 C)" : "(B, N, C) and (B, M, 2 C)", " with C a multiple of ", heads,
        " heads");
  check(keys_values.size(1) > 0, op, "needs at least one key, got ", fmt(keys_values.shape()));
  if (!segments.empty()) {
    const bool positive = std::all_of(segments.begin(), segments.end(), [](int64_t n) { return n > 0; });
    check(positive && std::accumulate(segments.begin(), segments.end(), int64_t(0)) == queries.size(1), op,
          "segments ", shape_str(segments), " must be positive token counts that sum to the ", queries.size(1),
          " tokens of ", given);
  }
  const int64_t c = queries.size(2) / q_parts;
  const ProductOperands p = product_operands(op, inputs);  // bfloat16 copies under autocast
  auto last_dim_contiguous = [](const Tensor& x) { return x.strides().back() == 1 ? x : raw_copy(x); };
  const Tensor q_src = last_dim_contiguous(p.operands.front());
  const Tensor kv_src = self ? q_src : last_dim_contiguous(p.operands.back());
  const Tensor q4 = packed_heads(q_src, 0, heads, c), k4 = packed_heads(kv_src, kv_first, heads, c),
               v4 = packed_heads(kv_src, kv_first + 1, heads, c);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c / heads));
  const FusedAttention fused = fused_attention(q4, k4, v4, scale, p.out_dtype, segments);
  const int64_t b = queries.size(0), n = queries.size(1);
  Tensor merged = raw_reshape(raw_permute(fused.out, {0, 2, 1, 3}), {b, n, c});  // (B, N, C), a view
  return record(op, merged, inputs,
                [q4 = saved(q4), k4 = saved(k4), v4 = saved(v4), fused = saved(fused), scale, self, heads, c, kv_first,
                 shapes = std::vector<Shape>{queries.shape(), keys_values.shape()}](const Tensor& g) {
                  Tensor gc = raw_contiguous(g);  // (B, N, C) -> heads (B, H, N, D), a view
                  Tensor g4 = raw_permute(raw_reshape(gc, {gc.size(0), gc.size(1), heads, c / heads}), {0, 2, 1, 3});
                  // Each packed input gets one gradient, every part of it written by the kernel.
                  std::vector<Tensor> grads{new_like(shapes[0], g, g.dtype())};
                  if (!self) grads.push_back(new_like(shapes[1], g, g.dtype()));
                  fused_attention_backward(q4, k4, v4, fused, g4, scale, packed_heads(grads.front(), 0, heads, c),
                                           packed_heads(grads.back(), kv_first, heads, c),
                                           packed_heads(grads.back(), kv_first + 1, heads, c));
                  return grads;
                });
}

Tensor multi_head_attention(const Tensor& qkv, int64_t heads, const std::vector<int64_t>& segments) {
  return packed_attention({qkv}, heads, segments);
}
Tensor multi_head_attention(const Tensor& q, const Tensor& kv, int64_t heads) {
  return packed_attention({q, kv}, heads, {});
}

// ======================= joining and indexing =======================

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  check(!tensors.empty(), "cat", "needs at least one tensor");
  const Tensor& first = tensors[0];
  check(first.dim() > 0, "cat", "cannot concatenate 0-d tensors; unsqueeze them or use stack()");
  const int64_t d = normalize_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[d] = 0;
  for (const Tensor& t : tensors) {
    check_same("cat", first, t);
    bool fits = t.dim() == first.dim();
    for (int64_t i = 0; fits && i < t.dim(); ++i) fits = i == d || t.size(i) == first.size(i);
    check(fits, "cat", "shape ", fmt(t.shape()), " does not match ", fmt(first.shape()), " outside dim ", d);
    shape[d] += t.size(d);
  }
  Tensor out = new_like(shape, first);
  std::vector<int64_t> starts;
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    kernels(t).copy(t, raw_narrow(out, d, start, t.size(d)));
    starts.push_back(start);
    start += t.size(d);
  }
  std::vector<int64_t> lengths;
  for (const Tensor& t : tensors) lengths.push_back(t.size(d));
  return record("cat", out, tensors, [d, starts, lengths](const Tensor& g) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < starts.size(); ++i) grads.push_back(narrow(g, d, starts[i], lengths[i]));
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  check(!tensors.empty(), "stack", "needs at least one tensor");
  const int64_t d = normalize_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) {
    check(t.shape() == tensors[0].shape(), "stack", "shapes ", fmt(tensors[0].shape()), " and ", fmt(t.shape()),
          " differ");
    expanded.push_back(unsqueeze(t, d));
  }
  return cat(expanded, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  check(split_size > 0, "split", "split_size must be positive, got ", split_size);
  const int64_t d = normalize_dim(dim, x.dim(), "split");
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < x.size(d); start += split_size)
    parts.push_back(narrow(x, d, start, std::min(split_size, x.size(d) - start)));
  return parts;
}

static void check_index(const char* op, const Tensor& x, const Tensor& index) {
  check(index.dtype() == DType::I64, op, "index must be int64, got ", dtype_name(index.dtype()));
  check(index.device() == x.device(), op, "index is on ", device_name(index.device()), ", input on ",
        device_name(x.device()));
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index("gather", x, index);
  check(index.dim() == x.dim() && x.dim() > 0, "gather", "index ", fmt(index.shape()), " and input ",
        fmt(x.shape()), " must have the same rank");
  const int64_t d = normalize_dim(dim, x.dim(), "gather");
  for (int64_t i = 0; i < x.dim(); ++i)
    check(i == d || index.size(i) <= x.size(i), "gather", "index ", fmt(index.shape()), " is larger than input ",
          fmt(x.shape()), " at dim ", i);
  Tensor idx = raw_contiguous(index);
  Tensor out = new_like(index.shape(), x);
  kernels(x).gather(x, d, idx, out);
  if (!is_floating(x.dtype())) return out;
  return record("gather", out, {x}, [idx = saved(idx), d, shape = x.shape()](const Tensor& g) -> std::vector<Tensor> {
    return {scatter_add(zeros(shape, {.dtype = g.dtype(), .device = g.device()}), d, idx, g)};
  });
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index("index_select", x, index);
  check(index.dim() == 1, "index_select", "index must be 1-D, got shape ", fmt(index.shape()));
  check(x.dim() > 0, "index_select", "cannot index a 0-d tensor");
  const int64_t d = normalize_dim(dim, x.dim(), "index_select");
  // index_select is a gather whose index repeats along the other dims.
  Shape line(x.dim(), 1), shape = x.shape();
  line[d] = index.size(0);
  shape[d] = index.size(0);
  return gather(x, d, raw_contiguous(broadcast_view(reshape(index, line), shape)));
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index("scatter_add", self, index);
  check_same("scatter_add", self, src);
  check(index.shape() == src.shape(), "scatter_add", "index ", fmt(index.shape()), " and src ", fmt(src.shape()),
        " must have the same shape");
  check(index.dim() == self.dim() && self.dim() > 0, "scatter_add", "index ", fmt(index.shape()), " and self ",
        fmt(self.shape()), " must have the same rank");
  const int64_t d = normalize_dim(dim, self.dim(), "scatter_add");
  for (int64_t i = 0; i < self.dim(); ++i)
    check(i == d || index.size(i) <= self.size(i), "scatter_add", "index ", fmt(index.shape()),
          " is larger than self ", fmt(self.shape()), " at dim ", i);
  Tensor idx = raw_contiguous(index);
  Tensor out = raw_copy(self);
  kernels(self).scatter_add(out, d, idx, raw_contiguous(src));
  return record("scatter_add", out, {self, src}, [idx = saved(idx), d](const Tensor& g) -> std::vector<Tensor> {
    return {g, gather(g, d, idx)};
  });
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  const int64_t d = x.dim() == 0 ? 0 : normalize_dim(dim, x.dim(), "argsort");
  Tensor out = new_like(x.shape(), x, DType::I64);
  kernels(x).argsort(raw_contiguous(x), d, descending, out);
  return out;
}

// ======================= in place =======================

static void check_in_place(const char* op, const Tensor& dst) {
  check(!grad_enabled() || !dst.requires_grad(), op, "in-place change of a tensor that requires grad ",
        fmt(dst.shape()), "; do it under a NoGradGuard");
}

void copy_(const Tensor& dst, const Tensor& src) {
  check_in_place("copy_", dst);
  check(dst.device() == src.device(), "copy_", "source on ", device_name(src.device()), ", destination on ",
        device_name(dst.device()));
  kernels(dst).copy(broadcast_view(src, dst.shape(), "copy_"), dst);
}

void fill_(const Tensor& dst, double value) {
  check_in_place("fill_", dst);
  kernels(dst).fill(dst, value);
}

void add_(const Tensor& dst, const Tensor& src) {
  check_in_place("add_", dst);
  check_same("add_", dst, src);
  kernels(dst).binary(BinaryOp::Add, dst, broadcast_view(src, dst.shape(), "add_"), dst);  // elementwise: may alias
}

// ======================= tensor methods =======================

Tensor Tensor::reshape(const Shape& shape) const { return sm::reshape(*this, shape); }
Tensor Tensor::view(const Shape& shape) const { return sm::view(*this, shape); }
Tensor Tensor::permute(const Shape& dims) const { return sm::permute(*this, dims); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return sm::transpose(*this, dim0, dim1); }
Tensor Tensor::t() const { return sm::transpose(*this, -2, -1); }
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const { return sm::narrow(*this, dim, start, length); }
Tensor Tensor::expand(const Shape& shape) const { return sm::expand(*this, shape); }
Tensor Tensor::unsqueeze(int64_t dim) const { return sm::unsqueeze(*this, dim); }
Tensor Tensor::squeeze(int64_t dim) const { return sm::squeeze(*this, dim); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const { return sm::flatten(*this, start_dim, end_dim); }
Tensor Tensor::contiguous() const { return sm::contiguous(*this); }
Tensor Tensor::clone() const { return sm::clone(*this); }
Tensor Tensor::sum() const { return sm::sum(*this); }
Tensor Tensor::mean() const { return sm::mean(*this); }
Tensor Tensor::to(Device device) const { return to_device(*this, device); }
Tensor Tensor::to(DType dtype) const { return to_dtype(*this, dtype); }

}  // namespace sm
