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
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    float d = (g[i] + c.weight_decay * w[i]) * c.ratio;           // d = (g + wd w) r
    const float b = c.first ? d : c.momentum * buf[i] + keep * d;  // buf = mu buf + (1 - damp) d
    buf[i] = b;
    d = c.nesterov ? d + c.momentum * b : b;                       // Nesterov: d + mu buf
    w[i] = w[i] - c.lr * d;                                        // w -= lr d
  }
}

}  // namespace tg::optim
