// CUDA SGD-with-momentum update (Sgd and Lars on the GPU); the element math is
// engine/kernel_params/optimizer_math.h, shared with the CPU kernel.
#include "cuda/momentum.h"

#include "cuda/launch.h"
#include "engine/kernel_params/optimizer_math.h"

namespace tg::cuda {

namespace {

// No momentum buffer: w -= lr (g + wd w) r.
__global__ void plain_kernel(float* w, const float* g, int64_t n, MomentumCoeffs c) {
  TG_GRID_STRIDE_LOOP(i, n) { sgd_element(w[i], g[i], c.lr, c.weight_decay, c.ratio); }
}

// With a buffer, in the branch-free form of momentum_blend.
__global__ void momentum_kernel(float* w, const float* g, float* buf, int64_t n, MomentumCoeffs c, MomentumBlend k) {
  TG_GRID_STRIDE_LOOP(i, n) { momentum_element(w[i], g[i], buf[i], c.lr, c.weight_decay, c.ratio, k); }
}

}  // namespace

void momentum_update(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c, bool /*parallel*/) {
  if (n <= 0) return;
  if (buf == nullptr || c.momentum == 0.f) {
    plain_kernel<<<grid_for(n), kBlock>>>(w, g, n, c);
    TG_CUDA_CHECK_LAUNCH();
    return;
  }
  momentum_kernel<<<grid_for(n), kBlock>>>(w, g, buf, n, c, momentum_blend(c));
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace tg::cuda
