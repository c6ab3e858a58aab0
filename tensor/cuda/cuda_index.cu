// CUDA gather / scatter_add (every dtype) and argsort (CUB's radix sort).
//
// A kernel cannot throw, and asking the GPU after every gather whether an index was bad
// would stall the host on every op. So a bad index is recorded (the first one wins) in a
// small record in device memory and its element skipped; raise_index_fault() throws it at the
// next point where the host waits for the GPU anyway (a transfer to the host), for the price
// of reading those 24 bytes there.
#include <cuda_runtime.h>

#include <climits>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "tensor/cuda/cuda_common.cuh"
#include "tensor/cuda/sort_keys.h"

namespace sm::cuda {

namespace {

enum class IndexOp : int { None = 0, Gather = 1, ScatterAdd = 2 };

struct IndexFault {
  int op;  // an IndexOp; None while no fault is recorded
  int pad;
  long long value, limit;
};

// The first bad index since the last check, in device memory (read by raise_index_fault).
__device__ IndexFault g_index_fault;

__device__ void record_index_fault(IndexOp op, int64_t value, int64_t limit) {
  if (atomicCAS(&g_index_fault.op, static_cast<int>(IndexOp::None), static_cast<int>(op)) ==
      static_cast<int>(IndexOp::None)) {
    g_index_fault.value = value;
    g_index_fault.limit = limit;
  }
}

// The shape of `index` and the strides of the indexed tensor, for offsets along every dim
// but `dim`, whose position comes from the index value.
struct IndexLayout {
  int rank, dim;
  int64_t limit;  // the indexed tensor's size along dim
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];

  // Offset in the indexed tensor of element i of index (row-major over shape), at `value`
  // along dim.
  __device__ int64_t offset(int64_t i, int64_t value) const {
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t idx = i % shape[d];
      i /= shape[d];
      off += (d == dim ? value : idx) * strides[d];
    }
    return off;
  }
};

IndexLayout index_layout(const Tensor& index, const Tensor& indexed, int64_t dim) {
  check(index.dim() <= kMaxDims, "gather", "index of rank ", index.dim(), " exceeds the CUDA kernels' ", kMaxDims);
  IndexLayout layout{};
  layout.rank = static_cast<int>(index.dim());
  layout.dim = static_cast<int>(dim);
  layout.limit = indexed.size(dim);
  for (int d = 0; d < layout.rank; ++d) {
    layout.shape[d] = index.size(d);
    layout.strides[d] = indexed.strides()[d];
  }
  return layout;
}

template <typename T>
__global__ void gather_kernel(const T* x, const int64_t* index, T* out, IndexLayout layout, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t value = index[i];
    if (value < 0 || value >= layout.limit) {
      record_index_fault(IndexOp::Gather, value, layout.limit);
      out[i] = T(0);
      continue;
    }
    out[i] = x[layout.offset(i, value)];
  }
}

template <typename T> __device__ void atomic_add(T* address, T value) {
  if constexpr (std::is_same_v<T, int64_t>) {
    // Two's complement addition is the same on signed and unsigned words.
    atomicAdd(reinterpret_cast<unsigned long long*>(address), static_cast<unsigned long long>(value));
  } else {
    atomicAdd(address, value);
  }
}

// Two index entries may name the same element: the adds are atomic (so a float sum's last
// bits depend on the order the GPU ran them in, as in PyTorch).
template <typename T>
__global__ void scatter_add_kernel(T* out, const int64_t* index, const T* src, IndexLayout layout, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t value = index[i];
    if (value < 0 || value >= layout.limit) {
      record_index_fault(IndexOp::ScatterAdd, value, layout.limit);
      continue;
    }
    atomic_add(out + layout.offset(i, value), src[i]);
  }
}

// ---- argsort ----

// Copies the lines of x (outer, size, inner) along `size` into contiguous segments
// (outer * inner, size) of sort keys (tensor/cuda/sort_keys.h), with each element's position
// along the line as its value.
template <typename T>
__global__ void make_sort_segments(const T* x, uint64_t* keys, int64_t* positions, int64_t outer, int64_t size,
                                   int64_t inner, bool descending) {
  const int64_t n = outer * size * inner;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = i % inner, j = (i / inner) % size, o = i / (inner * size);  // element (o, j, k) of x
    const int64_t at = (o * inner + k) * size + j;                                  // its place in the segments
    keys[at] = sort_key(x[i], descending);
    positions[at] = j;
  }
}

// out (outer, size, inner) from the sorted positions of segments (outer * inner, size).
__global__ void scatter_sorted_positions(const int64_t* sorted, int64_t* out, int64_t outer, int64_t size, int64_t inner) {
  const int64_t n = outer * size * inner;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = i % inner, j = (i / inner) % size, o = i / (inner * size);
    out[i] = sorted[(o * inner + k) * size + j];
  }
}

__global__ void segment_offsets(int* offsets, int64_t segments, int64_t size) {
  for (int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; s <= segments;
       s += static_cast<int64_t>(gridDim.x) * blockDim.x)
    offsets[s] = static_cast<int>(s * size);
}

// CUB's stable radix sort of (key, position) pairs over the low `bits` bits of the keys: one
// sort for one segment, a segmented sort (a block per segment) for several. Its scratch
// memory comes from the cache. One instantiation serves every dtype and direction.
void sort_pairs(const uint64_t* keys_in, uint64_t* keys_out, const int64_t* values_in, int64_t* values_out, int64_t n,
                int64_t segments, int64_t size, int bits) {
  const int items = static_cast<int>(n);
  std::size_t scratch_bytes = 0;
  if (segments == 1) {
    auto sort = [&](void* scratch) {
      return cub::DeviceRadixSort::SortPairs(scratch, scratch_bytes, keys_in, keys_out, values_in, values_out, items,
                                             0, bits);
    };
    check_cuda(sort(nullptr), "argsort");
    Workspace scratch(scratch_bytes);
    check_cuda(sort(scratch.as<void>()), "argsort");
    return;
  }
  Workspace offsets((segments + 1) * sizeof(int));
  segment_offsets<<<blocks_for(segments + 1), kThreads>>>(offsets.as<int>(), segments, size);
  const int* begin = offsets.as<int>();
  const int* end = begin + 1;
  auto sort = [&](void* scratch) {
    return cub::DeviceSegmentedRadixSort::SortPairs(scratch, scratch_bytes, keys_in, keys_out, values_in, values_out,
                                                    items, static_cast<int>(segments), begin, end, 0, bits);
  };
  check_cuda(sort(nullptr), "argsort");
  Workspace scratch(scratch_bytes);
  check_cuda(sort(scratch.as<void>()), "argsort");
}

}  // namespace

void raise_index_fault() {
  IndexFault seen{};
  check_cuda(cudaMemcpyFromSymbol(&seen, g_index_fault, sizeof(seen)), "to");
  if (seen.op == static_cast<int>(IndexOp::None)) return;
  const IndexFault none{};
  check_cuda(cudaMemcpyToSymbol(g_index_fault, &none, sizeof(none)), "to");
  fail(seen.op == static_cast<int>(IndexOp::Gather) ? "gather" : "scatter_add", "index ", seen.value,
       " out of range for size ", seen.limit, " (found on the GPU by an earlier kernel, reported at this transfer)");
}

void CudaBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  const int64_t n = index.numel();
  if (n == 0) return;
  const IndexLayout layout = index_layout(index, x, dim);
  dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    gather_kernel<T><<<blocks_for(n), kThreads>>>(static_cast<const T*>(x.raw_data()),
                                                  static_cast<const int64_t*>(index.raw_data()),
                                                  static_cast<T*>(out.raw_data()), layout, n);
  });
  launched("gather");
}

void CudaBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t n = index.numel();
  if (n == 0) return;
  const IndexLayout layout = index_layout(index, out, dim);
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    scatter_add_kernel<T><<<blocks_for(n), kThreads>>>(static_cast<T*>(out.raw_data()),
                                                       static_cast<const int64_t*>(index.raw_data()),
                                                       static_cast<const T*>(src.raw_data()), layout, n);
  });
  launched("scatter_add");
}

void CudaBackend::argsort(const Tensor& x, int64_t dim, bool descending, const Tensor& out) {
  const int64_t n = x.numel();
  if (n == 0) return;
  check(n <= INT_MAX, "argsort", "sorts at most ", INT_MAX, " elements on the GPU, got shape ", fmt(x.shape()));
  int64_t outer = 1, inner = 1;
  const int64_t size = x.dim() == 0 ? 1 : x.size(dim);
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t segments = outer * inner;
  Workspace keys(2 * n * sizeof(uint64_t)), positions(n * sizeof(int64_t));
  uint64_t* keys_in = keys.as<uint64_t>();
  uint64_t* keys_out = keys_in + n;
  const int bits = dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    make_sort_segments<T><<<blocks_for(n), kThreads>>>(static_cast<const T*>(x.raw_data()), keys_in,
                                                       positions.as<int64_t>(), outer, size, inner, descending);
    return sort_key_bits<T>();
  });
  int64_t* result = static_cast<int64_t*>(out.raw_data());
  if (inner == 1) {  // the segments are out's own rows: sort straight into it
    sort_pairs(keys_in, keys_out, positions.as<int64_t>(), result, n, segments, size, bits);
  } else {
    Workspace sorted(n * sizeof(int64_t));
    sort_pairs(keys_in, keys_out, positions.as<int64_t>(), sorted.as<int64_t>(), n, segments, size, bits);
    scatter_sorted_positions<<<blocks_for(n), kThreads>>>(sorted.as<int64_t>(), result, outer, size, inner);
  }
  launched("argsort");
}

}  // namespace sm::cuda
