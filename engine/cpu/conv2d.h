// CPU 2-D convolution kernels (NCHW): a fast path (im2col + our sgemm; Winograd F(4x4, 3x3) for
// 3x3 stride-1 convs with >= 16 channels, see winograd.h; direct loops for 3x3 stride-1 convs with
// 1-4 input channels, see conv2d_direct.h). The plain-loop reference, what these are tested against
// and what TG_KERNELS=reference runs, is engine/cpu/reference/conv2d.h.
// Raw pointers and named sizes only; argument checking lives in the op layer (engine/nn_ops.cpp).
#pragma once
#include <cstdint>

namespace tg {

// Which CPU algorithm a conv2d may use (the CUDA kernels ignore it: they are always im2col + GEMM).
//   Auto  Winograd F(4x4, 3x3) for the 3x3 stride-1 convs it applies to (winograd.h: 4x fewer
//         multiplications; its rounding error is ~6x the direct sum's, a few 1e-6 of the output
//         scale), direct loops for 3x3 stride-1 convs with 1-4 input channels (the stems: sums
//         in tap order rather than as one dot product), im2col + GEMM for the others.
//   Gemm  always im2col + GEMM: every output is one dot product, rounded like the reference loops.
enum class ConvAlgorithm { Auto, Gemm };

// What the forward applies to the outputs as it stores them (fusions: no extra pass over the output).
//   None            out = conv + b                                     (N, K, P, Q)
//   Relu            out = relu(conv + b)                               (N, K, P, Q)   tg::conv2d_relu
//   ReluMaxPool2x2  out = maxpool_2x2_stride2(relu(conv + b))          (N, K, P/2, Q/2)
//                                                                      tg::conv2d_relu_maxpool2x2
// Same values as the separate ops (relu is v > 0 ? v : 0, so NaN becomes 0 as in tg::relu; after it
// every value is >= +0 and the pool's maximum does not depend on the window's order).
enum class ConvEpilogue { None, Relu, ReluMaxPool2x2 };

}  // namespace tg

namespace tg::cpu {

// in (N, C, H, W), w (K, C/groups, R, S), b (K), out (N, K, P, Q).
struct ConvShape {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // output channels, kernel height, kernel width
  int64_t stride_h, stride_w, pad_h, pad_w, groups;
  ConvAlgorithm algorithm = ConvAlgorithm::Auto;
  int64_t P() const { return (H + 2 * pad_h - R) / stride_h + 1; }  // output height
  int64_t Q() const { return (W + 2 * pad_w - S) / stride_w + 1; }  // output width
};

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
