// CUDA batch norm. One block per channel walks the channel's N*HW elements (rows of HW contiguous
// floats, N of them, C*HW apart), reducing in double with a fixed tree (deterministic):
//   mean_c = 1/M sum x,  var_c = 1/M sum (x - mean_c)^2,  invstd_c = 1/sqrt(var_c + eps),  M = N*HW
//   out = gamma_c * (x - mean_c) * invstd_c + beta_c
// backward, xhat = (x - mean) * invstd:
//   dbeta_c = sum dout,  dgamma_c = sum dout * xhat
//   din = gi * (dout - dbeta_c/M - xhat * dgamma_c/M),  gi = gamma_c * invstd_c
#include "cuda/batchnorm.h"

#include "cuda/launch.h"

namespace tg::cuda {

namespace {

constexpr int kChannelBlock = 512;

inline unsigned channel_grid(int64_t C) { return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(C, 1), kMaxGrid)); }

__global__ void __launch_bounds__(kChannelBlock)
    bn_forward_train_kernel(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                            const float* beta, int64_t N, int64_t C, int64_t HW, float eps) {
  __shared__ double shared[32];
  const int64_t M = N * HW;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double sum = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) sum += in[((j / HW) * C + c) * HW + j % HW];
    const double mean = block_sum(sum, shared) / static_cast<double>(M);
    double sq = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const double d = in[((j / HW) * C + c) * HW + j % HW] - mean;
      sq += d * d;
    }
    const double var = block_sum(sq, shared) / static_cast<double>(M);
    const double invstd = 1.0 / sqrt(var + static_cast<double>(eps));
    if (threadIdx.x == 0) {
      save_mean[c] = static_cast<float>(mean);
      save_invstd[c] = static_cast<float>(invstd);
    }
    // out = scale * x + shift with scale = gamma * invstd, shift = beta - mean * scale from the float
    // scale (as the CPU: then scale * x + shift = scale * (x - mean) + beta up to shift's rounding).
    const float sf = static_cast<float>((gamma ? gamma[c] : 1.0) * invstd);
    const float shf = static_cast<float>((beta ? beta[c] : 0.0) - mean * static_cast<double>(sf));
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const int64_t k = ((j / HW) * C + c) * HW + j % HW;
      out[k] = sf * in[k] + shf;
    }
  }
}

__global__ void bn_forward_eval_kernel(float* out, const float* in, const float* gamma, const float* beta,
                                       const float* running_mean, const float* running_var, int64_t total, int64_t C,
                                       int64_t HW, float eps) {
  TG_GRID_STRIDE_LOOP(k, total) {
    const int64_t c = (k / HW) % C;
    const float invstd = 1.f / sqrtf(running_var[c] + eps);
    const float g = gamma ? gamma[c] : 1.f, b = beta ? beta[c] : 0.f;
    out[k] = g * (in[k] - running_mean[c]) * invstd + b;
  }
}

// Training (stats_depend = true) or eval backward for one channel per block.
__global__ void __launch_bounds__(kChannelBlock)
    bn_backward_kernel(float* din, float* dgamma, float* dbeta, const float* dout, const float* in, const float* gamma,
                       const float* mean_c, const float* invstd_c, int64_t N, int64_t C, int64_t HW,
                       bool stats_depend) {
  __shared__ double shared[32];
  const int64_t M = N * HW;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const double mean = mean_c[c], invstd = invstd_c[c];
    double sum_dy = 0.0, sum_dy_xmu = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const int64_t k = ((j / HW) * C + c) * HW + j % HW;
      sum_dy += dout[k];
      sum_dy_xmu += static_cast<double>(dout[k]) * (in[k] - mean);
    }
    const double db = block_sum(sum_dy, shared);
    const double dg = block_sum(sum_dy_xmu, shared) * invstd;  // sum dout * xhat
    if (threadIdx.x == 0) {
      if (dbeta) dbeta[c] = static_cast<float>(db);
      if (dgamma) dgamma[c] = static_cast<float>(dg);
    }
    if (!din) continue;
    // din = a * dout + b * (x - mean) + d  (training);  din = a * dout  (eval). From x - mean, as the
    // CPU: folded into b x + (d - b mean) it rounds at the scale of b mean where the mean is large.
    const double gi = (gamma ? gamma[c] : 1.0) * invstd;
    const double b = stats_depend ? -gi * invstd * dg / static_cast<double>(M) : 0.0;
    const double d = stats_depend ? -gi * db / static_cast<double>(M) : 0.0;
    const float af = static_cast<float>(gi), bf = static_cast<float>(b), df = static_cast<float>(d);
    const float mf = mean_c[c];
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const int64_t k = ((j / HW) * C + c) * HW + j % HW;
      din[k] = stats_depend ? af * dout[k] + bf * (in[k] - mf) + df : af * dout[k];
    }
  }
}

__global__ void bn_update_running_kernel(float* running_mean, float* running_var, const float* save_mean,
                                         const float* save_invstd, int64_t C, int64_t count, float momentum,
                                         float eps) {
  const double m = momentum;
  TG_GRID_STRIDE_LOOP(c, C) {
    if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * save_mean[c]);
    if (running_var) {
      const double inv = save_invstd[c];
      const double raw = 1.0 / (inv * inv) - eps;  // biased batch variance
      const double var = raw < 0.0 ? 0.0 : raw;     // NaN kept (fmax would make it 0), as the CPU
      const double unbiased = var * static_cast<double>(count) / static_cast<double>(count - 1);
      running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * unbiased);
    }
  }
}

}  // namespace

void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                               const float* beta, int64_t N, int64_t C, int64_t HW, float eps) {
  if (C == 0 || N * HW == 0) return;
  bn_forward_train_kernel<<<channel_grid(C), kChannelBlock>>>(out, save_mean, save_invstd, in, gamma, beta, N, C, HW,
                                                              eps);
  TG_CUDA_CHECK_LAUNCH();
}

void batchnorm2d_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, int64_t N, int64_t C, int64_t HW,
                              float eps) {
  const int64_t total = N * C * HW;
  if (total == 0) return;
  bn_forward_eval_kernel<<<grid_for(total), kBlock>>>(out, in, gamma, beta, running_mean, running_var, total, C, HW,
                                                      eps);
  TG_CUDA_CHECK_LAUNCH();
}

void batchnorm2d_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                          const float* gamma, const float* save_mean, const float* save_invstd, int64_t N, int64_t C,
                          int64_t HW) {
  if (C == 0) return;
  bn_backward_kernel<<<channel_grid(C), kChannelBlock>>>(din, dgamma, dbeta, dout, in, gamma, save_mean, save_invstd,
                                                         N, C, HW, true);
  TG_CUDA_CHECK_LAUNCH();
}

void batchnorm2d_backward_eval(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                               const float* gamma, const float* mean, const float* invstd, int64_t N, int64_t C,
                               int64_t HW) {
  if (C == 0) return;
  bn_backward_kernel<<<channel_grid(C), kChannelBlock>>>(din, dgamma, dbeta, dout, in, gamma, mean, invstd, N, C, HW,
                                                         false);
  TG_CUDA_CHECK_LAUNCH();
}

void batchnorm2d_update_running(float* running_mean, float* running_var, const float* save_mean,
                                const float* save_invstd, int64_t C, int64_t count, float momentum, float eps) {
  if (C == 0) return;
  bn_update_running_kernel<<<grid_for(C), kBlock>>>(running_mean, running_var, save_mean, save_invstd, C, count,
                                                    momentum, eps);
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace tg::cuda
