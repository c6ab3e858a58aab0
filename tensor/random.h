// Seeded random numbers, reproducible on every compiler and platform.
//
// Generator = xoshiro256** (Blackman & Vigna), its 256-bit state seeded from one 64-bit
// seed by splitmix64. uniform() takes the top 53 bits of a draw; normal() uses the
// Box–Muller transform (two uniforms give two normals; the second is cached).
// The library's own code never uses std::*_distribution, whose output differs between
// standard libraries. Tensors are filled on the host in row-major order, then moved.
#pragma once

#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace sm {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(uint64_t seed);
  uint64_t next_u64();
  double uniform();                       // [0, 1)
  double normal();                        // mean 0, std 1
  int64_t randint(int64_t low, int64_t high);  // [low, high), unbiased

  // The full state, so training can be stopped and resumed exactly.
  struct State {
    std::array<uint64_t, 4> s;
    bool has_spare_normal;
    double spare_normal;
  };
  State state() const { return {s_, has_spare_, spare_}; }
  void set_state(const State& state);

 private:
  std::array<uint64_t, 4> s_{};
  bool has_spare_ = false;
  double spare_ = 0;
};

// The seed of item `index` of stream `stream` in a run seeded with `seed`, mixed with
// splitmix64 so that neighbouring indices give unrelated generators: how a run draws, say,
// the randomness of its k-th batch from Generator(derive_seed(seed, kBatches, k)) without
// keeping any generator state.
uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t index);

// The generator used when none is passed. manual_seed(s) reseeds it.
Generator& default_generator();
void manual_seed(uint64_t seed);

Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);   // U[0, 1)
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);  // N(0, 1)
// Integers in [low, high); dtype defaults to int64.
Tensor randint(int64_t low, int64_t high, const Shape& shape,
               TensorOptions options = {.dtype = DType::I64}, Generator* gen = nullptr);
// A random permutation of 0..n-1 (Fisher–Yates), int64.
Tensor randperm(int64_t n, Generator* gen = nullptr, Device device = Device::CPU);

}  // namespace sm
