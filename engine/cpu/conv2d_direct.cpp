// Direct 3x3 stride-1 convolution for few input channels (see conv2d_direct.h for the maths).
#include "engine/cpu/conv2d_direct.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TG_DIRECT_AVX2 1
#endif

namespace tg::cpu {

#ifndef TG_DIRECT_AVX2

bool direct_applies(const ConvShape&) { return false; }
void direct_forward(float*, const float*, const float*, const float*, const ConvShape&, bool) {}
void direct_weight_grad(float*, const float*, const float*, const ConvShape&) {}

#else

namespace {

constexpr int64_t kMaxChannels = 4;
constexpr int64_t kRowBlock = 32;  // output columns per register block: 4 vectors of 8

// The padded image: xp[c][i][j] = x[c][i - pad_h][j - pad_w], zero outside; Hp = P + 2 rows, Wp
// columns (the last row block's loads at q + s + 31 stay inside the row).
struct Padded {
  int64_t Hp, Wp;
};

Padded padded_geometry(const ConvShape& s) {
  const int64_t blocks = (s.Q() + kRowBlock - 1) / kRowBlock;
  return {s.P() + 2, blocks * kRowBlock + 8};
}

thread_local std::vector<float> t_xp;  // one padded image per thread, grown on demand and kept

// Fills the calling thread's padded copy of image `img` (C, H, W) and returns it.
const float* pad_image(const float* img, const ConvShape& s, const Padded& g) {
  const size_t size = static_cast<size_t>(s.C * g.Hp * g.Wp);
  if (t_xp.size() < size) t_xp.resize(size);
  float* xp = t_xp.data();
  std::memset(xp, 0, sizeof(float) * size);
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t h = 0; h < s.H; ++h) {
      const int64_t i = h + s.pad_h;  // padded row
      if (i >= g.Hp) break;
      std::memcpy(xp + (c * g.Hp + i) * g.Wp + s.pad_w, img + (c * s.H + h) * s.W, sizeof(float) * s.W);
    }
  return xp;
}

// Lanes [0, n) on, the rest off (n clamped to [0, 8]).
inline __m256i lane_mask(int64_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::clamp<int64_t>(n, 0, 8))), lane);
}

// Stores y to dst[0, n) of an output row (n = the columns left in the row; nothing when n <= 0).
inline void store_row(float* dst, __m256 y, int64_t n, bool relu) {
  if (relu) y = _mm256_and_ps(y, _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ));  // v > 0 ? v : 0
  if (n >= 8) {
    _mm256_storeu_ps(dst, y);
  } else if (n > 0) {
    _mm256_maskstore_ps(dst, lane_mask(n), y);
  }
}

// One image's output: out_n (K, P, Q).
void forward_image(float* out_n, const float* xp, const float* w, const float* b, const ConvShape& s, const Padded& g,
                   bool relu) {
  const int64_t P = s.P(), Q = s.Q(), C = s.C, taps = C * 9;
  for (int64_t k = 0; k < s.K; k += 2) {
    const bool pair = k + 1 < s.K;  // an odd last channel computes its own weights twice, stores once
    const float* w0 = w + k * taps;
    const float* w1 = pair ? w0 + taps : w0;
    const __m256 b0 = _mm256_set1_ps(b ? b[k] : 0.f), b1 = _mm256_set1_ps(b && pair ? b[k + 1] : 0.f);
    for (int64_t p = 0; p < P; ++p) {
      for (int64_t q = 0; q < Q; q += kRowBlock) {
        __m256 a0[4] = {b0, b0, b0, b0}, a1[4] = {b1, b1, b1, b1};
        for (int64_t c = 0; c < C; ++c)
          for (int64_t r = 0; r < 3; ++r) {
            const float* row = xp + (c * g.Hp + p + r) * g.Wp + q;
            for (int64_t t = 0; t < 3; ++t) {  // column tap s = t
              const __m256 v0 = _mm256_set1_ps(w0[c * 9 + r * 3 + t]), v1 = _mm256_set1_ps(w1[c * 9 + r * 3 + t]);
              for (int v = 0; v < 4; ++v) {
                const __m256 x = _mm256_loadu_ps(row + t + 8 * v);
                a0[v] = _mm256_fmadd_ps(v0, x, a0[v]);
                a1[v] = _mm256_fmadd_ps(v1, x, a1[v]);
              }
            }
          }
        float* o0 = out_n + (k * P + p) * Q + q;
        for (int v = 0; v < 4; ++v) store_row(o0 + 8 * v, a0[v], Q - q - 8 * v, relu);
        if (pair) {
          float* o1 = o0 + P * Q;
          for (int v = 0; v < 4; ++v) store_row(o1 + 8 * v, a1[v], Q - q - 8 * v, relu);
        }
      }
    }
  }
}

// One image's weight gradient: dw_n (K, C, 3, 3) = sum_{p,q} dout_n[k,p,q] xp[c,p+r,q+s].
void weight_grad_image(float* dw_n, const float* dout_n, const float* xp, const ConvShape& s, const Padded& g) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < s.C; ++c) {
      __m256 acc[9];
      for (auto& a : acc) a = _mm256_setzero_ps();
      for (int64_t p = 0; p < P; ++p) {
        const float* d_row = dout_n + (k * P + p) * Q;
        const float* x_row = xp + (c * g.Hp + p) * g.Wp;
        for (int64_t q = 0; q < Q; q += 8) {
          if (q + 8 <= Q) {
            const __m256 d = _mm256_loadu_ps(d_row + q);
            for (int64_t r = 0; r < 3; ++r)
              for (int64_t t = 0; t < 3; ++t)
                acc[r * 3 + t] = _mm256_fmadd_ps(d, _mm256_loadu_ps(x_row + r * g.Wp + q + t), acc[r * 3 + t]);
          } else {  // the row's last columns: both operands masked, so lanes past Q add exactly 0
            const __m256i m = lane_mask(Q - q);
            const __m256 d = _mm256_maskload_ps(d_row + q, m);
            for (int64_t r = 0; r < 3; ++r)
              for (int64_t t = 0; t < 3; ++t)
                acc[r * 3 + t] =
                    _mm256_fmadd_ps(d, _mm256_maskload_ps(x_row + r * g.Wp + q + t, m), acc[r * 3 + t]);
          }
        }
      }
      for (int64_t i = 0; i < 9; ++i) {  // lane sums in lane order
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, acc[i]);
        float sum = 0.f;
        for (float v : lanes) sum += v;
        dw_n[(k * s.C + c) * 9 + i] = sum;
      }
    }
}

}  // namespace

bool direct_applies(const ConvShape& s) {
  return s.algorithm == ConvAlgorithm::Auto && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.groups == 1 && s.pad_h >= 0 && s.pad_h <= 1 && s.pad_w >= 0 && s.pad_w <= 1 && s.C >= 1 &&
         s.C <= kMaxChannels && s.P() >= 1 && s.Q() >= 1;
}

void direct_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s, bool relu) {
  const Padded g = padded_geometry(s);
  const int64_t in_size = s.C * s.H * s.W, out_size = s.K * s.P() * s.Q();
  // Images write disjoint outputs; dynamic scheduling keeps both cores busy when one is slowed down.
#pragma omp parallel for schedule(dynamic, 1) if (s.N > 1 && !omp_in_parallel())
  for (int64_t n = 0; n < s.N; ++n) {
    const float* xp = pad_image(in + n * in_size, s, g);
    forward_image(out + n * out_size, xp, w, b, s, g, relu);
  }
}

void direct_weight_grad(float* dw, const float* dout, const float* in, const ConvShape& s) {
  const Padded g = padded_geometry(s);
  const int64_t in_size = s.C * s.H * s.W, out_size = s.K * s.P() * s.Q(), wsize = s.K * s.C * 9;
  std::vector<float> per_image(static_cast<size_t>(s.N * wsize));  // (N, K, C, 3, 3)
#pragma omp parallel for schedule(dynamic, 1) if (s.N > 1 && !omp_in_parallel())
  for (int64_t n = 0; n < s.N; ++n) {
    const float* xp = pad_image(in + n * in_size, s, g);
    weight_grad_image(per_image.data() + n * wsize, dout + n * out_size, xp, s, g);
  }
  // dw = sum of the images' partials in image order, whatever the threads did.
  std::memcpy(dw, per_image.data(), sizeof(float) * wsize);
  for (int64_t n = 1; n < s.N; ++n) {
    const float* part = per_image.data() + n * wsize;
#pragma omp simd
    for (int64_t j = 0; j < wsize; ++j) dw[j] += part[j];
  }
}

#endif

}  // namespace tg::cpu
