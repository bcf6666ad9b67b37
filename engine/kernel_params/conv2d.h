// The parameters of a 2-D convolution shared by the CPU kernels (engine/cpu/conv2d.h) and the CUDA
// kernels (cuda/conv2d.h): the shape, the algorithm choice and the fused output epilogue.
// Standard headers only, C++17 (nvcc compiles it too): every layer may include it.
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

// The arithmetic of a CPU conv2d's GEMMs (forward and both backward products; the CUDA kernels
// compute in fp32 and the op layer refuses Bf16 there).
//   Fp32  float32 throughout.
//   Bf16  each GEMM's operands rounded to bfloat16 (8-bit mantissa), products summed in fp32, the
//         outputs, gradients and weights fp32 (engine/cpu/gemm_bf16.h; Intel AMX where the CPU has
//         it, else emulated at fp32 speed). In Winograd's transformed domain or on im2col columns.
//         The direct stem loops (1-4 input channels) and TG_KERNELS=reference stay fp32.
enum class ConvPrecision { Fp32, Bf16 };

// What the forward applies to the outputs as it stores them (fusions: no extra pass over the output).
//   None            out = conv + b                                     (N, K, P, Q)
//   Relu            out = relu(conv + b)                               (N, K, P, Q)   tg::conv2d_relu
//   ReluMaxPool2x2  out = maxpool_2x2_stride2(relu(conv + b))          (N, K, P/2, Q/2)
//                                                                      tg::conv2d_relu_maxpool2x2
// Same values as the separate ops (relu is v > 0 ? v : 0, so NaN becomes 0 as in tg::relu; after it
// every value is >= +0 and the pool's maximum does not depend on the window's order).
enum class ConvEpilogue { None, Relu, ReluMaxPool2x2 };

// in (N, C, H, W), w (K, C/groups, R, S), b (K), out (N, K, P, Q).
struct ConvShape {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // output channels, kernel height, kernel width
  int64_t stride_h, stride_w, pad_h, pad_w, groups;
  ConvAlgorithm algorithm = ConvAlgorithm::Auto;
  ConvPrecision precision = ConvPrecision::Fp32;
  int64_t P() const { return (H + 2 * pad_h - R) / stride_h + 1; }  // output height
  int64_t Q() const { return (W + 2 * pad_w - S) / stride_w + 1; }  // output width
};

}  // namespace tg
