// One plane of the 2x2 stride-2 max pool and of its backward, inside the per-ISA kernel sources: the
// loop bodies of max_pool2x2_forward / _backward (max_pool2x2.cpp), shared with the fused batch
// norm + ReLU + pool kernels (batchnorm.cpp), so both compute the same floats by the same rule.
#pragma once
#include <cstdint>

namespace tg::cpu::TG_ISA_NS {

// y (H/2, W/2) = max of each 2x2 window of x (H, W) (an odd last row / column is not read);
// idx (H/2, W/2) = h*W + w of the window's first maximum (a NaN takes over), or idx == nullptr.
void max_pool2x2_plane(float* y, int32_t* idx, const float* x, int64_t H, int64_t W);

// Its backward: dx (H, W) = dy (H/2, W/2) at each window's argmax idx, 0 everywhere else (every
// element written, an odd last row / column included).
void max_pool2x2_backward_plane(float* dx, const float* dy, const int32_t* idx, int64_t H, int64_t W);

}  // namespace tg::cpu::TG_ISA_NS
