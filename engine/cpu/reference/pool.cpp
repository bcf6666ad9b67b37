// Reference pooling (pool.h): for each plane (n, c) and output (p, q), a loop over the window.
#include "engine/cpu/reference/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tg::cpu::reference {
namespace {

// The input rows [h0, h1) and columns [w0, w1) that output (p, q)'s window covers inside the image.
struct Window {
  int64_t h0, h1, w0, w1;
};
Window window_of(int64_t p, int64_t q, const PoolShape& s) {
  const int64_t top = p * s.stride_h - s.pad_h, left = q * s.stride_w - s.pad_w;
  return {std::max<int64_t>(top, 0), std::min(top + s.kernel_h, s.H), std::max<int64_t>(left, 0),
          std::min(left + s.kernel_w, s.W)};
}

}  // namespace

void max_pool2d_forward(float* out, int32_t* indices, const float* in, const PoolShape& s) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t plane = 0; plane < s.N * s.C; ++plane)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const Window win = window_of(p, q, s);
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_at = win.h0 * s.W + win.w0;
        for (int64_t h = win.h0; h < win.h1; ++h)
          for (int64_t w = win.w0; w < win.w1; ++w) {
            const float v = in[plane * s.H * s.W + h * s.W + w];
            if (v > best || std::isnan(v)) {  // strict '>': the first maximum stays
              best = v;
              best_at = h * s.W + w;
            }
          }
        out[(plane * P + p) * Q + q] = best;
        if (indices) indices[(plane * P + p) * Q + q] = static_cast<int32_t>(best_at);
      }
}

void max_pool2d_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s) {
  const int64_t HW = s.H * s.W, PQ = s.P() * s.Q();
  for (int64_t e = 0; e < s.N * s.C * HW; ++e) din[e] = 0.f;
  for (int64_t plane = 0; plane < s.N * s.C; ++plane)
    for (int64_t o = 0; o < PQ; ++o) din[plane * HW + indices[plane * PQ + o]] += dout[plane * PQ + o];
}

void avg_pool2d_forward(float* out, const float* in, const PoolShape& s) {
  const int64_t P = s.P(), Q = s.Q();
  const double area = static_cast<double>(s.kernel_h * s.kernel_w);
  for (int64_t plane = 0; plane < s.N * s.C; ++plane)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const Window win = window_of(p, q, s);
        double sum = 0.0;
        for (int64_t h = win.h0; h < win.h1; ++h)
          for (int64_t w = win.w0; w < win.w1; ++w) sum += in[plane * s.H * s.W + h * s.W + w];
        out[(plane * P + p) * Q + q] = static_cast<float>(sum / area);
      }
}

void avg_pool2d_backward(float* din, const float* dout, const PoolShape& s) {
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W;
  const double area = static_cast<double>(s.kernel_h * s.kernel_w);
  for (int64_t e = 0; e < s.N * s.C * HW; ++e) din[e] = 0.f;
  for (int64_t plane = 0; plane < s.N * s.C; ++plane)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const Window win = window_of(p, q, s);
        const float share = static_cast<float>(dout[(plane * P + p) * Q + q] / area);
        for (int64_t h = win.h0; h < win.h1; ++h)
          for (int64_t w = win.w0; w < win.w1; ++w) din[plane * HW + h * s.W + w] += share;
      }
}

void global_avg_pool2d_forward(float* out, const float* in, int64_t NC, int64_t HW) {
  for (int64_t plane = 0; plane < NC; ++plane) {
    double sum = 0.0;
    for (int64_t i = 0; i < HW; ++i) sum += in[plane * HW + i];
    out[plane] = static_cast<float>(sum / static_cast<double>(HW));
  }
}

void global_avg_pool2d_backward(float* din, const float* dout, int64_t NC, int64_t HW) {
  for (int64_t plane = 0; plane < NC; ++plane)
    for (int64_t i = 0; i < HW; ++i) din[plane * HW + i] = static_cast<float>(dout[plane] / static_cast<double>(HW));
}

}  // namespace tg::cpu::reference
