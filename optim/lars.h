// LARS (You, Gitman & Ginsburg 2017) with apex/timm LARC clipping as an option, on top of
// PyTorch-semantics SGD with momentum. Sgd (sgd.h) is this class with adaptation off.
#pragma once
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace tg::optim {

struct LarsOptions {
  double lr = 0.1;
  double momentum = 0.9;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  double trust_coefficient = 0.001;  // eta (apex LARC uses 0.02)
  double eps = 1e-8;
  bool trust_clip = false;           // LARC: ratio = min(ratio / lr, 1), i.e. lr_eff = min(lr, local lr)
  bool always_adapt = false;         // false: tensors in groups with weight_decay == 0 are not adapted
  bool trust_ratio = true;           // false: plain SGD
};

class Lars : public Optimizer {
 public:
  explicit Lars(std::vector<ParamGroup> groups, const LarsOptions& options = {});
  explicit Lars(const NamedTensors& params, const LarsOptions& options = {});
  std::string name() const override { return name_; }
  std::vector<std::string> state_names() const override;
  const LarsOptions& options() const { return o_; }

 protected:
  Lars(std::vector<ParamGroup> groups, const LarsOptions& options, std::string name);
  int64_t inspect(const std::vector<ActiveParam>& active) override;
  void apply(const std::vector<ActiveParam>& active) override;
  void visit_options(OptionVisitor& visitor) override;
  void validate_options() const override;

 private:
  bool adapted(const ActiveParam& a) const;
  LarsOptions o_;
  std::string name_;
  std::vector<double> w_sq_;  // per active parameter, adapted ones only
};

// Throws tg::Error naming the option when a value is out of range.
void validate(const LarsOptions& o, const std::string& optimizer);

}  // namespace tg::optim
