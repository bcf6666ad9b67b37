// CPU batch norm (optionally fused with the ReLU after it): per-channel statistics over (N, HW) rows of an NCHW tensor, OpenMP over channels.
// Each row of HW floats is summed in float SIMD lanes; rows are accumulated in double (two-pass
// variance), so the statistics stay exact to float rounding even for large N*HW.
#include "engine/cpu/batchnorm.h"

#include <algorithm>
#include <cmath>

namespace tg::cpu {
namespace {

// Parallelise over channels only when there is enough work to pay for waking the team.
bool worth_parallel(int64_t N, int64_t C, int64_t HW) { return N * C * HW >= 16384 && C > 1; }

// sum_i row[i]
inline float row_sum(const float* row, int64_t HW) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < HW; ++i) s += row[i];
  return s;
}

// sum_i (row[i] - mean)^2
inline float row_sq_dev(const float* row, float mean, int64_t HW) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < HW; ++i) {
    const float d = row[i] - mean;
    s += d * d;
  }
  return s;
}

// out = x * scale + shift over channel c's rows; with relu, out = max(x * scale + shift, 0).
inline void affine_rows(float* out, const float* in, float scale, float shift, int64_t N, int64_t C, int64_t HW,
                        int64_t c, bool relu) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = in + (n * C + c) * HW;
    float* y = out + (n * C + c) * HW;
    if (relu) {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) {
        const float z = x[i] * scale + shift;
        y[i] = z > 0.f ? z : 0.f;
      }
    } else {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) y[i] = x[i] * scale + shift;
    }
  }
}

// sum dout and sum dout * (x - mean) over channel c, in double across rows. relu_out (the fused
// ReLU's output, or nullptr) masks dout to dout * (out > 0).
inline void grad_sums(const float* dout, const float* relu_out, const float* in, float mean, int64_t N, int64_t C,
                      int64_t HW, int64_t c, double& sum_dy, double& sum_dy_xmu) {
  sum_dy = 0.0;
  sum_dy_xmu = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t row = (n * C + c) * HW;
    const float* dy = dout + row;
    const float* x = in + row;
    const float* y = relu_out ? relu_out + row : nullptr;
    float s1 = 0.f, s2 = 0.f;
    if (y) {
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t i = 0; i < HW; ++i) {
        const float g = y[i] > 0.f ? dy[i] : 0.f;
        s1 += g;
        s2 += g * (x[i] - mean);
      }
    } else {
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t i = 0; i < HW; ++i) {
        s1 += dy[i];
        s2 += dy[i] * (x[i] - mean);
      }
    }
    sum_dy += s1;
    sum_dy_xmu += s2;
  }
}

}  // namespace

namespace {

void forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                   const float* beta, int64_t N, int64_t C, int64_t HW, float eps, bool relu) {
  const double M = static_cast<double>(N * HW);
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n) sum += row_sum(in + (n * C + c) * HW, HW);
    const double mean = sum / M;
    double sq = 0.0;
    for (int64_t n = 0; n < N; ++n) sq += row_sq_dev(in + (n * C + c) * HW, static_cast<float>(mean), HW);
    const double invstd = 1.0 / std::sqrt(sq / M + eps);
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = static_cast<float>(invstd);
    // out = gamma * (x - mean) * invstd + beta = x * scale + shift
    const double scale = (gamma ? gamma[c] : 1.0) * invstd;
    const double shift = (beta ? beta[c] : 0.0) - mean * scale;
    affine_rows(out, in, static_cast<float>(scale), static_cast<float>(shift), N, C, HW, c, relu);
  }
}

void forward_eval(float* out, const float* in, const float* gamma, const float* beta, const float* running_mean,
                  const float* running_var, int64_t N, int64_t C, int64_t HW, float eps, bool relu) {
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    const double scale = (gamma ? gamma[c] : 1.0) * invstd;
    const double shift = (beta ? beta[c] : 0.0) - running_mean[c] * scale;
    affine_rows(out, in, static_cast<float>(scale), static_cast<float>(shift), N, C, HW, c, relu);
  }
}

void backward_train(float* din, float* dgamma, float* dbeta, const float* dout, const float* relu_out,
                    const float* in, const float* gamma, const float* save_mean, const float* save_invstd, int64_t N,
                    int64_t C, int64_t HW) {
  const double M = static_cast<double>(N * HW);
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double sum_dy, sum_dy_xmu;
    grad_sums(dout, relu_out, in, save_mean[c], N, C, HW, c, sum_dy, sum_dy_xmu);
    const double db = sum_dy, dg = sum_dy_xmu * invstd;  // dgamma = sum dout * xhat
    if (dbeta) dbeta[c] = static_cast<float>(db);
    if (dgamma) dgamma[c] = static_cast<float>(dg);
    if (!din) continue;
    // din = gi * (dout - db/M - xhat * dg/M),  gi = gamma * invstd,  xhat = (x - mean) * invstd
    //     = a * dout + b * x + d
    const double gi = (gamma ? gamma[c] : 1.0) * invstd;
    const double b = -gi * invstd * dg / M;
    const double d = -gi * db / M - b * mean;
    const float af = static_cast<float>(gi), bf = static_cast<float>(b), df = static_cast<float>(d);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t row = (n * C + c) * HW;
      const float* dy = dout + row;
      const float* x = in + row;
      float* dx = din + row;
      if (relu_out) {
        const float* y = relu_out + row;
#pragma omp simd
        for (int64_t i = 0; i < HW; ++i) dx[i] = af * (y[i] > 0.f ? dy[i] : 0.f) + bf * x[i] + df;
      } else {
#pragma omp simd
        for (int64_t i = 0; i < HW; ++i) dx[i] = af * dy[i] + bf * x[i] + df;
      }
    }
  }
}

}  // namespace

void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                               const float* beta, int64_t N, int64_t C, int64_t HW, float eps) {
  forward_train(out, save_mean, save_invstd, in, gamma, beta, N, C, HW, eps, /*relu=*/false);
}

void batchnorm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, const float* in,
                                    const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW, float eps) {
  forward_train(out, save_mean, save_invstd, in, gamma, beta, N, C, HW, eps, /*relu=*/true);
}

void batchnorm2d_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, int64_t N, int64_t C, int64_t HW,
                              float eps) {
  forward_eval(out, in, gamma, beta, running_mean, running_var, N, C, HW, eps, /*relu=*/false);
}

void batchnorm2d_relu_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, int64_t N, int64_t C,
                                   int64_t HW, float eps) {
  forward_eval(out, in, gamma, beta, running_mean, running_var, N, C, HW, eps, /*relu=*/true);
}

void batchnorm2d_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                          const float* gamma, const float* save_mean, const float* save_invstd, int64_t N, int64_t C,
                          int64_t HW) {
  backward_train(din, dgamma, dbeta, dout, nullptr, in, gamma, save_mean, save_invstd, N, C, HW);
}

void batchnorm2d_relu_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* out,
                               const float* in, const float* gamma, const float* save_mean, const float* save_invstd,
                               int64_t N, int64_t C, int64_t HW) {
  backward_train(din, dgamma, dbeta, dout, out, in, gamma, save_mean, save_invstd, N, C, HW);
}

void batchnorm2d_backward_eval(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                               const float* gamma, const float* mean, const float* invstd, int64_t N, int64_t C,
                               int64_t HW) {
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t c = 0; c < C; ++c) {
    if (dgamma || dbeta) {
      double sum_dy, sum_dy_xmu;
      grad_sums(dout, nullptr, in, mean[c], N, C, HW, c, sum_dy, sum_dy_xmu);
      if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
      if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xmu * invstd[c]);
    }
    if (!din) continue;
    const float a = static_cast<float>((gamma ? gamma[c] : 1.0) * invstd[c]);  // din = gamma * invstd * dout
    for (int64_t n = 0; n < N; ++n) {
      const float* dy = dout + (n * C + c) * HW;
      float* dx = din + (n * C + c) * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) dx[i] = a * dy[i];
    }
  }
}

void batchnorm2d_update_running(float* running_mean, float* running_var, const float* save_mean,
                                const float* save_invstd, int64_t C, int64_t count, float momentum, float eps) {
  const double m = momentum;
  for (int64_t c = 0; c < C; ++c) {
    if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * save_mean[c]);
    if (running_var) {
      const double inv = save_invstd[c];
      const double var = std::max(0.0, 1.0 / (inv * inv) - eps);  // biased batch variance
      const double unbiased = var * static_cast<double>(count) / static_cast<double>(count - 1);
      running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * unbiased);
    }
  }
}

}  // namespace tg::cpu
