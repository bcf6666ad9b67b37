// SGD-with-momentum element loop shared by Sgd and Lars (see momentum_kernels.h).
#include "optim/momentum_kernels.h"

#include <algorithm>

namespace tg::optim {

namespace {

// One sequential range; the coefficients are locals, so the compiler need not reload them after
// every store (w and buf could alias c as far as it knows) and the loops vectorise.
void momentum_range(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c) {
  const float lr = c.lr, wd = c.weight_decay, ratio = c.ratio;
  if (buf == nullptr || c.momentum == 0.f) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float d = (g[i] + wd * w[i]) * ratio;  // d = (g + wd w) r
      w[i] = w[i] - lr * d;                        // w -= lr d
    }
    return;
  }
  // Branch-free form of the two cases:
  //   first step: buf = 0 buf + 1 d = d;          later: buf = mu buf + (1 - dampening) d
  //   Nesterov:   d = 1 d + mu buf;               plain:  d = 0 d + 1 buf = buf
  const float keep = 1.f - c.dampening;
  const float buf_mu = c.first ? 0.f : c.momentum, buf_keep = c.first ? 1.f : keep;
  const float d_self = c.nesterov ? 1.f : 0.f, d_buf = c.nesterov ? c.momentum : 1.f;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float d = (g[i] + wd * w[i]) * ratio;    // d = (g + wd w) r
    const float b = buf_mu * buf[i] + buf_keep * d;  // buf = mu buf + (1 - damp) d
    buf[i] = b;
    w[i] = w[i] - lr * (d_self * d + d_buf * b);   // w -= lr (d + mu buf  |  buf)
  }
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

}  // namespace tg::optim
