// CUDA SGD-with-momentum update (Sgd and Lars on the GPU); the maths of optim/momentum_kernels.cpp.
#include "cuda/momentum.h"

#include "cuda/launch.h"

namespace tg::cuda {

namespace {

// No momentum buffer: w -= lr (g + wd w) r.
__global__ void plain_kernel(float* w, const float* g, int64_t n, MomentumCoeffs c) {
  TG_GRID_STRIDE_LOOP(i, n) {
    const float d = (g[i] + c.weight_decay * w[i]) * c.ratio;  // d = (g + wd w) r
    w[i] = w[i] - c.lr * d;                                     // w -= lr d
  }
}

// With a buffer, in the CPU kernel's branch-free form:
//   first step: buf = 0 buf + 1 d = d;      later: buf = mu buf + (1 - dampening) d
//   Nesterov:   d = 1 d + mu buf;           plain:  d = 0 d + 1 buf = buf
__global__ void momentum_kernel(float* w, const float* g, float* buf, int64_t n, MomentumCoeffs c, float buf_mu,
                                float buf_keep, float d_self, float d_buf) {
  TG_GRID_STRIDE_LOOP(i, n) {
    const float d = (g[i] + c.weight_decay * w[i]) * c.ratio;  // d = (g + wd w) r
    const float b = buf_mu * buf[i] + buf_keep * d;             // buf = mu buf + (1 - damp) d
    buf[i] = b;
    w[i] = w[i] - c.lr * (d_self * d + d_buf * b);              // w -= lr (d + mu buf  |  buf)
  }
}

}  // namespace

void momentum_update(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c, bool /*parallel*/) {
  if (n <= 0) return;
  if (buf == nullptr || c.momentum == 0.f) {
    plain_kernel<<<grid_for(n), kBlock>>>(w, g, n, c);
    TG_CUDA_CHECK_LAUNCH();
    return;
  }
  const float buf_mu = c.first ? 0.f : c.momentum, buf_keep = c.first ? 1.f : 1.f - c.dampening;
  const float d_self = c.nesterov ? 1.f : 0.f, d_buf = c.nesterov ? c.momentum : 1.f;
  momentum_kernel<<<grid_for(n), kBlock>>>(w, g, buf, n, c, buf_mu, buf_keep, d_self, d_buf);
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace tg::cuda
