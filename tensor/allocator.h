// The caching allocator: the same code serves the CPU and the GPU, one instance per device.
//
// A training step allocates the same sizes in the same order, step after step. Asking the
// system every time is slow: a fresh CPU block is mapped and zeroed page by page on first
// touch, and cudaMalloc / cudaFree synchronize the whole GPU. So a freed block waits in the
// free list of its size class and is handed out again to the next request of that class.
//
// Size classes: a request is rounded up to one of four steps per power of two (1, 1.25, 1.5
// and 1.75 times 2^k), so at most 20 % of a block is rounding and a step's many sizes fall into
// a few classes that are reused exactly.
//
// On the GPU a freed block is reused at once, without waiting for the kernels that used it:
// every kernel runs on the one default stream in launch order, so they finish before any later
// kernel touches the block's new contents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace sm {

// What a device's allocator holds, in bytes as rounded to size classes.
struct MemoryStats {
  std::size_t allocated = 0;       // in live blocks (tensors, workspaces)
  std::size_t reserved = 0;        // taken from the system: live blocks plus cached free ones
  std::size_t peak_allocated = 0;  // the most `allocated` has been since the last reset_peak()
  std::size_t peak_reserved = 0;
  int64_t system_allocations = 0;  // blocks asked of the system (cache misses)
};

// Where blocks come from: a device's own allocator (aligned_alloc, cudaMalloc).
class MemorySource {
 public:
  virtual ~MemorySource() = default;
  // nullptr when the device is out of memory.
  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void release(void* ptr, std::size_t nbytes) noexcept = 0;
};

struct CachePolicy {
  std::size_t alignment;    // every block's size is a multiple of this (and its address aligned to it)
  std::size_t cached_from;  // smaller blocks go back to the system when freed
  std::size_t cache_limit;  // at most this many bytes wait in the free lists
};

class CachingAllocator {
 public:
  CachingAllocator(MemorySource& source, CachePolicy policy, const char* device_name);
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;
  // Gives the cached blocks back (blocks still handed out stay their owners' to free).
  ~CachingAllocator() { release_cached(); }

  // A block of at least nbytes (nbytes may be 0). Throws "[alloc] out of memory ..." when the
  // system has none left even after the cached blocks were given back.
  void* allocate(std::size_t nbytes);
  // Takes back a block from allocate(nbytes), with the same nbytes. Never throws.
  void deallocate(void* ptr, std::size_t nbytes) noexcept;
  // Gives every cached free block back to the system.
  void release_cached() noexcept;

  MemoryStats stats() const;
  void reset_peak();

  // The size class of a request: the bytes its block really has.
  static std::size_t size_class(std::size_t nbytes, std::size_t alignment);

 private:
  void* system_allocate(std::size_t size);  // with the lock held
  void release_cached_locked() noexcept;

  MemorySource& source_;
  const CachePolicy policy_;
  const char* device_name_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;  // size class -> cached blocks
  std::size_t cached_ = 0;
  MemoryStats stats_;
};

}  // namespace sm
