// Parameter groups: the decay / no-decay split used by every optimizer recipe in the project.
#include "optim/param_group.h"

namespace tg::optim {

std::vector<ParamGroup> default_param_groups(const NamedTensors& params, double weight_decay, bool adapt_1d) {
  ParamGroup decay{"decay", {}, std::nullopt, weight_decay, true};
  ParamGroup no_decay{"no_decay", {}, std::nullopt, 0.0, adapt_1d};
  for (const auto& [name, tensor] : params) {
    check_defined(tensor, "default_param_groups", name.c_str());
    (tensor.dim() >= 2 ? decay : no_decay).params.emplace_back(name, tensor);
  }
  std::vector<ParamGroup> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!no_decay.params.empty()) groups.push_back(std::move(no_decay));
  return groups;
}

std::vector<ParamGroup> single_param_group(const NamedTensors& params) {
  return {ParamGroup{"all", params, std::nullopt, std::nullopt, true}};
}

}  // namespace tg::optim
