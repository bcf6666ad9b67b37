// CUDA runtime seam: device queries that never throw, TG_CUDA_CHECK's message, the caching
// allocator's reuse and stats, and host/device copies.
#include <doctest/doctest.h>

#ifdef TRUSTGRAD_WITH_CUDA
#include <cuda_runtime_api.h>

#include <cstring>
#include <string>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/check.h"
#include "cuda/runtime.h"
#include "engine/error.h"
#include "tests/cuda/cuda_test_util.h"

using namespace tg::cuda;
using namespace tg::cuda::test;

TEST_CASE("cuda runtime: device_count never throws and is >= 0") {
  int count = -1;
  CHECK_NOTHROW(count = device_count());
  CHECK(count >= 0);
  CHECK(device_count() == count);  // stable across calls (the failed-driver error is not sticky)
}

TEST_CASE("cuda runtime: TG_CUDA_CHECK throws tg::Error with file:line and the CUDA error string") {
  // No device needed: the macro only inspects the error code it is given.
  bool thrown = false;
  try {
    TG_CUDA_CHECK(cudaErrorInvalidValue);
  } catch (const tg::Error& e) {
    thrown = true;
    const std::string what = e.what();
    CHECK(what.find("test_runtime.cpp:") != std::string::npos);
    CHECK(what.find(cudaGetErrorString(cudaErrorInvalidValue)) != std::string::npos);
    CHECK(what.find("cudaErrorInvalidValue") != std::string::npos);
  }
  CHECK(thrown);
  CHECK_NOTHROW(TG_CUDA_CHECK(cudaSuccess));
}

TEST_CASE("cuda allocator: size classes round to 512 B below 1 MiB and to 2 MiB above") {
  CHECK(allocation_size_class(1) == 512);
  CHECK(allocation_size_class(512) == 512);
  CHECK(allocation_size_class(513) == 1024);
  CHECK(allocation_size_class(size_t(1) << 20) == (size_t(1) << 20));
  CHECK(allocation_size_class((size_t(1) << 20) + 1) == (size_t(2) << 20));
  CHECK(allocation_size_class((size_t(5) << 20) + 7) == (size_t(6) << 20));
}

TEST_CASE("cuda allocator: a missing device is an error naming it, not a crash") {
  const int count = device_count();
  CHECK_THROWS_AS(device_malloc(64, count), tg::Error);  // one past the last device
  try {
    device_malloc(64, count);
  } catch (const tg::Error& e) {
    CHECK(std::string(e.what()).find("cuda:" + std::to_string(count)) != std::string::npos);
  }
  CHECK(device_malloc(0, 0) == nullptr);  // zero bytes: no allocation, no error
  CHECK_NOTHROW(device_free(nullptr, 0));
}

TEST_CASE("cuda allocator: a freed block is reused for the next request of its size class") {
  TG_REQUIRE_CUDA_DEVICE();
  empty_cache();
  const AllocatorStats before = allocator_stats(0);
  void* a = device_malloc(1000, 0);  // class 1024
  REQUIRE(a != nullptr);
  CHECK(allocator_stats(0).bytes_in_use == before.bytes_in_use + 1024);
  device_free(a, 0);
  CHECK(allocator_stats(0).bytes_cached == before.bytes_cached + 1024);
  void* b = device_malloc(900, 0);  // same class: the cached block comes back
  CHECK(b == a);
  const AllocatorStats after = allocator_stats(0);
  CHECK(after.cache_hits == before.cache_hits + 1);
  CHECK(after.device_mallocs == before.device_mallocs + 1);
  void* c = device_malloc(3000, 0);  // another class: a new block
  CHECK(c != a);
  device_free(b, 0);
  device_free(c, 0);
  empty_cache();
  CHECK(allocator_stats(0).bytes_cached == 0);
}

TEST_CASE("cuda runtime: host -> device -> device -> host round trip") {
  TG_REQUIRE_CUDA_DEVICE();
  CHECK(!device_name(0).empty());
  const std::vector<float> host = random_floats(1000, 1);
  DeviceFloats a(host), b(host.size());
  copy_device_to_device(b.get(), a.get(), host.size() * sizeof(float), 0);
  synchronize(0);
  const std::vector<float> back = b.host();
  CHECK(std::memcmp(back.data(), host.data(), host.size() * sizeof(float)) == 0);
}

#else  // built without the CUDA backend

TEST_CASE("cuda suite") { MESSAGE("skipped: built without CUDA (TRUSTGRAD_WITH_CUDA undefined)"); }

#endif
