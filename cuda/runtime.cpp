// CUDA runtime seam (cuda/runtime.h): device queries, copies, synchronisation. The allocator half
// lives in cuda/allocator.cpp. Every runtime call goes through TG_CUDA_CHECK.
#include "cuda/runtime.h"

#include <cuda_runtime_api.h>

#include "cuda/check.h"
#include "cuda/device_guard.h"

namespace tg::cuda {

int device_count() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {  // no driver, no device, or a driver older than the runtime: no CUDA here
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  TG_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

void copy_host_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  DeviceGuard guard(device);
  TG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  DeviceGuard guard(device);
  TG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

// Within one device or across devices (unified addressing lets cudaMemcpyDefault find both ends).
void copy_device_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  DeviceGuard guard(device);
  TG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

void synchronize(int device) {
  DeviceGuard guard(device);
  TG_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace tg::cuda
