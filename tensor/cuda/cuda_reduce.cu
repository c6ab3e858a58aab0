// CUDA reductions of the middle axis of a contiguous (outer, n, inner) block: sum, mean, var,
// max, min, argmax, argmin (tensor/cuda/reductions.h says how each accumulates and merges).
//
// Columns (inner > 1): one thread per output, adjacent threads on adjacent columns, so each
// row segment is read coalesced; with too few outputs to fill the GPU, the rows are split into
// chunks and a second pass merges them. Rows (inner = 1), three shapes of work, each fast for
// some (rows, n):
//   short rows        one warp per row (lanes stride along it, then a warp reduction);
//   many long rows    one block per row;
//   few long rows     each row split into chunks over several blocks, whose partial results
//                     a second kernel merges (a full mean(x) is one row of all the elements).
// Every path merges in a fixed order, so results do not change from run to run.
#include <algorithm>

#include "tensor/cuda/cuda_common.cuh"
#include "tensor/cuda/reductions.h"

namespace sm::cuda {

namespace {

constexpr int64_t kWarpRowMax = 2048;  // rows up to this long get one warp each
constexpr int kBlockThreads = 256;

template <typename R> struct Merge {
  __device__ typename R::Acc operator()(const typename R::Acc& a, const typename R::Acc& b) const { return R::merge(a, b); }
};

// Merges the elements [begin, end) of a row, thread `lane` of `stride` threads taking every
// stride-th one.
template <typename R, typename T>
__device__ typename R::Acc accumulate(const T* row, int64_t begin, int64_t end, int64_t lane, int64_t stride) {
  typename R::Acc acc = R::identity();
  for (int64_t i = begin + lane; i < end; i += stride) acc = R::merge(acc, R::element(row[i], i));
  return acc;
}

template <typename R, typename Group, typename T>
__global__ void reduce_rows_kernel(const T* x, int64_t rows, int64_t n, typename R::Out* out, double correction) {
  const Group g;
  for (int64_t row = g.first_row(); row < rows; row += g.row_step()) {
    typename R::Acc acc = accumulate<R>(x + row * n, 0, n, g.lane(), g.size());
    acc = g.all_reduce(acc, Merge<R>{});
    if (g.lane() == 0) out[row] = R::finish(acc, n, correction);
  }
}

// Block (chunk, row) merges its chunk of the row into partial[chunk * rows + row]
// (merge_chunks below finishes).
template <typename R, typename T>
__global__ void reduce_row_chunks(const T* x, int64_t n, int64_t chunk_length, typename R::Acc* partial) {
  const int64_t row = blockIdx.y, chunk = blockIdx.x;
  const int64_t begin = chunk * chunk_length, end = begin + chunk_length < n ? begin + chunk_length : n;
  typename R::Acc acc = accumulate<R>(x + row * n, begin, end, threadIdx.x, blockDim.x);
  acc = BlockPerRow{}.all_reduce(acc, Merge<R>{});
  if (threadIdx.x == 0) partial[chunk * gridDim.y + row] = acc;
}

// One thread per output merges its chunks' partial results partial[chunk * outputs + output],
// in chunk order (for chunks of rows and chunks of columns alike).
template <typename R>
__global__ void merge_chunks(const typename R::Acc* partial, int64_t outputs, int64_t chunks, int64_t n,
                             typename R::Out* out, double correction) {
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < outputs;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    typename R::Acc acc = R::identity();
    for (int64_t c = 0; c < chunks; ++c) acc = R::merge(acc, partial[c * outputs + idx]);
    out[idx] = R::finish(acc, n, correction);
  }
}

template <typename R, typename T>
void reduce_rows(const T* x, int64_t rows, int64_t n, typename R::Out* out, double correction) {
  const int64_t busy = 4 * static_cast<int64_t>(multiprocessor_count());  // blocks that fill the GPU
  if (n <= kWarpRowMax) {
    reduce_rows_kernel<R, WarpPerRow>
        <<<blocks_for_rows<WarpPerRow>(rows, kBlockThreads), kBlockThreads>>>(x, rows, n, out, correction);
  } else if (rows >= busy / 2 || rows > 65535) {  // (the chunked grid below holds at most 65535 rows)
    reduce_rows_kernel<R, BlockPerRow>
        <<<blocks_for_rows<BlockPerRow>(rows, kBlockThreads), kBlockThreads>>>(x, rows, n, out, correction);
  } else {
    const int64_t chunks = std::min<int64_t>((busy + rows - 1) / rows, (n + kWarpRowMax - 1) / kWarpRowMax);
    const int64_t chunk_length = (n + chunks - 1) / chunks;
    Workspace partial(static_cast<std::size_t>(rows * chunks) * sizeof(typename R::Acc));
    reduce_row_chunks<R><<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(rows)), kBlockThreads>>>(
        x, n, chunk_length, partial.as<typename R::Acc>());
    merge_chunks<R><<<blocks_for(rows, kBlockThreads), kBlockThreads>>>(partial.as<typename R::Acc>(), rows, chunks, n,
                                                                       out, correction);
  }
}

// Columns: output idx = (o, k) merges x[o][begin..end)[k] of its chunk of rows; neighbouring
// threads take neighbouring columns, so each row segment is read coalesced. Writes the
// finished value when the rows are one chunk, else the partial result of chunk blockIdx.y.
template <typename R, typename T>
__global__ void reduce_column_chunks(const T* x, int64_t outputs, int64_t n, int64_t inner, int64_t chunk_rows,
                                     typename R::Out* out, typename R::Acc* partial, double correction) {
  const int64_t chunk = blockIdx.y, begin = chunk * chunk_rows;
  const int64_t end = begin + chunk_rows < n ? begin + chunk_rows : n;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < outputs;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T* column = x + idx / inner * n * inner + idx % inner;
    typename R::Acc acc = R::identity();
#pragma unroll 4
    for (int64_t i = begin; i < end; ++i) acc = R::merge(acc, R::element(column[i * inner], i));
    if (partial) {
      partial[chunk * outputs + idx] = acc;
    } else {
      out[idx] = R::finish(acc, n, correction);
    }
  }
}

// A sum over leading dims (every bias gradient: thousands of rows, a few hundred columns)
// has too few outputs to fill the GPU with a thread each: the rows are split into chunks over
// grid rows, and a second pass merges the chunks.
template <typename R, typename T>
void reduce_columns(const T* x, int64_t outputs, int64_t n, int64_t inner, typename R::Out* out, double correction) {
  const int64_t threads_wanted = 4 * static_cast<int64_t>(multiprocessor_count()) * kBlockThreads;
  const int64_t chunks = std::clamp<int64_t>(threads_wanted / outputs, 1, std::clamp<int64_t>((n + 31) / 32, 1, 65535));
  const int64_t chunk_rows = (n + chunks - 1) / chunks;
  const dim3 grid(static_cast<unsigned>(blocks_for(outputs, kBlockThreads)), static_cast<unsigned>(chunks));
  if (chunks == 1) {
    reduce_column_chunks<R><<<grid, kBlockThreads>>>(x, outputs, n, inner, chunk_rows, out, nullptr, correction);
    return;
  }
  Workspace partial(static_cast<std::size_t>(chunks * outputs) * sizeof(typename R::Acc));
  reduce_column_chunks<R><<<grid, kBlockThreads>>>(x, outputs, n, inner, chunk_rows, out,
                                                  partial.as<typename R::Acc>(), correction);
  merge_chunks<R><<<blocks_for(outputs, kBlockThreads), kBlockThreads>>>(partial.as<typename R::Acc>(), outputs, chunks,
                                                                          n, out, correction);
}

// Reduces x (outer, n, inner) into out (outer, inner) with R.
template <typename R, typename T>
void reduce_any(const T* x, int64_t outputs, int64_t n, int64_t inner, const Tensor& out, double correction) {
  using Out = typename R::Out;
  check(out.dtype() == dtype_of<Out>(), "reduce", "writes ", dtype_name(dtype_of<Out>()), ", got an output of ",
        dtype_name(out.dtype()));
  Out* result = static_cast<Out*>(out.raw_data());
  if (inner > 1) {
    reduce_columns<R>(x, outputs, n, inner, result, correction);
  } else {
    reduce_rows<R>(x, outputs, n, result, correction);
  }
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, int64_t reduce_size, int64_t inner, const Tensor& out,
                         double correction) {
  const int64_t outputs = out.numel();
  if (outputs == 0) return;
  dispatch_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    visit(op, [&](auto c) {
      constexpr ReduceOp kOp = decltype(c)::value;
      // The ops refuse the mean and variance of integers (autograd/functions.cpp): not compiled.
      if constexpr (std::is_integral_v<T> && (kOp == ReduceOp::Mean || kOp == ReduceOp::Var))
        fail(op_name(op), "expects a floating tensor, got ", dtype_name(x.dtype()));
      else
        reduce_any<Reduction<kOp, T>>(static_cast<const T*>(x.raw_data()), outputs, reduce_size, inner, out, correction);
    });
  });
  launched(op_name(op));
}

}  // namespace sm::cuda
