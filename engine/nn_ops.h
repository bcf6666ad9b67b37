// Fused neural-network ops with hand-written backward: conv2d, batch norm, pooling, dropout.
// All images are NCHW, row-major, contiguous. Kernels live in engine/cpu/ (and cuda/).
#pragma once
#include "engine/autograd.h"
#include "engine/kernel_params/conv2d.h"  // ConvAlgorithm, ConvPrecision
#include "engine/random.h"
#include "engine/tensor.h"

namespace tg {

// x (N, C, H, W), w (K, C/groups, R, S), b (K) or undefined -> (N, K, P, Q) with
// P = (H + 2*pad_h - R) / stride_h + 1, Q likewise. `algorithm` picks the CPU kernel (conv2d.h),
// `precision` the arithmetic of its GEMMs (fp32, or bf16 operands with fp32 sums: CPU only, a CUDA
// tensor with Bf16 throws).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride = 1, int padding = 0, int groups = 1,
              ConvAlgorithm algorithm = ConvAlgorithm::Auto, ConvPrecision precision = ConvPrecision::Fp32);
// relu(conv2d(...)) with the ReLU applied as the outputs are stored (CPU; on CUDA a second kernel).
// Same values and gradients as the two ops (the backward masks dout with out > 0); saves the output,
// not the pre-activation. What nn::Sequential runs in inference for Conv2d, BatchNorm2d, ReLU (fold_bn.h).
Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, int stride = 1, int padding = 0, int groups = 1,
                   ConvAlgorithm algorithm = ConvAlgorithm::Auto, ConvPrecision precision = ConvPrecision::Fp32);
// max_pool2d(relu(conv2d(...)), 2): (N, K, P/2, Q/2), same values. Inference only: throws when autograd
// would record (grad mode on and an input requiring grad). On the CPU's Winograd path the pooling
// happens in the output transform, so the full (N, K, P, Q) map is never written (fold_bn.h).
Tensor conv2d_relu_maxpool2x2(const Tensor& x, const Tensor& w, const Tensor& b, int stride = 1, int padding = 0,
                              int groups = 1, ConvAlgorithm algorithm = ConvAlgorithm::Auto,
                              ConvPrecision precision = ConvPrecision::Fp32);

// Batch norm over (N, H, W) per channel. Training: normalise with batch statistics (biased var)
// and update running stats in place: running = (1 - momentum) * running + momentum * batch
// (running_var uses the unbiased batch variance, as PyTorch). Eval: use the running stats.
// gamma/beta (C) may be undefined (affine=false); running_mean/var (C) may be undefined in training.
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                    const Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

// relu(batch_norm2d(...)) with the same arguments and results, fused on the CPU (one pass less in
// the forward and in the backward); on CUDA it runs the two ops.
Tensor batch_norm2d_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                         const Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

// relu(a + b) with the same results, as one pass on the CPU when a and b have the same shape (a
// residual block's sum and ReLU: the sum is never stored); broadcasting shapes and CUDA tensors run
// the two ops. Gradient: g * (out > 0) to both inputs (summed over broadcast dims).
Tensor add_relu(const Tensor& a, const Tensor& b);

// max_pool2d(relu(batch_norm2d(...)), 2) with the same arguments as batch_norm2d_relu: on the CPU in
// training one pass that never stores the full-size normalised tensor (the backward, too, reads the
// input once and writes din once); otherwise, and for H or W < 2, the ops composed.
Tensor batch_norm2d_relu_maxpool2x2(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, bool training,
                                   float momentum = 0.1f, float eps = 1e-5f);

// Max pooling; ties go to the first (lowest-index) maximum in the window, deterministically.
Tensor max_pool2d(const Tensor& x, int kernel, int stride = -1 /* = kernel */, int padding = 0);
// Average pooling; padding counts as zeros in the average (PyTorch's count_include_pad=True).
Tensor avg_pool2d(const Tensor& x, int kernel, int stride = -1 /* = kernel */, int padding = 0);
// (N, C, H, W) -> (N, C): mean over H, W.
Tensor global_avg_pool2d(const Tensor& x);
// Inverted dropout: in training zero each element with probability p and scale survivors by 1/(1-p).
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen);

}  // namespace tg
