// CPU batch-norm kernels over (N, H, W) per channel of an NCHW tensor: training forward with batch
// statistics, eval forward with running statistics, their backwards, and the running-stat update.
#pragma once
#include <cstdint>

namespace tg::cpu {

// Training forward. in/out (N, C, HW); gamma/beta (C) or nullptr (identity affine).
//   mean_c = 1/M sum x,  var_c = 1/M sum (x - mean_c)^2  (biased; M = N*HW), invstd_c = 1/sqrt(var_c + eps)
//   out = gamma_c * (x - mean_c) * invstd_c + beta_c
// save_mean/save_invstd (C) receive mean_c and invstd_c for the backward. Statistics in double, two-pass.
void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                               const float* beta, int64_t N, int64_t C, int64_t HW, float eps);

// Eval forward with running statistics: out = gamma_c * (x - rmean_c) / sqrt(rvar_c + eps) + beta_c.
void batchnorm2d_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, int64_t N, int64_t C, int64_t HW,
                              float eps);

// Training backward (statistics depend on the input). With xhat = (x - mean) * invstd, M = N*HW:
//   dbeta_c = sum dout,  dgamma_c = sum dout * xhat
//   din = gamma_c * invstd_c / M * (M * dout - dbeta_c - xhat * dgamma_c)
// din/dgamma/dbeta may each be nullptr when not needed; gamma nullptr means gamma = 1.
void batchnorm2d_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                          const float* gamma, const float* save_mean, const float* save_invstd, int64_t N, int64_t C,
                          int64_t HW);

// Eval backward (statistics are constants): din = gamma_c * invstd_c * dout, dgamma/dbeta as above,
// with mean/invstd the running ones (invstd_c = 1/sqrt(running_var_c + eps)).
void batchnorm2d_backward_eval(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                               const float* gamma, const float* mean, const float* invstd, int64_t N, int64_t C,
                               int64_t HW);

// Batch norm fused with the ReLU that follows it (the conv nets' BN -> ReLU), one pass less each way:
//   out = max(z, 0),  z = x * scale_c + shift_c, the batch norm's output above with its affine folded:
//   scale_c = gamma_c * invstd_c (a float), shift_c = beta_c - mean_c * scale_c from that float (train:
//   batch stats; eval: running)
//   backward: dz = dout * (z > 0), then batchnorm2d_backward with dz.
// The training forward saves the float scale_c, shift_c it applied in save_affine (2C: the C scales,
// then the C shifts); the backward recomputes z from x with them (the same expression, so the same
// floats and the same mask as out > 0) instead of reading out: two streams less of its seven.
// Same results as the two ops in sequence.
void batchnorm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* save_affine,
                                    const float* in, const float* gamma, const float* beta, int64_t N, int64_t C,
                                    int64_t HW, float eps);
void batchnorm2d_relu_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, int64_t N, int64_t C,
                                   int64_t HW, float eps);
void batchnorm2d_relu_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* affine,
                               const float* in, const float* gamma, const float* save_mean, const float* save_invstd,
                               int64_t N, int64_t C, int64_t HW);

// Batch norm, ReLU and the 2x2 stride-2 max pool after them (the small CNN's BN -> ReLU -> pool) in
// training, with x (N, C, H, W), H and W >= 2:
//   out (N, C, H/2, W/2) = max_pool2x2(max(z, 0)), z as above from the batch statistics;
//   indices (N, C, H/2, W/2) = h*W + w of each window's first maximum, as max_pool2x2_forward.
// The full-size z is never written: each plane is normalised into a per-thread buffer and pooled
// there. save_mean, save_invstd, save_affine as in batchnorm2d_relu_forward_train.
// Backward from the pooled dout: each plane's dy = the pool's backward of dout (dout at the windows'
// maxima, 0 elsewhere) built in a per-thread buffer, then batchnorm2d_relu_backward's row loops
// (dz = dy where z > 0, z recomputed from x with the saved affine). The same bits as
// batchnorm2d_relu_forward_train + max_pool2x2_forward and their backwards, two full-size tensors
// (the normalised output, the unpooled gradient) never written.
void batchnorm2d_relu_maxpool2x2_forward_train(float* out, int32_t* indices, float* save_mean, float* save_invstd,
                                               float* save_affine, const float* in, const float* gamma,
                                               const float* beta, int64_t N, int64_t C, int64_t H, int64_t W,
                                               float eps);
void batchnorm2d_relu_maxpool2x2_backward(float* din, float* dgamma, float* dbeta, const float* dout,
                                          const int32_t* indices, const float* affine, const float* in,
                                          const float* gamma, const float* save_mean, const float* save_invstd,
                                          int64_t N, int64_t C, int64_t H, int64_t W);

// running = (1 - momentum) * running + momentum * batch, with the UNBIASED batch variance
// var * M / (M - 1) for running_var (PyTorch's convention); var recovered from invstd and eps.
// Either running pointer may be nullptr. count = M = N*HW (> 1).
void batchnorm2d_update_running(float* running_mean, float* running_var, const float* save_mean,
                                const float* save_invstd, int64_t C, int64_t count, float momentum, float eps);

}  // namespace tg::cpu
