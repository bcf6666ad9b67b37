// LAMBC, per parameter tensor w, at step t:
//
//   m = b1 m + (1-b1) g          v = b2 v + (1-b2) g^2
//   u = m / (sqrt(v) + eps)                              (paper: no bias correction)
//   u = (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)      (timm; g first divided by max(||G||/1, 1))
//   u <- u + wd w
//   r = ||w|| / ||u||, r = 1 if ||w|| = 0 or ||u|| = 0
//   r <- clamp(r, clip_min, clip_max)                    (clip_min 0, clip_max 1: r = min(r, 1))
//   w <- w - lr r u
#include "optim/lambc.h"

#include "engine/error.h"

namespace tg::optim {

LambcPreset parse_lambc_preset(const std::string& name) {
  if (name == "paper") return LambcPreset::kPaper;
  if (name == "timm") return LambcPreset::kTimm;
  throw Error("unknown LAMBC preset '" + name + "'; expected 'paper' (the authors' code) or 'timm'");
}

const char* preset_name(LambcPreset preset) { return preset == LambcPreset::kPaper ? "paper" : "timm"; }

LambOptions lambc_options(LambcPreset preset, double lr, double weight_decay) {
  LambOptions o;
  o.lr = lr;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-6;
  o.weight_decay = weight_decay;
  o.decoupled_decay = false;
  o.grad_averaging = true;
  o.clip_min = 0.0;
  o.clip_max = 1.0;
  if (preset == LambcPreset::kPaper) {
    o.bias_correction = false;
    o.max_grad_norm = 0.0;
    o.always_adapt = true;
  } else {
    o.bias_correction = true;
    o.max_grad_norm = 1.0;
    o.always_adapt = false;
  }
  return o;
}

std::vector<ParamGroup> lambc_param_groups(LambcPreset preset, const NamedTensors& params, double weight_decay) {
  if (preset == LambcPreset::kPaper) return {ParamGroup{"all", params, std::nullopt, weight_decay, true}};
  return default_param_groups(params, weight_decay, /*adapt_1d=*/false);
}

Lambc::Lambc(std::vector<ParamGroup> groups, const LambOptions& options)
    : LambFamily(std::move(groups), family_options(options), "lambc") {}

Lambc::Lambc(const NamedTensors& params, LambcPreset preset, double lr, double weight_decay)
    : Lambc(lambc_param_groups(preset, params, weight_decay), lambc_options(preset, lr, weight_decay)) {}

}  // namespace tg::optim
