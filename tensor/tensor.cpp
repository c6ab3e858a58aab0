#include "tensor/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "tensor/backend.h"

namespace sm {

// ---- dtype / device names ----
std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::BF16: return 2;
  }
  return 0;
}
const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I64: return "int64";
    case DType::BF16: return "bfloat16";
  }
  return "?";
}
const char* device_name(Device device) { return device == Device::CPU ? "cpu" : "cuda"; }
bool is_floating(DType dtype) { return dtype != DType::I64; }
void fail_on_bfloat16() {
  fail("bfloat16", "tensors of this dtype are only converted (to_dtype) and multiplied (matmul and attention under "
                   "autocast); convert to float32 first");
}

// ---- tensor accessors ----
TensorImpl& Tensor::impl() const {
  check(impl_ != nullptr, "tensor", "use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * static_cast<int64_t>(dtype_size(dtype()));
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->storage = base.storage();
  return Tensor(impl);
}

// A contiguous CPU copy of x converted to `dtype` (x itself when it already is one).
static Tensor host_contiguous(const Tensor& x, DType dtype) {
  if (x.device() == Device::CPU && x.is_contiguous() && x.dtype() == dtype) return x;
  Tensor host = empty(x.shape(), {.dtype = dtype});
  if (x.device() == Device::CPU) {
    backend_for(Device::CPU).copy(x, host);
    return host;
  }
  // Make it contiguous on the device, bring the bytes over, then convert on the host.
  Backend& device = backend_for(x.device());
  Tensor packed = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  device.copy(x, packed);
  Tensor raw = empty(x.shape(), {.dtype = x.dtype()});
  device.copy_to_host(raw.raw_data(), packed.raw_data(), x.numel() * dtype_size(x.dtype()));
  if (dtype == x.dtype()) return raw;
  backend_for(Device::CPU).copy(raw, host);
  return host;
}

double Tensor::item() const {
  check(numel() == 1, "item", "needs a tensor with one element, got shape ", fmt(shape()));
  return host_contiguous(*this, DType::F64).data<double>()[0];
}

template <typename T> std::vector<T> Tensor::to_vector() const {
  Tensor host = host_contiguous(*this, dtype_of<T>());
  const T* p = host.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

// ---- printing ----
namespace {

struct Printer {
  const std::vector<double>& values;
  const Shape& shape;
  bool int_dtype;  // int64: no decimal point at all
  bool integers;   // float values that are all whole: "1." like PyTorch
  bool scientific;
  bool summarize;  // shorten long dims to 3 leading and 3 trailing entries
  std::ostringstream out;

  void value(double v) {
    if (int_dtype) {
      out << static_cast<long long>(v);
    } else if (integers) {
      out << static_cast<long long>(v) << ".";
    } else if (scientific) {
      out << std::scientific << std::setprecision(4) << v;
    } else {
      out << std::fixed << std::setprecision(4) << v;
    }
  }

  // Prints the sub-tensor at `dim` starting at flat element `base` (recursion depth = rank).
  void block(size_t dim, int64_t base, int indent) {
    if (dim == shape.size()) return value(values[base]);
    const int64_t n = shape[dim];
    const int64_t stride = numel_of(Shape(shape.begin() + dim + 1, shape.end()));
    out << "[";
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 6 && i == 3) {
        out << "...";
        i = n - 3;
        out << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
      }
      block(dim + 1, base + i * stride, indent + 1);
      if (i + 1 < n) out << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
    }
    out << "]";
  }
};

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> values = to_vector<double>();
  bool integers = true;
  double max_abs = 0, min_abs = INFINITY;
  for (double v : values) {
    if (!std::isfinite(v) || v != std::round(v)) integers = false;
    if (std::isfinite(v) && v != 0) {
      max_abs = std::max(max_abs, std::abs(v));
      min_abs = std::min(min_abs, std::abs(v));
    }
  }
  const bool scientific = !integers && (max_abs >= 1e8 || min_abs < 1e-4);
  Printer printer{values, shape(), dtype() == DType::I64, integers, scientific, numel() > 1000, {}};
  std::ostringstream text;
  printer.block(0, 0, 7);
  text << "tensor(" << printer.out.str() << ", shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype());
  if (device() != Device::CPU) text << ", device=" << device_name(device());
  if (requires_grad()) text << (is_leaf() ? ", requires_grad=True" : ", grad_fn");
  text << ")";
  return text.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& tensor) { return os << tensor.str(); }

}  // namespace sm
