// The optimizers' CPU update kernels (see optimizer_kernels.h).
// LAMB family: each pass walks the tensor in blocks of kBlock elements: moments -> sqrt(v) of the
// block (vectorised IEEE sqrt, simd_sqrt.h) -> u. The element math is adam_moments /
// adam_direction_from (engine/kernel_params/optimizer_math.h, shared with cuda/lamb.cu), the same
// for every pass, so pass 1 sees exactly the u that pass 2 applies.
// Momentum: one vectorised loop per range, in parallel blocks for big tensors.
#include "engine/cpu/optimizer_kernels.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "engine/cpu/chunked_sum.h"
#include "engine/cpu/simd_sqrt.h"
#include "engine/kernel_params/optimizer_math.h"

namespace tg::cpu {

namespace {

constexpr int64_t kBlock = 512;  // elements per block: the scratch arrays stay in L1
static_assert(kReduceChunk % kBlock == 0, "reduction chunks must hold whole blocks");

// One block of len elements: m_new, v_new <- new moments (may alias m, v), s <- sqrt(v_new).
inline void moments_block(const float* w, const float* g, const float* m, const float* v, float* m_new, float* v_new,
                          float* s, int64_t len, const AdamCoeffs& c) {
#pragma omp simd
  for (int64_t i = 0; i < len; ++i) {
    float mi = m[i], vi = v[i];
    adam_moments(w[i], g[i], mi, vi, c);
    m_new[i] = mi;
    v_new[i] = vi;
  }
  sqrt_block(s, v_new, len);
}

// Pass 1's sums over one block, from the block's new moments (m_new) and sqrt(v_new) (s):
// ww += ||w||^2, uu += ||u||^2, gg += ||g||^2 (the NaN/Inf check).
inline void norms_block(const float* w, const float* g, const float* m_new, const float* s, int64_t len,
                        const AdamCoeffs& c, double& ww, double& uu, double& gg) {
  double w2 = 0.0, u2 = 0.0, g2 = 0.0;
#pragma omp simd reduction(+ : w2, u2, g2)
  for (int64_t i = 0; i < len; ++i) {
    const float u = adam_direction_from(w[i], m_new[i], s[i], c);
    w2 += static_cast<double>(w[i]) * w[i];
    u2 += static_cast<double>(u) * u;
    g2 += static_cast<double>(g[i]) * g[i];
  }
  ww += w2;
  uu += u2;
  gg += g2;
}

// dst[0, len) = src[0, len), with non-temporal stores where dst is 32-byte aligned: the staged
// moments are read again only in pass 2, after every other tensor's pass 1 has gone through the
// caches, so writing around the caches saves the read-for-ownership of each line.
inline void stream_block(float* dst, const float* src, int64_t len) {
  int64_t i = 0;
#if defined(__AVX__)
  if ((reinterpret_cast<uintptr_t>(dst) & 31) == 0) {
    for (; i + 8 <= len; i += 8) _mm256_stream_ps(dst + i, _mm256_load_ps(src + i));
  }
#endif
  for (; i < len; ++i) dst[i] = src[i];
}

}  // namespace

DirectionNorms adam_direction_norms_staged(const float* w, const float* g, const float* m, const float* v,
                                           float* m_out, float* v_out, int64_t n, const AdamCoeffs& c) {
  // Sequential over one range (the optimizer's chunk loops call it per chunk, in parallel).
  alignas(64) float m_new[kBlock], v_new[kBlock], s[kBlock];
  double ww = 0.0, uu = 0.0, gg = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    moments_block(w + b, g + b, m + b, v + b, m_new, v_new, s, len, c);
    stream_block(m_out + b, m_new, len);
    stream_block(v_out + b, v_new, len);
    norms_block(w + b, g + b, m_new, s, len, c, ww, uu, gg);
  }
#if defined(__AVX__)
  _mm_sfence();  // the streamed lines are visible to every thread before pass 2 reads them
#endif
  return DirectionNorms{ww, uu, gg};
}

void adam_update_staged(float* w, const float* m_new, const float* v_new, int64_t n, const AdamCoeffs& c, float decay,
                        float step) {
  alignas(64) float s[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    sqrt_block(s, v_new + b, len);
    float* wb = w + b;
    const float* mb = m_new + b;
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) {
      const float u = adam_direction_from(wb[i], mb[i], s[i], c);
      wb[i] = decay * wb[i] - step * u;  // w = (1 - lr wd) w - lr r u
    }
  }
}

DirectionNorms adam_moments_and_direction(const float* w, const float* g, float* m, float* v, float* u_out, int64_t n,
                                          const AdamCoeffs& c) {
  alignas(64) float s[kBlock];
  double ww = 0.0, uu = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    const float* wb = w + b;
    float* mb = m + b;
    float* ub = u_out + b;
    moments_block(wb, g + b, mb, v + b, mb, v + b, s, len, c);  // in place: the step can no longer be refused
    double w2 = 0.0, u2 = 0.0;
#pragma omp simd reduction(+ : w2, u2)
    for (int64_t i = 0; i < len; ++i) {
      const float u = adam_direction_from(wb[i], mb[i], s[i], c);
      ub[i] = u;
      w2 += static_cast<double>(wb[i]) * wb[i];
      u2 += static_cast<double>(u) * u;
    }
    ww += w2;
    uu += u2;
  }
  return DirectionNorms{ww, uu, 0.0};
}

void apply_direction(float* w, const float* u, int64_t n, float decay, float step) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) w[i] = decay * w[i] - step * u[i];  // w = (1 - lr wd) w - lr r u
}

DirectionNorms adam_direction_norms(const float* w, const float* g, const float* m, const float* v, int64_t n,
                                    const AdamCoeffs& c, bool parallel) {
  const auto sums = chunked_sum<3>(n, parallel, [&](int64_t begin, int64_t end) {
    alignas(64) float m_new[kBlock], v_new[kBlock], s[kBlock];
    double ww = 0.0, uu = 0.0, gg = 0.0;
    for (int64_t b = begin; b < end; b += kBlock) {
      const int64_t len = std::min(kBlock, end - b);
      moments_block(w + b, g + b, m + b, v + b, m_new, v_new, s, len, c);
      norms_block(w + b, g + b, m_new, s, len, c, ww, uu, gg);
    }
    return std::array<double, 3>{ww, uu, gg};
  });
  return DirectionNorms{sums[0], sums[1], sums[2]};
}

void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c, float decay,
                 float step, bool parallel) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t k = 0; k < blocks; ++k) {
    alignas(64) float s[kBlock];
    const int64_t b = k * kBlock, len = std::min(kBlock, n - b);
    float* wb = w + b;
    float* mb = m + b;
    moments_block(wb, g + b, mb, v + b, mb, v + b, s, len, c);
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) {
      const float u = adam_direction_from(wb[i], mb[i], s[i], c);
      wb[i] = decay * wb[i] - step * u;  // w = (1 - lr wd) w - lr r u
    }
  }
}


// ---- SGD / LARS ----

namespace {

// One sequential range; the coefficients are locals, so the compiler need not reload them after
// every store (w and buf could alias c as far as it knows) and the loops vectorise.
void momentum_range(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c) {
  const float lr = c.lr, wd = c.weight_decay, ratio = c.ratio;
  if (buf == nullptr || c.momentum == 0.f) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) sgd_element(w[i], g[i], lr, wd, ratio);  // w -= lr (g + wd w) r
    return;
  }
  const MomentumBlend k = momentum_blend(c);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) momentum_element(w[i], g[i], buf[i], lr, wd, ratio, k);
}

constexpr int64_t kParallelBlock = 16384;  // elements per parallel work item

}  // namespace

void momentum_update(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c, bool parallel) {
  if (!parallel || n <= kParallelBlock) {
    momentum_range(w, g, buf, n, c);
    return;
  }
  const int64_t blocks = (n + kParallelBlock - 1) / kParallelBlock;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < blocks; ++k) {
    const int64_t b = k * kParallelBlock;
    momentum_range(w + b, g + b, buf == nullptr ? nullptr : buf + b, std::min(kParallelBlock, n - b), c);
  }
}

double chunk_sum_squares(const float* x, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

double tensor_sum_squares(const float* x, int64_t n, bool parallel) {
  return chunked_sum<1>(n, parallel,
                        [x](int64_t b, int64_t e) { return std::array<double, 1>{chunk_sum_squares(x + b, e - b)}; })[0];
}

}  // namespace tg::cpu
