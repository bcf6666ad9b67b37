// Storage: one owned buffer of bytes on one device. Tensors share it through shared_ptr;
// views (reshape/flatten) point into the same Storage at an element offset.
#pragma once
#include <cstddef>
#include <memory>

#include "engine/device.h"

namespace tg {

class Storage {
 public:
  // Allocates `bytes` on `device` (64-byte aligned on the CPU, through the host block cache of
  // engine/cpu_allocator.h). Contents are uninitialised.
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  size_t capacity_ = 0;  // CPU: bytes reserved by host_alloc (>= bytes_)
  Device device_;
};

// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace tg
