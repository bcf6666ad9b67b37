// CPU 2-D convolution kernels (NCHW): a fast path (im2col + our sgemm; Winograd F(4x4, 3x3) for
// 3x3 stride-1 convs with >= 16 channels, see winograd.h; direct loops for 3x3 stride-1 convs with
// 1-4 input channels, see conv2d_direct.h). The plain-loop reference, what these are tested against
// and what TG_KERNELS=reference runs, is engine/cpu/reference/conv2d.h.
// Raw pointers and named sizes only; argument checking lives in the op layer (engine/nn_ops.cpp).
#pragma once
#include <cstdint>

#include "engine/kernel_params/conv2d.h"  // ConvShape, ConvAlgorithm, ConvEpilogue

namespace tg::cpu {

// out[n,k,p,q] = b[k] + sum_{c,r,s} w[k,c,r,s] * in[n, g*C/groups + c, p*sh - ph + r, q*sw - pw + s]
// (zero outside the image), g = k / (K/groups). b may be nullptr (no bias). `epi` is applied to the
// outputs as they are stored; with ReluMaxPool2x2, out is (N, K, P/2, Q/2) (Winograd pools inside its
// output transform; the im2col path writes relu(conv) to a scratch map and pools that).
void conv2d_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s,
                    ConvEpilogue epi = ConvEpilogue::None);

// Gradients of conv2d_forward given dout (N, K, P, Q). din (N, C, H, W), dw (K, C/groups, R, S),
// db (K); each may be nullptr when not needed. All three are OVERWRITTEN (not accumulated).
void conv2d_backward(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                     const ConvShape& s);

}  // namespace tg::cpu
