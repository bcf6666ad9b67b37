// LARS / LARC, per parameter tensor w with gradient g (timm Lars = apex LARC + torch SGD):
//
//   lambda = eta ||w|| / (||g|| + wd ||w|| + eps),  lambda = 1 if ||w|| = 0 or ||g|| = 0
//   lambda <- min(lambda / lr, 1)                   (LARC clipping: effective lr = min(lr, local lr))
//   lambda <- min(lambda, 2^127)                    (a finite float factor)
//   d = (g + wd w) lambda                           (lambda = 1 for tensors not adapted)
//   buf = d on the first step, else buf = mu buf + (1 - dampening) d
//   d = d + mu buf (Nesterov)  or  d = buf
//   w <- w - lr d
//
// The paper's Algorithm 1 puts lr inside the momentum (v = mu v + lr lambda (g + wd w)); it is
// the same update for a constant lr. Adapted: group.adapt and (wd != 0 or always_adapt).
// Pass 1 (read-only) computes ||w||^2 and ||g||^2 (the NaN/Inf check), pass 2 updates.
#include "optim/lars.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/optimizer_kernels.h"
#include "engine/error.h"
#include "engine/kernel_params/optimizer_math.h"
#include "engine/optimizer_kernels.h"
#include "optim/tensor_loops.h"

namespace tg::optim {

void validate(const LarsOptions& o, const std::string& opt) {
  // NaN fails every comparison below, so each check also refuses NaN.
  TG_CHECK(std::isfinite(o.lr) && o.lr >= 0.0, opt << ": lr must be finite and >= 0, got " << o.lr);
  // buf = mu buf + (1 - dampening) d grows without bound for mu >= 1.
  TG_CHECK(o.momentum >= 0.0 && o.momentum < 1.0, opt << ": momentum must be in [0, 1), got " << o.momentum);
  TG_CHECK(o.dampening >= 0.0 && o.dampening <= 1.0, opt << ": dampening must be in [0, 1], got " << o.dampening);
  TG_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0,
           opt << ": weight_decay must be finite and >= 0, got " << o.weight_decay);
  TG_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0),
           opt << ": Nesterov momentum requires momentum > 0 and dampening = 0 (as in PyTorch)");
  TG_CHECK(std::isfinite(o.trust_coefficient) && o.trust_coefficient > 0.0,
           opt << ": trust_coefficient must be finite and > 0, got " << o.trust_coefficient);
  // The ratio is only formed when ||g|| > 0, so eps = 0 cannot divide by zero; eps < 0 can.
  TG_CHECK(std::isfinite(o.eps) && o.eps >= 0.0, opt << ": eps must be finite and >= 0, got " << o.eps);
}

Lars::Lars(std::vector<ParamGroup> groups, const LarsOptions& options, std::string name)
    : Optimizer(std::move(groups), options.lr, options.weight_decay), o_(options), name_(std::move(name)) {
  validate(o_, name_);
}
Lars::Lars(std::vector<ParamGroup> groups, const LarsOptions& options) : Lars(std::move(groups), options, "lars") {}
Lars::Lars(const NamedTensors& params, const LarsOptions& options) : Lars(single_param_group(params), options) {}

std::vector<std::string> Lars::state_names() const {
  if (o_.momentum == 0.0) return {};
  return {"momentum_buffer"};
}

bool Lars::adapted(const ActiveParam& a) const {
  return o_.trust_ratio && a.adapt && (o_.always_adapt || a.weight_decay != 0.0);
}

int64_t Lars::inspect(const std::vector<ActiveParam>& active) {
  if (device().is_cuda()) {  // ||w||^2 and ||g||^2, one reduction launch each per tensor
    w_sq_.assign(active.size(), 0.0);
    grad_sq_.assign(active.size(), 0.0);
    for (size_t i = 0; i < active.size(); ++i) {
      const ActiveParam& a = active[i];
      grad_sq_[i] = device_sum_squares(device(), a.g, a.numel);
      if (adapted(a)) w_sq_[i] = device_sum_squares(device(), a.w, a.numel);
    }
    reduce_partial_sums(active, {&w_sq_, &grad_sq_});
    return first_non_finite(grad_sq_);
  }
  const auto sums = per_tensor_sums<2>(numels(active), [&](size_t i, int64_t b, int64_t e) {
    const ActiveParam& a = active[i];
    if (!adapted(a)) return std::array<double, 2>{0.0, cpu::chunk_sum_squares(a.g + b, e - b)};
    const float* w = a.w + b;
    const float* g = a.g + b;
    double ww = 0.0, gg = 0.0;
#pragma omp simd reduction(+ : ww, gg)
    for (int64_t k = 0; k < e - b; ++k) {
      ww += static_cast<double>(w[k]) * w[k];  // ||w||^2
      gg += static_cast<double>(g[k]) * g[k];  // ||g||^2
    }
    return std::array<double, 2>{ww, gg};
  });
  w_sq_.assign(active.size(), 0.0);
  grad_sq_.assign(active.size(), 0.0);
  for (size_t i = 0; i < active.size(); ++i) {
    w_sq_[i] = sums[i][0];
    grad_sq_[i] = sums[i][1];
  }
  reduce_partial_sums(active, {&w_sq_, &grad_sq_});
  return first_non_finite(grad_sq_);
}

void Lars::apply(const std::vector<ActiveParam>& active) {
  std::vector<MomentumCoeffs> coeffs(active.size());
  for (size_t i = 0; i < active.size(); ++i) {
    const ActiveParam& a = active[i];
    double ratio = 1.0;
    if (adapted(a)) {
      const double w_norm = std::sqrt(w_sq_[i]), g_norm = std::sqrt(grad_sq_[i]);
      const double denom = g_norm + a.weight_decay * w_norm;
      // lambda = eta ||w|| / (||g|| + wd ||w|| + eps), 1 if a norm is 0
      double raw = (w_norm > 0.0 && g_norm > 0.0) ? o_.trust_coefficient * w_norm / (denom + o_.eps) : 1.0;
      if (o_.trust_clip) {
        raw = raw / a.lr;              // LARC: compare the local lr with the global one
        ratio = std::min(raw, 1.0);    // lambda = min(lambda / lr, 1)
      } else {
        ratio = raw;
      }
      // The float factor must stay finite: lambda <= 2^127. Only reachable with eps = 0 and wd = 0,
      // ||g|| below ~1e-38 eta ||w|| (denormal gradients): float(lambda) was +inf, d = g inf, and
      // w became Inf where g != 0, NaN (0 inf) where g = 0. Capped, |d_i| <= eta ||w|| |g_i| / ||g||.
      ratio = float_safe_ratio(ratio, 1.0);
      record_trust_ratio(a, w_norm, denom, raw, ratio);
    }
    const ParamEntry& e = entry(a);
    MomentumCoeffs& c = coeffs[i];
    c.lr = static_cast<float>(a.lr);
    c.weight_decay = static_cast<float>(a.weight_decay);
    c.ratio = static_cast<float>(ratio);
    c.momentum = static_cast<float>(o_.momentum);
    c.dampening = static_cast<float>(o_.dampening);
    c.nesterov = o_.nesterov;
    c.first = e.step == 0;
  }
  if (device().is_cuda()) {  // one update launch per tensor
    for (size_t i = 0; i < active.size(); ++i) {
      const ActiveParam& a = active[i];
      ParamEntry& p = entry(a);
      float* buf = p.state.empty() ? nullptr : p.state[0].data();
      device_momentum_update(device(), a.w, a.g, buf, a.numel, coeffs[i]);
    }
    return;
  }
  for_each_chunk(numels(active), [&](size_t i, int64_t b, int64_t e) {
    const ActiveParam& a = active[i];
    ParamEntry& p = entry(a);
    float* buf = p.state.empty() ? nullptr : p.state[0].data() + b;
    cpu::momentum_update(a.w + b, a.g + b, buf, e - b, coeffs[i], /*parallel=*/false);
  });
}

void Lars::validate_options() const { validate(o_, name_); }

void Lars::visit_options(OptionVisitor& v) {
  v.field("lr", o_.lr);
  v.field("momentum", o_.momentum);
  v.field("dampening", o_.dampening);
  v.field("nesterov", o_.nesterov);
  v.field("weight_decay", o_.weight_decay);
  v.field("trust_coefficient", o_.trust_coefficient);
  v.field("eps", o_.eps);
  v.field("trust_clip", o_.trust_clip);
  v.field("always_adapt", o_.always_adapt);
  v.field("trust_ratio", o_.trust_ratio);
}

}  // namespace tg::optim
