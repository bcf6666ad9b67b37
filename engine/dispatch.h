// Helpers for the explicit device switch every op performs.
#pragma once
#include "engine/device.h"
#include "engine/error.h"

namespace tg {

// Thrown by an op whose kernel does not exist for the tensor's device yet.
[[noreturn]] inline void throw_no_kernel(const char* op, Device device) {
  throw Error(std::string(op) + ": no kernel for device " + device.str() +
              " in this build; move the tensors to the CPU with .to(tg::Device::cpu())");
}

}  // namespace tg
