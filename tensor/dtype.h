// Element types and devices a tensor can have.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

// Functions that CUDA kernels call too (this header is also compiled by nvcc).
#ifdef __CUDACC__
#define SM_HOST_DEVICE __host__ __device__
#else
#define SM_HOST_DEVICE
#endif

namespace sm {

// f32 is the working type; f64 exists for gradient checks and reference tests;
// i64 holds indices (argmax, argsort, gather indices, masks' ids); bf16 holds the operands
// of matrix products under mixed precision (autograd/autocast.h) and is only converted
// (to_dtype) and multiplied (matmul, attention), never computed with otherwise.
enum class DType { F32, F64, I64, BF16 };

enum class Device { CPU, CUDA };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);    // "float32", "float64", "int64", "bfloat16"
const char* device_name(Device device); // "cpu", "cuda"
bool is_floating(DType dtype);

// bfloat16: the top 16 bits of a float32 (8 exponent bits, 7 mantissa bits), so the range of
// float32 with about 3 significant digits. Converting from float rounds to nearest, ties to
// even, as the GPU's own conversion does; NaN stays NaN.
struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  SM_HOST_DEVICE explicit bfloat16(float value) {
    uint32_t u;
    std::memcpy(&u, &value, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = static_cast<uint16_t>((u >> 16) | 0x0040u);  // a quiet NaN of the same sign
      return;
    }
    u += 0x7fffu + ((u >> 16) & 1u);  // round half to even on the 16 bits dropped
    bits = static_cast<uint16_t>(u >> 16);
  }
  SM_HOST_DEVICE explicit operator float() const {
    const uint32_t u = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &u, sizeof(value));
    return value;
  }
  // The other element types convert through float, so static_cast works in copy kernels.
  SM_HOST_DEVICE explicit bfloat16(double value) : bfloat16(static_cast<float>(value)) {}
  SM_HOST_DEVICE explicit bfloat16(int64_t value) : bfloat16(static_cast<float>(value)) {}
  SM_HOST_DEVICE explicit operator double() const { return static_cast<float>(*this); }
  SM_HOST_DEVICE explicit operator int64_t() const { return static_cast<int64_t>(static_cast<float>(*this)); }
};

// Maps a C++ element type to its DType: dtype_of<float>() == DType::F32.
template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<bfloat16>() { return DType::BF16; }

// Calls fn(T{}) with T the C++ type of `dtype`, so kernels are written once as templates.
// bfloat16 is a storage type: it throws here (see dispatch_all_dtypes).
template <typename Fn> decltype(auto) dispatch_dtype(DType dtype, Fn&& fn);

// Same, bfloat16 included: for kernels that only move and convert values (copy).
template <typename Fn> decltype(auto) dispatch_all_dtypes(DType dtype, Fn&& fn);

// Same, for kernels that only make sense on floating types.
template <typename Fn> decltype(auto) dispatch_floating(DType dtype, const char* op, Fn&& fn);

}  // namespace sm

#include "tensor/error.h"

namespace sm {
[[noreturn]] void fail_on_bfloat16();  // "[bfloat16] tensors are only converted and multiplied ..."

template <typename Fn> decltype(auto) dispatch_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::F32: return fn(float{});
    case DType::F64: return fn(double{});
    case DType::I64: return fn(int64_t{});
    case DType::BF16: fail_on_bfloat16();
  }
  return fn(float{});
}

template <typename Fn> decltype(auto) dispatch_all_dtypes(DType dtype, Fn&& fn) {
  if (dtype == DType::BF16) return fn(bfloat16{});
  return dispatch_dtype(dtype, fn);
}

template <typename Fn> decltype(auto) dispatch_floating(DType dtype, const char* op, Fn&& fn) {
  if (dtype == DType::F64) return fn(double{});
  if (dtype == DType::BF16) fail_on_bfloat16();
  if (dtype != DType::F32) fail(op, "expects a floating tensor, got ", dtype_name(dtype));
  return fn(float{});
}
}  // namespace sm
