// SGD-with-momentum element loop shared by Sgd and Lars (see momentum_kernels.h).
#include "optim/momentum_kernels.h"

namespace tg::optim {

void momentum_update(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c, bool parallel) {
  const float keep = 1.f - c.dampening;
  if (buf == nullptr || c.momentum == 0.f) {
#pragma omp parallel for simd schedule(static) if (parallel)
    for (int64_t i = 0; i < n; ++i) {
      const float d = (g[i] + c.weight_decay * w[i]) * c.ratio;  // d = (g + wd w) r
      w[i] = w[i] - c.lr * d;                                     // w -= lr d
    }
    return;
  }
  // Branch-free form of the two cases (the loop vectorises):
  //   first step: buf = 0 buf + 1 d = d;          later: buf = mu buf + (1 - dampening) d
  //   Nesterov:   d = 1 d + mu buf;               plain:  d = 0 d + 1 buf = buf
  const float buf_mu = c.first ? 0.f : c.momentum, buf_keep = c.first ? 1.f : keep;
  const float d_self = c.nesterov ? 1.f : 0.f, d_buf = c.nesterov ? c.momentum : 1.f;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    const float d = (g[i] + c.weight_decay * w[i]) * c.ratio;  // d = (g + wd w) r
    const float b = buf_mu * buf[i] + buf_keep * d;             // buf = mu buf + (1 - damp) d
    buf[i] = b;
    w[i] = w[i] - c.lr * (d_self * d + d_buf * b);              // w -= lr (d + mu buf  |  buf)
  }
}

}  // namespace tg::optim
