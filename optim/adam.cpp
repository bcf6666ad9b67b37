// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter) as torch.optim computes them, at step t:
//
//   Adam:   g <- g + wd w
//   AdamW:  w <- (1 - lr wd) w
//   m = b1 m + (1-b1) g          v = b2 v + (1-b2) g^2
//   w <- w - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//
// i.e. lamb_core's step with bias correction on, no global clipping and r = 1.
#include "optim/adam.h"

namespace tg::optim {

LambFamilyOptions family_options(const AdamOptions& o) {
  LambFamilyOptions f;
  f.lr = o.lr;
  f.beta1 = o.beta1;
  f.beta2 = o.beta2;
  f.eps = o.eps;
  f.weight_decay = o.weight_decay;
  f.weight_decay_mode = WeightDecayMode::kL2Gradient;
  f.bias_correction = true;
  f.grad_averaging = true;
  f.max_grad_norm = 0.0;
  f.trust_ratio = false;  // r = 1
  return f;
}

LambFamilyOptions family_options(const AdamWOptions& o) {
  LambFamilyOptions f = family_options(AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay});
  f.weight_decay_mode = WeightDecayMode::kDecoupled;
  return f;
}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options)
    : LambFamily(std::move(groups), family_options(options), "adam") {}
Adam::Adam(const NamedTensors& params, const AdamOptions& options) : Adam(single_param_group(params), options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : LambFamily(std::move(groups), family_options(options), "adamw") {}
AdamW::AdamW(const NamedTensors& params, const AdamWOptions& options) : AdamW(single_param_group(params), options) {}

}  // namespace tg::optim
