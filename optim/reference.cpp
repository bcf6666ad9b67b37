// The LAMB family's update rule as plain loops (see reference.h for the equations). The float
// expressions are those of engine/kernel_params/optimizer_math.h, written out, so m, v and u come
// out bit for bit as the fast kernels compute them; only the order of the norms' double sums differs.
#include "optim/reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tg::optim::reference {

double global_grad_scale(double total_grad_sq, double max_grad_norm) {
  if (max_grad_norm <= 0.0) return 1.0;
  return 1.0 / std::max(std::sqrt(total_grad_sq) / max_grad_norm, 1.0);  // 1/s, s = max(||G|| / max, 1)
}

TrustRatio lamb_family_step(const LambFamilyOptions& o, const TensorStep& s, float* w, const float* g, float* m,
                            float* v, int64_t n) {
  const double t = static_cast<double>(s.t);
  // The scalars, in float like the element math.
  const float b1 = static_cast<float>(o.beta1);
  const float one_minus_b1 = static_cast<float>(o.grad_averaging ? 1.0 - o.beta1 : 1.0);  // m = b1 m + g without averaging
  const float b2 = static_cast<float>(o.beta2), one_minus_b2 = static_cast<float>(1.0 - o.beta2);
  const float inv_bc1 = o.bias_correction ? static_cast<float>(1.0 / (1.0 - std::pow(o.beta1, t))) : 1.f;
  const float inv_sqrt_bc2 = o.bias_correction ? static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(o.beta2, t))) : 1.f;
  const float eps = static_cast<float>(o.eps), grad_scale = static_cast<float>(s.grad_scale);
  const float wd = static_cast<float>(s.weight_decay);
  const float wd_in_grad = o.weight_decay_mode == WeightDecayMode::kL2Gradient ? wd : 0.f;   // Adam
  const float wd_in_update = o.weight_decay_mode == WeightDecayMode::kL2Update ? wd : 0.f;   // LAMB, LAMBC
  const double decay = o.weight_decay_mode == WeightDecayMode::kDecoupled ? 1.0 - s.lr * s.weight_decay : 1.0;  // AdamW

  // Moments and direction u.
  std::vector<float> u(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * grad_scale + wd_in_grad * w[i];              // g / s (+ wd w for Adam)
    m[i] = b1 * m[i] + one_minus_b1 * gi;                                // m = b1 m + (1 - b1) g
    v[i] = b2 * v[i] + (one_minus_b2 * gi) * gi;                         // v = b2 v + ((1 - b2) g) g (torch's order)
    const float m_hat = m[i] * inv_bc1;                                  // m / (1 - b1^t)
    const float sqrt_v_hat = std::sqrt(v[i]) * inv_sqrt_bc2;             // sqrt(v / (1 - b2^t))
    u[static_cast<size_t>(i)] = m_hat / (sqrt_v_hat + eps) + wd_in_update * w[i];  // u = m_hat / (sqrt(v_hat) + eps) + wd w
  }

  // Norms (in double) and the trust ratio r = ||w|| / ||u||, clipped; r = 1 for a tensor not adapted.
  double w_sq = 0.0, u_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    w_sq += static_cast<double>(w[i]) * w[i];
    u_sq += static_cast<double>(u[static_cast<size_t>(i)]) * u[static_cast<size_t>(i)];
  }
  TrustRatio r;
  r.w_norm = std::sqrt(w_sq) * std::abs(decay);  // ||w|| after decoupled decay
  r.u_norm = std::sqrt(u_sq);
  const bool adapted = o.trust_ratio && s.adapt && (o.always_adapt || s.weight_decay != 0.0);
  if (adapted) {
    r.raw = (r.w_norm > 0.0 && r.u_norm > 0.0) ? r.w_norm / r.u_norm : 1.0;
    r.applied = std::clamp(r.raw, o.clip_min, o.clip_max);  // LAMBC: r = min(r, 1)
    r.applied = std::min(r.applied, 1.7014118346046923e38 / s.lr);  // lr r <= 2^127: a finite float factor
  }

  // The weights: w <- decay w - lr r u.
  const float decay_f = static_cast<float>(decay), step = static_cast<float>(s.lr * r.applied);
  for (int64_t i = 0; i < n; ++i) w[i] = decay_f * w[i] - step * u[static_cast<size_t>(i)];
  return r;
}

TrustRatio lambc_step(const LambOptions& o, const TensorStep& s, float* w, const float* g, float* m, float* v,
                      int64_t n) {
  return lamb_family_step(family_options(o), s, w, g, m, v, n);
}

}  // namespace tg::optim::reference
