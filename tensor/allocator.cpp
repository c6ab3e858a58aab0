#include "tensor/allocator.h"

#include <algorithm>
#include <cstdint>

#include "tensor/error.h"

namespace sm {

CachingAllocator::CachingAllocator(MemorySource& source, CachePolicy policy, const char* device_name)
    : source_(source), policy_(policy), device_name_(device_name) {}

std::size_t CachingAllocator::size_class(std::size_t nbytes, std::size_t alignment) {
  const std::size_t n = std::max<std::size_t>(nbytes, 1);
  std::size_t power = 1;  // the largest power of two <= n
  while (power <= n / 2) power *= 2;
  const std::size_t step = std::max(power / 4, alignment);  // four classes per power of two
  return (n + step - 1) / step * step;
}

void* CachingAllocator::allocate(std::size_t nbytes) {
  check(nbytes <= SIZE_MAX / 2, "alloc", "cannot allocate ", nbytes, " bytes on ", device_name_);
  const std::size_t size = size_class(nbytes, policy_.alignment);
  std::lock_guard<std::mutex> lock(mutex_);
  void* block = nullptr;
  auto cached = free_.find(size);
  if (cached != free_.end() && !cached->second.empty()) {
    block = cached->second.back();
    cached->second.pop_back();
    cached_ -= size;
  } else {
    block = system_allocate(size);
  }
  stats_.allocated += size;
  stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
  return block;
}

void* CachingAllocator::system_allocate(std::size_t size) {
  void* block = source_.allocate(size);
  if (!block && cached_ > 0) {  // the cache holds memory of other sizes: give it back and try again
    release_cached_locked();
    block = source_.allocate(size);
  }
  check(block != nullptr, "alloc", "out of memory on ", device_name_, ": a block of ", size, " bytes did not fit (",
        stats_.allocated, " bytes in use by tensors, ", stats_.reserved, " reserved)");
  stats_.reserved += size;
  stats_.peak_reserved = std::max(stats_.peak_reserved, stats_.reserved);
  ++stats_.system_allocations;
  return block;
}

void CachingAllocator::deallocate(void* ptr, std::size_t nbytes) noexcept {
  if (!ptr) return;
  const std::size_t size = size_class(nbytes, policy_.alignment);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocated -= size;
  if (size >= policy_.cached_from && cached_ + size <= policy_.cache_limit) {
    try {
      free_[size].push_back(ptr);
      cached_ += size;
      return;
    } catch (...) {  // no memory for the free list itself: give the block back instead
    }
  }
  source_.release(ptr, size);
  stats_.reserved -= size;
}

void CachingAllocator::release_cached() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() noexcept {
  for (auto& [size, blocks] : free_) {
    for (void* block : blocks) source_.release(block, size);
    stats_.reserved -= size * blocks.size();
    blocks.clear();
  }
  cached_ = 0;
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated = stats_.allocated;
  stats_.peak_reserved = stats_.reserved;
}

}  // namespace sm
