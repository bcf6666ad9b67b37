// The coefficient structs of the optimizer update kernels, shared by the CPU kernels
// (engine/cpu/optimizer_kernels.h) and their CUDA twins (cuda/lamb.h, cuda/momentum.h): plain
// scalars of one tensor's step, in float because the element math runs in float32 like PyTorch's.
// Standard headers only, so both compilers and every layer can include it.
#pragma once

namespace tg {

// Adam / LAMB family, one tensor at step t:
//   g <- g * grad_scale + l2_grad * w
//   m = beta1 m + beta3 g                 v = beta2 v + one_minus_beta2 g^2
//   u = (m inv_bc1) / (sqrt(v) inv_sqrt_bc2 + eps) + l2_update * w
struct AdamCoeffs {
  float beta1 = 0.9f, beta3 = 0.1f;             // m = beta1 m + beta3 g  (beta3 = 1-beta1, or 1 without grad averaging)
  float beta2 = 0.999f, one_minus_beta2 = 0.001f;  // v = beta2 v + (1-beta2) g^2
  float inv_bc1 = 1.f, inv_sqrt_bc2 = 1.f;      // 1/(1-beta1^t), 1/sqrt(1-beta2^t); 1 without bias correction
  float eps = 1e-6f;
  float grad_scale = 1.f;  // 1/s of global gradient-norm clipping (1 when off)
  float l2_grad = 0.f;     // Adam's L2: g += l2_grad w, before the moments
  float l2_update = 0.f;   // LAMB's L2: u += l2_update w, inside ||u||
};

// The sums of the LAMB family's norms pass over one tensor (double accumulators).
struct DirectionNorms {
  double w_sq = 0.0;  // sum w^2
  double u_sq = 0.0;  // sum u^2 with u as the update pass will compute it
  double g_sq = 0.0;  // sum g^2 (finite iff the gradient is)
};

// SGD with momentum (PyTorch semantics) scaled by a LARS trust ratio:
//   d = (g + wd w) ratio;  buf = first ? d : momentum buf + (1 - dampening) d;
//   d = nesterov ? d + momentum buf : buf;  w -= lr d
struct MomentumCoeffs {
  float lr = 0.1f;
  float weight_decay = 0.f;
  float ratio = 1.f;         // LARS local lr scale (1 for plain SGD)
  float momentum = 0.f;      // 0: no buffer
  float dampening = 0.f;
  bool nesterov = false;
  bool first = false;        // first update of this parameter: buf = d
};

}  // namespace tg
