// CUDA softmax family. Rows along a contiguous dim (inner == 1) take one warp each; strided dims
// (inner > 1) take one thread per (outer, inner) column. Max-subtraction: softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m).
#include "cuda/softmax.h"

#include "cuda/launch.h"
#include "cuda/scratch.h"
#include "engine/kernel_params/cross_entropy_math.h"

namespace tg::cuda {

namespace {

constexpr int kWarpsPerBlock = kBlock / 32;

inline unsigned warp_grid(int64_t rows) { return grid_for(rows * 32); }

// One warp per row of `dim` contiguous elements.
__global__ void softmax_rows_kernel(float* y, const float* x, int64_t rows, int64_t dim, bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; r < rows; r += warps_total) {
    const float* px = x + r * dim;
    float* py = y + r * dim;
    float m = -INFINITY;
    for (int64_t d = lane; d < dim; d += 32) m = fmaxf(m, px[d]);
    m = warp_max(m);
    double s = 0.0;
    for (int64_t d = lane; d < dim; d += 32) s += exp(static_cast<double>(px[d] - m));
    s = warp_sum(s);
    if (log) {  // log p_d = (x_d - m) - log s, in double (as the CPU: m + log s in float loses log s)
      const double log_s = ::log(s);
      for (int64_t d = lane; d < dim; d += 32) py[d] = static_cast<float>(static_cast<double>(px[d]) - m - log_s);
    } else {
      const double inv = 1.0 / s;
      for (int64_t d = lane; d < dim; d += 32) py[d] = static_cast<float>(exp(static_cast<double>(px[d] - m)) * inv);
    }
  }
}

__global__ void softmax_columns_kernel(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  TG_GRID_STRIDE_LOOP(t, outer * inner) {
    const int64_t base = (t / inner) * dim * inner + t % inner;
    const float* px = x + base;
    float* py = y + base;
    float m = px[0];
    for (int64_t d = 1; d < dim; ++d) m = fmaxf(m, px[d * inner]);
    double s = 0.0;
    for (int64_t d = 0; d < dim; ++d) s += exp(static_cast<double>(px[d * inner] - m));
    if (log) {  // in double, as above
      const double log_s = ::log(s);
      for (int64_t d = 0; d < dim; ++d)
        py[d * inner] = static_cast<float>(static_cast<double>(px[d * inner]) - m - log_s);
    } else {
      const double inv = 1.0 / s;
      for (int64_t d = 0; d < dim; ++d) py[d * inner] = static_cast<float>(exp(static_cast<double>(px[d * inner] - m)) * inv);
    }
  }
}

__global__ void softmax_backward_rows_kernel(float* dx, const float* dy, const float* y, int64_t rows, int64_t dim,
                                             bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; r < rows; r += warps_total) {
    const int64_t base = r * dim;
    double s = 0.0;
    for (int64_t d = lane; d < dim; d += 32)
      s += log ? static_cast<double>(dy[base + d]) : static_cast<double>(dy[base + d]) * y[base + d];
    const float sf = static_cast<float>(warp_sum(s));
    for (int64_t d = lane; d < dim; d += 32)
      dx[base + d] = log ? dy[base + d] - expf(y[base + d]) * sf : y[base + d] * (dy[base + d] - sf);
  }
}

__global__ void softmax_backward_columns_kernel(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim,
                                                int64_t inner, bool log) {
  TG_GRID_STRIDE_LOOP(t, outer * inner) {
    const int64_t base = (t / inner) * dim * inner + t % inner;
    double s = 0.0;
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t k = base + d * inner;
      s += log ? static_cast<double>(dy[k]) : static_cast<double>(dy[k]) * y[k];
    }
    const float sf = static_cast<float>(s);
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t k = base + d * inner;
      dx[k] = log ? dy[k] - expf(y[k]) * sf : y[k] * (dy[k] - sf);
    }
  }
}

// One warp per sample: probs row and the per-sample loss
//   l_n = -(1 - eps) log p_t - (eps / C) sum_c log p_c,   log p_c = z_c - lse.
__global__ void cross_entropy_rows_kernel(double* row_loss, float* probs, const float* logits, const float* targets,
                                          int64_t N, int64_t C, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; n < N; n += warps_total) {
    const float* z = logits + n * C;
    float* p = probs + n * C;
    float m = -INFINITY;
    for (int64_t c = lane; c < C; c += 32) m = fmaxf(m, z[c]);
    m = warp_max(m);
    double s = 0.0, sum_z = 0.0;
    for (int64_t c = lane; c < C; c += 32) {
      s += exp(static_cast<double>(z[c] - m));
      sum_z += z[c];
    }
    s = warp_sum(s);
    sum_z = warp_sum(sum_z);
    const double lse = m + ::log(s), inv = 1.0 / s;
    for (int64_t c = lane; c < C; c += 32) p[c] = static_cast<float>(exp(static_cast<double>(z[c] - m)) * inv);
    if (lane == 0) {
      const int64_t t = static_cast<int64_t>(targets[n]);
      const double logp_t = (t >= 0 && t < C) ? z[t] - lse : NAN;  // bad label: NaN, never an out-of-bounds read
      const double sum_logp = sum_z - static_cast<double>(C) * lse;
      row_loss[n] = cross_entropy_terms(logp_t, sum_logp, eps, C);
    }
  }
}

// mean over the rows, in a fixed order.
template <class T>
__global__ void mean_kernel(T* out, const double* values, int64_t n) {
  __shared__ double shared[32];
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += values[i];
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) *out = static_cast<T>(acc / static_cast<double>(n));
}

// dlogits = dloss * (p - q) / N. dloss comes from the device (dloss_ptr) or by value.
__global__ void cross_entropy_backward_kernel(float* dlogits, const float* probs, const float* targets, int64_t N,
                                              int64_t C, float eps, float dloss, const float* dloss_ptr) {
  const float scale = (dloss_ptr ? *dloss_ptr : dloss) / static_cast<float>(N);
  const float off = eps / static_cast<float>(C);
  TG_GRID_STRIDE_LOOP(k, N * C) {
    const int64_t n = k / C, c = k % C;
    const float q = (c == static_cast<int64_t>(targets[n]) ? 1.f - eps : 0.f) + off;
    dlogits[k] = scale * (probs[k] - q);
  }
}

template <class T>
void cross_entropy_mean(T* loss, float* probs, const float* logits, const float* targets, int64_t N, int64_t C,
                        float eps) {
  Scratch row_loss(static_cast<size_t>(N) * sizeof(double));
  cross_entropy_rows_kernel<<<warp_grid(N), kBlock>>>(row_loss.get<double>(), probs, logits, targets, N, C, eps);
  TG_CUDA_CHECK_LAUNCH();
  mean_kernel<T><<<1, kBlock>>>(loss, row_loss.get<double>(), N);
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace

void softmax_forward(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (outer * dim * inner == 0) return;
  if (inner == 1)
    softmax_rows_kernel<<<warp_grid(outer), kBlock>>>(y, x, outer, dim, log);
  else
    softmax_columns_kernel<<<grid_for(outer * inner), kBlock>>>(y, x, outer, dim, inner, log);
  TG_CUDA_CHECK_LAUNCH();
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (outer * dim * inner == 0) return;
  if (inner == 1)
    softmax_backward_rows_kernel<<<warp_grid(outer), kBlock>>>(dx, dy, y, outer, dim, log);
  else
    softmax_backward_columns_kernel<<<grid_for(outer * inner), kBlock>>>(dx, dy, y, outer, dim, inner, log);
  TG_CUDA_CHECK_LAUNCH();
}

double cross_entropy_forward(float* probs, const float* logits, const float* targets, int64_t N, int64_t C,
                             float label_smoothing) {
  if (N == 0) return NAN;  // the mean over no sample, as the CPU kernels' 0 / 0 (and PyTorch)
  Scratch loss(sizeof(double));
  cross_entropy_mean(loss.get<double>(), probs, logits, targets, N, C, label_smoothing);
  double host = 0.0;
  TG_CUDA_CHECK(cudaMemcpy(&host, loss.get(), sizeof(double), cudaMemcpyDeviceToHost));
  return host;
}

void cross_entropy_forward_device(float* loss, float* probs, const float* logits, const float* targets, int64_t N,
                                  int64_t C, float label_smoothing) {
  if (N == 0) {  // NaN, as above: mean_kernel over no value writes 0 / 0
    mean_kernel<float><<<1, kBlock>>>(loss, nullptr, 0);
    TG_CUDA_CHECK_LAUNCH();
    return;
  }
  cross_entropy_mean(loss, probs, logits, targets, N, C, label_smoothing);
}

void cross_entropy_backward(float* dlogits, const float* probs, const float* targets, int64_t N, int64_t C,
                            float label_smoothing, float dloss) {
  if (N * C == 0) return;
  cross_entropy_backward_kernel<<<grid_for(N * C), kBlock>>>(dlogits, probs, targets, N, C, label_smoothing, dloss,
                                                             nullptr);
  TG_CUDA_CHECK_LAUNCH();
}

void cross_entropy_backward_device(float* dlogits, const float* probs, const float* targets, int64_t N, int64_t C,
                                   float label_smoothing, const float* dloss) {
  if (N * C == 0) return;
  cross_entropy_backward_kernel<<<grid_for(N * C), kBlock>>>(dlogits, probs, targets, N, C, label_smoothing, 0.f,
                                                             dloss);
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace tg::cuda
