// AdaBelief (Zhuang et al., NeurIPS 2020): Adam whose second moment tracks (g - m)^2, the
// "belief" in the gradient, as adabelief_pytorch 0.2.0 computes it (amsgrad not offered).
#pragma once
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace tg::optim {

// Defaults are adabelief_pytorch 0.2.0's (its hint table suggests eps 1e-8 for CNNs).
struct AdaBeliefOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-16;
  double weight_decay = 0.0;
  bool weight_decouple = true;     // w *= 1 - lr wd (fixed_decay: 1 - wd); false: g += wd w
  bool fixed_decay = false;
  bool rectify = true;             // RAdam's variance rectification
  bool degenerated_to_sgd = true;  // rectify: SGD-momentum step while N_sma < 5
};

class AdaBelief : public Optimizer {
 public:
  explicit AdaBelief(std::vector<ParamGroup> groups, const AdaBeliefOptions& options = {});
  explicit AdaBelief(const NamedTensors& params, const AdaBeliefOptions& options = {});
  std::string name() const override { return "adabelief"; }
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_var"}; }
  const AdaBeliefOptions& options() const { return o_; }

 protected:
  void apply(const std::vector<ActiveParam>& active) override;
  void visit_options(OptionVisitor& visitor) override;
  void validate_options() const override;

 private:
  AdaBeliefOptions o_;
};

// Throws tg::Error naming the option when a value is out of range.
void validate(const AdaBeliefOptions& o);

}  // namespace tg::optim
