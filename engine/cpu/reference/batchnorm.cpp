// Reference batch norm (batchnorm.h). Element (n, c, i) of the (N, C, HW) tensor is at (n*C + c)*HW + i;
// each function walks one channel c over all its N*HW elements. Sums in double.
#include "engine/cpu/reference/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/reference/pool.h"

namespace tg::cpu::reference {
namespace {

int64_t at(int64_t n, int64_t c, int64_t i, int64_t C, int64_t HW) { return (n * C + c) * HW + i; }

// out = x * scale_c + shift_c for every element of channel c.
void affine_per_channel(float* out, const float* in, const float* scale, const float* shift, int64_t N, int64_t C,
                        int64_t HW) {
  for (int64_t c = 0; c < C; ++c)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) out[at(n, c, i, C, HW)] = in[at(n, c, i, C, HW)] * scale[c] + shift[c];
}

// mean_c and invstd_c = 1/sqrt(var_c + eps) of the batch, two passes per channel.
void batch_statistics(float* mean, float* invstd, const float* in, int64_t N, int64_t C, int64_t HW, float eps) {
  const double M = static_cast<double>(N * HW);
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sum += in[at(n, c, i, C, HW)];
    const double mu = sum / M;
    double sq = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const double d = in[at(n, c, i, C, HW)] - mu;
        sq += d * d;
      }
    mean[c] = static_cast<float>(mu);
    invstd[c] = static_cast<float>(1.0 / std::sqrt(sq / M + eps));
  }
}

}  // namespace

void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                               const float* beta, int64_t N, int64_t C, int64_t HW, float eps) {
  batch_statistics(save_mean, save_invstd, in, N, C, HW, eps);
  for (int64_t c = 0; c < C; ++c) {
    const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t e = at(n, c, i, C, HW);
        out[e] = static_cast<float>(g * (in[e] - static_cast<double>(save_mean[c])) * save_invstd[c] + b);
      }
  }
}

void batchnorm2d_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, int64_t N, int64_t C, int64_t HW,
                              float eps) {
  for (int64_t c = 0; c < C; ++c) {
    const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
    const double inv = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t e = at(n, c, i, C, HW);
        out[e] = static_cast<float>(g * (in[e] - static_cast<double>(running_mean[c])) * inv + b);
      }
  }
}

void batchnorm2d_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                          const float* gamma, const float* save_mean, const float* save_invstd, int64_t N, int64_t C,
                          int64_t HW) {
  const double M = static_cast<double>(N * HW);
  for (int64_t c = 0; c < C; ++c) {
    const double mu = save_mean[c], inv = save_invstd[c];
    double sum_dout = 0.0, sum_dout_xhat = 0.0;  // dbeta_c, dgamma_c
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t e = at(n, c, i, C, HW);
        sum_dout += dout[e];
        sum_dout_xhat += dout[e] * (in[e] - mu) * inv;
      }
    if (dbeta) dbeta[c] = static_cast<float>(sum_dout);
    if (dgamma) dgamma[c] = static_cast<float>(sum_dout_xhat);
    if (!din) continue;
    const double g = gamma ? gamma[c] : 1.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t e = at(n, c, i, C, HW);
        const double xhat = (in[e] - mu) * inv;
        din[e] = static_cast<float>(g * inv / M * (M * dout[e] - sum_dout - xhat * sum_dout_xhat));
      }
  }
}

void batchnorm2d_backward_eval(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                               const float* gamma, const float* mean, const float* invstd, int64_t N, int64_t C,
                               int64_t HW) {
  for (int64_t c = 0; c < C; ++c) {
    const double mu = mean[c], inv = invstd[c], g = gamma ? gamma[c] : 1.0;
    double sum_dout = 0.0, sum_dout_xhat = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t e = at(n, c, i, C, HW);
        sum_dout += dout[e];
        sum_dout_xhat += dout[e] * (in[e] - mu) * inv;
        if (din) din[e] = static_cast<float>(g * inv * dout[e]);
      }
    if (dbeta) dbeta[c] = static_cast<float>(sum_dout);
    if (dgamma) dgamma[c] = static_cast<float>(sum_dout_xhat);
  }
}

void batchnorm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* save_affine,
                                    const float* in, const float* gamma, const float* beta, int64_t N, int64_t C,
                                    int64_t HW, float eps) {
  batch_statistics(save_mean, save_invstd, in, N, C, HW, eps);
  float* scale = save_affine;
  float* shift = save_affine + C;
  for (int64_t c = 0; c < C; ++c) {  // shift from the float scale: x * scale + shift = (x - mean) * scale + beta
    scale[c] = static_cast<float>((gamma ? gamma[c] : 1.0) * static_cast<double>(save_invstd[c]));
    shift[c] = static_cast<float>((beta ? beta[c] : 0.0) - static_cast<double>(save_mean[c]) * scale[c]);
  }
  affine_per_channel(out, in, scale, shift, N, C, HW);
  for (int64_t e = 0; e < N * C * HW; ++e) out[e] = out[e] > 0.f ? out[e] : 0.f;  // relu
}

void batchnorm2d_relu_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, int64_t N, int64_t C,
                                   int64_t HW, float eps) {
  batchnorm2d_forward_eval(out, in, gamma, beta, running_mean, running_var, N, C, HW, eps);
  for (int64_t e = 0; e < N * C * HW; ++e) out[e] = out[e] > 0.f ? out[e] : 0.f;  // relu
}

void batchnorm2d_relu_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* affine,
                               const float* in, const float* gamma, const float* save_mean, const float* save_invstd,
                               int64_t N, int64_t C, int64_t HW) {
  const int64_t total = N * C * HW;
  std::vector<float> z(static_cast<size_t>(total));  // the batch norm's output before the relu
  affine_per_channel(z.data(), in, affine, affine + C, N, C, HW);
  std::vector<float> dz(static_cast<size_t>(total));
  for (int64_t e = 0; e < total; ++e) dz[e] = z[e] > 0.f ? dout[e] : 0.f;  // relu's backward
  batchnorm2d_backward(din, dgamma, dbeta, dz.data(), in, gamma, save_mean, save_invstd, N, C, HW);
}

void batchnorm2d_relu_maxpool2x2_forward_train(float* out, int32_t* indices, float* save_mean, float* save_invstd,
                                               float* save_affine, const float* in, const float* gamma,
                                               const float* beta, int64_t N, int64_t C, int64_t H, int64_t W,
                                               float eps) {
  std::vector<float> z(static_cast<size_t>(N * C * H * W));  // relu(batch norm), full size
  batchnorm2d_relu_forward_train(z.data(), save_mean, save_invstd, save_affine, in, gamma, beta, N, C, H * W, eps);
  max_pool2d_forward(out, indices, z.data(), PoolShape{N, C, H, W, 2, 2, 2, 2, 0, 0});
}

void batchnorm2d_relu_maxpool2x2_backward(float* din, float* dgamma, float* dbeta, const float* dout,
                                          const int32_t* indices, const float* affine, const float* in,
                                          const float* gamma, const float* save_mean, const float* save_invstd,
                                          int64_t N, int64_t C, int64_t H, int64_t W) {
  std::vector<float> dz(static_cast<size_t>(N * C * H * W));  // dout scattered to the windows' maxima
  max_pool2d_backward(dz.data(), dout, indices, PoolShape{N, C, H, W, 2, 2, 2, 2, 0, 0});
  batchnorm2d_relu_backward(din, dgamma, dbeta, dz.data(), affine, in, gamma, save_mean, save_invstd, N, C, H * W);
}

void batchnorm2d_update_running(float* running_mean, float* running_var, const float* save_mean,
                                const float* save_invstd, int64_t C, int64_t count, float momentum, float eps) {
  const double keep = 1.0 - momentum, M = static_cast<double>(count);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = save_invstd[c];
    const double raw_var = 1.0 / (invstd * invstd) - eps;
    const double biased_var = raw_var < 0.0 ? 0.0 : raw_var;  // NaN stays NaN, as PyTorch's running_var
    if (running_mean) running_mean[c] = static_cast<float>(keep * running_mean[c] + momentum * save_mean[c]);
    if (running_var) running_var[c] = static_cast<float>(keep * running_var[c] + momentum * biased_var * M / (M - 1.0));
  }
}

}  // namespace tg::cpu::reference
