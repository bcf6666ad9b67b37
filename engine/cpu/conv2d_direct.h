// Direct 3x3 stride-1 convolution for inputs with few channels (the stems: 1 or 3 channels), AVX2.
// With C <= 4 the im2col column is only 9 C deep, too shallow for the GEMM to run near its peak
// (packing and the micro-kernel's edges dominate). Here each output row is summed in registers from
// a zero-padded copy of the image xp (so every shifted input row is a plain unaligned load):
//   out[n,k,p,q..q+15] = b[k] + sum_{c,r,s} w[k,c,r,s] * xp[n,c,p+r,q+s..q+s+15]
// six output channels at a time (12 accumulators of 8 lanes; each input load feeds six FMAs), and
// the weight gradient as
//   dw[k,c,r,s] = sum_n sum_{p,q} dout[n,k,p,q] * xp[n,c,p+r,q+s]
// with nine accumulators (r, s) per (k, c), two output rows per pass (each input row load serves
// both); per-image partials are added in image order, so dw does not depend on the thread count.
// The input gradient sums, over a zero-padded copy of dout
// dp[n,k,i,j] = dout[n,k,i-2+pad_h,j-2+pad_w],
//   din[n,c,y,x..x+8V-1] = sum_{k,r,s} w[k,c,r,s] * dp[n,k,y+2-r,x+2-s..x+2-s+8V-1]
// for all C channels at once (C x V accumulators), so each dout load feeds C FMAs (the forward loops
// run on dout with flipped weights, two channels per load, measured no better than the GEMM path).
// Each image is summed by one thread in a fixed order. Without AVX2 direct_applies() is false and
// nothing changes.
#pragma once
#include "engine/cpu/conv2d.h"

namespace tg::cpu {

// 3x3 kernel, stride 1, padding <= 1, one group, C <= 4, ConvAlgorithm::Auto, built with AVX2.
bool direct_applies(const ConvShape& s);

// out (N, K, P, Q) = conv(in, w) + b (b may be nullptr), relu(...) when `relu`.
void direct_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s, bool relu);

// dw (K, C, 3, 3) = the weight gradient given dout (N, K, P, Q); overwritten, not accumulated.
void direct_weight_grad(float* dw, const float* dout, const float* in, const ConvShape& s);

// din (N, C, H, W) = the input gradient given dout (N, K, P, Q); overwritten, not accumulated.
void direct_input_grad(float* din, const float* dout, const float* w, const ConvShape& s);

}  // namespace tg::cpu
