// CUDA pooling. Forwards: one thread per output. Backwards are gathers (one thread per input pixel
// visiting the windows that cover it, in increasing (p, q) order), so they need no atomics and add
// in the same order as the CPU's scatter loop.
#include "cuda/pool.h"

#include "cuda/launch.h"

namespace tg::cuda {

namespace {

__device__ __forceinline__ int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
__device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Window range [lo, hi) of outputs p whose window [p*stride - pad, p*stride - pad + kernel) covers h.
__device__ __forceinline__ void covering(int64_t h, int64_t kernel, int64_t stride, int64_t pad, int64_t P,
                                         int64_t& lo, int64_t& hi) {
  // p*stride - pad <= h  and  p*stride - pad + kernel > h
  const int64_t a = h + pad - kernel + 1;  // p*stride >= a
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  hi = imin((h + pad) / stride + 1, P);
}

__global__ void max_pool_forward_kernel(float* out, int32_t* indices, const float* in, PoolShape s, int64_t P,
                                        int64_t Q) {
  TG_GRID_STRIDE_LOOP(i, s.N * s.C * P * Q) {
    const int64_t q = i % Q, p = (i / Q) % P, plane = i / (P * Q);
    const float* x = in + plane * s.H * s.W;
    const int64_t h0 = imax(p * s.stride_h - s.pad_h, 0), h1 = imin(p * s.stride_h - s.pad_h + s.kernel_h, s.H);
    const int64_t w0 = imax(q * s.stride_w - s.pad_w, 0), w1 = imin(q * s.stride_w - s.pad_w + s.kernel_w, s.W);
    // Strict '>' keeps the first maximum in row-major order; a NaN always takes over (PyTorch).
    float best = -INFINITY;
    int64_t best_i = h0 * s.W + w0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const float v = x[h * s.W + w];
        if (v > best || isnan(v)) {
          best = v;
          best_i = h * s.W + w;
        }
      }
    out[i] = best;
    indices[i] = static_cast<int32_t>(best_i);
  }
}

__global__ void max_pool_backward_kernel(float* din, const float* dout, const int32_t* indices, PoolShape s,
                                         int64_t P, int64_t Q) {
  TG_GRID_STRIDE_LOOP(i, s.N * s.C * s.H * s.W) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, plane = i / (s.H * s.W);
    const int32_t here = static_cast<int32_t>(h * s.W + w);
    int64_t p0, p1, q0, q1;
    covering(h, s.kernel_h, s.stride_h, s.pad_h, P, p0, p1);
    covering(w, s.kernel_w, s.stride_w, s.pad_w, Q, q0, q1);
    const int32_t* idx = indices + plane * P * Q;
    const float* dy = dout + plane * P * Q;
    float acc = 0.f;
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t q = q0; q < q1; ++q)
        if (idx[p * Q + q] == here) acc += dy[p * Q + q];
    din[i] = acc;
  }
}

__global__ void avg_pool_forward_kernel(float* out, const float* in, PoolShape s, int64_t P, int64_t Q) {
  const float inv = 1.f / static_cast<float>(s.kernel_h * s.kernel_w);
  TG_GRID_STRIDE_LOOP(i, s.N * s.C * P * Q) {
    const int64_t q = i % Q, p = (i / Q) % P, plane = i / (P * Q);
    const float* x = in + plane * s.H * s.W;
    const int64_t h0 = imax(p * s.stride_h - s.pad_h, 0), h1 = imin(p * s.stride_h - s.pad_h + s.kernel_h, s.H);
    const int64_t w0 = imax(q * s.stride_w - s.pad_w, 0), w1 = imin(q * s.stride_w - s.pad_w + s.kernel_w, s.W);
    float acc = 0.f;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) acc += x[h * s.W + w];
    out[i] = acc * inv;  // padding counts as zeros: always divide by the full window
  }
}

__global__ void avg_pool_backward_kernel(float* din, const float* dout, PoolShape s, int64_t P, int64_t Q) {
  const float inv = 1.f / static_cast<float>(s.kernel_h * s.kernel_w);
  TG_GRID_STRIDE_LOOP(i, s.N * s.C * s.H * s.W) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, plane = i / (s.H * s.W);
    int64_t p0, p1, q0, q1;
    covering(h, s.kernel_h, s.stride_h, s.pad_h, P, p0, p1);
    covering(w, s.kernel_w, s.stride_w, s.pad_w, Q, q0, q1);
    const float* dy = dout + plane * P * Q;
    float acc = 0.f;
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t q = q0; q < q1; ++q) acc += dy[p * Q + q] * inv;
    din[i] = acc;
  }
}

// One warp per plane.
__global__ void global_avg_forward_kernel(float* out, const float* in, int64_t NC, int64_t HW) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < NC; r += warps_total) {
    double acc = 0.0;
    for (int64_t k = lane; k < HW; k += 32) acc += in[r * HW + k];
    acc = warp_sum(acc);
    if (lane == 0) out[r] = static_cast<float>(acc / static_cast<double>(HW));
  }
}

__global__ void global_avg_backward_kernel(float* din, const float* dout, int64_t NC, int64_t HW) {
  const float inv = 1.f / static_cast<float>(HW);
  TG_GRID_STRIDE_LOOP(i, NC * HW) din[i] = dout[i / HW] * inv;
}

}  // namespace

void max_pool2d_forward(float* out, int32_t* indices, const float* in, const PoolShape& s) {
  const int64_t P = s.P(), Q = s.Q(), total = s.N * s.C * P * Q;
  if (total <= 0) return;
  max_pool_forward_kernel<<<grid_for(total), kBlock>>>(out, indices, in, s, P, Q);
  TG_CUDA_CHECK_LAUNCH();
}

void max_pool2d_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s) {
  const int64_t total = s.N * s.C * s.H * s.W;
  if (total <= 0) return;
  max_pool_backward_kernel<<<grid_for(total), kBlock>>>(din, dout, indices, s, s.P(), s.Q());
  TG_CUDA_CHECK_LAUNCH();
}

void avg_pool2d_forward(float* out, const float* in, const PoolShape& s) {
  const int64_t P = s.P(), Q = s.Q(), total = s.N * s.C * P * Q;
  if (total <= 0) return;
  avg_pool_forward_kernel<<<grid_for(total), kBlock>>>(out, in, s, P, Q);
  TG_CUDA_CHECK_LAUNCH();
}

void avg_pool2d_backward(float* din, const float* dout, const PoolShape& s) {
  const int64_t total = s.N * s.C * s.H * s.W;
  if (total <= 0) return;
  avg_pool_backward_kernel<<<grid_for(total), kBlock>>>(din, dout, s, s.P(), s.Q());
  TG_CUDA_CHECK_LAUNCH();
}

void global_avg_pool2d_forward(float* out, const float* in, int64_t NC, int64_t HW) {
  if (NC == 0) return;
  global_avg_forward_kernel<<<grid_for(NC * 32), kBlock>>>(out, in, NC, HW);
  TG_CUDA_CHECK_LAUNCH();
}

void global_avg_pool2d_backward(float* din, const float* dout, int64_t NC, int64_t HW) {
  if (NC * HW == 0) return;
  global_avg_backward_kernel<<<grid_for(NC * HW), kBlock>>>(din, dout, NC, HW);
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace tg::cuda
