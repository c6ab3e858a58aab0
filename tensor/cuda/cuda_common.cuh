// What the CUDA kernel files share: launch sizes, strided offsets, warp and block
// reductions, and scratch memory from the caching allocator.
//
// Conventions every kernel follows:
//  - one stream: everything runs on the default stream in launch order, so the caching
//    allocator may hand a freed block out again at once, and no kernel waits on the host;
//  - grid-stride loops: a grid is capped at kMaxBlocks and each thread (warp, block) walks
//    its elements (rows) in steps of the whole grid, so any size fits a launch;
//  - a launch with no work is never made (a grid of 0 blocks is an error);
//  - element indices are int64_t: tensors may hold more than 2^31 elements;
//  - warp and block reductions are called by whole warps and blocks: loop conditions around
//    them are the same for every thread of the warp or block.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstring>

#include "tensor/cuda/cuda_backend.h"

namespace sm::cuda {

constexpr int kThreads = 256;      // threads per block for elementwise kernels
constexpr int kWarp = 32;
constexpr int64_t kMaxBlocks = 1 << 16;
constexpr int kMaxDims = 8;

// Blocks for n work items of `per_block` each, at least 1, at most kMaxBlocks.
inline int blocks_for(int64_t n, int64_t per_block = kThreads) {
  const int64_t blocks = (n + per_block - 1) / per_block;
  return static_cast<int>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

// Throws "[op] CUDA error: ..." when the last launch failed.
inline void launched(const char* op) { check_cuda(cudaGetLastError(), op); }

// The multiprocessors of the GPU in use (asked once).
int multiprocessor_count();

// Shape and per-operand strides (in elements), passed to kernels by value. Dims that lie
// back to back in every operand are merged on the host first (see describe), so contiguous
// operands are walked as one flat run with no divisions at all.
template <int K> struct Strided {
  int rank;
  int64_t shape[kMaxDims];
  int64_t strides[K][kMaxDims];

  // The element offsets of flat element i (row-major over `shape`) in each operand.
  __device__ void offsets(int64_t i, int64_t (&off)[K]) const {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = rank - 1; d > 0; --d) {
      const int64_t idx = i % shape[d];
      i /= shape[d];
      for (int k = 0; k < K; ++k) off[k] += idx * strides[k][d];
    }
    for (int k = 0; k < K; ++k) off[k] += i * strides[k][0];
  }
};

// The operands' layout over `shape`, with size-1 dims dropped and mergeable dims merged
// (dims d-1 and d merge when every operand steps over dim d-1 exactly one run of dim d).
template <int K> Strided<K> describe(const Shape& shape, const std::array<const Tensor*, K>& tensors) {
  Strided<K> s{};
  s.rank = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = s.rank > 0;
    for (int k = 0; k < K && merge; ++k)
      merge = s.strides[k][s.rank - 1] == tensors[k]->strides()[d] * shape[d];
    if (merge) {
      s.shape[s.rank - 1] *= shape[d];
      for (int k = 0; k < K; ++k) s.strides[k][s.rank - 1] = tensors[k]->strides()[d];
      continue;
    }
    check(s.rank < kMaxDims, "cuda", "tensors of shape ", fmt(shape), " have more than ", kMaxDims,
          " dims that cannot be merged; the CUDA kernels take at most ", kMaxDims);
    s.shape[s.rank] = shape[d];
    for (int k = 0; k < K; ++k) s.strides[k][s.rank] = tensors[k]->strides()[d];
    ++s.rank;
  }
  if (s.rank == 0) {  // a scalar, or every dim has size 1: one element at offset 0
    s.rank = 1;
    s.shape[0] = 1;
    for (int k = 0; k < K; ++k) s.strides[k][0] = 0;
  }
  return s;
}

// ---- reductions across a warp and a block ----

// v from the lane `lane_mask` away (xor), for any trivially copyable type of whole 4-byte words.
template <typename T> __device__ T shuffle_xor(const T& v, int lane_mask) {
  static_assert(sizeof(T) % 4 == 0, "shuffle_xor moves 4-byte words");
  int words[sizeof(T) / 4];
  memcpy(words, &v, sizeof(T));
  for (int w = 0; w < static_cast<int>(sizeof(T) / 4); ++w) words[w] = __shfl_xor_sync(0xffffffffu, words[w], lane_mask);
  T out;
  memcpy(&out, words, sizeof(T));
  return out;
}

// Combines v over the 32 lanes of the warp; every lane gets the result. All lanes must call.
template <typename T, typename Combine> __device__ T warp_all_reduce(T v, Combine combine) {
  for (int lane_mask = kWarp / 2; lane_mask > 0; lane_mask /= 2) v = combine(v, shuffle_xor(v, lane_mask));
  return v;
}

// Combines v over the block (blockDim.x a multiple of 32); every thread gets the result.
// `scratch` is shared memory for 32 values. All threads of the block must call.
template <typename T, typename Combine> __device__ T block_all_reduce(T v, Combine combine, T* scratch) {
  v = warp_all_reduce(v, combine);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  __syncthreads();  // the scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = scratch[0];
  for (int w = 1; w < warps; ++w) v = combine(v, scratch[w]);  // the same order in every thread
  return v;
}

// Shared memory for 32 values of T, which may have no trivial constructor.
template <typename T> __device__ T* block_scratch() {
  __shared__ alignas(16) unsigned char bytes[kWarp * sizeof(T)];
  return reinterpret_cast<T*>(bytes);
}

// A group of threads that works on one row at a time: a warp (for short rows, 8 rows per
// block of 256 threads) or a whole block (for long rows). Kernels written against a group
// serve both: for (row = g.first_row(); row < rows; row += g.row_step()) { ... g.all_reduce ... }
struct WarpPerRow {
  static constexpr int64_t rows_per_block(int threads) { return threads / kWarp; }
  __device__ int64_t first_row() const { return blockIdx.x * static_cast<int64_t>(blockDim.x / kWarp) + threadIdx.x / kWarp; }
  __device__ int64_t row_step() const { return static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp); }
  __device__ int64_t lane() const { return threadIdx.x % kWarp; }
  __device__ int64_t size() const { return kWarp; }
  template <typename T, typename Combine> __device__ T all_reduce(T v, Combine combine) const {
    return warp_all_reduce(v, combine);
  }
};

struct BlockPerRow {
  static constexpr int64_t rows_per_block(int) { return 1; }
  __device__ int64_t first_row() const { return blockIdx.x; }
  __device__ int64_t row_step() const { return gridDim.x; }
  __device__ int64_t lane() const { return threadIdx.x; }
  __device__ int64_t size() const { return blockDim.x; }
  template <typename T, typename Combine> __device__ T all_reduce(T v, Combine combine) const {
    return block_all_reduce(v, combine, block_scratch<T>());
  }
};

// Blocks for `rows` rows when each block of `threads` threads is made of Group's.
template <typename Group> int blocks_for_rows(int64_t rows, int threads) {
  return blocks_for(rows, Group::rows_per_block(threads));
}

struct Plus {
  template <typename T> __device__ T operator()(const T& a, const T& b) const { return a + b; }
};
struct Maximum {
  template <typename T> __device__ T operator()(const T& a, const T& b) const { return fmax(a, b); }
};

// The type float kernels accumulate in.
template <typename T> using Accumulate = std::conditional_t<std::is_same_v<T, double>, double, float>;

// ---- scratch memory ----

// A block from the GPU's caching allocator for the duration of one op (reductions' partial
// results, sort buffers). No cudaMalloc once the cache is warm, and no synchronization: the
// block returns to the cache when the op ends, and the next user is later on the same stream.
class Workspace {
 public:
  explicit Workspace(std::size_t nbytes);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  template <typename T> T* as() const { return static_cast<T*>(data_); }
  std::size_t nbytes() const { return nbytes_; }

 private:
  void* data_;
  std::size_t nbytes_;
};

}  // namespace sm::cuda
