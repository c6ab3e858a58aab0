// Element types and devices a tensor can have.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sm {

// f32 is the working type; f64 exists for gradient checks and reference tests;
// i64 holds indices (argmax, argsort, gather indices, masks' ids).
enum class DType { F32, F64, I64 };

enum class Device { CPU, CUDA };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);    // "float32", "float64", "int64"
const char* device_name(Device device); // "cpu", "cuda"
bool is_floating(DType dtype);

// Maps a C++ element type to its DType: dtype_of<float>() == DType::F32.
template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }

// Calls fn(T{}) with T the C++ type of `dtype`, so kernels are written once as templates.
template <typename Fn> decltype(auto) dispatch_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::F32: return fn(float{});
    case DType::F64: return fn(double{});
    case DType::I64: return fn(int64_t{});
  }
  return fn(float{});
}

// Same, for kernels that only make sense on floating types.
template <typename Fn> decltype(auto) dispatch_floating(DType dtype, const char* op, Fn&& fn);

}  // namespace sm

#include "tensor/error.h"

namespace sm {
template <typename Fn> decltype(auto) dispatch_floating(DType dtype, const char* op, Fn&& fn) {
  if (dtype == DType::F64) return fn(double{});
  if (dtype != DType::F32) fail(op, "expects a floating tensor, got ", dtype_name(dtype));
  return fn(float{});
}
}  // namespace sm
