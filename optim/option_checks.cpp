// The Adam-style optimizers' shared option checks (option_checks.h).
#include "optim/option_checks.h"

#include <cmath>

#include "engine/error.h"

namespace tg::optim {

void check_moment_options(const std::string& opt, double lr, double beta1, double beta2, double eps,
                          double weight_decay) {
  TG_CHECK(std::isfinite(lr) && lr >= 0.0, opt << ": lr must be finite and >= 0, got " << lr);
  TG_CHECK(beta1 >= 0.0 && beta1 < 1.0, opt << ": beta1 must be in [0, 1), got " << beta1);
  TG_CHECK(beta2 >= 0.0 && beta2 < 1.0, opt << ": beta2 must be in [0, 1), got " << beta2);
  TG_CHECK(std::isfinite(eps) && eps > 0.0, opt << ": eps must be finite and > 0, got " << eps);
  TG_CHECK(std::isfinite(weight_decay) && weight_decay >= 0.0,
           opt << ": weight_decay must be finite and >= 0, got " << weight_decay);
}

}  // namespace tg::optim
