// Helpers for the CPU/CUDA parity suites: device buffers, deterministic random data, closeness checks
// that print the max errors, and TG_REQUIRE_CUDA_DEVICE() which skips (passing, saying so) without a GPU.
#pragma once
#ifdef TRUSTGRAD_WITH_CUDA
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cuda/runtime.h"

namespace tg::cuda::test {

inline bool have_device() {
  static const bool present = tg::cuda::device_count() > 0;
  return present;
}

// Every parity test starts with this: without a device it reports the skip and passes.
#define TG_REQUIRE_CUDA_DEVICE()                  \
  do {                                            \
    if (!::tg::cuda::test::have_device()) {       \
      MESSAGE("skipped: no CUDA device");         \
      return;                                     \
    }                                             \
  } while (0)

// An owning device array of T on cuda:0, filled from / copied back to host vectors.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) { ptr_ = static_cast<T*>(device_malloc(n * sizeof(T), 0)); }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  ~DeviceArray() { device_free(ptr_, 0); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  void upload(const std::vector<T>& host) {
    REQUIRE(host.size() == n_);
    copy_host_to_device(ptr_, host.data(), n_ * sizeof(T), 0);
  }
  std::vector<T> host() const {
    std::vector<T> out(n_);
    copy_device_to_host(out.data(), ptr_, n_ * sizeof(T), 0);
    return out;
  }
  T* get() const { return ptr_; }
  size_t size() const { return n_; }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

using DeviceFloats = DeviceArray<float>;

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// Small integers: many exact ties, for max/argmax tie-breaking.
inline std::vector<float> random_ints(size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(dist(gen));
  return v;
}

// |gpu - cpu| <= atol + rtol |cpu| element-wise (NaN must match NaN). With TG_CUDA_PARITY_LOG set,
// prints one line per comparison: what, count, max abs error, max rel error (docs/cuda.md's table).
inline void check_close(const std::vector<float>& gpu, const std::vector<float>& cpu, double rtol, double atol,
                        const std::string& what) {
  REQUIRE(gpu.size() == cpu.size());
  double max_abs = 0.0, max_rel = 0.0;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    const double a = gpu[i], b = cpu[i];
    if (std::isnan(a) || std::isnan(b)) {
      if (std::isnan(a) != std::isnan(b) && bad++ == 0) first_bad = i;
      continue;
    }
    const double err = std::fabs(a - b);
    max_abs = std::max(max_abs, err);
    if (std::fabs(b) > 1e-6) max_rel = std::max(max_rel, err / std::fabs(b));
    if (err > atol + rtol * std::fabs(b) && bad++ == 0) first_bad = i;
  }
  if (std::getenv("TG_CUDA_PARITY_LOG"))
    std::printf("parity %-44s n=%-8zu max_abs=%.3e max_rel=%.3e\n", what.c_str(), gpu.size(), max_abs, max_rel);
  INFO(what << ": " << bad << " of " << gpu.size() << " elements differ; max abs err " << max_abs << ", max rel err "
            << max_rel << (bad ? "; first at " + std::to_string(first_bad) + ": gpu " + std::to_string(gpu[first_bad]) +
                                     " vs cpu " + std::to_string(cpu[first_bad])
                               : std::string()));
  CHECK(bad == 0);
}

inline void check_close(double gpu, double cpu, double rtol, double atol, const std::string& what) {
  check_close(std::vector<float>{static_cast<float>(gpu)}, std::vector<float>{static_cast<float>(cpu)}, rtol, atol,
              what);
}

}  // namespace tg::cuda::test
#endif  // TRUSTGRAD_WITH_CUDA
