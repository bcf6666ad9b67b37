// CUDA pooling over NCHW planes with the same signatures as engine/cpu/pool.h: max pool (argmax
// indices, first maximum, NaN wins), average pool (count_include_pad), global average pool.
#pragma once
#include <cstdint>

#include "engine/kernel_params/pool.h"  // PoolShape, shared with the CPU kernels

namespace tg::cuda {

void max_pool2d_forward(float* out, int32_t* indices, const float* in, const PoolShape& s);
// din (N, C, H, W) overwritten: din[n,c,h*W+w] = sum of dout over the windows whose argmax is (h, w).
void max_pool2d_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s);

void avg_pool2d_forward(float* out, const float* in, const PoolShape& s);
void avg_pool2d_backward(float* din, const float* dout, const PoolShape& s);

// out (N*C) = mean over each HW plane of in (N*C, HW); backward broadcasts dout / HW.
void global_avg_pool2d_forward(float* out, const float* in, int64_t NC, int64_t HW);
void global_avg_pool2d_backward(float* din, const float* dout, int64_t NC, int64_t HW);

}  // namespace tg::cuda
