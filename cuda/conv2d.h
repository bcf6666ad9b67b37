// CUDA conv2d (NCHW) with the same signatures as engine/cpu/conv2d.h: im2col/col2im + our SGEMM.
#pragma once
#include <cstdint>

#include "engine/kernel_params/conv2d.h"  // ConvShape, shared with the CPU kernels

namespace tg::cuda {

// in (N, C, H, W), w (K, C/groups, R, S), b (K) or nullptr, out (N, K, P, Q).
// out[n,k,p,q] = b[k] + sum_{c,r,s} w[k,c,r,s] * in[n, g*C/groups + c, p*sh - ph + r, q*sw - pw + s]
void conv2d_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s);

// Gradients given dout (N, K, P, Q): din (N, C, H, W), dw (K, C/groups, R, S), db (K); each may be
// nullptr. All three are OVERWRITTEN (not accumulated). Deterministic (no atomics).
void conv2d_backward(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                     const ConvShape& s);

// The column transforms, exposed for tests. col (nb, C*R*S, P*Q) for nb images starting at `in`:
//   col[n][(c*R + r)*S + s][p*Q + q] = in[n][c][p*sh - ph + r][q*sw - pw + s]  (0 outside the image)
void im2col(float* col, const float* in, int64_t nb, const ConvShape& s);
// The adjoint: din[n][c][h][w] = sum of the col entries that im2col read from (n, c, h, w). Overwrites din.
void col2im(float* din, const float* col, int64_t nb, const ConvShape& s);

}  // namespace tg::cuda
