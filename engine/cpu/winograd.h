// CPU 3x3 stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2015):
// each 4x4 block of outputs is computed from a 6x6 block of input with 36 multiplications per
// (input channel, output channel) pair instead of the 144 of the direct sum: 4x fewer FLOPs, the
// channel sums done as 36 GEMMs in the transformed domain.
//
//   Forward    Y = A^T [ sum_c (G g_kc G^T) . (B^T d_c B) ] A      per 4x4 output tile
//                  = A^T M A,  M[xi] (K, T) = U[xi] (K, C) x V[xi] (C, T)  for each of the 36 xi
//   Backward   the exact adjoint of the forward, in the same transformed domain:
//              E = A dY A^T (6x6 from each 4x4 tile of dout)
//              dU[xi] (K, C) = sum over tiles E[xi] (K, T) x V[xi]^T     ->  dw = G^T dU G
//              dV[xi] (C, T) = U[xi]^T (C, K) x E[xi] (K, T)             ->  din += B dV B^T (tiles overlap)
// with B^T, G, A^T the 6x6, 6x3 and 4x6 matrices for the points 0, +-1, +-2, +-1/2 (B^T, A^T in
// kernels/winograd_tiles.h, G in kernels/winograd.cpp). The kernels: kernels/winograd.cpp (chunks,
// products, threads), winograd_input.cpp (V and din), winograd_output.cpp (out and E).
//
// Rounding differs from the direct sum (the transforms scale values by up to ~10 before the sums);
// the tests bound the difference against the direct reference. An infinite input becomes NaN in
// the outputs of its tiles (the transforms subtract it from itself) where the direct sum may give
// +-inf; NaN propagates in both. conv2d.cpp routes a conv here when
// winograd_applies(); everything else takes the im2col path.
#pragma once
#include "engine/cpu/conv2d.h"

namespace tg::cpu {

// Algorithm Auto, 3x3 kernel, stride 1, one group, padding <= 2, enough channels for the transformed
// GEMMs to pay, an output of at least 4x4.
bool winograd_applies(const ConvShape& s);

// Same contracts as conv2d_forward / conv2d_backward (conv2d.h); the bias gradient is the caller's.
void winograd_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s,
                      ConvEpilogue epi = ConvEpilogue::None);
void winograd_backward(float* din, float* dw, const float* dout, const float* in, const float* w, const ConvShape& s);

}  // namespace tg::cpu
