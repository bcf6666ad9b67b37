// Host block cache (engine/cpu_allocator.h): reuse, best fit, limit, alignment, and that tensors
// built on recycled blocks still hold exactly what is written into them.
#include <doctest/doctest.h>

#include <cstdint>

#include "engine/cpu_allocator.h"
#include "engine/tensor.h"

namespace {

// Restores the caller's cache limit and empties the cache around each test.
struct CacheScope {
  size_t saved = tg::host_cache_stats().limit_bytes;
  explicit CacheScope(size_t limit) {
    tg::empty_host_cache();
    tg::set_host_cache_limit(limit);
  }
  ~CacheScope() {
    tg::empty_host_cache();
    tg::set_host_cache_limit(saved);
  }
};

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

}  // namespace

TEST_CASE("host cache: a freed large block is reused for the next similar request") {
  CacheScope scope(size_t{64} << 20);
  const size_t n = 1 << 20;
  tg::HostBlock a = tg::host_alloc(n);
  CHECK(aligned64(a.data));
  CHECK(a.capacity >= n);
  void* first = a.data;
  tg::host_free(a);
  CHECK(tg::host_cache_stats().cached_blocks == 1);
  const size_t hits = tg::host_cache_stats().hits;
  tg::HostBlock b = tg::host_alloc(n - 100);  // rounds to the same page count
  CHECK(b.data == first);
  CHECK(tg::host_cache_stats().hits == hits + 1);
  CHECK(tg::host_cache_stats().cached_blocks == 0);
  tg::host_free(b);
}

TEST_CASE("host cache: best fit, and never a block more than twice the request") {
  CacheScope scope(size_t{64} << 20);
  tg::HostBlock big = tg::host_alloc(8 << 20), mid = tg::host_alloc(2 << 20);
  void* mid_ptr = mid.data;
  tg::host_free(big);
  tg::host_free(mid);
  tg::HostBlock r = tg::host_alloc((2 << 20) - 4096);  // fits both; the 2 MiB one is the best fit
  CHECK(r.data == mid_ptr);
  tg::HostBlock small = tg::host_alloc(1 << 20);  // 8 MiB > 2 x 1 MiB: a new block
  CHECK(small.capacity < (4 << 20));
  CHECK(tg::host_cache_stats().cached_blocks == 1);  // the 8 MiB one still waits
  tg::host_free(r);
  tg::host_free(small);
}

TEST_CASE("host cache: the limit caps what is kept; limit 0 caches nothing") {
  CacheScope scope(size_t{3} << 20);
  tg::HostBlock a = tg::host_alloc(2 << 20), b = tg::host_alloc(2 << 20);
  tg::host_free(a);
  tg::host_free(b);  // would exceed 3 MiB: goes back to the OS
  CHECK(tg::host_cache_stats().cached_blocks == 1);
  CHECK(tg::host_cache_stats().cached_bytes <= (size_t{3} << 20));
  tg::set_host_cache_limit(0);
  CHECK(tg::host_cache_stats().cached_blocks == 0);
  tg::HostBlock c = tg::host_alloc(2 << 20);
  tg::host_free(c);
  CHECK(tg::host_cache_stats().cached_bytes == 0);
}

TEST_CASE("host cache: small blocks bypass the cache and are still aligned") {
  CacheScope scope(size_t{64} << 20);
  for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{4096}, tg::kCachedMinBytes - 64}) {
    tg::HostBlock b = tg::host_alloc(n);
    CHECK(aligned64(b.data));
    CHECK(b.capacity >= n);
    tg::host_free(b);
  }
  CHECK(tg::host_cache_stats().cached_blocks == 0);
}

TEST_CASE("host cache: tensors on recycled blocks hold exactly what is written") {
  CacheScope scope(size_t{64} << 20);
  for (int round = 0; round < 3; ++round) {
    tg::Tensor t = tg::Tensor::full({512, 256}, static_cast<float>(round));  // 512 KiB: cached size
    tg::Tensor z = tg::Tensor::zeros({512, 256});
    for (int64_t i = 0; i < t.numel(); i += 997) {
      REQUIRE(t.data()[i] == static_cast<float>(round));
      REQUIRE(z.data()[i] == 0.f);
    }
  }
  CHECK(tg::host_cache_stats().hits >= 2);
}
