// Reference batch norm over (N, H, W) per channel of an NCHW tensor: the statistics, the
// normalisation and the gradients as the loops of their equations, one channel at a time. Same
// signatures as the fast kernels (engine/cpu/batchnorm.h, where the arguments are described).
#pragma once
#include <cstdint>

namespace tg::cpu::reference {

// x (N, C, HW); per channel c over its M = N*HW values:
//   mean_c = 1/M sum x,  var_c = 1/M sum (x - mean_c)^2,  invstd_c = 1/sqrt(var_c + eps)
//   out = gamma_c * (x - mean_c) * invstd_c + beta_c        (gamma = 1, beta = 0 when nullptr)
void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                               const float* beta, int64_t N, int64_t C, int64_t HW, float eps);
// out = gamma_c * (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c
void batchnorm2d_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, int64_t N, int64_t C, int64_t HW,
                              float eps);
// xhat = (x - mean_c) * invstd_c:  dbeta_c = sum dout,  dgamma_c = sum dout * xhat,
//   din = gamma_c * invstd_c / M * (M * dout - dbeta_c - xhat * dgamma_c)
void batchnorm2d_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                          const float* gamma, const float* save_mean, const float* save_invstd, int64_t N, int64_t C,
                          int64_t HW);
// Statistics are constants: din = gamma_c * invstd_c * dout; dgamma, dbeta as above.
void batchnorm2d_backward_eval(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                               const float* gamma, const float* mean, const float* invstd, int64_t N, int64_t C,
                               int64_t HW);

// relu(batch norm): z = x * scale_c + shift_c with scale_c = gamma_c * invstd_c (a float), shift_c =
// beta_c - mean_c * scale_c from that float (saved in save_affine: C scales, then C shifts), out = max(z, 0).
void batchnorm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* save_affine,
                                    const float* in, const float* gamma, const float* beta, int64_t N, int64_t C,
                                    int64_t HW, float eps);
// relu(batchnorm2d_forward_eval(...)).
void batchnorm2d_relu_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, int64_t N, int64_t C,
                                   int64_t HW, float eps);
// dz = dout where z > 0 (z recomputed from x and the saved affine), else 0; then batchnorm2d_backward(dz).
void batchnorm2d_relu_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* affine,
                               const float* in, const float* gamma, const float* save_mean, const float* save_invstd,
                               int64_t N, int64_t C, int64_t HW);

// running_mean = (1 - momentum) * running_mean + momentum * mean_c
// running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)   (unbiased; M = count)
// with var_c = 1/invstd_c^2 - eps. Either running pointer may be nullptr.
void batchnorm2d_update_running(float* running_mean, float* running_var, const float* save_mean,
                                const float* save_invstd, int64_t C, int64_t count, float momentum, float eps);

// relu(batch norm) then the 2x2 stride-2 max pool, by definition: batchnorm2d_relu_forward_train into
// a full-size buffer, then max_pool2d_forward (reference/pool.h). Backward: max_pool2d_backward of
// dout into a full-size dz, then batchnorm2d_relu_backward.
void batchnorm2d_relu_maxpool2x2_forward_train(float* out, int32_t* indices, float* save_mean, float* save_invstd,
                                               float* save_affine, const float* in, const float* gamma,
                                               const float* beta, int64_t N, int64_t C, int64_t H, int64_t W,
                                               float eps);
void batchnorm2d_relu_maxpool2x2_backward(float* din, float* dgamma, float* dbeta, const float* dout,
                                          const int32_t* indices, const float* affine, const float* in,
                                          const float* gamma, const float* save_mean, const float* save_invstd,
                                          int64_t N, int64_t C, int64_t H, int64_t W);

}  // namespace tg::cpu::reference
