// Builds an optimizer by name from one flat config, for command-line programs
// (examples/train): the parameter groups follow each optimizer's usual recipe.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace tg::optim {

struct OptimizerConfig {
  std::string name = "lambc";    // sgd | adam | adamw | lars | larc | lamb | lambc | novograd | adabelief
  std::string preset = "paper";  // LAMBC preset: paper | timm (see docs/optimizers.md)
  double lr = 0.01;
  double weight_decay = 0.0;
  double momentum = 0.9;         // sgd, lars, larc
  bool nesterov = false;         // sgd, lars, larc
  double beta1 = 0.9, beta2 = 0.999;  // adam family, adabelief (novograd keeps its own 0.95, 0.98)
  double clip_max = 1.0;         // lambc: the trust-ratio bound
  double trust_coefficient = 0.001;  // lars, larc
  bool decay_1d = false;         // apply weight decay to ndim <= 1 tensors too (lambc paper: always)
  bool adapt_1d = false;         // adapt ndim <= 1 tensors too (lambc paper: always)
};

// Groups: lambc follows lambc_param_groups(preset) (paper: one group, everything decayed and
// adapted); the others use default_param_groups(params, wd, adapt_1d), or one group when decay_1d.
// Throws tg::Error naming the unknown optimizer or preset and listing the valid ones.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const NamedParams& params);

std::vector<std::string> optimizer_names();

}  // namespace tg::optim
