// Tensor creation: empty, zeros, ones, full, arange, from_vector.
#include <cmath>
#include <cstring>

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace sm {

Tensor empty(const Shape& shape, TensorOptions options) {
  for (int64_t s : shape) check(s >= 0, "empty", "negative size in shape ", fmt(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = options.dtype;
  impl->storage = std::make_shared<Storage>(numel_of(shape) * dtype_size(options.dtype), options.device);
  Tensor t(impl);
  if (options.requires_grad) t.requires_grad_();
  return t;
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  const bool requires_grad = options.requires_grad;
  options.requires_grad = false;
  Tensor t = empty(shape, options);
  backend_for(options.device).fill(t, value);
  if (requires_grad) t.requires_grad_();
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor empty_like(const Tensor& x) { return empty(x.shape(), {.dtype = x.dtype(), .device = x.device()}); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), {.dtype = x.dtype(), .device = x.device()}); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), {.dtype = x.dtype(), .device = x.device()}); }
Tensor full_like(const Tensor& x, double value) {
  return full(x.shape(), value, {.dtype = x.dtype(), .device = x.device()});
}

Tensor arange(double start, double end, double step, TensorOptions options) {
  check(step != 0, "arange", "step must be nonzero");
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((end - start) / step)));
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = start + static_cast<double>(i) * step;
  return from_vector(values, {n}, options);
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  check(static_cast<int64_t>(values.size()) == numel_of(shape), "from_vector", values.size(),
        " values cannot fill shape ", fmt(shape));
  // Build on the host in T, then convert / move as asked.
  Tensor host = empty(shape, {.dtype = dtype_of<T>()});
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
  Tensor result = host;
  if (options.dtype != host.dtype()) {
    result = empty(shape, {.dtype = options.dtype});
    backend_for(Device::CPU).copy(host, result);
  }
  if (options.device != Device::CPU) {
    Tensor on_device = empty(shape, {.dtype = options.dtype, .device = options.device});
    backend_for(options.device).copy_from_host(on_device.raw_data(), result.raw_data(),
                                               result.numel() * dtype_size(options.dtype));
    result = on_device;
  }
  if (options.requires_grad) result.requires_grad_();
  return result;
}
template Tensor from_vector(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor from_vector(const std::vector<int64_t>&, const Shape&, TensorOptions);

}  // namespace sm
