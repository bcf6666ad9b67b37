// LAMB, per parameter tensor w ("layer"), at step t (timm / NVLAMB form):
//
//   g <- g / max(||G||_2 / max_grad_norm, 1)        G = every gradient of the step (global clip)
//   m = b1 m + (1-b1) g          v = b2 v + (1-b2) g^2
//   u = (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) (no bias correction: u = m / (sqrt(v) + eps))
//   u <- u + wd w                                   (or decoupled: w <- (1 - lr wd) w)
//   r = ||w|| / ||u||, 1 if either is 0             (only if wd != 0 or always_adapt; else r = 1)
//   w <- w - lr r u
//
// phi is the identity (the LAMB author's statement; no clamp of ||w||).
#include "optim/lamb.h"

namespace tg::optim {

LambFamilyOptions family_options(const LambOptions& o) {
  LambFamilyOptions f;
  f.lr = o.lr;
  f.beta1 = o.beta1;
  f.beta2 = o.beta2;
  f.eps = o.eps;
  f.weight_decay = o.weight_decay;
  f.weight_decay_mode = o.decoupled_decay ? WeightDecayMode::kDecoupled : WeightDecayMode::kL2Update;
  f.bias_correction = o.bias_correction;
  f.grad_averaging = o.grad_averaging;
  f.max_grad_norm = o.max_grad_norm;
  f.trust_ratio = true;
  f.always_adapt = o.always_adapt;
  f.clip_min = o.clip_min;
  f.clip_max = o.clip_max;
  f.staged_moments = o.staged_moments;
  f.cache_block_bytes = o.cache_block_bytes;
  return f;
}

Lamb::Lamb(std::vector<ParamGroup> groups, const LambOptions& options)
    : LambFamily(std::move(groups), family_options(options), "lamb") {}
Lamb::Lamb(const NamedTensors& params, const LambOptions& options) : Lamb(single_param_group(params), options) {}

}  // namespace tg::optim
