// Helpers for the explicit device switch every op performs:
//   switch (x.device().type) {
//     case DeviceType::CPU:  cpu::unary_forward(y, x, UnaryOp::Relu, 0.f, n); break;
//     case DeviceType::CUDA: TG_CUDA_CALL(cuda::unary_forward(y, x, UnaryOp::Relu, 0.f, n)); break;
//   }
// CPU kernels (engine/cpu/) and CUDA launchers (cuda/) share their signatures, so the two cases
// read the same. In a build without CUDA the second case throws instead of calling.
#pragma once
#include <string>

#include "engine/device.h"
#include "engine/error.h"

namespace tg {

// Thrown by an op whose kernel does not exist for the tensor's device yet.
[[noreturn]] inline void throw_no_kernel(const char* op, Device device) {
  throw Error(std::string(op) + ": no kernel for device " + device.str() +
              " in this build; move the tensors to the CPU with .to(tg::Device::cpu())");
}

// Returns double only so that TG_CUDA_CALL can stand where a launcher's value is used.
[[noreturn]] inline double throw_no_cuda_build(const char* where) {
  throw Error(std::string(where) +
              ": this trustgrad build has no CUDA backend; rebuild with -DTRUSTGRAD_CUDA=ON (needs nvcc) or use the CPU");
}

}  // namespace tg

#ifdef TRUSTGRAD_WITH_CUDA
#define TG_CUDA_CALL(call) call
#else
#define TG_CUDA_CALL(call) ::tg::throw_no_cuda_build(__func__)
#endif
