// Sets the CPU kernel mode (engine/cpu/kernel_mode.h: fast or reference) for one scope and restores
// the previous one, so a test can run the same checks through both kernel sets.
#pragma once
#include "engine/cpu/kernel_mode.h"

namespace tg::test {

class KernelModeGuard {
 public:
  explicit KernelModeGuard(KernelMode mode) : saved_(kernel_mode()) { set_kernel_mode(mode); }
  ~KernelModeGuard() { set_kernel_mode(saved_); }
  KernelModeGuard(const KernelModeGuard&) = delete;
  KernelModeGuard& operator=(const KernelModeGuard&) = delete;

 private:
  KernelMode saved_;
};

}  // namespace tg::test
