// CPU pooling kernels over NCHW planes: max pool (with argmax indices), average pool
// (count_include_pad = True), global average pool; forwards and backwards.
#pragma once
#include <cstdint>

#include "engine/kernel_params/pool.h"  // PoolShape

namespace tg::cpu {

// out[n,c,p,q] = max over the window of in[n,c,...] (padding never wins); indices[n,c,p,q] = h*W + w of
// the FIRST maximum in row-major window order (a NaN counts as the maximum, as in PyTorch).
// indices may be nullptr (inference: no backward will read them; the 2x2 case then vectorises).
void max_pool2d_forward(float* out, int32_t* indices, const float* in, const PoolShape& s);
// Its 2x2 stride-2 unpadded case (the same results), dispatched per ISA level (kernel_table.h).
void max_pool2x2_forward(float* out, int32_t* indices, const float* in, const PoolShape& s);
// din[n,c,indices[n,c,p,q]] += dout[n,c,p,q]; din (N, C, H, W) is overwritten.
void max_pool2d_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s);
// Its 2x2 stride-2 unpadded case (the same bits), dispatched per ISA level: the windows do not
// overlap, so each din element is written once, dout at the window's argmax and 0 elsewhere.
void max_pool2x2_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s);

// out = (1 / (kernel_h * kernel_w)) * sum over the window, padding counted as zeros.
void avg_pool2d_forward(float* out, const float* in, const PoolShape& s);
// din[h,w] = sum over windows containing (h,w) of dout / (kernel_h * kernel_w); din overwritten.
void avg_pool2d_backward(float* din, const float* dout, const PoolShape& s);

// out (N*C) = mean over each HW plane of in (N*C, HW).
void global_avg_pool2d_forward(float* out, const float* in, int64_t NC, int64_t HW);
// din (N*C, HW) = dout / HW broadcast over the plane.
void global_avg_pool2d_backward(float* din, const float* dout, int64_t NC, int64_t HW);

}  // namespace tg::cpu
