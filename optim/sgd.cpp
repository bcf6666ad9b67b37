// SGD (torch.optim.SGD semantics), per parameter tensor w with gradient g:
//
//   d = g + wd w
//   buf = d on the first step, else buf = mu buf + (1 - dampening) d      (momentum mu > 0)
//   d = d + mu buf (Nesterov)  or  d = buf
//   w <- w - lr d
//
// i.e. lars.cpp's step with the trust ratio fixed at 1.
#include "optim/sgd.h"

namespace tg::optim {

LarsOptions lars_options(const SgdOptions& o) {
  LarsOptions l;
  l.lr = o.lr;
  l.momentum = o.momentum;
  l.dampening = o.dampening;
  l.nesterov = o.nesterov;
  l.weight_decay = o.weight_decay;
  l.trust_ratio = false;
  return l;
}

Sgd::Sgd(std::vector<ParamGroup> groups, const SgdOptions& options)
    : Lars(std::move(groups), lars_options(options), "sgd") {}
Sgd::Sgd(const NamedTensors& params, const SgdOptions& options) : Sgd(single_param_group(params), options) {}

}  // namespace tg::optim
