// Storage allocation per device and byte copies between devices.
#include "engine/storage.h"

#include <cstring>

#include "engine/cpu_allocator.h"
#include "engine/error.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace tg {

#ifndef TRUSTGRAD_WITH_CUDA
namespace {
[[noreturn]] void throw_no_cuda() {
  throw Error("this trustgrad build has no CUDA backend: rebuild with -DTRUSTGRAD_CUDA=ON (needs nvcc), or use device cpu");
}
}  // namespace
#endif

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    const HostBlock block = host_alloc(bytes);  // 64-byte aligned; large blocks come from the cache
    data_ = block.data;
    capacity_ = block.capacity;
  } else {
#ifdef TRUSTGRAD_WITH_CUDA
    data_ = cuda::device_malloc(bytes == 0 ? 4 : bytes, device.index);
#else
    throw_no_cuda();
#endif
  }
}

Storage::~Storage() {
  if (!data_) return;
  if (device_.is_cpu()) {
    host_free(HostBlock{data_, capacity_});
  } else {
#ifdef TRUSTGRAD_WITH_CUDA
    try {
      cuda::device_free(data_, device_.index);
    } catch (...) {
      // A destructor must not throw; a failing free at shutdown leaks the block instead.
    }
#endif
  }
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef TRUSTGRAD_WITH_CUDA
  if (dst_device.is_cuda() && src_device.is_cpu()) {
    cuda::copy_host_to_device(dst, src, bytes, dst_device.index);
  } else if (dst_device.is_cpu() && src_device.is_cuda()) {
    cuda::copy_device_to_host(dst, src, bytes, src_device.index);
  } else {
    cuda::copy_device_to_device(dst, src, bytes, dst_device.index);
  }
#else
  throw_no_cuda();
#endif
}

}  // namespace tg
