// SGD with momentum, dampening, Nesterov and L2 weight decay, exactly as torch.optim.SGD:
// LARS (lars.h) with layer adaptation off.
#pragma once
#include <vector>

#include "optim/lars.h"

namespace tg::optim {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
};

class Sgd : public Lars {
 public:
  explicit Sgd(std::vector<ParamGroup> groups, const SgdOptions& options = {});
  explicit Sgd(const NamedTensors& params, const SgdOptions& options = {});
};

LarsOptions lars_options(const SgdOptions& o);

}  // namespace tg::optim
