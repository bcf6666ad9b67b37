// Storage: one owned buffer of bytes on one device. Tensors share it through shared_ptr;
// views (reshape/flatten) point into the same Storage at an element offset. Each storage counts
// its in-place modifications (the version), which autograd checks for the tensors a backward
// needs, as PyTorch's version counter does.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
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

  // How many in-place writes this buffer has seen: copy_, fill_, an optimizer's step, an in-place
  // collective. Writes through a raw data() pointer count only when the writer calls bump_version().
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }
  void reset_version() { version_.store(0, std::memory_order_relaxed); }  // factories only

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  size_t capacity_ = 0;  // CPU: bytes reserved by host_alloc (>= bytes_)
  Device device_;
  std::atomic<uint64_t> version_{0};
};

// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace tg
