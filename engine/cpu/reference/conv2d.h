// Reference conv2d: the convolution as the nested loops of its definition (no im2col, no GEMM, no
// Winograd, no threads). Same signatures and shapes as the fast kernels (engine/cpu/conv2d.h).
#pragma once
#include "engine/cpu/conv2d.h"

namespace tg::cpu::reference {

// in (N, C, H, W), w (K, C/groups, R, S), b (K) or nullptr, out (N, K, P, Q) (or (N, K, P/2, Q/2)
// with ReluMaxPool2x2), g = k / (K/groups), Cg = C/groups:
//   out[n,k,p,q] = b[k] + sum_{c<Cg, r<R, s<S} w[k,c,r,s] * in[n, g*Cg + c, p*sh - ph + r, q*sw - pw + s]
// (terms outside the image are zero), summed in double in that order. The epilogues run as the
// separate reference ops: relu (elementwise.h), then the 2x2 stride-2 max pool (pool.h).
void conv2d_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s,
                    ConvEpilogue epi = ConvEpilogue::None);

// Given dout (N, K, P, Q), every term of the forward sum sends dout back to both its factors:
//   db[k]                     = sum_{n,p,q} dout[n,k,p,q]
//   dw[k,c,r,s]              += dout[n,k,p,q] * in[n, g*Cg + c, h, x]     (h = p*sh - ph + r,
//   din[n, g*Cg + c, h, x]   += dout[n,k,p,q] * w[k,c,r,s]                  x = q*sw - pw + s)
// din, dw, db may each be nullptr; all are overwritten (accumulated in double, then stored).
void conv2d_backward(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                     const ConvShape& s);

}  // namespace tg::cpu::reference
