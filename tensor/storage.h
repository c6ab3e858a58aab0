// Storage: one block of memory on one device, shared by a tensor and all its views.
#pragma once

#include <cstddef>
#include <memory>

#include "tensor/dtype.h"

namespace sm {

class CachingAllocator;

class Storage {
 public:
  // Takes a block from the device's caching allocator (tensor/allocator.h). Throws for a
  // device this build or machine does not have, and when the device is out of memory.
  Storage(std::size_t nbytes, Device device);
  // Gives the block back to the allocator it came from. Never throws (it runs during stack
  // unwinding and at exit), and asks nothing of the device's backend.
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  CachingAllocator* allocator_;
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
};

}  // namespace sm
