// Caching device allocator: cudaMalloc is slow and synchronising, so freed blocks are kept in
// per-device, per-size-class free lists and handed out again. Every kernel of this backend runs on
// the legacy default stream, so a block reused by a later launch is ordered after the kernels that
// last used it: no event bookkeeping is needed (the same argument PyTorch's allocator makes per stream).
#include "cuda/allocator.h"

#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/check.h"
#include "cuda/device_guard.h"
#include "cuda/runtime.h"

namespace tg::cuda {

size_t allocation_size_class(size_t bytes) {
  if (bytes <= kSmallAllocationLimit) return (bytes + kSmallRounding - 1) / kSmallRounding * kSmallRounding;
  return (bytes + kLargeRounding - 1) / kLargeRounding * kLargeRounding;
}

namespace {

struct DevicePool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // size class -> cached blocks
  std::unordered_map<void*, size_t> live;                      // block -> its size class
  AllocatorStats stats;

  // Returns every cached block to the driver. Caller holds the mutex and has made the device current.
  void release_cached() {
    for (auto& [size, blocks] : free_lists) {
      for (void* p : blocks) cudaFree(p);
      stats.bytes_cached -= size * blocks.size();
    }
    free_lists.clear();
  }
};

class CachingAllocator {
 public:
  DevicePool& pool(int device) {
    std::lock_guard<std::mutex> lock(pools_mutex_);
    auto& p = pools_[device];
    if (!p) p = std::make_unique<DevicePool>();
    return *p;
  }
  std::vector<int> devices() {
    std::lock_guard<std::mutex> lock(pools_mutex_);
    std::vector<int> ids;
    for (auto& [id, p] : pools_) ids.push_back(id);
    return ids;
  }

 private:
  std::mutex pools_mutex_;
  std::unordered_map<int, std::unique_ptr<DevicePool>> pools_;
};

// Deliberately leaked: freeing blocks during static destruction would race the CUDA runtime's own
// teardown; the driver reclaims everything at process exit.
CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator();
  return *instance;
}

void check_device_index(int device) {
  const int count = device_count();
  TG_CHECK(count > 0, "cuda:" << device << " requested but no CUDA device is present (no driver, or no GPU visible); "
                              "use Device::cpu()");
  TG_CHECK(device >= 0 && device < count, "cuda:" << device << " requested but only " << count
                                                  << " CUDA device(s) are present (cuda:0..cuda:" << count - 1 << ")");
}

}  // namespace

void* device_malloc(size_t bytes, int device) {
  if (bytes == 0) return nullptr;
  check_device_index(device);
  const size_t size = allocation_size_class(bytes);
  DevicePool& p = allocator().pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.free_lists.find(size);
  if (it != p.free_lists.end() && !it->second.empty()) {
    void* block = it->second.back();
    it->second.pop_back();
    p.live[block] = size;
    p.stats.bytes_cached -= size;
    p.stats.bytes_in_use += size;
    p.stats.cache_hits++;
    return block;
  }
  DeviceGuard guard(device);
  void* block = nullptr;
  cudaError_t err = cudaMalloc(&block, size);
  if (err == cudaErrorMemoryAllocation) {  // give the cache back to the driver and try once more
    cudaGetLastError();
    p.release_cached();
    err = cudaMalloc(&block, size);
  }
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    TG_CHECK(false, "CUDA out of memory on cuda:" << device << ": tried to allocate " << (size >> 20) << " MiB ("
                                                  << size << " bytes); " << (p.stats.bytes_in_use >> 20)
                                                  << " MiB in use by trustgrad, " << (free_bytes >> 20) << " of "
                                                  << (total_bytes >> 20) << " MiB free on the device");
  }
  TG_CUDA_CHECK(err);
  p.live[block] = size;
  p.stats.bytes_in_use += size;
  p.stats.device_mallocs++;
  return block;
}

void device_free(void* ptr, int device) {
  if (ptr == nullptr) return;
  DevicePool& p = allocator().pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) {  // not ours (an internal bug): hand it to the driver, never throw from here
    cudaFree(ptr);
    return;
  }
  const size_t size = it->second;
  p.live.erase(it);
  p.free_lists[size].push_back(ptr);
  p.stats.bytes_in_use -= size;
  p.stats.bytes_cached += size;
}

void empty_cache() {
  for (int device : allocator().devices()) {
    DevicePool& p = allocator().pool(device);
    std::lock_guard<std::mutex> lock(p.mutex);
    DeviceGuard guard(device);
    p.release_cached();
  }
}

AllocatorStats allocator_stats(int device) {
  DevicePool& p = allocator().pool(device);
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.stats;
}

}  // namespace tg::cuda
