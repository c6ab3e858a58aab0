// CPU memory: 64-byte aligned blocks, with freed large blocks kept for reuse.
//
// Training and inference allocate the same sizes over and over (every step builds the same
// graph). A fresh large block is not free: the kernel maps and zeroes each of its pages on
// first touch, which at 480p inference (attention weights of hundreds of MB per block) cost
// more time than the softmax. So freed blocks of 256 KiB or more wait, by size, to be handed
// out again; smaller ones go back to malloc, which recycles them well itself.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace sm::cpu {

namespace {

constexpr std::size_t kAlignment = 64;                 // AVX-512 loads and cache lines
constexpr std::size_t kCachedFrom = 256 * 1024;        // smaller blocks are not cached
constexpr std::size_t kMaxCache = std::size_t(4) << 30;  // and never more than 4 GiB in all

class BlockCache {
 public:
  BlockCache() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    const std::size_t quarter_of_ram = pages > 0 && page > 0 ? std::size_t(pages) * std::size_t(page) / 4 : kMaxCache;
    limit_ = std::min(kMaxCache, quarter_of_ram);
  }
  // A cached block of exactly `size` bytes, or nullptr.
  void* take(std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* block = it->second.back();
    it->second.pop_back();
    cached_ -= size;
    return block;
  }

  // Keeps the block for reuse; false when the cache is full (the caller frees it).
  bool keep(void* block, std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + size > limit_) return false;
    free_[size].push_back(block);
    cached_ += size;
    return true;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_ = 0, limit_ = 0;
};

// Never destroyed: tensors held in static objects may be freed after main returns.
BlockCache& cache() {
  static BlockCache* blocks = new BlockCache;
  return *blocks;
}

std::size_t rounded(std::size_t nbytes) { return nbytes == 0 ? kAlignment : (nbytes + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

void* CpuBackend::allocate(std::size_t nbytes) {
  const std::size_t size = rounded(nbytes);
  void* block = size >= kCachedFrom ? cache().take(size) : nullptr;
  if (!block) block = std::aligned_alloc(kAlignment, size);
  check(block != nullptr, "alloc", "out of memory allocating ", nbytes, " bytes");
  return block;
}

void CpuBackend::deallocate(void* ptr, std::size_t nbytes) {
  const std::size_t size = rounded(nbytes);
  if (size >= kCachedFrom && cache().keep(ptr, size)) return;
  std::free(ptr);
}

void CpuBackend::copy_from_host(void* dst, const void* src, std::size_t n) { std::memcpy(dst, src, n); }
void CpuBackend::copy_to_host(void* dst, const void* src, std::size_t n) { std::memcpy(dst, src, n); }

}  // namespace sm::cpu
