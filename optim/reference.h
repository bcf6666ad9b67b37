// The LAMB family's update rule (Adam, AdamW, LAMB, LAMBC) as plain loops over one tensor: the
// statement of the algorithm to read first, and what the fast CPU orders (optim/lamb_core.cpp +
// engine/cpu/optimizer_kernels.cpp) and the CUDA kernels (cuda/lamb.cu) are tested against
// (tests/optim/test_optim_reference.cpp, tests/cuda/test_lamb.cpp). No blocking, no threads, no
// SIMD: one loop for the moments and u, one for the norms, one for the weights.
//
// LAMBC (Fong, Chen & Chen 2020), for one parameter tensor w with gradient g at its step t:
//   m_t = b1 m_{t-1} + (1 - b1) g                 v_t = b2 v_{t-1} + (1 - b2) g^2
//   m_hat = m_t / (1 - b1^t),  v_hat = v_t / (1 - b2^t)    (timm preset; the paper preset: no hats)
//   u = m_hat / (sqrt(v_hat) + eps) + wd w
//   r = phi(||w||) / ||u||,  phi = identity,  r = 1 if ||w|| = 0 or ||u|| = 0
//   r <- clamp(r, lo, hi)                        (LAMBC: [0, 1]; LAMB: [0, inf))
//   r <- min(r, 2^127 / lr)                      (float guard: lr r stays a finite float)
//   w <- w - lr r u
// The timm preset first divides every gradient by s = max(||G|| / max_grad_norm, 1), G = all the
// step's gradients (global_grad_scale), and adapts only tensors of groups with weight decay.
#pragma once
#include <cstdint>

#include "optim/lamb.h"
#include "optim/lamb_core.h"

namespace tg::optim::reference {

// One tensor's inputs to a step besides its buffers (what the optimizer knows of it).
struct TensorStep {
  int64_t t = 1;              // this tensor's step, from 1 (bias correction)
  double lr = 1e-3;           // its group's lr for this step (schedule applied)
  double weight_decay = 0.0;  // its group's weight decay
  bool adapt = true;          // its group takes part in layer adaptation (ParamGroup::adapt)
  double grad_scale = 1.0;    // 1/s of global gradient clipping (global_grad_scale), 1 when off
};

// The norms and ratio of one tensor's step (raw = applied = 1 for a tensor that is not adapted).
struct TrustRatio {
  double w_norm = 0.0, u_norm = 0.0;  // ||w|| (after decoupled decay), ||u||
  double raw = 1.0, applied = 1.0;    // ||w|| / ||u|| before and after the clip
};

// 1/s with s = max(sqrt(total_grad_sq) / max_grad_norm, 1); 1 when max_grad_norm is 0 (off).
double global_grad_scale(double total_grad_sq, double max_grad_norm);

// One step of the LAMB family on one tensor of n floats: m, v, w updated in place. Every option
// of LambFamilyOptions is honoured except the CPU speed knobs (staged_moments, cache_block_bytes)
// and lr / weight_decay, which are per group and come with the tensor in `s` (as in the optimizer).
// The caller checks first that the gradients are finite (the optimizer refuses the step otherwise).
TrustRatio lamb_family_step(const LambFamilyOptions& o, const TensorStep& s, float* w, const float* g, float* m,
                            float* v, int64_t n);

// LAMB and LAMBC by their own options (lambc_options(preset, lr, wd) gives LAMBC's).
TrustRatio lambc_step(const LambOptions& o, const TensorStep& s, float* w, const float* g, float* m, float* v,
                      int64_t n);

}  // namespace tg::optim::reference
