// The one optimizer factory: defaults table and name -> optimizer (see factory.h).
#include "optim/factory.h"

#include <cmath>

#include "engine/error.h"
#include "optim/optim.h"

namespace tg::optim {

namespace {

void fill(double& field, double value) {
  if (std::isnan(field)) field = value;
}

void check_name(const std::string& name) {
  for (const auto& n : optimizer_names())
    if (n == name) return;
  std::string names;
  for (const auto& s : optimizer_names()) names += (names.empty() ? "" : ", ") + s;
  throw Error("make_optimizer: unknown optimizer '" + name + "'; expected one of " + names);
}

}  // namespace

std::vector<std::string> optimizer_names() {
  return {"sgd", "adam", "adamw", "lars", "lamb", "lambc", "novograd", "adabelief"};
}

OptimizerConfig resolve_optimizer_defaults(OptimizerConfig c) {
  check_name(c.name);
  const std::string& n = c.name;
  const bool lamb_family = n == "lamb" || n == "lambc";
  const bool timm = lamb_family && parse_lambc_preset(c.preset) == LambcPreset::kTimm;
  fill(c.lr, lamb_family || n == "novograd" ? 0.01 : n == "sgd" ? 0.1 : n == "lars" ? 1.0 : 1e-3);
  fill(c.weight_decay, lamb_family      ? (timm ? 0.01 : 0.0)
                       : n == "adamw"   ? 0.01
                       : n == "sgd" || n == "lars" ? 5e-4
                       : n == "novograd" ? 1e-3
                                         : 0.0);
  fill(c.beta1, n == "novograd" ? 0.95 : 0.9);
  fill(c.beta2, n == "novograd" ? 0.98 : 0.999);
  fill(c.eps, lamb_family ? 1e-6 : n == "adabelief" ? 1e-16 : 1e-8);
  fill(c.momentum, 0.9);
  fill(c.trust_coefficient, 0.001);
  fill(c.clip_min, 0.0);
  fill(c.clip_max, n == "lambc" ? 1.0 : std::numeric_limits<double>::infinity());
  fill(c.max_grad_norm, timm ? 1.0 : 0.0);
  return c;
}

std::vector<ParamGroup> param_groups(const OptimizerConfig& config, const NamedTensors& params) {
  const OptimizerConfig c = resolve_optimizer_defaults(config);
  // An optimizer over nothing would step silently forever (usually the wrong module was passed).
  TG_CHECK(!params.empty(), "make_optimizer: no parameters given for optimizer '" << c.name
                                                                                   << "' (the model has no parameters?)");
  if (c.name == "lamb" || c.name == "lambc") return lambc_param_groups(parse_lambc_preset(c.preset), params, c.weight_decay);
  if (c.decay_1d) return {ParamGroup{"all", params, std::nullopt, c.weight_decay, true}};
  return default_param_groups(params, c.weight_decay, c.adapt_1d);
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const NamedTensors& params) {
  return make_optimizer(config, param_groups(config, params));
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::vector<ParamGroup> groups) {
  const OptimizerConfig c = resolve_optimizer_defaults(config);
  const std::string& n = c.name;
  if (n == "lamb" || n == "lambc") {
    const LambcPreset preset = parse_lambc_preset(c.preset);
    LambOptions o = lambc_options(preset, c.lr, c.weight_decay);
    o.beta1 = c.beta1;
    o.beta2 = c.beta2;
    o.eps = c.eps;
    o.clip_min = c.clip_min;
    o.clip_max = c.clip_max;  // lamb: +inf, the unclipped ratio
    o.max_grad_norm = c.max_grad_norm;
    if (preset == LambcPreset::kTimm && c.adapt_1d) o.always_adapt = true;
    if (n == "lamb") return std::make_unique<Lamb>(std::move(groups), o);
    return std::make_unique<Lambc>(std::move(groups), o);
  }
  if (n == "sgd") {
    return std::make_unique<Sgd>(std::move(groups), SgdOptions{.lr = c.lr, .momentum = c.momentum, .nesterov = c.nesterov,
                                                               .weight_decay = c.weight_decay});
  }
  if (n == "adam") {
    return std::make_unique<Adam>(std::move(groups), AdamOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2, .eps = c.eps,
                                                                 .weight_decay = c.weight_decay});
  }
  if (n == "adamw") {
    return std::make_unique<AdamW>(std::move(groups), AdamWOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2, .eps = c.eps,
                                                                   .weight_decay = c.weight_decay});
  }
  if (n == "lars") {
    return std::make_unique<Lars>(std::move(groups), LarsOptions{.lr = c.lr, .momentum = c.momentum, .nesterov = c.nesterov,
                                                                 .weight_decay = c.weight_decay,
                                                                 .trust_coefficient = c.trust_coefficient, .eps = c.eps,
                                                                 .trust_clip = c.larc, .always_adapt = c.adapt_1d});
  }
  if (n == "novograd") {
    return std::make_unique<NovoGrad>(std::move(groups), NovoGradOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                                         .eps = c.eps, .weight_decay = c.weight_decay});
  }
  // adabelief (check_name in resolve_optimizer_defaults refused anything else)
  return std::make_unique<AdaBelief>(std::move(groups), AdaBeliefOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                                         .eps = c.eps, .weight_decay = c.weight_decay});
}

}  // namespace tg::optim
