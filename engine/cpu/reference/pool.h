// Reference pooling over NCHW planes: max (with argmax indices), average (padding counted as zeros)
// and global average, as loops over each output's window. Same signatures as engine/cpu/pool.h.
#pragma once
#include <cstdint>

#include "engine/cpu/pool.h"

namespace tg::cpu::reference {

// Window of output (p, q): rows p*sh - ph .. + kernel_h - 1, columns q*sw - pw .. + kernel_w - 1,
// clipped to the image. out[n,c,p,q] = max over the window; indices[n,c,p,q] = h*W + w of the first
// maximum in row-major order (a NaN takes over, as in PyTorch). indices may be nullptr.
void max_pool2d_forward(float* out, int32_t* indices, const float* in, const PoolShape& s);
// din[n,c,indices[n,c,p,q]] += dout[n,c,p,q], din overwritten.
void max_pool2d_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s);

// out[n,c,p,q] = 1/(kernel_h*kernel_w) * sum over the window (padding counts in the divisor).
void avg_pool2d_forward(float* out, const float* in, const PoolShape& s);
// din[n,c,h,w] = sum over the windows containing (h, w) of dout / (kernel_h*kernel_w), din overwritten.
void avg_pool2d_backward(float* din, const float* dout, const PoolShape& s);

// out[nc] = 1/HW sum_i in[nc, i];  din[nc, i] = dout[nc] / HW.
void global_avg_pool2d_forward(float* out, const float* in, int64_t NC, int64_t HW);
void global_avg_pool2d_backward(float* din, const float* dout, int64_t NC, int64_t HW);

}  // namespace tg::cpu::reference
