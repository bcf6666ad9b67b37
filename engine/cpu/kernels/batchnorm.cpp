// CPU batch norm (optionally fused with the ReLU after it, or with the ReLU and a 2x2 max pool):
// per-channel statistics over the (N, HW) values of each channel of an NCHW tensor; OpenMP over
// rows (n, c) in memory order.
// Each row of HW floats is summed in float SIMD lanes; rows are accumulated in double (two-pass
// variance), so the statistics stay exact to float rounding even for large N*HW.
#include "engine/cpu/kernels/isa_kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/kernels/max_pool2x2_plane.h"
#include "engine/cpu/scratch.h"

namespace tg::cpu::TG_ISA_NS {
namespace {

// Every pass walks the tensor's rows r = n*C + c (HW floats each) in memory order, the threads
// splitting the rows: one sequential stream per thread. (Walking channel by channel instead hops
// C*HW floats between rows; with HW*4 = 4 KiB rows the prefetcher starts over on every row.)
// Per-row partial sums go to an (N, C) array and are combined per channel in a fixed order, so the
// results do not depend on the number of threads.

// Parallelise only when there is enough work to pay for waking the team.
bool worth_parallel(int64_t N, int64_t C, int64_t HW) { return N * C * HW >= 16384 && N * C > 1; }

// The calling thread's per-row scratch (2 doubles per row), grown on demand and kept.
thread_local std::vector<double> t_row_sums;
double* row_scratch(int64_t rows) {
  return grow_aligned(t_row_sums, static_cast<size_t>(2 * rows));
}

// Per-channel floats (3C) the row passes read: scale, shift and mean, or the backward's a, b, d.
thread_local std::vector<float> t_coef;
float* coef_scratch(int64_t C) {
  return grow_aligned(t_coef, static_cast<size_t>(3 * C));
}

// z = x * scale + shift: the one expression the forward applies and the fused ReLU's backward
// recomputes, so both compare the same float with 0.
inline float affine(float x, float scale, float shift) { return x * scale + shift; }

// shift = beta - mean * scale, with the float scale the rows multiply by (as PyTorch folds): then
// x * scale + shift = (x - mean) * scale + beta up to shift's one rounding. From the unrounded
// gamma invstd instead, x * scale carried scale's rounding times x uncancelled: for a mean far above
// the spread (1e6, std 0.7, gamma 1) an error of 0.21 in a unit output, against at most 0.0625 (half a
// float spacing of mean * scale) now (tests/engine/test_nn_ops.cpp).
inline float folded_shift(double beta, double mean, float scale) {
  return static_cast<float>(beta - mean * static_cast<double>(scale));
}

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

// out = x * scale_c + shift_c over every row; with relu, out = max(x * scale_c + shift_c, 0).
void affine_rows(float* out, const float* in, const float* scale, const float* shift, int64_t N, int64_t C,
                 int64_t HW, bool relu) {
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t r = 0; r < N * C; ++r) {
    const float* x = in + r * HW;
    float* y = out + r * HW;
    const float a = scale[r % C], b = shift[r % C];
    if (relu) {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) {
        const float z = affine(x[i], a, b);
        y[i] = z > 0.f ? z : 0.f;
      }
    } else {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) y[i] = affine(x[i], a, b);
    }
  }
}

// One row's sums (float SIMD lanes): sums[0] = sum dy, sums[1] = sum dy (x - m).
void row_grad_sums(double* sums, const float* dy, const float* x, float m, int64_t HW) {
  float s1 = 0.f, s2 = 0.f;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t i = 0; i < HW; ++i) {
    s1 += dy[i];
    s2 += dy[i] * (x[i] - m);
  }
  sums[0] = s1;
  sums[1] = s2;
}

// The same with dy masked by the ReLU: g = dy where z = affine(x, za, zb) > 0, else 0.
void row_grad_sums_relu(double* sums, const float* dy, const float* x, float za, float zb, float m, int64_t HW) {
  float s1 = 0.f, s2 = 0.f;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t i = 0; i < HW; ++i) {
    const float g = affine(x[i], za, zb) > 0.f ? dy[i] : 0.f;
    s1 += g;
    s2 += g * (x[i] - m);
  }
  sums[0] = s1;
  sums[1] = s2;
}

// One row of din = a dz + b (x - m) + d, dz = dy masked by the ReLU (z = affine(x, za, zb) > 0).
void row_din_relu(float* dx, const float* dy, const float* x, float af, float bf, float df, float za, float zb,
                  float m, int64_t HW) {
#pragma omp simd
  for (int64_t i = 0; i < HW; ++i) dx[i] = af * (affine(x[i], za, zb) > 0.f ? dy[i] : 0.f) + bf * (x[i] - m) + df;
}

// sum_dy[c] = sum over n of part[2 (n C + c)], sum_dy_xmu[c] likewise from part[2 (n C + c) + 1]:
// images in order, the same sums for any thread count.
void sum_rows_per_channel(double* sum_dy, double* sum_dy_xmu, const double* part, int64_t N, int64_t C) {
  for (int64_t c = 0; c < C; ++c) sum_dy[c] = sum_dy_xmu[c] = 0.0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      sum_dy[c] += part[2 * (n * C + c)];
      sum_dy_xmu[c] += part[2 * (n * C + c) + 1];
    }
}

// Per channel c, in double: sum_dy[c] = sum dout and sum_dy_xmu[c] = sum dout * (x - mean_c), with
// dout masked to dout * (z > 0), z = affine(x, scale_c, shift_c), where relu_affine (the fused ReLU's
// saved scales then shifts, 2C) is given.
void grad_sums(double* sum_dy, double* sum_dy_xmu, const float* dout, const float* relu_affine, const float* in,
               const float* mean, int64_t N, int64_t C, int64_t HW) {
  double* part = row_scratch(N * C);  // part[2r], part[2r + 1]: row r's two sums
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t r = 0; r < N * C; ++r) {
    const float* dy = dout + r * HW;
    const float* x = in + r * HW;
    if (relu_affine) {
      row_grad_sums_relu(part + 2 * r, dy, x, relu_affine[r % C], relu_affine[C + r % C], mean[r % C], HW);
    } else {
      row_grad_sums(part + 2 * r, dy, x, mean[r % C], HW);
    }
  }
  sum_rows_per_channel(sum_dy, sum_dy_xmu, part, N, C);
}

// The calling thread's plane of floats for the fused pool kernels (one channel of one image).
thread_local std::vector<float> t_plane;
float* plane_scratch(int64_t n) { return grow_aligned(t_plane, static_cast<size_t>(n)); }

thread_local std::vector<double> t_chan;  // per-channel doubles: the forward's means, the backward's sums
double* chan_scratch(int64_t C) {
  return grow_aligned(t_chan, static_cast<size_t>(2 * C));
}

// The batch statistics and the affine they give: save_mean/save_invstd (C) as described in
// batchnorm.h, and scale_c = gamma_c invstd_c, shift_c = beta_c - mean_c scale_c in the returned
// coef_scratch (scales, then shifts: 2C floats), which save_affine (2C) also receives when given.
const float* batch_affine(float* save_mean, float* save_invstd, float* save_affine, const float* in,
                          const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW, float eps) {
  // Two passes over the rows, each split between the threads: the row sums give mean_c, then each
  // row's squared deviations about mean_c give var_c (the two-pass variance; one pass from the rows'
  // own means and the spread between them measured 2% off PyTorch's ResNet-18 gradients at batch 2
  // in a build without FMA, and was no faster).
  const double M = static_cast<double>(N * HW);
  double* rows = row_scratch(N * C);  // rows[2r] = sum of row r, rows[2r + 1] = its squared deviations
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t r = 0; r < N * C; ++r) rows[2 * r] = row_sum(in + r * HW, HW);
  float* mean_f = coef_scratch(C) + 2 * C;  // per-channel mean as the float the deviations use
  double* mean = chan_scratch(C);
  std::fill(mean, mean + C, 0.0);
  for (int64_t n = 0; n < N; ++n)  // images in order: the same sums for any thread count
    for (int64_t c = 0; c < C; ++c) mean[c] += rows[2 * (n * C + c)];
  for (int64_t c = 0; c < C; ++c) {
    mean[c] /= M;
    mean_f[c] = static_cast<float>(mean[c]);
  }
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t r = 0; r < N * C; ++r) rows[2 * r + 1] = row_sq_dev(in + r * HW, mean_f[r % C], HW);
  float* scale = coef_scratch(C);
  float* shift = scale + C;
  for (int64_t c = 0; c < C; ++c) {
    double sq = 0.0;
    for (int64_t n = 0; n < N; ++n) sq += rows[2 * (n * C + c) + 1];
    const double mean_c = mean[c];
    const double invstd = 1.0 / std::sqrt(sq / M + eps);
    save_mean[c] = static_cast<float>(mean_c);
    save_invstd[c] = static_cast<float>(invstd);
    // out = gamma * (x - mean) * invstd + beta = x * scale + shift
    scale[c] = static_cast<float>((gamma ? gamma[c] : 1.0) * invstd);
    shift[c] = folded_shift(beta ? beta[c] : 0.0, mean_c, scale[c]);
  }
  if (save_affine) std::copy(scale, scale + 2 * C, save_affine);  // scales then shifts
  return scale;
}

void forward_train(float* out, float* save_mean, float* save_invstd, float* save_affine, const float* in,
                   const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW, float eps, bool relu) {
  const float* scale = batch_affine(save_mean, save_invstd, save_affine, in, gamma, beta, N, C, HW, eps);
  affine_rows(out, in, scale, scale + C, N, C, HW, relu);
}

void forward_eval(float* out, const float* in, const float* gamma, const float* beta, const float* running_mean,
                  const float* running_var, int64_t N, int64_t C, int64_t HW, float eps, bool relu) {
  float* scale = coef_scratch(C);
  float* shift = scale + C;
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    scale[c] = static_cast<float>((gamma ? gamma[c] : 1.0) * invstd);
    shift[c] = folded_shift(beta ? beta[c] : 0.0, running_mean[c], scale[c]);
  }
  affine_rows(out, in, scale, shift, N, C, HW, relu);
}

// dbeta, dgamma (C, each may be nullptr) from the channel sums of dout and dout * (x - mean) over M
// values, and din's per-channel coefficients, returned in coef_scratch (a, then b, then d: 3C):
//   din = gi * (dout - db/M - xhat * dg/M),  gi = gamma * invstd,  xhat = (x - mean) * invstd
//       = a * dout + b * (x - mean) + d
// From x - mean (exact where the mean is far above the spread), not folded into b x + (d - b mean):
// that fold's rounding, half a float spacing of b mean, was 3e-3 of din's scale at mean 1e6, std 0.7
// (PyTorch 1.13: 3-4e-3 there); 1e-3 now, the float mean's own rounding carried through xhat.
const float* backward_coefficients(float* dgamma, float* dbeta, const double* sum_dy, const double* sum_dy_xmu,
                                   const float* gamma, const float* save_invstd, int64_t C, double M) {
  float* coef = coef_scratch(C);  // a, b, d: C each
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = save_invstd[c];
    const double db = sum_dy[c], dg = sum_dy_xmu[c] * invstd;  // dgamma = sum dout * xhat
    if (dbeta) dbeta[c] = static_cast<float>(db);
    if (dgamma) dgamma[c] = static_cast<float>(dg);
    const double gi = (gamma ? gamma[c] : 1.0) * invstd;
    coef[c] = static_cast<float>(gi);
    coef[C + c] = static_cast<float>(-gi * invstd * dg / M);
    coef[2 * C + c] = static_cast<float>(-gi * db / M);
  }
  return coef;
}

void backward_train(float* din, float* dgamma, float* dbeta, const float* dout, const float* relu_affine,
                    const float* in, const float* gamma, const float* save_mean, const float* save_invstd, int64_t N,
                    int64_t C, int64_t HW) {
  double* sum_dy = chan_scratch(C);
  double* sum_dy_xmu = sum_dy + C;
  grad_sums(sum_dy, sum_dy_xmu, dout, relu_affine, in, save_mean, N, C, HW);
  const float* coef = backward_coefficients(dgamma, dbeta, sum_dy, sum_dy_xmu, gamma, save_invstd, C,
                                            static_cast<double>(N * HW));
  if (!din) return;
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t r = 0; r < N * C; ++r) {
    const int64_t c = r % C;
    const float af = coef[c], bf = coef[C + c], df = coef[2 * C + c], m = save_mean[c];
    const float* dy = dout + r * HW;
    const float* x = in + r * HW;
    float* dx = din + r * HW;
    if (relu_affine) {
      row_din_relu(dx, dy, x, af, bf, df, relu_affine[c], relu_affine[C + c], m, HW);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) dx[i] = af * dy[i] + bf * (x[i] - m) + df;
    }
  }
}

}  // namespace

void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                               const float* beta, int64_t N, int64_t C, int64_t HW, float eps) {
  forward_train(out, save_mean, save_invstd, nullptr, in, gamma, beta, N, C, HW, eps, /*relu=*/false);
}

void batchnorm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* save_affine,
                                    const float* in, const float* gamma, const float* beta, int64_t N, int64_t C,
                                    int64_t HW, float eps) {
  forward_train(out, save_mean, save_invstd, save_affine, in, gamma, beta, N, C, HW, eps, /*relu=*/true);
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

void batchnorm2d_relu_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* affine,
                               const float* in, const float* gamma, const float* save_mean, const float* save_invstd,
                               int64_t N, int64_t C, int64_t HW) {
  backward_train(din, dgamma, dbeta, dout, affine, in, gamma, save_mean, save_invstd, N, C, HW);
}

// ---- batch norm + ReLU + 2x2 max pool (batchnorm.h) ----

void batchnorm2d_relu_maxpool2x2_forward_train(float* out, int32_t* indices, float* save_mean, float* save_invstd,
                                               float* save_affine, const float* in, const float* gamma,
                                               const float* beta, int64_t N, int64_t C, int64_t H, int64_t W,
                                               float eps) {
  const int64_t HW = H * W, PQ = (H / 2) * (W / 2), rows = 2 * (H / 2) * W;  // rows: the floats the pool reads
  const float* scale = batch_affine(save_mean, save_invstd, save_affine, in, gamma, beta, N, C, HW, eps);
  const float* shift = scale + C;
  // Per plane: z = max(x * scale_c + shift_c, 0) into a per-thread plane (L1/L2), then the pool of z.
  // The full-size batch-norm output is never written to memory.
#pragma omp parallel if (worth_parallel(N, C, HW))
  {
    float* z = plane_scratch(rows);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N * C; ++r) {
      const float* x = in + r * HW;
      const float a = scale[r % C], b = shift[r % C];
#pragma omp simd
      for (int64_t i = 0; i < rows; ++i) {  // affine_rows' expression: the same floats
        const float v = affine(x[i], a, b);
        z[i] = v > 0.f ? v : 0.f;
      }
      max_pool2x2_plane(out + r * PQ, indices + r * PQ, z, H, W);
    }
  }
}

void batchnorm2d_relu_maxpool2x2_backward(float* din, float* dgamma, float* dbeta, const float* dout,
                                          const int32_t* indices, const float* affine_coef, const float* in,
                                          const float* gamma, const float* save_mean, const float* save_invstd,
                                          int64_t N, int64_t C, int64_t H, int64_t W) {
  // Each plane's dy (H, W) is the pool's backward of dout (dout at the windows' maxima, 0 elsewhere),
  // built in a per-thread plane (L1/L2) twice: once for the channel sums, once for din; then the
  // same row loops as batchnorm2d_relu_backward, so the same floats. The full-size dz never reaches
  // memory.
  const int64_t HW = H * W, PQ = (H / 2) * (W / 2);
  double* part = row_scratch(N * C);
  const bool parallel = worth_parallel(N, C, HW);
#pragma omp parallel if (parallel)
  {
    float* dy = plane_scratch(HW);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N * C; ++r) {
      max_pool2x2_backward_plane(dy, dout + r * PQ, indices + r * PQ, H, W);
      row_grad_sums_relu(part + 2 * r, dy, in + r * HW, affine_coef[r % C], affine_coef[C + r % C],
                         save_mean[r % C], HW);
    }
  }
  double* sum_dy = chan_scratch(C);
  double* sum_dy_xmu = sum_dy + C;
  sum_rows_per_channel(sum_dy, sum_dy_xmu, part, N, C);
  const float* coef = backward_coefficients(dgamma, dbeta, sum_dy, sum_dy_xmu, gamma, save_invstd, C,
                                            static_cast<double>(N * HW));
  if (!din) return;
#pragma omp parallel if (parallel)
  {
    float* dy = plane_scratch(HW);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N * C; ++r) {
      const int64_t c = r % C;
      max_pool2x2_backward_plane(dy, dout + r * PQ, indices + r * PQ, H, W);
      row_din_relu(din + r * HW, dy, in + r * HW, coef[c], coef[C + c], coef[2 * C + c], affine_coef[c],
                   affine_coef[C + c], save_mean[c], HW);
    }
  }
}

void batchnorm2d_backward_eval(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                               const float* gamma, const float* mean, const float* invstd, int64_t N, int64_t C,
                               int64_t HW) {
  if (dgamma || dbeta) {
    double* sum_dy = chan_scratch(C);
    double* sum_dy_xmu = sum_dy + C;
    grad_sums(sum_dy, sum_dy_xmu, dout, nullptr, in, mean, N, C, HW);
    for (int64_t c = 0; c < C; ++c) {
      if (dbeta) dbeta[c] = static_cast<float>(sum_dy[c]);
      if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xmu[c] * invstd[c]);
    }
  }
  if (!din) return;
  float* a = coef_scratch(C);  // din = gamma * invstd * dout
  for (int64_t c = 0; c < C; ++c) a[c] = static_cast<float>((gamma ? gamma[c] : 1.0) * invstd[c]);
#pragma omp parallel for schedule(static) if (worth_parallel(N, C, HW))
  for (int64_t r = 0; r < N * C; ++r) {
    const float ac = a[r % C];
    const float* dy = dout + r * HW;
    float* dx = din + r * HW;
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i) dx[i] = ac * dy[i];
  }
}

void batchnorm2d_update_running(float* running_mean, float* running_var, const float* save_mean,
                                const float* save_invstd, int64_t C, int64_t count, float momentum, float eps) {
  const double m = momentum;
  for (int64_t c = 0; c < C; ++c) {
    if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * save_mean[c]);
    if (running_var) {
      const double inv = save_invstd[c];
      const double raw = 1.0 / (inv * inv) - eps;  // biased batch variance
      const double var = raw < 0.0 ? 0.0 : raw;     // rounding below 0 clamped; NaN kept (std::max made it 0)
      const double unbiased = var * static_cast<double>(count) / static_cast<double>(count - 1);
      running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * unbiased);
    }
  }
}

}  // namespace tg::cpu::TG_ISA_NS
