// Host block cache: best-fit reuse of freed large blocks (see cpu_allocator.h for why).
#include "engine/cpu_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "engine/error.h"

namespace tg {

namespace {

constexpr size_t kAlignment = 64;     // one cache line; also enough for AVX-512 loads
constexpr size_t kLargeRounding = 4096;  // large blocks are whole pages: similar requests share a size

#ifdef TRUSTGRAD_SANITIZE
constexpr size_t kDefaultLimit = 0;  // ASan must see each free
#else
constexpr size_t kDefaultLimit = size_t{2} << 30;
#endif

struct HostCache {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;  // capacity -> block
  size_t cached_bytes = 0;
  size_t limit = kDefaultLimit;
  size_t hits = 0, misses = 0;
};

// Never destroyed: tensors in static objects may be freed after main() returns.
HostCache& cache() {
  static HostCache* c = new HostCache();
  return *c;
}

void* os_alloc(size_t capacity) {
  void* p = std::aligned_alloc(kAlignment, capacity);
  if (!p) throw Error("out of host memory allocating " + std::to_string(capacity) + " bytes");
  return p;
}

void release_all(HostCache& c) {  // caller holds the mutex
  for (auto& [capacity, p] : c.free_blocks) std::free(p);
  c.free_blocks.clear();
  c.cached_bytes = 0;
}

}  // namespace

HostBlock host_alloc(size_t bytes) {
  const size_t small_capacity = bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (small_capacity < kCachedMinBytes) return {os_alloc(small_capacity), small_capacity};  // never cached
  const size_t capacity = (bytes + kLargeRounding - 1) / kLargeRounding * kLargeRounding;
  HostCache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.lower_bound(capacity);  // smallest block that is big enough
    if (it != c.free_blocks.end() && it->first <= 2 * capacity) {  // ... and not wastefully big
      HostBlock b{it->second, it->first};
      c.cached_bytes -= it->first;
      c.free_blocks.erase(it);
      ++c.hits;
      return b;
    }
    ++c.misses;
  }
  return {os_alloc(capacity), capacity};
}

void host_free(HostBlock block) noexcept {
  if (!block.data) return;
  if (block.capacity >= kCachedMinBytes) {
    HostCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached_bytes + block.capacity <= c.limit) {
      c.free_blocks.emplace(block.capacity, block.data);
      c.cached_bytes += block.capacity;
      return;
    }
  }
  std::free(block.data);
}

HostCacheStats host_cache_stats() {
  HostCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.cached_bytes, c.free_blocks.size(), c.limit, c.hits, c.misses};
}

void set_host_cache_limit(size_t bytes) {
  HostCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limit = bytes;
  if (c.cached_bytes > c.limit) release_all(c);
}

void empty_host_cache() {
  HostCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  release_all(c);
}

}  // namespace tg
