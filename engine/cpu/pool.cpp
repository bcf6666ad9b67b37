// CPU pooling: max (with argmax), average (count_include_pad) and global average, OpenMP over the
// N*C planes (every plane is independent, so backward scatters never race).
#include "engine/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/cpu/reference/pool.h"
#include "engine/cpu/kernel_mode.h"

namespace tg::cpu {
namespace {

bool worth_parallel(int64_t work) { return work >= 16384; }

// The conv nets' pool (2x2 window, stride 2, no padding): its own dispatched kernels.
bool is_pool2x2(const PoolShape& s) {
  return s.kernel_h == 2 && s.kernel_w == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0;
}

}  // namespace

void max_pool2d_forward(float* out, int32_t* indices, const float* in, const PoolShape& s) {
  if (reference_kernels()) return reference::max_pool2d_forward(out, indices, in, s);
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, PQ = P * Q, planes = s.N * s.C;
  if (is_pool2x2(s)) return max_pool2x2_forward(out, indices, in, s);
#pragma omp parallel for schedule(static) if (worth_parallel(planes * HW))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* x = in + pl * HW;  // (H, W)
    float* y = out + pl * PQ;       // (P, Q)
    int32_t* idx = indices ? indices + pl * PQ : nullptr;
    for (int64_t p = 0; p < P; ++p) {
      const int64_t h0 = std::max<int64_t>(p * s.stride_h - s.pad_h, 0);
      const int64_t h1 = std::min<int64_t>(p * s.stride_h - s.pad_h + s.kernel_h, s.H);
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t w0 = std::max<int64_t>(q * s.stride_w - s.pad_w, 0);
        const int64_t w1 = std::min<int64_t>(q * s.stride_w - s.pad_w + s.kernel_w, s.W);
        // Strict '>' keeps the first maximum in row-major order; a NaN always takes over (PyTorch).
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_i = h0 * s.W + w0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            const float v = x[h * s.W + w];
            if (v > best || std::isnan(v)) {
              best = v;
              best_i = h * s.W + w;
            }
          }
        y[p * Q + q] = best;
        if (idx) idx[p * Q + q] = static_cast<int32_t>(best_i);
      }
    }
  }
}

void max_pool2d_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s) {
  if (reference_kernels()) return reference::max_pool2d_backward(din, dout, indices, s);
  if (is_pool2x2(s)) return max_pool2x2_backward(din, dout, indices, s);
  const int64_t PQ = s.P() * s.Q(), HW = s.H * s.W, planes = s.N * s.C;
#pragma omp parallel for schedule(static) if (worth_parallel(planes * HW))
  for (int64_t pl = 0; pl < planes; ++pl) {
    float* dx = din + pl * HW;
    std::memset(dx, 0, sizeof(float) * HW);
    const float* dy = dout + pl * PQ;
    const int32_t* idx = indices + pl * PQ;
    for (int64_t i = 0; i < PQ; ++i) dx[idx[i]] += dy[i];
  }
}

void avg_pool2d_forward(float* out, const float* in, const PoolShape& s) {
  if (reference_kernels()) return reference::avg_pool2d_forward(out, in, s);
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, PQ = P * Q, planes = s.N * s.C;
  const float inv = 1.f / static_cast<float>(s.kernel_h * s.kernel_w);  // padding counts in the divisor
#pragma omp parallel for schedule(static) if (worth_parallel(planes * HW))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* x = in + pl * HW;
    float* y = out + pl * PQ;
    for (int64_t p = 0; p < P; ++p) {
      const int64_t h0 = std::max<int64_t>(p * s.stride_h - s.pad_h, 0);
      const int64_t h1 = std::min<int64_t>(p * s.stride_h - s.pad_h + s.kernel_h, s.H);
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t w0 = std::max<int64_t>(q * s.stride_w - s.pad_w, 0);
        const int64_t w1 = std::min<int64_t>(q * s.stride_w - s.pad_w + s.kernel_w, s.W);
        float acc = 0.f;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) acc += x[h * s.W + w];
        y[p * Q + q] = acc * inv;
      }
    }
  }
}

void avg_pool2d_backward(float* din, const float* dout, const PoolShape& s) {
  if (reference_kernels()) return reference::avg_pool2d_backward(din, dout, s);
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, PQ = P * Q, planes = s.N * s.C;
  const float inv = 1.f / static_cast<float>(s.kernel_h * s.kernel_w);
#pragma omp parallel for schedule(static) if (worth_parallel(planes * HW))
  for (int64_t pl = 0; pl < planes; ++pl) {
    float* dx = din + pl * HW;
    std::memset(dx, 0, sizeof(float) * HW);
    const float* dy = dout + pl * PQ;
    for (int64_t p = 0; p < P; ++p) {
      const int64_t h0 = std::max<int64_t>(p * s.stride_h - s.pad_h, 0);
      const int64_t h1 = std::min<int64_t>(p * s.stride_h - s.pad_h + s.kernel_h, s.H);
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t w0 = std::max<int64_t>(q * s.stride_w - s.pad_w, 0);
        const int64_t w1 = std::min<int64_t>(q * s.stride_w - s.pad_w + s.kernel_w, s.W);
        const float g = dy[p * Q + q] * inv;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dx[h * s.W + w] += g;
      }
    }
  }
}

void global_avg_pool2d_forward(float* out, const float* in, int64_t NC, int64_t HW) {
  if (reference_kernels()) return reference::global_avg_pool2d_forward(out, in, NC, HW);
#pragma omp parallel for schedule(static) if (worth_parallel(NC * HW))
  for (int64_t pl = 0; pl < NC; ++pl) {
    const float* x = in + pl * HW;
    double acc = 0.0;
    for (int64_t i = 0; i < HW; ++i) acc += x[i];
    out[pl] = static_cast<float>(acc / static_cast<double>(HW));
  }
}

void global_avg_pool2d_backward(float* din, const float* dout, int64_t NC, int64_t HW) {
  if (reference_kernels()) return reference::global_avg_pool2d_backward(din, dout, NC, HW);
  const float inv = 1.f / static_cast<float>(HW);
#pragma omp parallel for schedule(static) if (worth_parallel(NC * HW))
  for (int64_t pl = 0; pl < NC; ++pl) {
    const float g = dout[pl] * inv;
    float* dx = din + pl * HW;
    for (int64_t i = 0; i < HW; ++i) dx[i] = g;
  }
}

}  // namespace tg::cpu
