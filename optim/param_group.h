// Parameter groups: named parameters with per-group options (lr, weight decay, layer adaptation),
// and the usual split into a weight-decayed group and a no-decay group for biases / norm layers.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/named_tensors.h"

namespace tg::optim {

// What Module::named_parameters() returns: dotted names ("layer1.0.conv1.weight") -> tensors.

struct ParamGroup {
  std::string name;                    // "decay", "no_decay", ... (for logs and state_dict checks)
  NamedTensors params;
  std::optional<double> lr;            // unset: the optimizer's lr
  std::optional<double> weight_decay;  // unset: the optimizer's weight_decay
  bool adapt = true;                   // layer adaptation (trust ratio) applies to these tensors
};

// Two groups, as timm's param_groups_weight_decay and the LAMB authors' recipes do:
//   "decay":    tensors with ndim >= 2 (conv / linear weights), weight_decay, adapted;
//   "no_decay": tensors with ndim <= 1 (biases, BatchNorm gamma/beta), weight decay 0,
//               adapted only when adapt_1d (the LAMBC authors adapt every tensor).
// Empty groups are left out; order inside a group follows `params`.
std::vector<ParamGroup> default_param_groups(const NamedTensors& params, double weight_decay, bool adapt_1d = false);

// One group holding every parameter (the optimizer's lr / weight_decay, adapted).
std::vector<ParamGroup> single_param_group(const NamedTensors& params);

}  // namespace tg::optim
