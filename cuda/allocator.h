// The caching device allocator behind tg::cuda::device_malloc/device_free (declared in runtime.h):
// per-device free lists keyed by size class, behind a mutex. Stats are exposed for tests and benches.
#pragma once
#include <cstddef>

namespace tg::cuda {

// Requests are rounded up to a size class: multiples of 512 B up to 1 MiB, multiples of 2 MiB above.
// A freed block goes back to its class's free list and serves the next request of the same class.
constexpr size_t kSmallAllocationLimit = size_t(1) << 20;
constexpr size_t kSmallRounding = 512;
constexpr size_t kLargeRounding = size_t(2) << 20;
size_t allocation_size_class(size_t bytes);

struct AllocatorStats {
  size_t bytes_in_use = 0;        // handed out and not yet freed (rounded sizes)
  size_t bytes_cached = 0;        // held in free lists, ready for reuse
  size_t device_mallocs = 0;      // calls that reached cudaMalloc
  size_t cache_hits = 0;          // requests served from a free list
};
AllocatorStats allocator_stats(int device);

}  // namespace tg::cuda
