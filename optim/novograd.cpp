// NovoGrad, per parameter tensor w with gradient g (timm NvNovoGrad):
//
//   n = ||g||^2
//   v = n while v is still 0 (first step), else v = b2 v + (1-b2) n        (one scalar per tensor)
//   g_hat = g / (sqrt(v) + eps) + wd w
//   g_hat <- (1 - b1) g_hat                                               (grad averaging)
//   m = b1 m + g_hat
//   w <- w - lr m
//
// The base class's read-only pass computes ||g||^2 (also the NaN/Inf check); one update pass.
#include "optim/novograd.h"

#include <cmath>

#include "engine/error.h"
#include "optim/option_checks.h"
#include "optim/tensor_loops.h"

namespace tg::optim {

void validate(const NovoGradOptions& o) {
  check_moment_options("novograd", o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
}

NovoGrad::NovoGrad(std::vector<ParamGroup> groups, const NovoGradOptions& options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay), o_(options) {
  validate(o_);
  require_cpu("novograd has no CUDA kernels yet");
}
NovoGrad::NovoGrad(const NamedTensors& params, const NovoGradOptions& options)
    : NovoGrad(single_param_group(params), options) {}

Shape NovoGrad::state_shape(size_t slot, const Shape& param_shape) const {
  return slot == 1 ? Shape{} : param_shape;
}

void NovoGrad::apply(const std::vector<ActiveParam>& active) {
  // Per tensor: the scalar second moment and 1 / (sqrt(v) + eps).
  std::vector<float> inv_denom(active.size());
  for (size_t i = 0; i < active.size(); ++i) {
    float& v = *entry(active[i]).state[1].data();
    const float n = static_cast<float>(grad_sq_[i]);  // n = ||g||^2
    v = (v == 0.f) ? n : static_cast<float>(o_.beta2) * v + static_cast<float>(1.0 - o_.beta2) * n;
    inv_denom[i] = 1.f / (std::sqrt(v) + static_cast<float>(o_.eps));
  }
  const float avg = o_.grad_averaging ? static_cast<float>(1.0 - o_.beta1) : 1.f;
  const float b1 = static_cast<float>(o_.beta1);
  for_each_chunk(numels(active), [&](size_t i, int64_t b, int64_t e) {
    const ActiveParam& a = active[i];
    const float wd = static_cast<float>(a.weight_decay), lr = static_cast<float>(a.lr), inv = inv_denom[i];
    const float* g = a.g + b;
    float* w = a.w + b;
    float* m = entry(a).state[0].data() + b;
#pragma omp simd
    for (int64_t k = 0; k < e - b; ++k) {
      const float g_hat = (g[k] * inv + wd * w[k]) * avg;  // g_hat = (g/(sqrt(v)+eps) + wd w)(1-b1)
      m[k] = b1 * m[k] + g_hat;                            // m = b1 m + g_hat
      w[k] = w[k] - lr * m[k];                             // w -= lr m
    }
  });
}

void NovoGrad::validate_options() const { validate(o_); }

void NovoGrad::visit_options(OptionVisitor& v) {
  v.field("lr", o_.lr);
  v.field("beta1", o_.beta1);
  v.field("beta2", o_.beta2);
  v.field("eps", o_.eps);
  v.field("weight_decay", o_.weight_decay);
  v.field("grad_averaging", o_.grad_averaging);
}

}  // namespace tg::optim
