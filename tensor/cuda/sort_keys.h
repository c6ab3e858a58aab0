// Sort keys for the GPU's radix sort (argsort in tensor/cuda/cuda_index.cu).
//
// A radix sort orders unsigned integers by their bits. Each value is mapped to an unsigned
// key whose order is the order argsort wants, so one sort (of 64-bit keys, over 32 or 64 of
// their bits) serves every dtype and both directions:
//  - a float's bits order like its magnitude; negative values flip all bits (larger magnitude,
//    smaller value), non-negative ones set the sign bit (above every negative);
//  - -0 and +0 are equal and every NaN sorts as the largest value, as in PyTorch and the CPU
//    kernel: they become +0 and the positive quiet NaN first;
//  - int64 flips its sign bit;
//  - descending order sorts the complemented keys ascending, which keeps equal values in
//    their original order, as a stable sort must.
//
// Plain C++ (tests/test_device_logic.cpp checks the order on the CPU), compiled by nvcc too.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "tensor/dtype.h"

namespace sm {

// The bits of the key that matter for T: 32 for float, 64 for double and int64.
template <typename T> constexpr int sort_key_bits() { return sizeof(T) == 4 ? 32 : 64; }

template <typename T> SM_HOST_DEVICE uint64_t sort_key(T value, bool descending) {
  uint64_t key;
  if constexpr (std::is_same_v<T, float>) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    if (value != value) bits = 0x7fc00000u;  // every NaN the same positive quiet NaN
    if (value == 0.0f) bits = 0;              // -0 as +0
    key = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  } else if constexpr (std::is_same_v<T, double>) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    if (value != value) bits = 0x7ff8000000000000ull;
    if (value == 0.0) bits = 0;
    key = (bits & 0x8000000000000000ull) ? ~bits : (bits | 0x8000000000000000ull);
  } else {
    static_assert(std::is_same_v<T, int64_t>, "sort keys exist for float, double and int64");
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    key = bits ^ 0x8000000000000000ull;
  }
  const uint64_t mask = sort_key_bits<T>() == 32 ? 0xffffffffull : ~0ull;
  return (descending ? ~key : key) & mask;
}

}  // namespace sm
