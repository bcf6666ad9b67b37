// CUDA runtime seam used by engine/storage.cpp: device memory, copies, device queries.
// Compiled only when the CUDA backend is built (TRUSTGRAD_WITH_CUDA); every call goes through
// TG_CUDA_CHECK, which throws tg::Error with file:line and the CUDA error string.
#pragma once
#include <cstddef>
#include <string>

namespace tg::cuda {

int device_count();                 // 0 when no driver/device (never throws)
std::string device_name(int device);
void* device_malloc(size_t bytes, int device);  // caching allocator: reuses freed blocks of the same size class
void device_free(void* ptr, int device);
void copy_host_to_device(void* dst, const void* src, size_t bytes, int device);
void copy_device_to_host(void* dst, const void* src, size_t bytes, int device);
void copy_device_to_device(void* dst, const void* src, size_t bytes, int device);
void synchronize(int device);
void empty_cache();                 // returns cached blocks to the driver

}  // namespace tg::cuda
