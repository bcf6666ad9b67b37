// The window geometry of 2-D pooling shared by the CPU kernels (engine/cpu/pool.h) and the CUDA
// kernels (cuda/pool.h).
// Standard headers only, C++17 (nvcc compiles it too): every layer may include it.
#pragma once
#include <cstdint>

namespace tg {

// Shared by max and average pooling: in (N, C, H, W) -> out (N, C, P, Q).
struct PoolShape {
  int64_t N, C, H, W;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  int64_t P() const { return (H + 2 * pad_h - kernel_h) / stride_h + 1; }  // output height
  int64_t Q() const { return (W + 2 * pad_w - kernel_w) / stride_w + 1; }  // output width
};

}  // namespace tg
