// NovoGrad (Ginsburg et al. 2019): layer-wise second moment (one scalar per tensor), as timm's
// NvNovoGrad (from NVIDIA's Jasper code) computes it.
#pragma once
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace tg::optim {

struct NovoGradOptions {
  double lr = 1e-3;
  double beta1 = 0.95, beta2 = 0.98;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool grad_averaging = false;  // g_hat *= (1 - beta1)
};

class NovoGrad : public Optimizer {
 public:
  explicit NovoGrad(std::vector<ParamGroup> groups, const NovoGradOptions& options = {});
  explicit NovoGrad(const NamedTensors& params, const NovoGradOptions& options = {});
  std::string name() const override { return "novograd"; }
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  const NovoGradOptions& options() const { return o_; }

 protected:
  Shape state_shape(size_t slot, const Shape& param_shape) const override;  // exp_avg_sq is a scalar {}
  void apply(const std::vector<ActiveParam>& active) override;
  void visit_options(OptionVisitor& visitor) override;
  void validate_options() const override;

 private:
  NovoGradOptions o_;
};

// Throws tg::Error naming the option when a value is out of range.
void validate(const NovoGradOptions& o);

}  // namespace tg::optim
