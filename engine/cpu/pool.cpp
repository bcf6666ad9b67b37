// CPU pooling: max (with argmax), average (count_include_pad) and global average, OpenMP over the
// N*C planes (every plane is independent, so backward scatters never race).
#include "engine/cpu/pool.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/cpu/reference/pool.h"
#include "engine/cpu/kernel_mode.h"

namespace tg::cpu {
namespace {

bool worth_parallel(int64_t work) { return work >= 16384; }

// t ? x : y with bit masks: no branch even in the scalar remainder of a vectorised loop (with
// ternaries the compiler branched there, and on random data a third of those branches mispredict).
inline float select(bool t, float x, float y) {
  const uint32_t m = 0u - static_cast<uint32_t>(t);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(x) & m) | (std::bit_cast<uint32_t>(y) & ~m));
}
inline int32_t select(bool t, int32_t x, int32_t y) {
  const int32_t m = -static_cast<int32_t>(t);
  return (x & m) | (y & ~m);
}

}  // namespace

// The conv nets' pool: 2x2 window, stride 2, no padding. Same rule as the general loop below
// (window scanned in row-major order; strict '>' keeps the first maximum; a NaN takes over), with
// the window unrolled and written with selects instead of branches, so each row vectorises.
// indices may be nullptr (values only).
void max_pool2x2_forward(float* out, int32_t* indices, const float* in, const PoolShape& s) {
  const int64_t P = s.P(), Q = s.Q(), W = s.W, HW = s.H * s.W, PQ = P * Q, planes = s.N * s.C;
  const int32_t w = static_cast<int32_t>(W);
#pragma omp parallel for schedule(static) if (worth_parallel(planes * HW))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* x = in + pl * HW;  // (H, W)
    float* y = out + pl * PQ;       // (P, Q)
    int32_t* idx = indices ? indices + pl * PQ : nullptr;
    for (int64_t p = 0; p < P; ++p) {
      const float* r0 = x + 2 * p * W;  // the window's two input rows
      const float* r1 = r0 + W;
      const int32_t row0 = static_cast<int32_t>(2 * p * W);
      float* yp = y + p * Q;
      int32_t* ip = idx ? idx + p * Q : nullptr;
      // Each later element of the window takes over when greater or NaN; off = the winner's offset
      // from the window's top-left element.
#pragma omp simd
      for (int64_t q = 0; q < Q; ++q) {
        float best = r0[2 * q];
        int32_t off = 0;
        const float c1 = r0[2 * q + 1], c2 = r1[2 * q], c3 = r1[2 * q + 1];
        const bool t1 = (c1 > best) | (c1 != c1);  // | not ||: no branch
        best = select(t1, c1, best);
        off = select(t1, 1, off);
        const bool t2 = (c2 > best) | (c2 != c2);  // | not ||: no branch
        best = select(t2, c2, best);
        off = select(t2, w, off);
        const bool t3 = (c3 > best) | (c3 != c3);  // | not ||: no branch
        best = select(t3, c3, best);
        off = select(t3, w + 1, off);
        yp[q] = best;
        if (ip) ip[q] = row0 + 2 * static_cast<int32_t>(q) + off;
      }
    }
  }
}

void max_pool2d_forward(float* out, int32_t* indices, const float* in, const PoolShape& s) {
  if (reference_kernels()) return reference::max_pool2d_forward(out, indices, in, s);
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, PQ = P * Q, planes = s.N * s.C;
  if (s.kernel_h == 2 && s.kernel_w == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0) {
    max_pool2x2_forward(out, indices, in, s);
    return;
  }
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
