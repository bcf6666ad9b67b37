// The process-wide kernel mode (kernel_mode.h): TG_KERNELS at the first call, set_kernel_mode after.
#include "engine/cpu/kernel_mode.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/error.h"

namespace tg {
namespace {

constexpr int kUnset = -1;
std::atomic<int> g_mode{kUnset};  // a KernelMode, or kUnset until the first call reads TG_KERNELS

KernelMode from_environment() {
  const char* env = std::getenv("TG_KERNELS");
  if (env == nullptr || *env == '\0') return KernelMode::Fast;
  return parse_kernel_mode(env, "TG_KERNELS");
}

}  // namespace

KernelMode kernel_mode() {
  int mode = g_mode.load(std::memory_order_relaxed);
  if (mode == kUnset) {  // a throw (bad TG_KERNELS) leaves it unset: the next call throws again
    int expected = kUnset;
    g_mode.compare_exchange_strong(expected, static_cast<int>(from_environment()));
    mode = g_mode.load(std::memory_order_relaxed);
  }
  return static_cast<KernelMode>(mode);
}

void set_kernel_mode(KernelMode mode) { g_mode.store(static_cast<int>(mode), std::memory_order_relaxed); }

const char* kernel_mode_name(KernelMode mode) { return mode == KernelMode::Reference ? "reference" : "fast"; }

KernelMode parse_kernel_mode(const char* name, const char* what) {
  for (KernelMode mode : {KernelMode::Fast, KernelMode::Reference})
    if (std::strcmp(name, kernel_mode_name(mode)) == 0) return mode;
  throw Error(std::string(what) + "='" + name + "' is not a kernel mode; use fast or reference");
}

}  // namespace tg
