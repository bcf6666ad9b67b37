// Finite-difference gradient check (see gradcheck.h for the method and the tolerances).
#include "support/gradcheck.h"

#include <cmath>
#include <sstream>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace tg::test {

namespace {
double weighted_sum(const Tensor& y, const std::vector<float>& w) {
  const std::vector<float> v = y.to_vector();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * w[i];
  return s;
}
}  // namespace

Tensor leaf(const Shape& shape, uint64_t seed, float lo, float hi) {
  Generator gen(seed);
  Tensor t = Tensor::empty(shape);
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = gen.uniform(lo, hi);
  t.set_requires_grad(true);
  return t;
}

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opts) {
  GradcheckResult r;
  for (const Tensor& x : inputs)
    if (x.defined() && x.requires_grad()) x.set_grad(Tensor());

  // Analytic: backward of L = sum(w * y).
  Tensor y = fn(inputs);
  Generator gen(opts.seed);
  std::vector<float> w(static_cast<size_t>(y.numel()));
  for (float& v : w) v = gen.uniform(-1.f, 1.f);
  Tensor wt = Tensor::from_vector(w, y.shape());
  sum(mul(y, wt)).backward();

  std::ostringstream report;
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    const Tensor g = x.grad();
    if (!g.defined()) {
      r.ok = false;
      report << "input " << k << " " << shape_str(x.shape()) << ": backward produced no gradient\n";
      continue;
    }
    const std::vector<float> ana = g.to_vector();
    float* p = x.data();
    for (int64_t j = 0; j < x.numel(); ++j) {
      const float orig = p[j];
      p[j] = static_cast<float>(orig + opts.h);
      const double lp = weighted_sum(fn(inputs), w);
      p[j] = static_cast<float>(orig - opts.h);
      const double lm = weighted_sum(fn(inputs), w);
      p[j] = orig;
      const double num = (lp - lm) / (2.0 * opts.h);
      const double a = ana[static_cast<size_t>(j)];
      const double err = std::abs(num - a);
      const double rel = err / std::max(std::abs(num), 1e-12);
      r.max_abs_err = std::max(r.max_abs_err, err);
      if (std::abs(num) > 1e-3) r.max_rel_err = std::max(r.max_rel_err, rel);
      ++r.checked;
      if (!(err <= opts.atol + opts.rtol * std::abs(a))) {
        if (r.ok) report << "input " << k << " " << shape_str(x.shape()) << " element " << j << ": analytic " << a
                         << " vs numeric " << num << " (abs err " << err << ")\n";
        r.ok = false;
      }
    }
  }
  report << "gradcheck: " << r.checked << " elements, max abs err " << r.max_abs_err << ", max rel err "
         << r.max_rel_err;
  r.report = report.str();
  return r;
}

}  // namespace tg::test
