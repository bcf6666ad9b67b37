// CUDA batch norm over (N, H, W) per channel of NCHW tensors, with the same signatures as
// engine/cpu/batchnorm.h (see the maths there and in batchnorm.cu).
#pragma once
#include <cstdint>

namespace tg::cuda {

// Training forward with batch statistics (biased variance, two-pass, double); gamma/beta may be nullptr.
void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                               const float* beta, int64_t N, int64_t C, int64_t HW, float eps);
// Eval forward: out = gamma_c * (x - rmean_c) / sqrt(rvar_c + eps) + beta_c.
void batchnorm2d_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, int64_t N, int64_t C, int64_t HW,
                              float eps);
// Training backward; din/dgamma/dbeta may each be nullptr; gamma nullptr means 1.
void batchnorm2d_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                          const float* gamma, const float* save_mean, const float* save_invstd, int64_t N, int64_t C,
                          int64_t HW);
// Eval backward (statistics constant): din = gamma_c * invstd_c * dout.
void batchnorm2d_backward_eval(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                               const float* gamma, const float* mean, const float* invstd, int64_t N, int64_t C,
                               int64_t HW);
// running = (1 - momentum) * running + momentum * batch (unbiased variance for running_var).
void batchnorm2d_update_running(float* running_mean, float* running_var, const float* save_mean,
                                const float* save_invstd, int64_t C, int64_t count, float momentum, float eps);

}  // namespace tg::cuda
