// Tensor: a cheap handle to a strided view of a Storage, plus autograd metadata.
//
// A tensor is eager: it always holds data. Its element (i0, i1, ...) lives at
//   storage.data + (offset + i0*strides[0] + i1*strides[1] + ...) * dtype_size
// so views (reshape, permute, narrow, expand, ...) only change shape/strides/offset.
// Copying a Tensor copies the handle; both handles see the same data and autograd state.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace sm {

class Node;  // autograd/node.h

struct TensorImpl {
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements, into storage
  DType dtype = DType::F32;
  std::shared_ptr<Storage> storage;

  // Autograd metadata. A leaf that requires grad has grad_fn == nullptr; a tensor made by
  // a differentiable op from such inputs has grad_fn set and requires_grad true.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no data); defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  // Pointer to element (0, 0, ...) of this view. data<T>() checks T against dtype and
  // that the tensor lives on the CPU; raw_data() is the untyped device pointer.
  template <typename T> T* data() const;
  void* raw_data() const;
  // The value of a one-element tensor, copied to the host.
  double item() const;
  // All elements in row-major order, copied to the host and converted to T.
  template <typename T> std::vector<T> to_vector() const;

  // Autograd (autograd/engine.cpp)
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);  // only on leaves of floating dtype
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  Tensor grad() const;  // undefined until a backward pass reaches this leaf
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;  // drops the gradient (like PyTorch's set_to_none)
  // Runs reverse-mode differentiation from this tensor. Without an argument the tensor
  // must hold one element and the seed gradient is 1.
  void backward(const Tensor& grad_output = Tensor()) const;
  // The same data, cut from the graph: no grad_fn, requires_grad false.
  Tensor detach() const;

  // Device and dtype conversion; return *this when nothing changes (like PyTorch).
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;

  // The commonest ops as methods; each is the free function of the same name in
  // autograd/functions.h.
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;  // reshape that refuses to copy
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose of the last two dims
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor sum() const;
  Tensor mean() const;

  // PyTorch-style text: values (long tensors are shortened with "..."), shape, dtype.
  std::string str() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& tensor);

// Makes a tensor that shares `base`'s storage with new shape/strides/offset (no autograd).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

// ---- creation (tensor/creation.cpp) ----
struct TensorOptions {
  DType dtype = DType::F32;
  Device device = Device::CPU;
  bool requires_grad = false;
};

Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor scalar_tensor(double value, TensorOptions options = {});  // shape ()
// [start, end) in steps of `step`, like torch.arange.
Tensor arange(double start, double end, double step = 1, TensorOptions options = {});
Tensor empty_like(const Tensor& x);
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor full_like(const Tensor& x, double value);
// Copies `values` (row-major) into a new tensor of `shape`; options.dtype is converted to.
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions options = {});
template <typename T> Tensor from_vector(const std::vector<T>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())}, {.dtype = dtype_of<T>()});
}

// ---- implementation of the templates ----
template <typename T> T* Tensor::data() const {
  check(dtype() == dtype_of<T>(), "data", "tensor holds ", dtype_name(dtype()), ", asked for ",
        dtype_name(dtype_of<T>()));
  check(device() == Device::CPU, "data", "tensor lives on ", device_name(device()),
        "; move it with .to(Device::CPU) first");
  return static_cast<T*>(raw_data());
}

}  // namespace sm
