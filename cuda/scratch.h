// Scratch: a temporary device buffer from the caching allocator on the current device, returned to
// the cache when the scope ends. Safe with asynchronous kernels because every launch of this backend
// is ordered on the default stream, so the next user of the block runs after the kernels using it now.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>

#include "cuda/check.h"
#include "cuda/runtime.h"

namespace tg::cuda {

inline int current_device() {
  int device = 0;
  TG_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

class Scratch {
 public:
  explicit Scratch(size_t bytes) : device_(current_device()) { ptr_ = device_malloc(bytes, device_); }
  ~Scratch() { device_free(ptr_, device_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  template <class T = void>
  T* get() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  int device_ = 0;
};

}  // namespace tg::cuda
