// AdaBelief, per parameter tensor w with gradient g, at its step t:
//
//   w <- (1 - lr wd) w   (decoupled; fixed_decay: (1 - wd) w)      or   g <- g + wd w
//   m = b1 m + (1-b1) g
//   s = b2 s + (1-b2) (g - m)^2 ;  s <- s + eps                      (eps accumulates into s)
//   rectify off:  w <- w - lr/(1-b1^t) * m / (sqrt(s)/sqrt(1-b2^t) + eps)
//   rectify on:   rho_inf = 2/(1-b2) - 1,  rho_t = rho_inf - 2 t b2^t / (1-b2^t)
//                 rho_t >= 5:  w <- w - lr k_t m / (sqrt(s) + eps),
//                              k_t = sqrt((1-b2^t)(rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)) / (1-b1^t)
//                 else:        w <- w - lr m / (1-b1^t)   (degenerated_to_sgd; otherwise no move)
//
// The base class's read-only pass checks the gradients; one update pass.
#include "optim/adabelief.h"

#include <cmath>

#include "engine/error.h"
#include "optim/tensor_loops.h"

namespace tg::optim {

AdaBelief::AdaBelief(std::vector<ParamGroup> groups, const AdaBeliefOptions& options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay), o_(options) {
  TG_CHECK(o_.beta1 >= 0.0 && o_.beta1 < 1.0, "adabelief: beta1 must be in [0, 1), got " << o_.beta1);
  TG_CHECK(o_.beta2 >= 0.0 && o_.beta2 < 1.0, "adabelief: beta2 must be in [0, 1), got " << o_.beta2);
  TG_CHECK(o_.eps >= 0.0, "adabelief: eps must be >= 0, got " << o_.eps);
}
AdaBelief::AdaBelief(const NamedParams& params, const AdaBeliefOptions& options)
    : AdaBelief(single_param_group(params), options) {}

namespace {

enum class Mode { kAdaptive, kRectified, kSgd, kNone };

}  // namespace

void AdaBelief::apply(const std::vector<ActiveParam>& active) {
  for_each_tensor(numels(active), [&](size_t i, bool parallel) {
    const ActiveParam& a = active[i];
    ParamEntry& e = entry(a);
    const double t = static_cast<double>(e.step + 1);
    const double bc1 = 1.0 - std::pow(o_.beta1, t), b2t = std::pow(o_.beta2, t), bc2 = 1.0 - b2t;
    Mode mode = Mode::kAdaptive;
    double step_size = a.lr / bc1;  // lr / (1 - b1^t)
    float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
    if (o_.rectify) {
      const double rho_inf = 2.0 / (1.0 - o_.beta2) - 1.0;
      const double rho = rho_inf - 2.0 * t * b2t / bc2;
      if (rho >= 5.0) {
        mode = Mode::kRectified;
        step_size = a.lr * std::sqrt(bc2 * (rho - 4.0) / (rho_inf - 4.0) * (rho - 2.0) / rho * rho_inf / (rho_inf - 2.0)) / bc1;
        inv_sqrt_bc2 = 1.f;
      } else {
        mode = o_.degenerated_to_sgd ? Mode::kSgd : Mode::kNone;
      }
    }
    const float decay = !o_.weight_decouple ? 1.f
                        : static_cast<float>(1.0 - (o_.fixed_decay ? a.weight_decay : a.lr * a.weight_decay));
    const float l2 = o_.weight_decouple ? 0.f : static_cast<float>(a.weight_decay);
    const float b1 = static_cast<float>(o_.beta1), b2 = static_cast<float>(o_.beta2);
    const float one_b1 = static_cast<float>(1.0 - o_.beta1), one_b2 = static_cast<float>(1.0 - o_.beta2);
    const float eps = static_cast<float>(o_.eps), step = static_cast<float>(step_size);
    const float* g = a.g;
    float* w = a.w;
    float* m = e.state[0].data();
    float* s = e.state[1].data();
#pragma omp parallel for simd schedule(static) if (parallel)
    for (int64_t k = 0; k < a.numel; ++k) {
      w[k] = w[k] * decay;                              // decoupled decay
      const float gk = g[k] + l2 * w[k];                // or L2: g + wd w
      m[k] = b1 * m[k] + one_b1 * gk;                   // m = b1 m + (1-b1) g
      const float r = gk - m[k];
      s[k] = b2 * s[k] + one_b2 * (r * r) + eps;        // s = b2 s + (1-b2)(g-m)^2 + eps
      if (mode == Mode::kSgd) {
        w[k] = w[k] - step * m[k];                      // w -= lr m / (1-b1^t)
      } else if (mode != Mode::kNone) {
        w[k] = w[k] - step * m[k] / (std::sqrt(s[k]) * inv_sqrt_bc2 + eps);  // w -= step m / (sqrt(s_hat) + eps)
      }
    }
  });
}

void AdaBelief::visit_options(OptionVisitor& v) {
  v.field("lr", o_.lr);
  v.field("beta1", o_.beta1);
  v.field("beta2", o_.beta2);
  v.field("eps", o_.eps);
  v.field("weight_decay", o_.weight_decay);
  v.field("weight_decouple", o_.weight_decouple);
  v.field("fixed_decay", o_.fixed_decay);
  v.field("rectify", o_.rectify);
  v.field("degenerated_to_sgd", o_.degenerated_to_sgd);
}

}  // namespace tg::optim
