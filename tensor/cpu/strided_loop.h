// strided_loop: visit every element of a shape once, for K operands with their own strides.
//
// This is how the CPU kernels read broadcast (stride 0), transposed and sliced tensors
// without first copying them: for each element, fn receives the K element offsets.
// Dimensions that are laid out back to back in every operand are merged first, so a
// contiguous tensor is walked as one flat run.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "tensor/parallel.h"
#include "tensor/shape.h"

namespace sm::cpu {

template <size_t K> struct Operands {
  std::array<int64_t, K> offsets;  // element offset of each operand's first element
  std::array<Shape, K> strides;    // each operand's strides over `shape`
};

// Calls run(offsets, steps, n) for each run of n elements along the innermost merged dim:
// element j of a run lives at offsets[k] + j * steps[k] in operand k. A kernel can then use a
// plain indexed loop (which the compiler vectorizes) when the steps are 1 or 0, as they are
// for contiguous tensors, broadcast scalars and broadcast rows.
// `parallel` may be false for kernels whose elements write to shared places (scatter).
template <size_t K, typename Run>
void strided_runs(const Shape& shape, Operands<K> ops, Run&& run_elements, bool parallel = true) {
  // Merge dims i-1 and i when every operand steps over dim i-1 exactly one run of dim i.
  Shape dims;
  std::array<Shape, K> strides;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < K && merge; ++k)
      merge = strides[k].back() == ops.strides[k][i] * shape[i];
    if (merge) {
      dims.back() *= shape[i];
      for (size_t k = 0; k < K; ++k) strides[k].back() = ops.strides[k][i];
    } else {
      dims.push_back(shape[i]);
      for (size_t k = 0; k < K; ++k) strides[k].push_back(ops.strides[k][i]);
    }
  }
  if (dims.empty()) {  // a scalar, or every dim has size 1
    dims.push_back(1);
    for (size_t k = 0; k < K; ++k) strides[k].push_back(0);
  }
  const int64_t rank = static_cast<int64_t>(dims.size());
  const int64_t total = numel_of(dims);
  const int64_t inner = dims.back();
  std::array<int64_t, K> steps;  // each operand's stride along the innermost dim
  for (size_t k = 0; k < K; ++k) steps[k] = strides[k].back();

  auto run = [&](int64_t begin, int64_t end) {
    // Unravel `begin` into a multi-index, then walk like an odometer.
    Shape index(rank);
    std::array<int64_t, K> off = ops.offsets;
    int64_t rest = begin;
    for (int64_t d = rank - 1; d >= 0; --d) {
      index[d] = rest % dims[d];
      rest /= dims[d];
      for (size_t k = 0; k < K; ++k) off[k] += index[d] * strides[k][d];
    }
    const int64_t last = rank - 1;
    for (int64_t i = begin; i < end;) {
      const int64_t run_length = std::min(inner - index[last], end - i);
      run_elements(std::as_const(off), steps, run_length);
      for (size_t k = 0; k < K; ++k) off[k] += run_length * steps[k];
      i += run_length;
      index[last] += run_length;
      if (index[last] < inner) break;  // stopped inside a row: this chunk is done
      // Wrap the innermost dim to 0 and carry into the outer dims.
      for (size_t k = 0; k < K; ++k) off[k] -= inner * strides[k][last];
      index[last] = 0;
      for (int64_t d = last - 1; d >= 0; --d) {
        for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
        if (++index[d] < dims[d]) break;
        for (size_t k = 0; k < K; ++k) off[k] -= dims[d] * strides[k][d];
        index[d] = 0;
      }
    }
  };
  if (parallel) {
    parallel_for(total, total, run);
  } else {
    run(0, total);
  }
}

// Calls fn(const std::array<int64_t, K>& offsets) once per element of `shape`.
template <size_t K, typename Fn>
void strided_loop(const Shape& shape, Operands<K> ops, Fn&& fn, bool parallel = true) {
  strided_runs<K>(
      shape, ops,
      [&](std::array<int64_t, K> off, const std::array<int64_t, K>& steps, int64_t n) {
        for (int64_t j = 0; j < n; ++j) {
          fn(std::as_const(off));
          for (size_t k = 0; k < K; ++k) off[k] += steps[k];
        }
      },
      parallel);
}

}  // namespace sm::cpu
