#include "tensor/storage.h"

#include "tensor/backend.h"

namespace sm {

Storage::Storage(std::size_t nbytes, Device device)
    : allocator_(&backend_for(device).memory()), nbytes_(nbytes), device_(device) {
  data_ = allocator_->allocate(nbytes);
}

Storage::~Storage() { allocator_->deallocate(data_, nbytes_); }

MemoryStats memory_stats(Device device) { return backend_for(device).memory().stats(); }
void reset_peak_memory(Device device) { backend_for(device).memory().reset_peak(); }
void release_cached_memory(Device device) { backend_for(device).memory().release_cached(); }

}  // namespace sm
