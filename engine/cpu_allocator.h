// Host memory for tensor storage, with a cache of freed large blocks.
//
// Why: a training step allocates the same activations and gradients every step. glibc serves
// blocks above its mmap threshold (up to 32 MiB) with fresh mmap()s, so every step page-faults
// every large tensor in again (measured on the 2-core dev machine: ~15% of a small-CNN step,
// mostly system time). Here a freed block of at least kCachedMinBytes goes to a free list
// instead and the next request of a similar size reuses it: a steady-state step maps no memory.
//
//   request n bytes  -> smallest cached block with n <= capacity <= 2 n (best fit), else a new block
//   free a block     -> back to the cache while the cache holds <= its limit, else to the OS
//
// Small blocks go straight to aligned_alloc/free (glibc's heap already recycles them). The cache
// is one process-wide pool guarded by a mutex (the data loader's workers allocate too). Sanitizer
// builds (TRUSTGRAD_SANITIZE) never cache, so AddressSanitizer still sees every use-after-free.
#pragma once
#include <cstddef>

namespace tg {

struct HostBlock {
  void* data = nullptr;
  size_t capacity = 0;  // bytes actually reserved (>= the request), needed to free the block
};

// 64-byte aligned block of at least `bytes` bytes (contents uninitialised). Throws tg::Error when
// the host is out of memory.
HostBlock host_alloc(size_t bytes);
void host_free(HostBlock block) noexcept;

struct HostCacheStats {
  size_t cached_bytes = 0;    // held in the free lists now
  size_t cached_blocks = 0;
  size_t limit_bytes = 0;     // the most the cache keeps (0 = caching off)
  size_t hits = 0, misses = 0;  // large requests served from the cache / from the OS
};
HostCacheStats host_cache_stats();

// The most freed memory the cache keeps (default 2 GiB; 0 turns caching off and empties it).
void set_host_cache_limit(size_t bytes);
// Returns every cached block to the OS (e.g. after training, before a memory-hungry phase).
void empty_host_cache();

constexpr size_t kCachedMinBytes = 256 * 1024;  // blocks below this (after 64-byte rounding) bypass the cache

}  // namespace tg
