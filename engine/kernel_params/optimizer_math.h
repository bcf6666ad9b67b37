// The optimizers' element math, written once for the CPU kernels (engine/cpu/optimizer_kernels.cpp)
// and the CUDA kernels (cuda/lamb.cu, cuda/momentum.cu). Inline functions of scalars only.
// TG_HOST_DEVICE (host_device.h) is the only difference between the two builds.
#pragma once
#include <cmath>

#include "engine/kernel_params/host_device.h"
#include "engine/kernel_params/optimizer.h"

namespace tg {

// The Adam moments of one element: m, v <- new values.
TG_HOST_DEVICE void adam_moments(float w, float g, float& m, float& v, const AdamCoeffs& c) {
  g = g * c.grad_scale + c.l2_grad * w;           // g <- g/s + wd w   (Adam's L2 only)
  m = c.beta1 * m + c.beta3 * g;                  // m = b1 m + (1-b1) g
  // v = b2 v + ((1-b2) g) g: PyTorch's addcmul order. (1-b2)(g g) overflowed to v = inf for
  // 1.8e19 < |g| < 5.8e20, where v itself is finite, and u = m / inf = 0 froze the element for good.
  v = c.beta2 * v + (c.one_minus_beta2 * g) * g;
}

// u from the new moments, given sqrt(v):  u = m_hat / (sqrt(v_hat) + eps) + wd w  (LAMB's L2 only),
// m_hat = m / (1-b1^t), sqrt(v_hat) = sqrt(v) / sqrt(1-b2^t).
TG_HOST_DEVICE float adam_direction_from(float w, float m, float sqrt_v, const AdamCoeffs& c) {
  return (m * c.inv_bc1) / (sqrt_v * c.inv_sqrt_bc2 + c.eps) + c.l2_update * w;
}

// u for one element; m and v receive the new moments. (The CPU kernels take sqrt(v) of a whole
// block at once, vectorised, and call adam_direction_from; the result is the same, bit for bit.)
TG_HOST_DEVICE float adam_direction(float w, float g, float& m, float& v, const AdamCoeffs& c) {
  adam_moments(w, g, m, v, c);
  return adam_direction_from(w, m, std::sqrt(v), c);
}

// The trust ratio of one tensor from its norms (in double): raw = ||w|| / ||u||, 1 when either is 0;
// returns raw clamped to [clip_min, clip_max] (std::clamp's order: a NaN raw stays NaN).
TG_HOST_DEVICE double clipped_trust_ratio(double w_norm, double u_norm, double clip_min, double clip_max, double& raw) {
  raw = (w_norm > 0.0 && u_norm > 0.0) ? w_norm / u_norm : 1.0;  // r = ||w|| / ||u||
  return raw < clip_min ? clip_min : (clip_max < raw ? clip_max : raw);  // LAMBC: r = min(r, 1)
}

// The ratio actually applied, so that the update's float factor lr r stays finite:
//   r <- min(r, 2^127 / lr)
// Only an unclipped ratio reaches it (LAMB: r = ||w|| / ||u|| > 1.7e38 / lr, i.e. ||u|| < lr ||w|| /
// 1.7e38, as when the momentum of a tensor whose gradient stays 0 decays into the denormals). There
// float(lr r) was +inf and w - inf u gave -inf where u != 0 and NaN where u = 0. With the cap each
// element moves by 2^127 |u_i| < lr ||w|| |u_i| / ||u||: finite, at most the rule's step, and 0 when u = 0.
TG_HOST_DEVICE double float_safe_ratio(double r, double lr) {
  const double max_step = 1.7014118346046923e38;  // 2^127: float(lr r) <= 2^127 < FLT_MAX
  return lr * r > max_step ? max_step / lr : r;  // (lr r NaN: r kept, as the reference's std::min)
}

// SGD with momentum in a branch-free form, the four weights chosen once per tensor:
//   first step: buf = 0 buf + 1 d = d;          later: buf = mu buf + (1 - dampening) d
//   Nesterov:   d = 1 d + mu buf;               plain:  d = 0 d + 1 buf = buf
struct MomentumBlend {
  float buf_mu, buf_keep;  // buf = buf_mu buf + buf_keep d
  float d_self, d_buf;     // step direction = d_self d + d_buf buf
};

TG_HOST_DEVICE MomentumBlend momentum_blend(const MomentumCoeffs& c) {
  return MomentumBlend{c.first ? 0.f : c.momentum, c.first ? 1.f : 1.f - c.dampening, c.nesterov ? 1.f : 0.f,
                       c.nesterov ? c.momentum : 1.f};
}

// One element with a momentum buffer: d = (g + wd w) r; buf, w updated. The scalars come as
// arguments (not through MomentumCoeffs) so that a CPU loop can keep them in registers.
TG_HOST_DEVICE void momentum_element(float& w, float g, float& buf, float lr, float wd, float ratio,
                                     const MomentumBlend& k) {
  const float d = (g + wd * w) * ratio;        // d = (g + wd w) r
  const float b = k.buf_mu * buf + k.buf_keep * d;  // buf = mu buf + (1 - damp) d
  buf = b;
  w = w - lr * (k.d_self * d + k.d_buf * b);   // w -= lr (d + mu buf  |  buf)
}

// One element without a buffer (momentum 0): w -= lr (g + wd w) r.
TG_HOST_DEVICE void sgd_element(float& w, float g, float lr, float wd, float ratio) {
  const float d = (g + wd * w) * ratio;  // d = (g + wd w) r
  w = w - lr * d;                        // w -= lr d
}

}  // namespace tg
