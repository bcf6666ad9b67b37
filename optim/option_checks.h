// The range checks shared by the Adam-style optimizers (LAMB family, AdaBelief, NovoGrad), run by
// their constructors and again by load_state_dict on restored options. Each throws tg::Error
// naming the optimizer, the option and its value; NaN fails every check.
#pragma once
#include <string>

namespace tg::optim {

// lr finite and >= 0; beta1, beta2 in [0, 1); eps finite and > 0 (eps = 0 divides 0 by 0 where a
// gradient and its moments are zero); weight_decay finite and >= 0.
void check_moment_options(const std::string& opt, double lr, double beta1, double beta2, double eps,
                          double weight_decay);

}  // namespace tg::optim
