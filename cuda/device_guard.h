// DeviceGuard: makes `device` current for a scope and restores the previous device on exit.
#pragma once
#include <cuda_runtime_api.h>

#include "cuda/check.h"

namespace tg::cuda {

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    TG_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) {
      TG_CUDA_CHECK(cudaSetDevice(device));
      changed_ = true;
    }
  }
  ~DeviceGuard() {
    if (changed_) cudaSetDevice(previous_);  // never throws from a destructor
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

}  // namespace tg::cuda
