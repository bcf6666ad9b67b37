// The one optimizer factory: a name plus one flat options struct -> the optimizer with its
// recipe's parameter groups. The training CLI, the tests and library users all build optimizers
// here, so a name means the same thing everywhere (docs/optimizers.md, "Names and defaults").
//
//   lamb   = LAMB in the chosen preset, trust ratio unclipped
//   lambc  = the same LAMB with the trust ratio clipped to [clip_min, clip_max] (default 1)
// so `lamb` vs `lambc` differ in the clip only, whatever the preset and weight decay.
#pragma once
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace tg::optim {

// NaN in a numeric field means "this optimizer's default" (resolve_optimizer_defaults fills it).
inline constexpr double kDefault = std::numeric_limits<double>::quiet_NaN();

struct OptimizerConfig {
  std::string name = "lambc";    // sgd | adam | adamw | lars | lamb | lambc | novograd | adabelief
  std::string preset = "paper";  // lamb, lambc: paper (the LAMBC authors' code) | timm
  double lr = kDefault;
  double weight_decay = kDefault;
  double beta1 = kDefault, beta2 = kDefault;  // adam family, lamb, novograd, adabelief
  double eps = kDefault;
  double momentum = kDefault;           // sgd, lars
  bool nesterov = false;                // sgd, lars
  double trust_coefficient = kDefault;  // lars: eta
  bool larc = false;                    // lars: LARC clipping, ratio = min(ratio / lr, 1)
  double clip_min = kDefault;           // lamb, lambc: r = clamp(r, clip_min, clip_max)
  double clip_max = kDefault;           // lambc 1, lamb +inf
  double max_grad_norm = kDefault;      // lamb, lambc: global gradient-norm clip, 0 = off
  bool adapt_1d = false;                // lars, lamb/lambc timm: adapt ndim <= 1 tensors too
  bool decay_1d = false;                // sgd/adam/adamw/lars/novograd/adabelief: weight decay on ndim <= 1 too
};

// The one table of defaults (every NaN field filled; given values kept):
//   lr            lamb/lambc/novograd 0.01, sgd 0.1, lars 1, adam/adamw/adabelief 0.001
//   weight_decay  lamb/lambc: paper 0, timm 0.01; adamw 0.01; sgd/lars 5e-4; novograd 0.001; adam/adabelief 0
//   beta1, beta2  novograd 0.95, 0.98; others 0.9, 0.999
//   eps           lamb/lambc 1e-6; adabelief 1e-16 (its package's); others 1e-8
//   momentum 0.9, trust_coefficient 0.001, clip_min 0, clip_max lambc 1 / others +inf,
//   max_grad_norm timm preset 1, otherwise 0 (off)
// Throws tg::Error naming an unknown optimizer or preset and listing the valid ones.
OptimizerConfig resolve_optimizer_defaults(OptimizerConfig config);

// Groups: lamb/lambc follow lambc_param_groups(preset) (paper: one group, every tensor decayed and
// adapted; timm: ndim <= 1 tensors in an undecayed, unadapted group); the others use
// default_param_groups(params, wd, adapt_1d), or one decayed group when decay_1d. Throws tg::Error
// when `params` is empty.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const NamedTensors& params);
// The groups make_optimizer(config, params) uses, and the optimizer built on groups given by the
// caller (dist/'s sharded optimizer builds each rank's on its slices of these groups).
std::vector<ParamGroup> param_groups(const OptimizerConfig& config, const NamedTensors& params);
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::vector<ParamGroup> groups);

std::vector<std::string> optimizer_names();

}  // namespace tg::optim
