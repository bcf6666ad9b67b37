// clip_grad_norm_: per-gradient p-norms, their p-norm, one scale for all (see clip_grad.h).
#include "nn/clip_grad.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/optimizer_kernels.h"

namespace tg::nn {

namespace {

// ||g||_p of one gradient, in double. p = 2 on the tensor's device (the common case, threaded on
// the CPU); other p read the values on the host (a copy from a GPU).
double grad_norm(const Tensor& g, double p) {
  if (g.numel() == 0) return 0.0;
  if (p == 2.0) return std::sqrt(device_sum_squares(g.device(), g.data(), g.numel()));
  const std::vector<float> v = g.to_vector();
  double acc = 0.0;
  for (float x : v) {
    const double a = std::fabs(static_cast<double>(x));
    if (std::isnan(a)) return a;
    acc = std::isinf(p) ? std::max(acc, a) : acc + std::pow(a, p);  // max |x|, or sum |x|^p
  }
  return std::isinf(p) ? acc : std::pow(acc, 1.0 / p);
}

// The gradients of `params` (those that have one), their total p-norm, and the first non-finite one.
struct GradNorms {
  std::vector<Tensor> grads;
  double total = 0.0;
  std::string first_bad;  // "'name' (shape)" or empty
};

GradNorms measure(const NamedTensors& params, double norm_type) {
  TG_CHECK(norm_type > 0.0, "clip_grad_norm_: norm_type must be > 0 or inf, got " << norm_type);
  GradNorms m;
  for (const auto& [name, param] : params) {
    const Tensor g = param.defined() ? param.grad() : Tensor();
    if (!g.defined()) continue;
    TG_CHECK(g.dtype() == DType::Float32, "clip_grad_norm_: the gradient of '" << name << "' is not float32");
    const double n = grad_norm(g, norm_type);
    if (!std::isfinite(n) && m.first_bad.empty()) m.first_bad = "'" + name + "' " + shape_str(g.shape());
    m.total = std::isinf(norm_type) ? std::max(m.total, n) : m.total + std::pow(n, norm_type);
    if (std::isnan(n)) m.total = n;
    m.grads.push_back(g);
  }
  if (!std::isinf(norm_type) && !std::isnan(m.total)) m.total = std::pow(m.total, 1.0 / norm_type);
  return m;
}

// g_i <- c g_i for the given gradients, c = min(max_norm / (total + 1e-6), 1): NaN when total is,
// which makes every gradient NaN (as PyTorch); nothing is written when c >= 1.
void scale_grads(const std::vector<Tensor>& grads, double max_norm, double total) {
  TG_CHECK(max_norm >= 0.0, "clip_grad_norm_: max_norm must be >= 0 (inf measures only), got " << max_norm);
  const double c = max_norm / (total + 1e-6);
  if (!(c < 1.0) && !std::isnan(c)) return;
  NoGradGuard no_grad;
  for (const Tensor& g : grads) g.copy_(mul(g, static_cast<float>(c)));
}

}  // namespace

double total_grad_norm(const NamedTensors& params, double norm_type) { return measure(params, norm_type).total; }

void clip_grads_with_norm_(const NamedTensors& params, double max_norm, double total) {
  std::vector<Tensor> grads;
  for (const auto& entry : params) {
    const Tensor g = entry.second.defined() ? entry.second.grad() : Tensor();
    if (g.defined()) grads.push_back(g);
  }
  scale_grads(grads, max_norm, total);
}

double clip_grad_norm_(const NamedTensors& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  TG_CHECK(max_norm >= 0.0, "clip_grad_norm_: max_norm must be >= 0 (inf measures only), got " << max_norm);
  const GradNorms m = measure(params, norm_type);  // total = || (||g_1||_p, ..., ||g_n||_p) ||_p
  TG_CHECK(!error_if_nonfinite || std::isfinite(m.total),
           "clip_grad_norm_: the total " << norm_type << "-norm of the gradients is " << m.total
               << (m.first_bad.empty() ? std::string("; every gradient's norm is finite, their total overflows")
                                       : "; the first non-finite gradient is that of " + m.first_bad)
               << " (nothing was scaled; error_if_nonfinite=false scales them anyway, as PyTorch does)");
  scale_grads(m.grads, max_norm, m.total);
  return m.total;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  NamedTensors named;
  named.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) named.emplace_back("parameter " + std::to_string(i), params[i]);
  return clip_grad_norm_(named, max_norm, norm_type, error_if_nonfinite);
}

}  // namespace tg::nn
