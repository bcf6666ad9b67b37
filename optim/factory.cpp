// make_optimizer: name -> optimizer with the recipe's parameter groups (see factory.h).
#include "optim/factory.h"

#include "engine/error.h"
#include "optim/optim.h"

namespace tg::optim {

std::vector<std::string> optimizer_names() {
  return {"sgd", "adam", "adamw", "lars", "larc", "lamb", "lambc", "novograd", "adabelief"};
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& c, const NamedParams& params) {
  auto groups = [&] {
    if (c.decay_1d) {
      return std::vector<ParamGroup>{ParamGroup{"all", params, std::nullopt, c.weight_decay, true}};
    }
    return default_param_groups(params, c.weight_decay, c.adapt_1d);
  };
  const std::string& n = c.name;
  if (n == "sgd") {
    return std::make_unique<Sgd>(groups(), SgdOptions{.lr = c.lr, .momentum = c.momentum, .nesterov = c.nesterov,
                                                      .weight_decay = c.weight_decay});
  }
  if (n == "adam") {
    return std::make_unique<Adam>(groups(), AdamOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                        .weight_decay = c.weight_decay});
  }
  if (n == "adamw") {
    return std::make_unique<AdamW>(groups(), AdamWOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                          .weight_decay = c.weight_decay});
  }
  if (n == "lars" || n == "larc") {
    return std::make_unique<Lars>(groups(), LarsOptions{.lr = c.lr, .momentum = c.momentum, .nesterov = c.nesterov,
                                                        .weight_decay = c.weight_decay,
                                                        .trust_coefficient = c.trust_coefficient,
                                                        .trust_clip = n == "larc", .always_adapt = c.adapt_1d});
  }
  if (n == "lamb") {
    LambOptions o{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2, .weight_decay = c.weight_decay};
    o.always_adapt = c.adapt_1d;
    return std::make_unique<Lamb>(groups(), o);
  }
  if (n == "lambc") {
    const LambcPreset preset = parse_lambc_preset(c.preset);
    LambOptions o = lambc_options(preset, c.lr, c.weight_decay);
    o.beta1 = c.beta1;
    o.beta2 = c.beta2;
    o.clip_max = c.clip_max;
    if (preset == LambcPreset::kTimm && c.adapt_1d) o.always_adapt = true;
    std::vector<ParamGroup> g = preset == LambcPreset::kPaper ? lambc_param_groups(preset, params, c.weight_decay)
                                                              : default_param_groups(params, c.weight_decay, c.adapt_1d);
    return std::make_unique<Lambc>(std::move(g), o);
  }
  if (n == "novograd") {
    return std::make_unique<NovoGrad>(groups(), NovoGradOptions{.lr = c.lr, .weight_decay = c.weight_decay});
  }
  if (n == "adabelief") {
    return std::make_unique<AdaBelief>(groups(), AdaBeliefOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                                  .weight_decay = c.weight_decay});
  }
  std::string names;
  for (const auto& s : optimizer_names()) names += (names.empty() ? "" : ", ") + s;
  throw Error("make_optimizer: unknown optimizer '" + n + "'; expected one of " + names);
}

}  // namespace tg::optim
