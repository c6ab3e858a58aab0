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

// Large blocks start at staggered offsets within a 4 KiB page. malloc serves them from mmap, so
// without this they would all start at the same offset, and a kernel streaming through several
// at once (AdamW reads and writes four: parameter, gradient and two moments) would have them
// contend for the same cache sets (and, on many CPUs, trip 4 KiB store-to-load aliasing):
// AdamW on the small preset took 11 ms a step instead of 7, depending on where malloc happened
// to put the blocks.
constexpr std::size_t kStaggerFrom = 64 * 1024;
constexpr std::size_t kPage = 4096;

class HostMemory final : public MemorySource {
 public:
  void* allocate(std::size_t nbytes) override {
    if (nbytes < kStaggerFrom) return std::aligned_alloc(kAlignment, nbytes);
    // The start moves by 17 cache lines per block, through all 64 line offsets of a page; the
    // line before the block keeps where malloc's block begins, for release.
    const std::size_t offset = kAlignment + (next_slot_++ * 17 % (kPage / kAlignment)) * kAlignment;
    const std::size_t total = (nbytes + offset + kPage - 1) / kPage * kPage;  // aligned_alloc wants whole pages
    char* base = static_cast<char*>(std::aligned_alloc(kPage, total));
    if (!base) return nullptr;
    char* block = base + offset;
    reinterpret_cast<char**>(block)[-1] = base;
    return block;
  }
  void release(void* ptr, std::size_t nbytes) noexcept override {
    std::free(nbytes < kStaggerFrom ? ptr : reinterpret_cast<char**>(ptr)[-1]);
  }

 private:
  std::size_t next_slot_ = 0;
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
