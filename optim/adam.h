// Adam and AdamW with torch.optim semantics: the LAMB family core with the trust ratio fixed at 1.
#pragma once
#include <vector>

#include "optim/lamb_core.h"

namespace tg::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2: added to the gradient before the moments
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: w *= 1 - lr wd
};

class Adam : public LambFamily {
 public:
  explicit Adam(std::vector<ParamGroup> groups, const AdamOptions& options = {});
  explicit Adam(const NamedTensors& params, const AdamOptions& options = {});
};

class AdamW : public LambFamily {
 public:
  explicit AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options = {});
  explicit AdamW(const NamedTensors& params, const AdamWOptions& options = {});
};

LambFamilyOptions family_options(const AdamOptions& o);
LambFamilyOptions family_options(const AdamWOptions& o);

}  // namespace tg::optim
