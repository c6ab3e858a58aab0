// CPU memory: 64-byte aligned blocks from the shared caching allocator (tensor/allocator.h).
//
// Only blocks of 256 KiB or more are cached: a fresh large block costs the kernel's mapping
// and zeroing of each page on first touch (at 480p inference the attention weights of one
// block are hundreds of MB, and that cost more than the softmax), while malloc recycles small
// blocks well itself. The cache holds at most a quarter of the RAM, and never over 4 GiB.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "tensor/cpu/cpu_backend.h"

namespace sm::cpu {

namespace {

constexpr std::size_t kAlignment = 64;  // AVX-512 loads and cache lines

class HostMemory final : public MemorySource {
 public:
  void* allocate(std::size_t nbytes) override { return std::aligned_alloc(kAlignment, nbytes); }
  void release(void* ptr, std::size_t) noexcept override { std::free(ptr); }
};

CachePolicy host_policy() {
  constexpr std::size_t kMaxCache = std::size_t(4) << 30;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  const std::size_t quarter_of_ram = pages > 0 && page > 0 ? std::size_t(pages) * std::size_t(page) / 4 : kMaxCache;
  return {.alignment = kAlignment, .cached_from = 256 * 1024, .cache_limit = std::min(kMaxCache, quarter_of_ram)};
}

}  // namespace

// Never destroyed: tensors held in static objects may be freed after main returns.
CachingAllocator& CpuBackend::memory() {
  static HostMemory* source = new HostMemory;
  static CachingAllocator* allocator = new CachingAllocator(*source, host_policy(), "cpu");
  return *allocator;
}

void CpuBackend::copy_from_host(void* dst, const void* src, std::size_t n) { std::memcpy(dst, src, n); }
void CpuBackend::copy_to_host(void* dst, const void* src, std::size_t n) { std::memcpy(dst, src, n); }

}  // namespace sm::cpu
