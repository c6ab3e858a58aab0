// The parts of the device code that are plain logic, checked on the CPU (so in CI, where no
// GPU runs): the caching allocator both backends share, the reductions' merge rules the GPU
// applies in trees, the radix sort's keys, bfloat16 rounding and autocast.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "autograd/autograd.h"
#include "tests/fixtures.h"
#include "tensor/allocator.h"
#include "tensor/backend.h"
#include "tensor/cuda/reductions.h"
#include "tensor/cuda/sort_keys.h"

using namespace sm;
using namespace sm::test;

namespace {

// A device of `capacity` bytes whose blocks are counted: what the allocator asks of the system.
class FakeDevice final : public MemorySource {
 public:
  explicit FakeDevice(std::size_t capacity) : capacity_(capacity) {}
  void* allocate(std::size_t nbytes) override {
    if (used_ + nbytes > capacity_) return nullptr;
    used_ += nbytes;
    ++allocations_;
    return ::operator new(nbytes);
  }
  void release(void* ptr, std::size_t nbytes) noexcept override {
    used_ -= nbytes;
    ++releases_;
    ::operator delete(ptr);
  }
  std::size_t used_ = 0, capacity_;
  int allocations_ = 0, releases_ = 0;
};

}  // namespace

TEST_CASE("allocator: size classes are aligned, four per power of two, at most 20 % rounding") {
  std::set<std::size_t> classes;
  std::size_t previous = 0;
  for (std::size_t n = 0; n <= (1u << 20); n += 1 + n / 7) {
    const std::size_t size = CachingAllocator::size_class(n, 512);
    CAPTURE(n);
    CHECK(size >= std::max<std::size_t>(n, 1));
    CHECK(size % 512 == 0);
    CHECK(size >= previous);  // larger requests never get smaller blocks
    if (n > 2048) CHECK(static_cast<double>(size - n) / static_cast<double>(size) <= 0.2);
    previous = size;
    classes.insert(size);
  }
  CHECK(CachingAllocator::size_class(0, 64) == 64);
  CHECK(CachingAllocator::size_class(1000, 64) == 1024);
  CHECK(CachingAllocator::size_class(1025, 64) == 1280);
  CHECK(CachingAllocator::size_class(5 << 20, 512) == (5u << 20));
  CHECK(CachingAllocator::size_class((5 << 20) + 1, 512) == (6u << 20));
  // Between 64 KiB and 1 MiB: 4 powers of two, 4 classes each.
  CHECK(std::count_if(classes.begin(), classes.end(), [](std::size_t s) { return s > (64u << 10) && s <= (1u << 20); }) == 16);
}

TEST_CASE("allocator: a freed block is reused without asking the system, and the bytes are counted") {
  FakeDevice device(1 << 30);
  CachingAllocator allocator(device, {.alignment = 512, .cached_from = 0, .cache_limit = SIZE_MAX}, "fake");
  void* a = allocator.allocate(1000);  // class 1024
  void* b = allocator.allocate(3000);  // class 3072
  CHECK(device.allocations_ == 2);
  MemoryStats s = allocator.stats();
  CHECK(s.allocated == 1024 + 3072);
  CHECK(s.reserved == 1024 + 3072);
  allocator.deallocate(a, 1000);
  CHECK(allocator.stats().allocated == 3072);
  CHECK(allocator.stats().reserved == 1024 + 3072);  // kept for reuse
  void* c = allocator.allocate(900);                 // the same class: the same block
  CHECK(c == a);
  CHECK(device.allocations_ == 2);
  allocator.deallocate(b, 3000);
  allocator.deallocate(c, 900);
  s = allocator.stats();
  CHECK(s.allocated == 0);
  CHECK(s.peak_allocated == 1024 + 3072);
  CHECK(s.peak_reserved == 1024 + 3072);
  CHECK(s.system_allocations == 2);
  allocator.reset_peak();
  CHECK(allocator.stats().peak_allocated == 0);
  allocator.release_cached();
  CHECK(allocator.stats().reserved == 0);
  CHECK(device.used_ == 0);
  CHECK(device.releases_ == 2);
}

TEST_CASE("allocator: out of memory gives the cache back first, then fails with one clear line") {
  FakeDevice device(8192);
  CachingAllocator allocator(device, {.alignment = 512, .cached_from = 0, .cache_limit = SIZE_MAX}, "fake");
  void* a = allocator.allocate(4096);
  allocator.deallocate(a, 4096);  // cached: the device is still half full
  void* b = allocator.allocate(6000);  // class 6144: fits only once the cached block is released
  CHECK(b != nullptr);
  CHECK(device.releases_ == 1);
  CHECK_THROWS_WITH(allocator.allocate(4096),
                    doctest::Contains("[alloc] out of memory on fake: a block of 4096 bytes did not fit"));
  allocator.deallocate(b, 6000);
}

TEST_CASE("allocator: small blocks and a full cache go straight back to the system") {
  FakeDevice device(1 << 30);
  CachingAllocator allocator(device, {.alignment = 64, .cached_from = 4096, .cache_limit = 16384}, "fake");
  void* small = allocator.allocate(100);
  allocator.deallocate(small, 100);
  CHECK(device.releases_ == 1);
  std::vector<void*> blocks;
  for (int i = 0; i < 5; ++i) blocks.push_back(allocator.allocate(4096));
  for (void* block : blocks) allocator.deallocate(block, 4096);
  CHECK(device.releases_ == 2);  // four fit the 16 KiB cache, the fifth is released
  CHECK(allocator.stats().reserved == 16384);
  allocator.release_cached();
}

TEST_CASE("the CPU's tensors come from its caching allocator, which counts them") {
  static_assert(std::is_nothrow_destructible_v<Storage>);
  reset_peak_memory(Device::CPU);
  const MemoryStats before = memory_stats(Device::CPU);
  {
    Tensor big = zeros({1 << 20});  // 4 MiB: cached when freed
    const MemoryStats during = memory_stats(Device::CPU);
    CHECK(during.allocated >= before.allocated + (4u << 20));
    CHECK(during.peak_allocated >= during.allocated);
  }
  const MemoryStats after = memory_stats(Device::CPU);
  CHECK(after.allocated == before.allocated);
  CHECK(after.peak_allocated >= before.allocated + (4u << 20));
  const int64_t misses = after.system_allocations;
  Tensor again = zeros({1 << 20});  // the same size again: no new system allocation
  CHECK(memory_stats(Device::CPU).system_allocations == misses);
}

// Merges the elements of `values` through R in a random binary tree (as threads, warps and
// blocks do on the GPU), for comparison with the plain sequential merge.
template <typename R, typename T> typename R::Acc tree_merge(const std::vector<T>& values, std::mt19937& rng) {
  std::vector<typename R::Acc> level;
  for (size_t i = 0; i < values.size(); ++i) level.push_back(R::element(values[i], static_cast<int64_t>(i)));
  level.push_back(R::identity());  // idle threads contribute the identity
  while (level.size() > 1) {
    std::vector<typename R::Acc> next;
    size_t i = 0;
    while (i < level.size()) {
      const size_t group = std::min<size_t>(1 + rng() % 3, level.size() - i);  // merge 1-3 neighbours
      typename R::Acc acc = level[i];
      for (size_t j = 1; j < group; ++j) acc = R::merge(acc, level[i + j]);
      next.push_back(acc);
      i += group;
    }
    level = next;
  }
  return level[0];
}

template <ReduceOp kOp, typename T> void check_grouping(const std::vector<T>& values, double tolerance) {
  using R = Reduction<kOp, T>;
  typename R::Acc sequential = R::identity();
  for (size_t i = 0; i < values.size(); ++i) sequential = R::merge(sequential, R::element(values[i], static_cast<int64_t>(i)));
  const int64_t n = static_cast<int64_t>(values.size());
  const double expected = static_cast<double>(R::finish(sequential, n, 1));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const double got = static_cast<double>(R::finish(tree_merge<R>(values, rng), n, 1));
    CAPTURE(op_name(kOp));
    if (std::isnan(expected)) {
      CHECK(std::isnan(got));
    } else if (tolerance == 0) {
      CHECK(got == expected);
    } else {
      CHECK(got == doctest::Approx(expected).epsilon(tolerance));
    }
  }
}

TEST_CASE("reductions merge to the same answer in any grouping (as GPU trees merge them)") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(5.0f, 2.0f);
  std::vector<float> values(1000);
  for (float& v : values) v = normal(rng);
  values[100] = values[700] = 30.0f;  // a tied maximum: the first one wins
  values[200] = values[900] = -20.0f;
  check_grouping<ReduceOp::Sum>(values, 1e-12);
  check_grouping<ReduceOp::Mean>(values, 1e-12);
  check_grouping<ReduceOp::Var>(values, 1e-12);
  check_grouping<ReduceOp::Max>(values, 0);
  check_grouping<ReduceOp::Min>(values, 0);
  check_grouping<ReduceOp::ArgMax>(values, 0);
  check_grouping<ReduceOp::ArgMin>(values, 0);
  using ArgMax = Reduction<ReduceOp::ArgMax, float>;
  std::mt19937 tree_rng(5);
  CHECK(ArgMax::finish(tree_merge<ArgMax>(values, tree_rng), 1000, 0) == 100);
  using ArgMin = Reduction<ReduceOp::ArgMin, float>;
  CHECK(ArgMin::finish(tree_merge<ArgMin>(values, tree_rng), 1000, 0) == 200);

  // A NaN is the extreme, the first NaN wins; the variance of a constant row is exactly 0.
  values[500] = values[600] = std::numeric_limits<float>::quiet_NaN();
  CHECK(ArgMax::finish(tree_merge<ArgMax>(values, tree_rng), 1000, 0) == 500);
  CHECK(ArgMin::finish(tree_merge<ArgMin>(values, tree_rng), 1000, 0) == 500);
  check_grouping<ReduceOp::Max>(values, 0);
  using Var = Reduction<ReduceOp::Var, double>;
  const std::vector<double> constant(333, 0.1);
  CHECK(Var::finish(tree_merge<Var>(constant, tree_rng), 333, 1) == 0.0);
  CHECK(std::isnan(Var::finish(Var::element(1.0, 0), 1, 1)));  // n - correction = 0

  std::vector<int64_t> integers(500);
  for (size_t i = 0; i < integers.size(); ++i) integers[i] = static_cast<int64_t>((i * 7919) % 1013) - 500;
  check_grouping<ReduceOp::Sum>(integers, 0);
  check_grouping<ReduceOp::ArgMax>(integers, 0);
}

template <typename T> void check_sort_keys(std::vector<T> values) {
  for (bool descending : {false, true}) {
    CAPTURE(descending);
    std::vector<int64_t> by_key(values.size()), expected(values.size());
    for (size_t i = 0; i < values.size(); ++i) by_key[i] = expected[i] = static_cast<int64_t>(i);
    std::stable_sort(by_key.begin(), by_key.end(), [&](int64_t a, int64_t b) {
      return sort_key(values[a], descending) < sort_key(values[b], descending);
    });
    // The CPU kernel's order: NaN largest, equal values (-0 == +0) in their original order.
    auto less = [&](int64_t a, int64_t b) {
      const T x = values[a], y = values[b];
      if (x != x) return false;
      return y != y || x < y;
    };
    if (descending) {
      std::stable_sort(expected.begin(), expected.end(), [&](int64_t a, int64_t b) { return less(b, a); });
    } else {
      std::stable_sort(expected.begin(), expected.end(), less);
    }
    CHECK(by_key == expected);
    if (sort_key_bits<T>() == 32)  // the key lies in the bits the sort looks at
      for (T v : values) CHECK(sort_key(v, descending) <= 0xffffffffull);
  }
}

TEST_CASE("radix sort keys order values as argsort does: NaN largest, -0 == +0, stable both ways") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  check_sort_keys<float>({3.5f, -0.0f, nan, 0.0f, -inf, 1e-40f, -1e-40f, inf, -2.0f, 3.5f, -nan, 0.0f, -2.0f,
                          std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()});
  const double dnan = std::numeric_limits<double>::quiet_NaN();
  check_sort_keys<double>({1.0, dnan, -0.0, 0.0, -1e300, 1e-310, -dnan, 2.0, 1.0, -std::numeric_limits<double>::infinity()});
  check_sort_keys<int64_t>({5, -3, std::numeric_limits<int64_t>::min(), 0, std::numeric_limits<int64_t>::max(), 5, -3, -1});
}

TEST_CASE("bfloat16 rounds to nearest even, keeps NaN and infinities, and converts through float") {
  auto bits_of = [](float f) { return bfloat16(f).bits; };
  CHECK(bits_of(1.0f) == 0x3f80);
  CHECK(static_cast<float>(bfloat16(1.0f)) == 1.0f);
  CHECK(static_cast<float>(bfloat16(3.140625f)) == 3.140625f);  // exactly representable
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  CHECK(static_cast<float>(bfloat16(1.0f + 0x1p-8f)) == 1.0f);
  CHECK(static_cast<float>(bfloat16(1.0f + 3 * 0x1p-8f)) == 1.0f + 0x1p-6f);  // halfway, up to even
  CHECK(static_cast<float>(bfloat16(1.0f + 0x1p-8f + 0x1p-20f)) == 1.0f + 0x1p-7f);  // above halfway: up
  CHECK(std::isnan(static_cast<float>(bfloat16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isinf(static_cast<float>(bfloat16(std::numeric_limits<float>::infinity()))));
  CHECK(std::isinf(static_cast<float>(bfloat16(std::numeric_limits<float>::max()))));  // rounds up past the largest
  CHECK(static_cast<double>(bfloat16(-2.5)) == -2.5);
  CHECK(static_cast<int64_t>(bfloat16(int64_t{300})) == 300);
  CHECK(static_cast<int64_t>(bfloat16(int64_t{257})) == 256);  // 9 significant bits do not fit
  // Every bfloat16 converts to float and back unchanged.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    bfloat16 x;
    x.bits = static_cast<uint16_t>(b);
    const float f = static_cast<float>(x);
    if (!std::isnan(f)) CHECK(bfloat16(f).bits == x.bits);
  }
}

TEST_CASE("bfloat16 tensors convert on the CPU, and other kernels refuse them with one clear line") {
  Tensor x = from_vector<float>({1.0f, 1.0f + 0x1p-8f, -3.0f, 1e-3f}, {4});
  Tensor b = to_dtype(x, DType::BF16);
  CHECK(b.dtype() == DType::BF16);
  CHECK(dtype_size(DType::BF16) == 2);
  CHECK(std::string(dtype_name(DType::BF16)) == "bfloat16");
  const std::vector<float> back = to_dtype(b, DType::F32).to_vector<float>();
  CHECK(back[0] == 1.0f);
  CHECK(back[1] == 1.0f);
  CHECK(back[2] == -3.0f);
  CHECK(back[3] == doctest::Approx(1e-3).epsilon(4e-3));
  CHECK_THROWS_WITH(b + b, doctest::Contains("[bfloat16] tensors of this dtype are only converted"));
}

TEST_CASE("autocast: products multiply bfloat16 values and return float32, forward and backward") {
  Generator gen(1);
  Tensor a = randn({5, 7}, {}, &gen).requires_grad_(), b = randn({7, 3}, {}, &gen).requires_grad_();
  auto rounded = [](const Tensor& t) { return to_dtype(to_dtype(t.detach(), DType::BF16), DType::F32); };
  Tensor out;
  {
    AutocastGuard autocast;
    CHECK(autocast_enabled());
    out = matmul(a, b.t().t());  // a transposed view too
  }
  CHECK(!autocast_enabled());
  CHECK(out.dtype() == DType::F32);
  CHECK(closeness(out, matmul(rounded(a), rounded(b)), 1e-6, 1e-6) <= 1.0);
  CHECK(closeness(out, matmul(a, b), 1e-6, 1e-6) > 1.0);  // the rounding shows

  const Tensor g = randn({5, 3}, {}, &gen);
  out.backward(g);  // outside the guard: the product's backward keeps its precision
  CHECK(closeness(a.grad(), matmul(rounded(g), rounded(b).t()), 1e-6, 1e-6) <= 1.0);
  CHECK(closeness(b.grad(), matmul(rounded(a).t(), rounded(g)), 1e-6, 1e-6) <= 1.0);

  // float64 products are left alone, inside the guard too.
  Tensor x = randn({4, 4}, {.dtype = DType::F64}, &gen);
  const std::vector<double> exact = matmul(x, x).to_vector<double>();
  AutocastGuard autocast;
  CHECK(matmul(x, x).dtype() == DType::F64);
  CHECK(matmul(x, x).to_vector<double>() == exact);
  CHECK_THROWS_WITH(matmul(x, randn({4, 4}, {}, &gen)), doctest::Contains("[matmul] dtypes differ: float64"));
}

TEST_CASE("autocast: fused attention multiplies bfloat16 values and returns float32, forward and backward") {
  Generator gen(2);
  auto rounded = [](const Tensor& t) { return to_dtype(to_dtype(t.detach(), DType::BF16), DType::F32); };
  Tensor q = randn({2, 3, 9, 8}, {}, &gen).requires_grad_(), k = randn({2, 3, 7, 8}, {}, &gen).requires_grad_();
  Tensor v = randn({2, 3, 7, 8}, {}, &gen).requires_grad_();
  Tensor out;
  {
    AutocastGuard autocast;
    out = scaled_dot_product_attention(q, k, v);
  }
  CHECK(out.dtype() == DType::F32);
  Tensor rq = rounded(q).requires_grad_(), rk = rounded(k).requires_grad_(), rv = rounded(v).requires_grad_();
  Tensor expected = scaled_dot_product_attention(rq, rk, rv);
  CHECK(closeness(out, expected, 1e-6, 1e-6) <= 1.0);
  const Tensor g = randn(out.shape(), {}, &gen);
  out.backward(g);
  expected.backward(g);
  for (auto [got, want] : {std::pair{q, rq}, std::pair{k, rk}, std::pair{v, rv}}) {
    CHECK(got.grad().dtype() == DType::F32);
    CHECK(closeness(got.grad(), want.grad(), 1e-5, 1e-6) <= 1.0);
  }
}
