// The reductions (sum, mean, var, max, min, argmax, argmin) as values that combine in any
// grouping: an accumulator per op, the value of one element, how two accumulators merge, and
// the result. The GPU merges them in trees (threads, warps, blocks, chunks of a row), so the
// merge must not depend on which elements came first in memory; the CPU test
// tests/test_tensor.cpp checks that merging in any grouping gives the sequential answer.
//
// This header is plain C++ (compiled by g++ for that test, and by nvcc for the kernels).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tensor/backend.h"

namespace sm {

template <ReduceOp kOp, typename T> struct Reduction;

// Sum and mean: float sums accumulate in double, integer sums in int64 (as on the CPU).
template <ReduceOp kOp, typename T>
  requires(kOp == ReduceOp::Sum || kOp == ReduceOp::Mean)
struct Reduction<kOp, T> {
  using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
  using Out = T;
  SM_HOST_DEVICE static Acc identity() { return 0; }
  SM_HOST_DEVICE static Acc element(T x, int64_t) { return static_cast<Acc>(x); }
  SM_HOST_DEVICE static Acc merge(Acc a, Acc b) { return a + b; }
  SM_HOST_DEVICE static Out finish(Acc a, int64_t n, double) {
    if constexpr (kOp == ReduceOp::Mean) return static_cast<Out>(static_cast<double>(a) / static_cast<double>(n));
    return static_cast<Out>(a);
  }
};

// Variance: count, mean and the sum of squared deviations, merged with Chan et al.'s formula,
// which stays exact-ish in any grouping (a plain sum of squares would cancel).
struct VarianceAcc {
  double count, mean, m2;
};

template <typename T> struct Reduction<ReduceOp::Var, T> {
  using Acc = VarianceAcc;
  using Out = T;
  SM_HOST_DEVICE static Acc identity() { return {0, 0, 0}; }
  SM_HOST_DEVICE static Acc element(T x, int64_t) { return {1, static_cast<double>(x), 0}; }
  SM_HOST_DEVICE static Acc merge(Acc a, Acc b) {
    if (a.count == 0) return b;
    if (b.count == 0) return a;
    const double count = a.count + b.count, delta = b.mean - a.mean;
    return {count, a.mean + delta * (b.count / count), a.m2 + b.m2 + delta * delta * (a.count * b.count / count)};
  }
  // Divides by n - correction (1 for the unbiased variance); NaN when that is not positive.
  SM_HOST_DEVICE static Out finish(Acc a, int64_t n, double correction) {
    const double dof = static_cast<double>(n) - correction;
    return static_cast<Out>(dof > 0 ? a.m2 / dof : std::numeric_limits<double>::quiet_NaN());
  }
};

// The extreme value and where it is. The first extreme wins, and a NaN counts as the extreme
// (as in PyTorch); index -1 marks the empty accumulator.
template <typename T> struct ExtremeAcc {
  T value;
  int64_t index;
};

template <typename T> SM_HOST_DEVICE bool is_nan_value(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  return false;
}

template <ReduceOp kOp, typename T>
  requires(kOp == ReduceOp::Max || kOp == ReduceOp::Min || kOp == ReduceOp::ArgMax || kOp == ReduceOp::ArgMin)
struct Reduction<kOp, T> {
  static constexpr bool kWantMax = kOp == ReduceOp::Max || kOp == ReduceOp::ArgMax;
  static constexpr bool kArg = kOp == ReduceOp::ArgMax || kOp == ReduceOp::ArgMin;
  using Acc = ExtremeAcc<T>;
  using Out = std::conditional_t<kArg, int64_t, T>;
  SM_HOST_DEVICE static Acc identity() { return {T(0), -1}; }
  SM_HOST_DEVICE static Acc element(T x, int64_t i) { return {x, i}; }
  SM_HOST_DEVICE static Acc merge(Acc a, Acc b) {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    const bool a_nan = is_nan_value(a.value), b_nan = is_nan_value(b.value);
    if (a_nan || b_nan) {
      if (a_nan && b_nan) return a.index < b.index ? a : b;
      return a_nan ? a : b;
    }
    if (a.value == b.value) return a.index < b.index ? a : b;
    return (kWantMax ? a.value > b.value : a.value < b.value) ? a : b;
  }
  SM_HOST_DEVICE static Out finish(Acc a, int64_t, double) {
    if constexpr (kArg) return a.index;
    return a.value;
  }
};

}  // namespace sm
