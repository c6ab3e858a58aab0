// CPU gather / scatter_add / argsort.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/strided_loop.h"

namespace sm::cpu {

// Checks every index against the size of `dim` before any thread touches memory.
static void check_indices(const char* op, const Tensor& index, int64_t limit) {
  const int64_t* idx = static_cast<const int64_t*>(index.raw_data());
  for (int64_t i = 0; i < index.numel(); ++i)
    check(idx[i] >= 0 && idx[i] < limit, op, "index ", idx[i], " out of range for size ", limit);
}

// Walks the elements of `index` (contiguous); fn(index_pos, self_pos, value_pos) gets the
// offset into index, the offset into the indexed tensor (`self`, strides given, with the
// indexed dim's contribution added) and the offset into the tensor shaped like index.
template <typename Fn>
static void for_each_indexed(const Tensor& index, const Shape& self_strides, int64_t dim, bool parallel, Fn&& fn) {
  const int64_t* idx = static_cast<const int64_t*>(index.raw_data());
  Shape self_no_dim = self_strides;
  self_no_dim[dim] = 0;  // the indexed dim's position comes from the index value
  Operands<2> ops{{0, 0}, {index.strides(), self_no_dim}};
  strided_loop<2>(index.shape(), ops, [&](const auto& off) {
    fn(off[0], off[1] + idx[off[0]] * self_strides[dim]);
  }, parallel);
}

void CpuBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  check_indices("gather", index, x.size(dim));
  dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* in = static_cast<const T*>(x.raw_data());
    T* o = static_cast<T*>(out.raw_data());
    // out and index are both contiguous with index's shape, so they share offsets.
    for_each_indexed(index, x.strides(), dim, true, [&](int64_t pos, int64_t src) { o[pos] = in[src]; });
  });
}

void CpuBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  check_indices("scatter_add", index, out.size(dim));
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* s = static_cast<const T*>(src.raw_data());
    T* o = static_cast<T*>(out.raw_data());
    // Serial: two index entries may name the same output element.
    for_each_indexed(index, out.strides(), dim, false, [&](int64_t pos, int64_t dst) { o[dst] += s[pos]; });
  });
}

void CpuBackend::argsort(const Tensor& x, int64_t dim, bool descending, const Tensor& out) {
  const DimSplit s = split_at(x.shape(), dim);
  dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* in = static_cast<const T*>(x.raw_data());
    int64_t* o = static_cast<int64_t*>(out.raw_data());
    parallel_for(s.outer * s.inner, x.numel(), [&](int64_t begin, int64_t end) {
      std::vector<int64_t> order(s.size);
      for (int64_t line = begin; line < end; ++line) {
        const int64_t first = (line / s.inner) * s.size * s.inner + line % s.inner;
        auto value = [&](int64_t i) { return in[first + i * s.inner]; };
        // NaN sorts as the largest value, as in PyTorch; equal values keep their order.
        auto less = [&](int64_t i, int64_t j) {
          const T a = value(i), b = value(j);
          if (std::isnan(static_cast<double>(a))) return false;
          return std::isnan(static_cast<double>(b)) || a < b;
        };
        std::iota(order.begin(), order.end(), 0);
        if (descending) {
          std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return less(j, i); });
        } else {
          std::stable_sort(order.begin(), order.end(), less);
        }
        for (int64_t i = 0; i < s.size; ++i) o[first + i * s.inner] = order[i];
      }
    });
  });
}

}  // namespace sm::cpu
