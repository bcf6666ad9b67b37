// Direct 3x3 stride-1 convolution for inputs with few channels (the stems: 1 or 3 channels), AVX2.
// With C <= 4 the im2col column is only 9 C deep, too shallow for the GEMM to run near its peak
// (packing and the micro-kernel's edges dominate). Here each output row is summed in registers from
// a zero-padded copy of the image xp (so every shifted input row is a plain unaligned load):
//   out[n,k,p,q..q+31] = b[k] + sum_{c,r,s} w[k,c,r,s] * xp[n,c,p+r,q+s..q+s+31]
// two output channels at a time (8 accumulators of 8 lanes), and the weight gradient as
//   dw[k,c,r,s] = sum_n sum_{p,q} dout[n,k,p,q] * xp[n,c,p+r,q+s]
// with nine accumulators (r, s) per (k, c); per-image partials are added in image order, so dw does
// not depend on the thread count. The input gradient stays on the GEMM path (training never asks it
// of a stem: its input is the image; running the forward loops on dout with flipped weights measured
// no better). Without AVX2 direct_applies() is false and nothing changes.
#pragma once
#include "engine/cpu/conv2d.h"

namespace tg::cpu {

// 3x3 kernel, stride 1, padding <= 1, one group, C <= 4, ConvAlgorithm::Auto, built with AVX2.
bool direct_applies(const ConvShape& s);

// out (N, K, P, Q) = conv(in, w) + b (b may be nullptr), relu(...) when `relu`.
void direct_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s, bool relu);

// dw (K, C, 3, 3) = the weight gradient given dout (N, K, P, Q); overwritten, not accumulated.
void direct_weight_grad(float* dw, const float* dout, const float* in, const ConvShape& s);

}  // namespace tg::cpu
